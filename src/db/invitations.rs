//! Invitations to join a portal: one pending row per portal and email, answered by the
//! person (accepted, declined), revoked by the portal, or expired. Tenant-owned; finding a
//! person's invitations across portals is `db::system`'s.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::invitations;
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::domain::Role;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations, treat_none_as_default_value = false)]
pub struct InvitationRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub responded_at: Option<NaiveDateTime>,
}

impl InvitationRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }

    /// Pending and not expired at `now`.
    pub fn is_open(&self, now: NaiveDateTime) -> bool {
        self.status == "pending" && self.expires_at > now
    }
}

impl TenantDb<'_> {
    /// Invites `email` (lower-cased) with `role`, or refreshes the pending invitation to
    /// that email (new role, new expiry). Returns the pending invitation.
    pub fn invite(
        &mut self,
        email: &str,
        role: Role,
        invited_by: Option<&str>,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> QueryResult<InvitationRow> {
        let (conn, tid) = self.parts();
        let existing: Option<InvitationRow> = invitations::table
            .filter(invitations::tenant_id.eq(tid))
            .filter(invitations::email.eq(email))
            .filter(invitations::status.eq("pending"))
            .select(InvitationRow::as_select())
            .first(conn)
            .optional()?;
        let row = match existing {
            Some(mut row) => {
                row.role = role.as_str().to_string();
                row.invited_by = invited_by.map(str::to_string);
                row.created_at = now;
                row.expires_at = expires_at;
                diesel::update(
                    invitations::table.filter(invitations::tenant_id.eq(tid)).filter(invitations::id.eq(&row.id)),
                )
                .set((
                    invitations::role.eq(&row.role),
                    invitations::invited_by.eq(&row.invited_by),
                    invitations::created_at.eq(now),
                    invitations::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
                row
            }
            None => {
                let row = InvitationRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: tid.to_string(),
                    email: email.to_string(),
                    role: role.as_str().to_string(),
                    invited_by: invited_by.map(str::to_string),
                    status: "pending".into(),
                    created_at: now,
                    expires_at,
                    responded_at: None,
                };
                diesel::insert_into(invitations::table).values(&row).execute(conn)?;
                row
            }
        };
        Ok(row)
    }

    /// This portal's pending invitations, newest first.
    pub fn pending_invitations(&mut self, now: NaiveDateTime) -> QueryResult<Vec<InvitationRow>> {
        let (conn, tid) = self.parts();
        invitations::table
            .filter(invitations::tenant_id.eq(tid))
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(now))
            .order(invitations::created_at.desc())
            .select(InvitationRow::as_select())
            .load(conn)
    }

    /// One invitation of this portal (locked inside a write transaction).
    pub fn invitation(&mut self, id: &str) -> QueryResult<Option<InvitationRow>> {
        first_locked!(self, tid => invitations::table
            .filter(invitations::tenant_id.eq(tid.to_string()))
            .filter(invitations::id.eq(id.to_string()))
            .select(InvitationRow::as_select()))
    }

    /// Moves a pending invitation to `status` (accepted, declined, revoked); false when it
    /// was no longer pending (a compare-and-set: one answer wins).
    pub fn answer_invitation(&mut self, id: &str, status: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            invitations::table
                .filter(invitations::tenant_id.eq(tid))
                .filter(invitations::id.eq(id))
                .filter(invitations::status.eq("pending")),
        )
        .set((invitations::status.eq(status), invitations::responded_at.eq(Some(now))))
        .execute(conn)?;
        Ok(n == 1)
    }
}
