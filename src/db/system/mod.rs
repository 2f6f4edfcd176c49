//! The cross-portal reads and writes, in one place. Everything else reaches tenant data
//! through a [`super::TenantDb`]; these cannot, because they run before the portal is
//! known or on behalf of every portal:
//!
//! | what | why it spans portals | used by |
//! | --- | --- | --- |
//! | `credentials::find` (one statement on PostgreSQL), `session_by_token`, `key_by_hash`, `redeem_ticket`, `redeem_end_user_ticket`, `challenge_by_token` | the credential names its portal | `identity` (the credential resolver, sign-in) |
//! | `portals_of` | a person picks a portal at sign-in | `identity` |
//! | `invitations_for` | a person's invitations come from any portal | `identity` |
//! | `revoke_sessions_of_user` | a password is the person's, in every portal | `identity` |
//! | `claim_import` | the worker takes the next job of any portal | `jobs` |
//! | `due_for_purge`, `expired_tickets` | the scheduler purges for every portal | `jobs` |
//! | `verify_audit` | `organizeo audit verify` walks every chain | the CLI |
//! | `claim_export`, `expire_exports` | the worker takes the next portal export of any portal; the purge expires old archives | `jobs` |
//! | `due_scheduled_campaigns`, `claim_campaign`, `analyze_campaign_tables` | the campaign runner starts due campaigns and drives any portal's sending campaign no node holds | `jobs` |
//! | `inapp_fanout_due`, `claim_inapp_message` | the fan-out worker takes any portal's in-app message | `jobs` |
//! | `delete_abandoned_uploads` | uploads cut off while staging, in any portal | `jobs` |
//! | `reindex_money`, `stage_legacy_imports` | data migrations over every portal | `db::migrate` |
//!
//! On PostgreSQL these run with `organizeo.system = on`, the explicit switch that turns
//! the row-level security policies off for the transaction. `http/` and `crm/` must never
//! use this module (a test greps for it).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::{AuditRow, Break, Report};
use super::imports::ImportRow;
use super::invitations::InvitationRow;
use super::schema::{
    api_keys, audit_heads, audit_log, custom_fields, custom_values, imports, invitations, memberships, mfa_challenges,
    realtime_tickets as rt, records, sessions, tags, tenants, users,
};
use super::scope::{self, Scope};
use super::sessions::ResolvedSession;
use super::tenants::{MembershipRow, TenantRow};
use super::{api_keys::ApiKeyRow, mfa::ChallengeRow, sessions::SessionRow, Db, DbConnection, Tx};
use crate::config::DatabaseUrl;
use crate::domain::{SessionId, TenantId, UserId};
use crate::error::AppError;

mod campaigns;
pub mod credentials;
mod jobs;
mod maintenance;

pub use maintenance::verify_audit;

/// The cross-portal handle.
pub struct System<'c> {
    conn: &'c mut DbConnection,
}

/// Reads across portals.
pub async fn read<T, F>(db: &Db, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut System<'_>) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    db.read_in(Scope::System, move |conn| f(&mut System { conn })).await
}

/// This write transaction, across portals (until it enters one with `tx.tenant(id)`).
pub fn enter<'t>(tx: &'t mut Tx<'_>) -> QueryResult<System<'t>> {
    Ok(System { conn: tx.scoped(Scope::System)? })
}

/// Items in the trash past their purge time, by kind: `(tenant, object, id)` for records,
/// `(tenant, id)` for the rest.
#[derive(Debug, Default)]
pub struct DuePurge {
    pub records: Vec<(String, String, String)>,
    pub custom_fields: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub custom_values: Vec<(String, String)>,
    /// Emails deleted before the trash retention (their history goes with them).
    pub emails: Vec<(String, String)>,
}

