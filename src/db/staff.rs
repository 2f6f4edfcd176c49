//! Platform staff storage: accounts, their TOTP (mandatory) and recovery codes, the
//! sign-in steps, sessions, and the platform audit chain. All platform tables (no portal
//! owns a staff member); every "use once" rule is a single conditional UPDATE.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::audit::{AuditFilter, AuditRow, NewEntry};
use super::schema::{
    platform_audit_head, platform_audit_log, staff_challenges, staff_members, staff_recovery_codes, staff_sessions,
};
use super::Platform;
use crate::security::crypto::Sealed;

/// The tenant id the platform chain hashes under (`security::audit_chain`).
pub const PLATFORM_CHAIN: &str = "platform";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_members, treat_none_as_default_value = false)]
pub struct StaffRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub status: String,
    pub totp_secret: Option<String>,
    pub totp_key_id: Option<String>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub totp_last_step: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl StaffRow {
    pub fn sealed_secret(&self) -> Option<Sealed> {
        Some(Sealed { key_id: self.totp_key_id.clone()?, blob: self.totp_secret.clone()? })
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_challenges, treat_none_as_default_value = false)]
pub struct StaffChallengeRow {
    pub id: String,
    pub token_hash: String,
    pub staff_id: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub attempts: i32,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_sessions, treat_none_as_default_value = false)]
pub struct StaffSessionRow {
    pub id: String,
    pub staff_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = platform_audit_log, treat_none_as_default_value = false)]
