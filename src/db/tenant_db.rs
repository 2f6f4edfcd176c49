//! The tenant-scoped handles. Every query on tenant-owned rows is a method on [`TenantDb`],
//! which filters by its own tenant id; nothing outside `db/` can build one or reach its
//! connection. A row of another tenant is simply not found, so callers answer 404 (no
//! oracle). On PostgreSQL the handle's transaction also carries the tenant for row-level
//! security (see [`super::scope`]).
//!
//! [`TenantTx`] is the same handle inside a write transaction: it derefs to [`TenantDb`]
//! and adds what only a write may do — append outbox events and open savepoints.

use super::events::NewEvent;
use super::scope::{Outbox, Scope};
use super::{Db, DbConnection};
use crate::domain::TenantId;
use crate::error::AppError;
use chrono::{DateTime, SubsecRound, Utc};

pub struct TenantDb<'c> {
    conn: &'c mut DbConnection,
    tenant: TenantId,
    /// Set inside write transactions: lookups of one entity lock its row on PostgreSQL
    /// (`FOR UPDATE`), so every read-check-write is a compare-and-set there too (a
    /// concurrent writer waits, then re-reads the row and its conditions). SQLite's write
    /// transactions are already one at a time.
    lock_rows: bool,
}

/// `first(…).optional()` of a one-row lookup, with `FOR UPDATE` on PostgreSQL when the
/// handle locks rows (inside a write transaction). The query is written once and built
/// for each backend.
macro_rules! first_locked {
    ($tdb:expr, $tid:ident => $query:expr) => {{
        let lock = $tdb.locks_rows();
        let (conn, $tid) = $tdb.parts();
        match conn {
            $crate::db::DbConnection::Postgresql(c) if lock => $query.for_update().first(c).optional(),
            $crate::db::DbConnection::Postgresql(c) => $query.first(c).optional(),
            $crate::db::DbConnection::Sqlite(c) => $query.first(c).optional(),
        }
    }};
}
pub(crate) use first_locked;

impl<'c> TenantDb<'c> {
    pub(super) fn new(conn: &'c mut DbConnection, tenant: TenantId) -> Self {
        Self { conn, tenant, lock_rows: false }
    }

    pub(super) fn locks_rows(&self) -> bool {
        self.lock_rows
    }

    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant
    }

    /// The tenant id as the text stored in `tenant_id` columns.
    pub(super) fn tid(&self) -> &str {
        self.tenant.as_str()
    }

    /// The connection, for query methods in `db::*` that apply the tenant filter themselves.
    pub(super) fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Both at once, for query methods that need the filter value while holding the connection.
    pub(super) fn parts(&mut self) -> (&mut DbConnection, &str) {
        (self.conn, self.tenant.as_str())
    }
}

/// A portal's data inside a write transaction.
pub struct TenantTx<'c> {
    db: TenantDb<'c>,
    outbox: &'c mut Outbox,
}

impl<'c> std::ops::Deref for TenantTx<'c> {
    type Target = TenantDb<'c>;

    fn deref(&self) -> &TenantDb<'c> {
        &self.db
    }
}

impl<'c> std::ops::DerefMut for TenantTx<'c> {
    fn deref_mut(&mut self) -> &mut TenantDb<'c> {
        &mut self.db
    }
}

impl<'c> TenantTx<'c> {
    pub(super) fn new(mut db: TenantDb<'c>, outbox: &'c mut Outbox) -> Self {
        db.lock_rows = true;
        Self { db, outbox }
    }

    /// Appends an event to this transaction; it is numbered and written when the
    /// transaction commits, and never if it rolls back.
    pub fn append_event(&mut self, e: NewEvent, now: DateTime<Utc>) {
        self.outbox.push(self.db.tenant.clone(), e, now.naive_utc().trunc_subsecs(6));
    }

    /// A savepoint: on error it rolls back and forgets the events the closure appended, so
    /// a failed batch item or import row leaves no trace.
    pub fn savepoint<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let mark = self.outbox.len();
        let tenant = self.db.tenant.clone();
        let outbox = &mut *self.outbox;
        let out = diesel::Connection::transaction(&mut *self.db.conn, |c| {
            let mut inner = TenantTx::new(TenantDb::new(c, tenant), &mut *outbox);
            f(&mut inner)
        });
        if out.is_err() {
            self.outbox.truncate(mark);
        }
        out
    }
}

/// `db.tenant(id)`: the entry point to one portal's data.
#[derive(Clone)]
pub struct TenantScope {
    db: Db,
    tenant: TenantId,
}

impl TenantScope {
    pub(super) fn new(db: Db, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// Reads this portal's data.
    pub async fn read<T, F>(self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut TenantDb<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let tenant = self.tenant.clone();
        self.db.read_in(Scope::Tenant(self.tenant), move |conn| f(&mut TenantDb::new(conn, tenant))).await
    }

    /// Changes this portal's data in one write transaction; its events are announced
    /// after the commit.
    pub async fn write<T, F>(self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let tenant = self.tenant.clone();
        self.db
            .transact(Scope::Tenant(self.tenant), move |tx| {
                let mut t = tx.tenant(&tenant)?;
                f(&mut t)
            })
            .await
    }
}
