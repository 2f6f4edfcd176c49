//! The audit log: append-only and hash-chained per portal.
//!
//! This module has no update or delete of entries, and the database refuses both with a
//! trigger. Appends are serialised per portal by updating `audit_heads` first (a row lock
//! on PostgreSQL, the write lock on SQLite), so `seq` has no gaps and `prev_hash` is always
//! the previous entry's hash. `verify` recomputes every chain and names the first break.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::schema::{audit_heads, audit_log};
use super::TenantDb;
use crate::security::audit_chain::{entry_hash, EntryFields, GENESIS};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct AuditRow {
    pub tenant_id: String,
    pub seq: i64,
    pub occurred_at: NaiveDateTime,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The row that appends `entry` to a chain (portal id or `platform`) after `prev_hash`.
    pub fn chained(chain: String, seq: i64, entry: NewEntry, now: DateTime<Utc>, prev_hash: String) -> Self {
        let mut row = AuditRow {
            tenant_id: chain,
            seq,
            // Microseconds: what both databases store exactly, so the hash re-computes.
            occurred_at: now.naive_utc().trunc_subsecs(6),
            actor_type: entry.actor_type.to_string(),
            actor_id: entry.actor_id,
            action: entry.action.to_string(),
            target_type: entry.target_type.map(str::to_string),
            target_id: entry.target_id,
            ip: entry.ip,
            user_agent: entry.user_agent,
            request_id: entry.request_id,
            details: entry.details.to_string(),
            hash: String::new(),
            prev_hash,
        };
        row.hash = row.chained_hash(&row.prev_hash);
        row
    }

    /// The chain hash of this entry's contents after `prev`.
    pub(super) fn chained_hash(&self, prev: &str) -> String {
        let at = timestamp_text(self.occurred_at);
        entry_hash(
            prev,
            &EntryFields {
                tenant_id: &self.tenant_id,
                seq: self.seq,
                occurred_at: &at,
                actor_type: &self.actor_type,
                actor_id: self.actor_id.as_deref(),
                action: &self.action,
                target_type: self.target_type.as_deref(),
                target_id: self.target_id.as_deref(),
                ip: self.ip.as_deref(),
                user_agent: self.user_agent.as_deref(),
                request_id: self.request_id.as_deref(),
                details: &self.details,
            },
        )
    }
}

fn timestamp_text(t: NaiveDateTime) -> String {
    t.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// What happened, by whom, to what, from where. Built by handlers, appended by
/// [`TenantDb::audit`].
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor_type: &'static str,
    pub actor_id: Option<String>,
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl NewEntry {
    pub fn new(action: &'static str) -> Self {
        Self {
            actor_type: "system",
            actor_id: None,
            action,
            target_type: None,
            target_id: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::json!({}),
        }
    }

    pub fn actor(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.actor_type = kind;
        self.actor_id = Some(id.to_string());
        self
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn from_request(mut self, ip: Option<String>, user_agent: Option<String>, request_id: Option<String>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent.map(|ua| ua.chars().take(512).collect());
        self.request_id = request_id;
        self
    }
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// An audit entry for `action` carrying this request's origin.
    pub fn entry(&self, action: &'static str) -> NewEntry {
        NewEntry::new(action).from_request(self.ip.clone(), self.user_agent.clone(), self.request_id.clone())
    }
}

/// Filters for listing, newest first.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Only entries with a smaller `seq` (the cursor).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

impl TenantDb<'_> {
    /// Starts this (new) portal's chain.
    pub(super) fn start_chain(&mut self) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::insert_into(audit_heads::table)
            .values((audit_heads::tenant_id.eq(tid), audit_heads::seq.eq(0i64), audit_heads::hash.eq(GENESIS)))
            .execute(conn)?;
        Ok(())
    }

    /// Appends one entry to this portal's chain; call inside the transaction of the change
    /// it records, so the two commit together.
    pub fn audit(&mut self, entry: NewEntry, now: DateTime<Utc>) -> QueryResult<i64> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        // Taking the head's lock first orders concurrent appends.
        diesel::update(audit_heads::table.find(&tid)).set(audit_heads::seq.eq(audit_heads::seq + 1)).execute(conn)?;
        let (seq, prev_hash): (i64, String) =
            audit_heads::table.find(&tid).select((audit_heads::seq, audit_heads::hash)).first(conn)?;
        let row = AuditRow::chained(tid.clone(), seq, entry, now, prev_hash);
        diesel::update(audit_heads::table.find(&tid)).set(audit_heads::hash.eq(&row.hash)).execute(conn)?;
        diesel::insert_into(audit_log::table).values(&row).execute(conn)?;
        Ok(seq)
    }

    pub fn audit_entries(&mut self, f: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
        let (conn, tid) = self.parts();
        let mut q = audit_log::table.filter(audit_log::tenant_id.eq(tid)).select(AuditRow::as_select()).into_boxed();
        if let Some(a) = &f.action {
            // `auth.login` matches `auth.login.failed` and `auth.login.succeeded`.
            let prefix = a.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q = q
                .filter(audit_log::action.eq(a.clone()).or(audit_log::action.like(format!("{prefix}.%")).escape('\\')));
        }
        if let Some(a) = &f.actor_id {
            q = q.filter(audit_log::actor_id.eq(a.clone()));
        }
        if let Some(t) = f.since {
            q = q.filter(audit_log::occurred_at.ge(t));
        }
        if let Some(t) = f.until {
            q = q.filter(audit_log::occurred_at.lt(t));
        }
        if let Some(s) = f.before_seq {
            q = q.filter(audit_log::seq.lt(s));
        }
        q.order(audit_log::seq.desc()).limit(f.limit).load(conn)
    }
}

/// The first broken link found, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub tenant_id: String,
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub portals: usize,
    pub entries: usize,
    pub first_break: Option<Break>,
}