impl System<'_> {
    /// Resolves a sign-in token hash to its session, the membership it acts under and the
    /// 2FA facts. Expiry and revocation are judged by the caller against its clock.
    pub fn session_by_token(&mut self, token_hash: &str) -> QueryResult<Option<ResolvedSession>> {
        let row: Option<(SessionRow, MembershipRow, bool, Option<NaiveDateTime>)> = sessions::table
            .inner_join(
                memberships::table
                    .on(memberships::tenant_id.eq(sessions::tenant_id).and(memberships::user_id.eq(sessions::user_id))),
            )
            .inner_join(tenants::table.on(tenants::id.eq(sessions::tenant_id)))
            .inner_join(users::table.on(users::id.eq(sessions::user_id)))
            .filter(sessions::token_hash.eq(token_hash))
            .select((SessionRow::as_select(), MembershipRow::as_select(), tenants::require_mfa, users::totp_enabled_at))
            .first(self.conn)
            .optional()?;
        Ok(row.map(|(session, membership, require_mfa, enabled)| ResolvedSession {
            session,
            membership,
            require_mfa,
            mfa_enabled: enabled.is_some(),
        }))
    }

    /// Resolves a presented private app key; the key names its own portal.
    pub fn key_by_hash(&mut self, key_hash: &str) -> QueryResult<Option<ApiKeyRow>> {
        api_keys::table
            .filter(api_keys::key_hash.eq(key_hash))
            .select(ApiKeyRow::as_select())
            .first(self.conn)
            .optional()
    }

    /// A sign-in challenge by its token hash (the second step of a sign-in).
    pub fn challenge_by_token(&mut self, token_hash: &str) -> QueryResult<Option<ChallengeRow>> {
        mfa_challenges::table
            .filter(mfa_challenges::token_hash.eq(token_hash))
            .select(ChallengeRow::as_select())
            .first(self.conn)
            .optional()
    }

    /// Marks a websocket ticket used if it is unused and unexpired; returns the credential
    /// hash of its subject (to be resolved like a bearer token, so revocations and role
    /// changes since the ticket was issued apply) and whether it is a key. One conditional
    /// UPDATE, so two nodes racing for the same ticket cannot both win.
    /// Redeems an end user's inbox websocket ticket (once, before it expires): the
    /// portal and the end-user id it was issued to.
    pub fn redeem_end_user_ticket(&mut self, hash: &str, now: NaiveDateTime) -> QueryResult<Option<(String, String)>> {
        let conn = &mut *self.conn;
        let won = diesel::update(
            rt::table
                .filter(rt::ticket_hash.eq(hash))
                .filter(rt::subject_kind.eq(crate::db::realtime_tickets::END_USER))
                .filter(rt::used_at.is_null())
                .filter(rt::expires_at.gt(now)),
        )
        .set(rt::used_at.eq(now))
        .execute(conn)?;
        if won != 1 {
            return Ok(None);
        }
        rt::table.find(hash).select((rt::tenant_id, rt::subject_id)).first(conn).optional()
    }

    pub fn redeem_ticket(
        &mut self,
        hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<(String, crate::identity::credentials::Kind)>> {
        use crate::identity::credentials::Kind;
        let conn = &mut *self.conn;
        let won = diesel::update(
            rt::table.filter(rt::ticket_hash.eq(hash)).filter(rt::used_at.is_null()).filter(rt::expires_at.gt(now)),
        )
        .set(rt::used_at.eq(now))
        .execute(conn)?;
        if won != 1 {
            return Ok(None);
        }
        let (tenant, kind, id): (String, String, String) =
            rt::table.find(hash).select((rt::tenant_id, rt::subject_kind, rt::subject_id)).first(conn)?;
        let credential = match kind.as_str() {
            "api_key" => api_keys::table
                .filter(api_keys::tenant_id.eq(&tenant))
                .filter(api_keys::id.eq(&id))
                .select(api_keys::key_hash)
                .first::<String>(conn)
                .optional()?
                .map(|h| (h, Kind::Key)),
            "jita_grant" => {
                use super::schema::jita_grants;
                jita_grants::table
                    .filter(jita_grants::tenant_id.eq(&tenant))
                    .filter(jita_grants::id.eq(&id))
                    .select(jita_grants::token_hash)
                    .first::<String>(conn)
                    .optional()?
                    .map(|h| (h, Kind::Jita))
            }
            _ => sessions::table
                .filter(sessions::tenant_id.eq(&tenant))
                .filter(sessions::id.eq(&id))
                .select(sessions::token_hash)
                .first::<String>(conn)
                .optional()?
                .map(|h| (h, Kind::Session)),
        };
        Ok(credential)
    }

    /// The open invitations addressed to `email` (lower-cased), with their portal's row,
    /// newest first.
    pub fn invitations_for(&mut self, email: &str, now: NaiveDateTime) -> QueryResult<Vec<(InvitationRow, TenantRow)>> {
        invitations::table
            .inner_join(tenants::table)
            .filter(invitations::email.eq(email))
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(now))
            .order(invitations::created_at.desc())
            .select((InvitationRow::as_select(), TenantRow::as_select()))
            .load(self.conn)
    }

    /// The portals a person belongs to, oldest membership first: how they choose a portal
    /// at sign-in.
    pub fn portals_of(&mut self, user: &UserId) -> QueryResult<Vec<(TenantRow, MembershipRow)>> {
        tenants::table
            .inner_join(memberships::table)
            .filter(memberships::user_id.eq(user.as_str()))
            .order((memberships::created_at.asc(), tenants::id.asc()))
            .select((TenantRow::as_select(), MembershipRow::as_select()))
            .load(self.conn)
    }

    /// Ends every live session of a person, in every portal, except `keep` (after a
    /// password change): the password is the person's, not the portal's. Returns the
    /// sessions ended, by portal.
    pub fn revoke_sessions_of_user(
        &mut self,
        user: &UserId,
        keep: &SessionId,
        now: NaiveDateTime,
    ) -> QueryResult<Vec<(TenantId, Vec<SessionId>)>> {
        let conn = &mut *self.conn;
        let rows: Vec<(String, String)> = sessions::table
            .filter(sessions::user_id.eq(user.as_str()))
            .filter(sessions::id.ne(keep.as_str()))
            .filter(sessions::revoked_at.is_null())
            .select((sessions::tenant_id, sessions::id))
            .load(conn)?;
        let ids: Vec<&str> = rows.iter().map(|(_, id)| id.as_str()).collect();
        diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)).filter(sessions::revoked_at.is_null()))
            .set(sessions::revoked_at.eq(Some(now)))
            .execute(conn)?;
        let mut by_tenant: Vec<(TenantId, Vec<SessionId>)> = Vec::new();
        for (tenant, id) in rows {
            let tenant = TenantId::from_db(tenant);
            match by_tenant.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, ids)) => ids.push(SessionId::from_db(id)),
                None => by_tenant.push((tenant, vec![SessionId::from_db(id)])),
            }
        }
        Ok(by_tenant)
    }

    /// The JITA grant a presented `ozj_` token digest names (any portal's: the token
    /// names its portal), if its staff member is still active.
    pub fn jita_by_token(&mut self, hash: &str) -> QueryResult<Option<(super::jita::JitaRow, String)>> {
        use super::schema::{jita_grants, staff_members};
        let grant = jita_grants::table
            .filter(jita_grants::token_hash.eq(hash))
            .select(super::jita::JitaRow::as_select())
            .first(self.conn)
            .optional()?;
        let Some(grant) = grant else { return Ok(None) };
        // A disabled staff member's grants die with their sessions.
        let staff: Option<(String, String)> = staff_members::table
            .find(&grant.staff_id)
            .select((staff_members::status, staff_members::email))
            .first(self.conn)
            .optional()?;
        Ok(staff.filter(|(status, _)| status == "active").map(|(_, email)| (grant, email)))
    }

    /// The grants of a staff member that have not ended (pending or active), with portals.
    pub fn open_grants_of(&mut self, staff_id: &str) -> QueryResult<Vec<(String, String)>> {
        use super::schema::jita_grants;
        jita_grants::table
            .filter(jita_grants::staff_id.eq(staff_id))
            .filter(jita_grants::status.eq_any(["pending_approval", "active"]))
            .select((jita_grants::tenant_id, jita_grants::id))
            .load(self.conn)
    }

    /// How many different portals `staff_id` asked to enter since `since` (risk monitoring).
    pub fn portals_entered_by(&mut self, staff_id: &str, since: NaiveDateTime) -> QueryResult<i64> {
        use super::schema::jita_grants;
        let ids: Vec<String> = jita_grants::table
            .filter(jita_grants::staff_id.eq(staff_id))
            .filter(jita_grants::created_at.ge(since))
            .select(jita_grants::tenant_id)
            .distinct()
            .load(self.conn)?;
        Ok(ids.len() as i64)
    }
}
