//! Transactions and the scope they run in.
//!
//! A scope says whose rows a transaction may touch on PostgreSQL, where every tenant table
//! has a row-level security policy (migration `000011_row_level_security`):
//!
//! ```text
//! USING (tenant_id = current_setting('organizeo.tenant_id')
//!        OR current_setting('organizeo.system') = 'on')
//! ```
//!
//! - `Tenant(id)`: `SET LOCAL organizeo.tenant_id = id` — only that portal's rows exist;
//! - `System`: `SET LOCAL organizeo.system = on` — the policy is off, for `db::system` only;
//! - `Unscoped`: neither — tenant tables look empty (platform tables have no policy).
//!
//! `SET LOCAL` lasts until the transaction ends, so a pooled connection never carries one
//! portal's scope into the next checkout. SQLite has no row-level security: there the
//! scope changes nothing and the tenant filter of [`super::TenantDb`] is the only wall.
//!
//! A write transaction is a [`Tx`] value. It owns the [`Outbox`] of events appended
//! through it; [`write_transaction`] numbers and inserts them just before COMMIT and
//! returns the new heads, which `Db` hands to its commit sink once the commit is done.

use chrono::NaiveDateTime;
use diesel::connection::{AnsiTransactionManager, Connection, SimpleConnection, TransactionManager};
use diesel::QueryResult;

use super::events::NewEvent;
use super::idempotency::WriteMark;
use super::{DbConnection, Platform, TenantDb, TenantTx};
use crate::domain::TenantId;
use crate::error::AppError;

/// Whose rows a transaction sees on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Unscoped,
    Tenant(TenantId),
    System,
}

/// The `SET LOCAL` statements that move a transaction from `from` to `to` (empty when
/// nothing changes).
fn transition(from: &Scope, to: &Scope) -> QueryResult<String> {
    let mut sql = String::new();
    if from == to {
        return Ok(sql);
    }
    if *from == Scope::System {
        sql.push_str("SET LOCAL organizeo.system = 'off';");
    }
    match to {
        Scope::Unscoped => sql.push_str("SET LOCAL organizeo.tenant_id = '';"),
        Scope::Tenant(id) => {
            // Ids are UUIDs; anything else must never be spliced into SQL.
            if !id.as_str().bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') || id.as_str().len() > 64 {
                return Err(diesel::result::Error::QueryBuilderError("malformed tenant id".into()));
            }
            sql.push_str(&format!("SET LOCAL organizeo.tenant_id = '{}';", id.as_str()));
        }
        Scope::System => sql.push_str("SET LOCAL organizeo.system = 'on';"),
    }
    Ok(sql)
}

/// Moves a running PostgreSQL transaction into `to`.
pub(crate) fn enter(conn: &mut DbConnection, current: &mut Scope, to: Scope) -> QueryResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        let sql = transition(current, &to)?;
        if !sql.is_empty() {
            c.batch_execute(&sql)?;
        }
    }
    *current = to;
    Ok(())
}

/// Begins a transaction already in `scope` (one round trip on PostgreSQL). SQLite writers
/// begin with `BEGIN IMMEDIATE`, so the write lock is taken up front and concurrent
/// writers wait instead of failing with SQLITE_BUSY on a lock upgrade.
pub(crate) fn begin(conn: &mut DbConnection, scope: &Scope, read_only: bool) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConnection::Postgresql(c) => {
            let begin = if read_only { "BEGIN READ ONLY;" } else { "BEGIN;" };
            let sql = format!("{begin}{}", transition(&Scope::Unscoped, scope)?);
            AnsiTransactionManager::begin_transaction_sql(c, &sql)
        }
    }
}

fn finish<T, E: From<diesel::result::Error>>(conn: &mut DbConnection, out: Result<T, E>) -> Result<T, E> {
    match out {
        Ok(v) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// A read in `scope`. On PostgreSQL it is a read-only transaction (the scope needs one, and
/// a write slipped into a read fails loudly); SQLite reads need no transaction.
pub(crate) fn read_transaction<T, F>(conn: &mut DbConnection, scope: Scope, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    if !matches!(conn, DbConnection::Sqlite(_)) {
        begin(conn, &scope, true)?;
    }
    read_begun(conn, f)
}

/// The first statement of a read in `scope`: its `BEGIN` on PostgreSQL, none on SQLite
/// (reads there need no transaction).
pub(crate) fn begin_read(conn: &mut DbConnection, scope: &Scope) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(_) => Ok(()),
        DbConnection::Postgresql(_) => begin(conn, scope, true),
    }
}

/// The rest of a read once [`begin_read`] ran.
pub(crate) fn read_begun<T, F>(conn: &mut DbConnection, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    if matches!(conn, DbConnection::Sqlite(_)) {
        return f(conn);
    }
    let out = f(conn);
    finish(conn, out)
}

