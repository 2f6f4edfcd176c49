//! Sign-in sessions: opaque bearer tokens stored as SHA-256, with expiry and revocation.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sessions;
use super::tenants::MembershipRow;
use super::TenantDb;
use crate::domain::{SessionId, UserId};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Where a session was opened from, kept for the user's session list and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session with what authorisation needs to know about it.
#[derive(Debug, Clone)]
pub struct ResolvedSession {
    pub session: SessionRow,
    pub membership: MembershipRow,
    /// The portal requires 2FA.
    pub require_mfa: bool,
    /// The user has confirmed 2FA.
    pub mfa_enabled: bool,
}

impl TenantDb<'_> {
    pub fn create_session(
        &mut self,
        user: &UserId,
        token_hash: String,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
        client: &ClientInfo,
    ) -> QueryResult<SessionRow> {
        let row = SessionRow {
            id: SessionId::new().to_string(),
            tenant_id: self.tid().to_string(),
            user_id: user.to_string(),
            token_hash,
            created_at: now,
            expires_at,
            last_seen_at: now,
            revoked_at: None,
            ip: client.ip.clone(),
            user_agent: client.user_agent.as_deref().map(|ua| ua.chars().take(512).collect()),
        };
        diesel::insert_into(sessions::table).values(&row).execute(self.conn())?;
        Ok(row)
    }

    /// A person's live sessions in this portal, newest first.
    pub fn live_sessions(&mut self, user: &UserId, now: NaiveDateTime) -> QueryResult<Vec<SessionRow>> {
        let (conn, tid) = self.parts();
        sessions::table
            .filter(sessions::tenant_id.eq(tid))
            .filter(sessions::user_id.eq(user.as_str()))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .order(sessions::created_at.desc())
            .select(SessionRow::as_select())
            .load(conn)
    }

    /// Revokes one of `user`'s sessions; revoking twice is harmless. Returns whether a live
    /// one was revoked.
    pub fn revoke_session(&mut self, user: &UserId, id: &SessionId, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            sessions::table
                .filter(sessions::tenant_id.eq(tid))
                .filter(sessions::user_id.eq(user.as_str()))
                .filter(sessions::id.eq(id.as_str()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Records activity, at most once a minute per session to keep reads free of writes.
    pub fn touch_session(&mut self, id: &SessionId, now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let stale = now - chrono::Duration::seconds(60);
        diesel::update(
            sessions::table
                .filter(sessions::tenant_id.eq(tid))
                .filter(sessions::id.eq(id.as_str()))
                .filter(sessions::last_seen_at.lt(stale)),
        )
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)?;
        Ok(())
    }
}
