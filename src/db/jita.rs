//! Portal JITA grants: a staff member's time-limited entry into one portal. The rows are
//! the portal's (its owners list, approve and revoke them, under row-level security); the
//! lookup of a presented grant token is one of `db::system`'s cross-portal reads.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::jita_grants;
use super::tenant_db::first_locked;
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jita_grants, treat_none_as_default_value = false)]
pub struct JitaRow {
    pub id: String,
    pub tenant_id: String,
    pub staff_id: String,
    pub reason: String,
    pub ticket_ref: String,
    pub duration_minutes: i32,
    pub status: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub approved_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub ended_by: Option<String>,
    pub requests: i64,
    pub refusals: i64,
}

impl JitaRow {
    /// The status as a reader sees it now: an active grant past its end is `expired`.
    pub fn status_at(&self, now: NaiveDateTime) -> &str {
        match (self.status.as_str(), self.expires_at) {
            ("active", Some(end)) if end <= now => "expired",
            (s, _) => s,
        }
    }

    /// Whether the grant lets its holder act now.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.status_at(now) == "active"
    }
}

impl TenantDb<'_> {
    pub fn insert_jita(&mut self, row: &JitaRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        debug_assert_eq!(row.tenant_id, tid);
        diesel::insert_into(jita_grants::table).values(row).execute(conn)?;
        Ok(())
    }

    /// This portal's grants, newest first (at most `limit`).
    pub fn list_jita(&mut self, limit: i64) -> QueryResult<Vec<JitaRow>> {
        let (conn, tid) = self.parts();
        jita_grants::table
            .filter(jita_grants::tenant_id.eq(tid))
            .order((jita_grants::created_at.desc(), jita_grants::id.desc()))
            .limit(limit)
            .select(JitaRow::as_select())
            .load(conn)
    }

    /// One grant of this portal (locked inside a write transaction on PostgreSQL).
    pub fn jita(&mut self, id: &str) -> QueryResult<Option<JitaRow>> {
        first_locked!(self, tid => jita_grants::table
            .filter(jita_grants::tenant_id.eq(tid))
            .filter(jita_grants::id.eq(id))
            .select(JitaRow::as_select()))
    }

    /// pending_approval → active, from now for its duration. False if it was not pending.
    pub fn approve_jita(&mut self, id: &str, by: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let minutes: Option<i32> = jita_grants::table
            .filter(jita_grants::tenant_id.eq(tid))
            .filter(jita_grants::id.eq(id))
            .select(jita_grants::duration_minutes)
            .first(conn)
            .optional()?;
        let Some(minutes) = minutes else { return Ok(false) };
        let n = diesel::update(
            jita_grants::table
                .filter(jita_grants::tenant_id.eq(tid))
                .filter(jita_grants::id.eq(id))
                .filter(jita_grants::status.eq("pending_approval")),
        )
        .set((
            jita_grants::status.eq("active"),
            jita_grants::approved_at.eq(Some(now)),
            jita_grants::approved_by.eq(Some(by)),
            jita_grants::expires_at.eq(Some(now + chrono::Duration::minutes(i64::from(minutes)))),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// pending_approval | active → `status` (revoked or suspended). False if it had ended.
    pub fn end_jita(&mut self, id: &str, status: &str, by: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            jita_grants::table
                .filter(jita_grants::tenant_id.eq(tid))
                .filter(jita_grants::id.eq(id))
                .filter(jita_grants::status.eq_any(["pending_approval", "active"])),
        )
        .set((jita_grants::status.eq(status), jita_grants::ended_at.eq(Some(now)), jita_grants::ended_by.eq(Some(by))))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Counts one request (or one refusal) made under a grant; returns the new totals.
    pub fn count_jita_use(&mut self, id: &str, refused: bool) -> QueryResult<(i64, i64)> {
        let (conn, tid) = self.parts();
        let target = jita_grants::table.filter(jita_grants::tenant_id.eq(tid)).filter(jita_grants::id.eq(id));
        if refused {
            diesel::update(target).set(jita_grants::refusals.eq(jita_grants::refusals + 1)).execute(conn)?;
        } else {
            diesel::update(target).set(jita_grants::requests.eq(jita_grants::requests + 1)).execute(conn)?;
        }
        jita_grants::table
            .filter(jita_grants::tenant_id.eq(tid))
            .filter(jita_grants::id.eq(id))
            .select((jita_grants::requests, jita_grants::refusals))
            .first(conn)
    }
}