/// Runs `f` in one write transaction starting in `scope`; returns its value and the new
/// event head of each portal it appended events for.
pub(crate) fn write_transaction<T, F>(
    conn: &mut DbConnection,
    scope: Scope,
    mark: Option<WriteMark>,
    f: F,
) -> Result<(T, Vec<(TenantId, i64)>), AppError>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, AppError>,
{
    begin(conn, &scope, false)?;
    write_begun(conn, scope, mark, f)
}

/// The rest of a write transaction once `begin(conn, &scope, false)` ran.
pub(crate) fn write_begun<T, F>(
    conn: &mut DbConnection,
    scope: Scope,
    mark: Option<WriteMark>,
    f: F,
) -> Result<(T, Vec<(TenantId, i64)>), AppError>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, AppError>,
{
    let mut tx = Tx { conn, outbox: Outbox::default(), scope };
    let done = f(&mut tx).and_then(|value| {
        let Tx { conn, outbox, scope } = &mut tx;
        let heads = outbox.flush(conn, scope)?;
        if let Some(mark) = &mark {
            mark.apply(conn)?;
        }
        Ok((value, heads))
    });
    finish(tx.conn, done)
}

/// Events appended by a write transaction, numbered and written just before it commits.
/// Writing them last keeps each portal's `event_heads` row locked only for the commit
/// itself (one bump per transaction, one multi-row insert), instead of from the first
/// change to the commit, which serialised every writer.
#[derive(Default)]
pub struct Outbox {
    pending: Vec<(TenantId, NewEvent, NaiveDateTime)>,
}

impl Outbox {
    pub(crate) fn push(&mut self, tenant: TenantId, event: NewEvent, at: NaiveDateTime) {
        self.pending.push((tenant, event, at));
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Forgets what was appended after `mark` (a rolled-back savepoint).
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.pending.truncate(mark);
    }

    fn flush(&mut self, conn: &mut DbConnection, scope: &mut Scope) -> QueryResult<Vec<(TenantId, i64)>> {
        let mut by_tenant: Vec<(TenantId, Vec<(NewEvent, NaiveDateTime)>)> = Vec::new();
        for (tid, e, at) in std::mem::take(&mut self.pending) {
            match by_tenant.iter_mut().find(|(t, _)| *t == tid) {
                Some((_, v)) => v.push((e, at)),
                None => by_tenant.push((tid, vec![(e, at)])),
            }
        }
        let mut heads = Vec::new();
        for (tid, evs) in by_tenant {
            enter(conn, scope, Scope::Tenant(tid.clone()))?;
            let head = super::events::write_numbered(conn, &tid, evs)?;
            heads.push((tid, head));
        }
        Ok(heads)
    }
}

/// A write transaction. Enter a portal with [`Tx::tenant`]; platform tables through
/// [`Tx::platform`]. Dropping it without returning `Ok` from the closure rolls back.
pub struct Tx<'c> {
    pub(super) conn: &'c mut DbConnection,
    pub(super) outbox: Outbox,
    pub(super) scope: Scope,
}

impl Tx<'_> {
    /// This transaction, scoped to one portal (appended events go to its outbox).
    pub fn tenant(&mut self, id: &TenantId) -> QueryResult<TenantTx<'_>> {
        enter(self.conn, &mut self.scope, Scope::Tenant(id.clone()))?;
        Ok(TenantTx::new(TenantDb::new(self.conn, id.clone()), &mut self.outbox))
    }

    /// Platform tables (people, 2FA, throttles) inside this transaction.
    pub fn platform(&mut self) -> Platform<'_> {
        Platform::new(self.conn)
    }

    /// The connection moved into `scope` (for `db::system`).
    pub(crate) fn scoped(&mut self, scope: Scope) -> QueryResult<&mut DbConnection> {
        enter(self.conn, &mut self.scope, scope)?;
        Ok(self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_changes_are_the_minimal_set_local_statements() {
        let t = Scope::Tenant(TenantId::from_db("0190a0b0-0000-7000-8000-000000000001".into()));
        assert_eq!(transition(&t, &t).unwrap(), "");
        assert_eq!(
            transition(&Scope::Unscoped, &t).unwrap(),
            "SET LOCAL organizeo.tenant_id = '0190a0b0-0000-7000-8000-000000000001';"
        );
        assert_eq!(
            transition(&Scope::System, &t).unwrap(),
            "SET LOCAL organizeo.system = 'off';SET LOCAL organizeo.tenant_id = '0190a0b0-0000-7000-8000-000000000001';"
        );
        assert_eq!(transition(&t, &Scope::System).unwrap(), "SET LOCAL organizeo.system = 'on';");
    }

    #[test]
    fn a_tenant_id_that_is_not_a_uuid_never_reaches_sql() {
        let evil = Scope::Tenant(TenantId::from_db("x'; RESET ROLE; --".into()));
        assert!(transition(&Scope::Unscoped, &evil).is_err());
    }
}