struct PlatformAuditRow {
    seq: i64,
    occurred_at: NaiveDateTime,
    actor_type: String,
    actor_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<PlatformAuditRow> for AuditRow {
    fn from(r: PlatformAuditRow) -> Self {
        AuditRow {
            tenant_id: PLATFORM_CHAIN.into(),
            seq: r.seq,
            occurred_at: r.occurred_at,
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

impl Platform<'_> {
    pub fn insert_staff(&mut self, row: &StaffRow) -> QueryResult<()> {
        diesel::insert_into(staff_members::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn staff_by_email(&mut self, email: &str) -> QueryResult<Option<StaffRow>> {
        staff_members::table
            .filter(staff_members::email.eq(email))
            .select(StaffRow::as_select())
            .first(self.conn())
            .optional()
    }

    pub fn staff_member(&mut self, id: &str) -> QueryResult<Option<StaffRow>> {
        staff_members::table.find(id).select(StaffRow::as_select()).first(self.conn()).optional()
    }

    pub fn list_staff(&mut self) -> QueryResult<Vec<StaffRow>> {
        staff_members::table.order(staff_members::email.asc()).select(StaffRow::as_select()).load(self.conn())
    }

    /// Disables (or re-enables) a staff member; their sessions end at once when disabled.
    pub fn set_staff_status(&mut self, email: &str, status: &str, now: NaiveDateTime) -> QueryResult<Option<String>> {
        let Some(row) = self.staff_by_email(email)? else { return Ok(None) };
        diesel::update(staff_members::table.find(&row.id))
            .set((staff_members::status.eq(status), staff_members::updated_at.eq(now)))
            .execute(self.conn())?;
        if status != "active" {
            diesel::update(
                staff_sessions::table
                    .filter(staff_sessions::staff_id.eq(&row.id))
                    .filter(staff_sessions::revoked_at.is_null()),
            )
            .set(staff_sessions::revoked_at.eq(Some(now)))
            .execute(self.conn())?;
        }
        Ok(Some(row.id))
    }

    /// Stores the secret of an enrolment in progress (replacing an earlier pending one).
    pub fn set_staff_pending_secret(&mut self, id: &str, sealed: &Sealed, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(staff_members::table.find(id).filter(staff_members::totp_enabled_at.is_null()))
            .set((
                staff_members::totp_secret.eq(Some(&sealed.blob)),
                staff_members::totp_key_id.eq(Some(&sealed.key_id)),
                staff_members::totp_last_step.eq(None::<i64>),
                staff_members::updated_at.eq(now),
            ))
            .execute(self.conn())?;
        Ok(n == 1)
    }

    /// Confirms enrolment with the step used and the recovery codes' hashes.
    pub fn enable_staff_totp(
        &mut self,
        id: &str,
        step: i64,
        hashes: &[String],
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            staff_members::table
                .find(id)
                .filter(staff_members::totp_enabled_at.is_null())
                .filter(staff_members::totp_secret.is_not_null()),
        )
        .set((
            staff_members::totp_enabled_at.eq(Some(now)),
            staff_members::totp_last_step.eq(Some(step)),
            staff_members::updated_at.eq(now),
        ))
        .execute(self.conn())?;
        if n == 0 {
            return Ok(false);
        }
        diesel::delete(staff_recovery_codes::table.filter(staff_recovery_codes::staff_id.eq(id)))
            .execute(self.conn())?;
        for hash in hashes {
            diesel::insert_into(staff_recovery_codes::table)
                .values((
                    staff_recovery_codes::id.eq(uuid::Uuid::now_v7().to_string()),
                    staff_recovery_codes::staff_id.eq(id),
                    staff_recovery_codes::code_hash.eq(hash),
                    staff_recovery_codes::created_at.eq(now),
                ))
                .execute(self.conn())?;
        }
        Ok(true)
    }

    /// Accepts `step` only if newer than the last one used (the replay guard).
    pub fn claim_staff_totp_step(&mut self, id: &str, step: i64) -> QueryResult<bool> {
        let n = diesel::update(
            staff_members::table
                .find(id)
                .filter(staff_members::totp_last_step.is_null().or(staff_members::totp_last_step.lt(step))),
        )
        .set(staff_members::totp_last_step.eq(Some(step)))
        .execute(self.conn())?;
        Ok(n == 1)
    }

    pub fn use_staff_recovery_code(&mut self, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(
            staff_recovery_codes::table
                .filter(staff_recovery_codes::staff_id.eq(id))
                .filter(staff_recovery_codes::code_hash.eq(hash))
                .filter(staff_recovery_codes::used_at.is_null()),
        )
        .set(staff_recovery_codes::used_at.eq(Some(now)))
        .execute(self.conn())?;
        Ok(n == 1)
    }

    pub fn insert_staff_challenge(&mut self, row: &StaffChallengeRow) -> QueryResult<()> {
        diesel::insert_into(staff_challenges::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn staff_challenge_by_token(&mut self, hash: &str) -> QueryResult<Option<StaffChallengeRow>> {
        staff_challenges::table
            .filter(staff_challenges::token_hash.eq(hash))
            .select(StaffChallengeRow::as_select())
            .first(self.conn())
            .optional()
    }

    /// Takes one of a challenge's attempts, if it has one left and is unused and unexpired.
    pub fn reserve_staff_challenge_attempt(&mut self, id: &str, max: i32, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(
            staff_challenges::table
                .find(id)
                .filter(staff_challenges::used_at.is_null())
                .filter(staff_challenges::expires_at.gt(now))
                .filter(staff_challenges::attempts.lt(max)),
        )
        .set(staff_challenges::attempts.eq(staff_challenges::attempts + 1))
        .execute(self.conn())?;
        Ok(n == 1)
    }

    pub fn consume_staff_challenge(&mut self, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(staff_challenges::table.find(id).filter(staff_challenges::used_at.is_null()))
            .set(staff_challenges::used_at.eq(Some(now)))
            .execute(self.conn())?;
        Ok(n == 1)
    }

    pub fn insert_staff_session(&mut self, row: &StaffSessionRow) -> QueryResult<()> {
        diesel::insert_into(staff_sessions::table).values(row).execute(self.conn())?;
        Ok(())
    }

    /// A staff session by its token's digest, with its staff member.
    pub fn staff_session_by_token(&mut self, hash: &str) -> QueryResult<Option<(StaffSessionRow, StaffRow)>> {
        staff_sessions::table
            .inner_join(staff_members::table.on(staff_members::id.eq(staff_sessions::staff_id)))
            .filter(staff_sessions::token_hash.eq(hash))
            .select((StaffSessionRow::as_select(), StaffRow::as_select()))
            .first(self.conn())
            .optional()
    }

    pub fn revoke_staff_session(&mut self, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(staff_sessions::table.find(id).filter(staff_sessions::revoked_at.is_null()))
            .set(staff_sessions::revoked_at.eq(Some(now)))
            .execute(self.conn())?;
        Ok(n == 1)
    }

    /// Appends to the platform chain (in the transaction of the change it records).
    pub fn platform_audit(&mut self, entry: NewEntry, now: DateTime<Utc>) -> QueryResult<i64> {
        let conn = self.conn();
        diesel::update(platform_audit_head::table.find(1))
            .set(platform_audit_head::seq.eq(platform_audit_head::seq + 1))
            .execute(conn)?;
        let (seq, prev_hash): (i64, String) = platform_audit_head::table
            .find(1)
            .select((platform_audit_head::seq, platform_audit_head::hash))
            .first(conn)?;
        let row = AuditRow::chained(PLATFORM_CHAIN.into(), seq, entry, now, prev_hash);
        diesel::update(platform_audit_head::table.find(1))
            .set(platform_audit_head::hash.eq(&row.hash))
            .execute(conn)?;
        let stored = PlatformAuditRow {
            seq: row.seq,
            occurred_at: row.occurred_at,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            ip: row.ip,
            user_agent: row.user_agent,
            request_id: row.request_id,
            details: row.details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        };
        diesel::insert_into(platform_audit_log::table).values(&stored).execute(conn)?;
        Ok(seq)
    }

    /// Platform audit entries, newest first, as portal entries are read.
    pub fn platform_audit_entries(&mut self, f: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
        let mut q = platform_audit_log::table.select(PlatformAuditRow::as_select()).into_boxed();
        if let Some(a) = &f.action {
            let prefix = a.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q = q.filter(
                platform_audit_log::action
                    .eq(a.clone())
                    .or(platform_audit_log::action.like(format!("{prefix}.%")).escape('\\')),
            );
        }
        if let Some(a) = &f.actor_id {
            q = q.filter(platform_audit_log::actor_id.eq(a.clone()));
        }
        if let Some(t) = f.since {
            q = q.filter(platform_audit_log::occurred_at.ge(t));
        }
        if let Some(t) = f.until {
            q = q.filter(platform_audit_log::occurred_at.lt(t));
        }
        if let Some(s) = f.before_seq {
            q = q.filter(platform_audit_log::seq.lt(s));
        }
        let rows: Vec<PlatformAuditRow> = q.order(platform_audit_log::seq.desc()).limit(f.limit).load(self.conn())?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }

    /// The whole platform chain in order (for `audit verify`), `limit` entries from `after`.
    pub fn platform_audit_page(&mut self, after: i64, limit: i64) -> QueryResult<Vec<AuditRow>> {
        let rows: Vec<PlatformAuditRow> = platform_audit_log::table
            .filter(platform_audit_log::seq.gt(after))
            .order(platform_audit_log::seq.asc())
            .limit(limit)
            .select(PlatformAuditRow::as_select())
            .load(self.conn())?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }
}
