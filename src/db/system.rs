//! The cross-portal reads and writes, in one place. Everything else reaches tenant data
//! through a [`super::TenantDb`]; these cannot, because they run before the portal is
//! known or on behalf of every portal:
//!
//! | what | why it spans portals | used by |
//! | --- | --- | --- |
//! | `session_by_token`, `key_by_hash`, `redeem_ticket`, `challenge_by_token` | the credential names its portal | `identity` (the credential resolver, sign-in) |
//! | `portals_of` | a person picks a portal at sign-in | `identity` |
//! | `invitations_for` | a person's invitations come from any portal | `identity` |
//! | `revoke_sessions_of_user` | a password is the person's, in every portal | `identity` |
//! | `claim_import` | the worker takes the next job of any portal | `jobs` |
//! | `due_for_purge`, `expired_tickets` | the scheduler purges for every portal | `jobs` |
//! | `verify_audit` | `organizeo audit verify` walks every chain | the CLI |
//! | `claim_export`, `expire_exports` | the worker takes the next portal export of any portal; the purge expires old archives | `jobs` |
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
use crate::security::audit_chain::GENESIS;

/// The cross-portal handle.
pub struct System<'c> {
    conn: &'c mut DbConnection,
}

/// The first broken link of one chain (`rows` in seq order, `head` its stored head).
fn check_chain(chain: &str, rows: &[AuditRow], head: Option<(i64, String)>) -> Option<Break> {
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let broken = |seq: i64, reason: String| Some(Break { tenant_id: chain.to_string(), seq, reason });
    for row in rows {
        if row.seq != expected_seq {
            return broken(row.seq, format!("expected entry {expected_seq} here (an entry is missing)"));
        } else if row.prev_hash != prev {
            return broken(row.seq, "prev_hash does not match the previous entry".into());
        } else if row.chained_hash(&prev) != row.hash {
            return broken(row.seq, "contents do not match the entry's hash (altered)".into());
        }
        prev = row.hash.clone();
        expected_seq += 1;
    }
    match head {
        Some((seq, hash)) if seq != expected_seq - 1 || hash != prev => {
            broken(seq, "the newest entries are missing (chain head does not match)".into())
        }
        _ => None,
    }
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

    /// Claims one queued or abandoned (lease expired) import for `owner` until
    /// `lease_until`, by a conditional UPDATE both backends run; the work itself then runs
    /// through that portal's `TenantDb`.
    pub fn claim_import(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<Option<ImportRow>> {
        let conn = &mut *self.conn;
        let candidates: Vec<String> = imports::table
            .filter(imports::status.eq_any(["queued", "running"]))
            .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now)))
            .order(imports::created_at.asc())
            .limit(5)
            .select(imports::id)
            .load(conn)?;
        for id in candidates {
            let won = diesel::update(
                imports::table
                    .filter(imports::id.eq(&id))
                    .filter(imports::status.eq_any(["queued", "running"]))
                    .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now))),
            )
            .set((
                imports::status.eq("running"),
                imports::lease_owner.eq(Some(owner)),
                imports::lease_until.eq(Some(lease_until)),
            ))
            .execute(conn)?;
            if won == 1 {
                return imports::table.find(&id).select(ImportRow::as_select()).first(conn).optional();
            }
        }
        Ok(None)
    }

    /// Completed exports finished before `before` (at most `limit`): marked expired, their
    /// archives' paths returned for the caller to delete.
    pub fn expire_exports(&mut self, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
        use super::schema::tenant_exports as te;
        let conn = &mut *self.conn;
        let due: Vec<(String, Option<String>)> = te::table
            .filter(te::status.eq("completed"))
            .filter(te::finished_at.lt(before))
            .limit(limit)
            .select((te::id, te::file))
            .load(conn)?;
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        diesel::update(te::table.filter(te::id.eq_any(&ids)).filter(te::status.eq("completed")))
            .set((te::status.eq("expired"), te::file.eq(None::<String>)))
            .execute(conn)?;
        Ok(due.into_iter().filter_map(|(_, f)| f).collect())
    }

    /// Whether any export waits for a worker (queued, or running with an expired lease):
    /// one indexed read, so idle workers never take a write lock to find nothing.
    pub fn export_due(&mut self, now: NaiveDateTime) -> QueryResult<bool> {
        use super::schema::tenant_exports as te;
        let found: Option<String> = te::table
            .filter(te::status.eq("queued").or(te::status.eq("running").and(te::lease_until.lt(now))))
            .select(te::id)
            .first(self.conn)
            .optional()?;
        Ok(found.is_some())
    }

    /// Claims one queued export, or one whose lease expired (its node died; the archive is
    /// built again from the start), for `owner` until `lease_until`. Exports that failed
    /// three times are failed for good.
    pub fn claim_export(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<Option<super::tenant_exports::ExportRow>> {
        use super::schema::tenant_exports as te;
        let conn = &mut *self.conn;
        let open = te::status.eq("queued").or(te::status.eq("running").and(te::lease_until.lt(now)));
        diesel::update(
            te::table.filter(te::status.eq("running")).filter(te::lease_until.lt(now)).filter(te::attempts.ge(3)),
        )
        .set((
            te::status.eq("failed"),
            te::error.eq(Some("the export was interrupted three times")),
            te::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
        let candidates: Vec<String> =
            te::table.filter(open).order(te::created_at.asc()).limit(5).select(te::id).load(conn)?;
        for id in candidates {
            let won = diesel::update(te::table.filter(te::id.eq(&id)).filter(open))
                .set((
                    te::status.eq("running"),
                    te::lease_owner.eq(Some(owner)),
                    te::lease_until.eq(Some(lease_until)),
                    te::attempts.eq(te::attempts + 1),
                    te::updated_at.eq(now),
                ))
                .execute(conn)?;
            if won == 1 {
                return te::table
                    .find(&id)
                    .select(super::tenant_exports::ExportRow::as_select())
                    .first(conn)
                    .optional();
            }
        }
        Ok(None)
    }

    /// What the purge job finds due, at most `limit` of each kind; each purge then runs
    /// through its portal's `TenantDb`.
    pub fn due_for_purge(&mut self, now: NaiveDateTime, limit: i64) -> QueryResult<DuePurge> {
        let conn = &mut *self.conn;
        Ok(DuePurge {
            records: records::table
                .filter(records::deleted_at.is_not_null())
                .filter(records::purge_at.le(now))
                .order(records::purge_at.asc())
                .limit(limit)
                .select((records::tenant_id, records::object, records::id))
                .load(conn)?,
            custom_fields: custom_fields::table
                .filter(custom_fields::deleted_at.is_not_null())
                .filter(custom_fields::purge_at.le(now))
                .limit(limit)
                .select((custom_fields::tenant_id, custom_fields::id))
                .load(conn)?,
            tags: tags::table
                .filter(tags::deleted_at.is_not_null())
                .filter(tags::purge_at.le(now))
                .limit(limit)
                .select((tags::tenant_id, tags::id))
                .load(conn)?,
            custom_values: custom_values::table
                .filter(custom_values::deleted_at.is_not_null())
                .filter(custom_values::purge_at.le(now))
                .limit(limit)
                .select((custom_values::tenant_id, custom_values::id))
                .load(conn)?,
        })
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

    /// Deletes websocket tickets that expired before `before` (used or not).
    pub fn delete_expired_tickets(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(rt::table.filter(rt::expires_at.lt(before))).execute(self.conn)
    }

    /// Recomputes every portal's audit chain from the genesis, in `seq` order.
    pub fn verify_audit(&mut self) -> QueryResult<Report> {
        let conn = &mut *self.conn;
        let mut report = Report::default();
        let ids: Vec<String> = tenants::table.select(tenants::id).order(tenants::id.asc()).load(conn)?;
        for tid in ids {
            report.portals += 1;
            let rows: Vec<AuditRow> = audit_log::table
                .filter(audit_log::tenant_id.eq(&tid))
                .order(audit_log::seq.asc())
                .select(AuditRow::as_select())
                .load(conn)?;
            let head: Option<(i64, String)> =
                audit_heads::table.find(&tid).select((audit_heads::seq, audit_heads::hash)).first(conn).optional()?;
            report.entries += rows.len();
            let found = check_chain(&tid, &rows, head);
            if report.first_break.is_none() {
                report.first_break = found;
            }
        }
        // The platform's own chain (staff, grants, flags), under the name "platform".
        let rows = super::Platform::new(conn).platform_audit_page(0, i64::MAX)?;
        let head: Option<(i64, String)> = super::schema::platform_audit_head::table
            .find(1)
            .select((super::schema::platform_audit_head::seq, super::schema::platform_audit_head::hash))
            .first(conn)
            .optional()?;
        report.entries += rows.len();
        let found = check_chain(super::staff::PLATFORM_CHAIN, &rows, head);
        if report.first_break.is_none() {
            report.first_break = found;
        }
        Ok(report)
    }

    /// Rewrites deal amounts indexed the old way (a float, which could not tell
    /// 999999999999.999998 from …999) as exact sort keys. Idempotent: only rows without a
    /// key are touched, so it costs one indexed probe once done. Returns the rows fixed.
    pub fn reindex_money(&mut self) -> QueryResult<usize> {
        use super::schema::record_values as rv;
        let conn = &mut *self.conn;
        let mut fixed = 0;
        loop {
            let batch: Vec<(String, String)> = rv::table
                .inner_join(records::table.on(records::id.eq(rv::record_id)))
                .filter(rv::object.eq("deal"))
                .filter(rv::field.eq("amount"))
                .filter(rv::text_value.is_null())
                .limit(500)
                .select((rv::record_id, records::props))
                .load(conn)?;
            if batch.is_empty() {
                return Ok(fixed);
            }
            for (record_id, props) in batch {
                let amount = serde_json::from_str::<serde_json::Value>(&props)
                    .ok()
                    .and_then(|p| p.get("amount").and_then(|a| a.as_str().map(str::to_string)))
                    .and_then(|a| crate::domain::Money::parse(&a).ok());
                let target = rv::table.filter(rv::record_id.eq(&record_id)).filter(rv::field.eq("amount"));
                match amount {
                    Some(m) => diesel::update(target)
                        .set((rv::text_value.eq(Some(m.sort_key())), rv::num_value.eq(None::<f64>)))
                        .execute(conn)?,
                    // An index row without a readable amount indexes nothing.
                    None => diesel::delete(target).execute(conn)?,
                };
                fixed += 1;
            }
        }
    }

    /// Removes imports left `staging` since before `before` (the upload was cut off; it
    /// was never acknowledged), with their staged rows. Returns how many.
    pub fn delete_abandoned_uploads(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        use super::schema::import_rows;
        let conn = &mut *self.conn;
        let ids: Vec<String> = imports::table
            .filter(imports::status.eq("staging"))
            .filter(imports::updated_at.lt(before))
            .limit(100)
            .select(imports::id)
            .load(conn)?;
        diesel::delete(import_rows::table.filter(import_rows::import_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(imports::table.filter(imports::id.eq_any(&ids)).filter(imports::status.eq("staging")))
            .execute(conn)
    }

    /// Imports accepted before staging existed kept their whole file; migration 000014 set
    /// those not finished aside in `import_files`. This stages their rows not yet applied
    /// (the same reader and row numbers as uploads) and deletes the files. Idempotent.
    /// Returns the imports staged.
    pub fn stage_legacy_imports(&mut self) -> QueryResult<usize> {
        use super::imports::{insert_staged_rows, StagedRow};
        use super::schema::import_files;
        use crate::crm::csv_read;
        let conn = &mut *self.conn;
        let legacy: Vec<(String, String, i64, Vec<u8>)> = import_files::table
            .inner_join(imports::table.on(imports::id.eq(import_files::import_id)))
            .select((imports::id, imports::tenant_id, imports::next_row, import_files::file))
            .load(conn)?;
        let mut staged = 0;
        for (id, tenant_id, next_row, file) in legacy {
            let mut check = csv_read::Utf8Check::default();
            check.feed(&file);
            // Files then were read as comma-separated UTF-8.
            let parsed = csv_read::sniff(&file, check.valid(), Some(b','))
                .and_then(|d| csv_read::Rows::open(file.as_slice(), d))
                .and_then(|mut rows| Ok((rows.headers().to_vec(), rows.next_batch(usize::MAX)?)));
            match parsed {
                Ok((headers, rows)) => {
                    let cells: Vec<(i64, String)> = rows
                        .into_iter()
                        .filter(|(n, _)| *n >= next_row)
                        .map(|(n, c)| (n, serde_json::to_string(&c).unwrap_or_else(|_| "[]".into())))
                        .collect();
                    let batch: Vec<StagedRow<'_>> = cells
                        .iter()
                        .map(|(n, c)| StagedRow { import_id: &id, tenant_id: &tenant_id, row_no: *n, cells: c })
                        .collect();
                    insert_staged_rows(conn, &batch)?;
                    let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into());
                    diesel::update(imports::table.find(&id)).set(imports::headers.eq(headers)).execute(conn)?;
                    staged += 1;
                }
                Err(message) => {
                    let errors = serde_json::json!([{ "row": 0, "column": "", "message": message }]).to_string();
                    diesel::update(imports::table.find(&id))
                        .set((imports::status.eq("failed"), imports::errors.eq(errors)))
                        .execute(conn)?;
                }
            }
            diesel::delete(import_files::table.find(&id)).execute(conn)?;
        }
        Ok(staged)
    }

    /// Refreshes PostgreSQL's planner statistics of the CRM tables after a bulk load
    /// (`ANALYZE` needs the tables' owner, so it runs as the session's own role).
    pub fn analyze_crm_tables(&mut self) -> QueryResult<()> {
        if let DbConnection::Postgresql(c) = &mut *self.conn {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "SET LOCAL ROLE NONE; ANALYZE records, record_values, record_tags, tags",
            )?;
        }
        Ok(())
    }
}

/// `organizeo audit verify`: opens its own connection (no server, no pool) and walks every
/// chain in one system-scoped read.
pub fn verify_audit(url: &DatabaseUrl) -> anyhow::Result<Report> {
    let mut conn = super::ConnectionFactory::new(url.clone())
        .open()
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    scope::read_transaction(&mut conn, Scope::System, |conn| Ok(System { conn }.verify_audit()?))
        .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))
}
