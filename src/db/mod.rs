//! The database: one diesel `MultiConnection` over SQLite (embedded default) and
//! PostgreSQL (production), chosen by the URL scheme; an r2d2 pool; embedded migrations.
//!
//! Diesel is blocking. Async code reaches the database only through [`Db::run`] and
//! [`Db::write`], which move the work to the blocking thread pool; nothing here may be
//! called from an executor thread directly.
//!
//! Tenant-owned tables are read and written only through [`TenantDb`], which adds the
//! tenant filter itself.

pub mod api_keys;
pub mod audit;
pub mod custom_fields;
pub mod dashboard;
pub mod events;
pub mod idempotency;
pub mod imports;
pub mod members;
pub mod mfa;
pub mod pipelines;
pub mod realtime_tickets;
pub mod records;
pub mod schema;
pub mod sessions;
pub mod tags;
pub mod tenant_db;
pub mod tenants;
pub mod throttle;
pub mod users;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseUrl;
use crate::error::AppError;

pub use tenant_db::TenantDb;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs the same diesel expression on the concrete connection of either backend, for the
/// few statements whose SQL differs (upserts) and which `MultiConnection` cannot express.
#[macro_export]
macro_rules! each_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgresql($c) => $body,
        }
    };
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Opens connections for the pool, applying SQLite's per-connection settings.
#[derive(Debug, Clone)]
pub struct ConnectionFactory {
    url: DatabaseUrl,
    /// Whether opening may create a missing SQLite file. Only migrations may: a serving
    /// pool that re-created a deleted file would accept writes into an empty database.
    create: bool,
}

impl ConnectionFactory {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url, create: true }
    }

    /// Opens only an existing database (the serving pool).
    pub fn existing(url: DatabaseUrl) -> Self {
        Self { url, create: false }
    }

    pub fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let target = if self.create {
                    path.to_string_lossy().to_string()
                } else {
                    // SQLite URI filename: mode=rw opens read-write but never creates.
                    let encoded: String = path
                        .to_string_lossy()
                        .chars()
                        .map(|c| match c {
                            '%' | '?' | '#' => format!("%{:02X}", c as u32),
                            c => c.to_string(),
                        })
                        .collect();
                    format!("file:{encoded}?mode=rw")
                };
                let mut conn = diesel::SqliteConnection::establish(&target).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching to WAL needs a lock another connection may hold.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                diesel::PgConnection::establish(url).map(DbConnection::Postgresql).map_err(r2d2::Error::ConnectionError)
            }
        }
    }
}

impl ManageConnection for ConnectionFactory {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type DbPool = Pool<ConnectionFactory>;
pub type PooledConn = PooledConnection<ConnectionFactory>;

/// Creates the directory of an SQLite file so `cargo run` works on a fresh clone.
pub fn prepare(url: &DatabaseUrl) -> anyhow::Result<()> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create database directory {}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

/// Applies pending migrations; returns the versions applied (empty when up to date).
pub fn migrate(url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    prepare(url)?;
    let mut conn =
        ConnectionFactory::new(url.clone()).open().map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    let applied = match &mut conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// The pool plus what readiness needs to know about the backend.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    sqlite_file: Option<PathBuf>,
    /// SQLite has one writer at a time: writers queue here, woken in turn, instead of
    /// polling the file lock in SQLite's busy handler, which lets an unlucky writer lose
    /// every race until its busy timeout expires (seen: 6 of 10,000 batch writes with 8
    /// in flight answered 503). PostgreSQL has none: its writers run concurrently.
    write_gate: Option<Arc<std::sync::Mutex<()>>>,
    on_commit: Arc<OnceLock<CommitListener>>,
}

/// Told, after a transaction commits, the new event head of each portal it wrote events
/// for (the real-time dispatcher listens here).
pub type CommitListener = Arc<dyn Fn(&[(String, i64)]) + Send + Sync>;

impl Db {
    pub fn connect(url: &DatabaseUrl, size: u32) -> anyhow::Result<Self> {
        prepare(url)?;
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(ConnectionFactory::existing(url.clone()))
            .map_err(|e| anyhow::anyhow!("cannot open database pool for {url}: {e}"))?;
        let sqlite_file = match url {
            DatabaseUrl::Sqlite(p) => Some(p.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        let write_gate = sqlite_file.as_ref().map(|_| Arc::new(std::sync::Mutex::new(())));
        Ok(Self { pool, sqlite_file, write_gate, on_commit: Arc::new(OnceLock::new()) })
    }

    /// Sets the commit listener (once, at startup).
    pub fn set_commit_listener(&self, listener: CommitListener) {
        if self.on_commit.set(listener).is_err() {
            tracing::warn!("commit listener already set");
        }
    }

    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Runs blocking database work on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let (out, heads) = actix_web::web::block(move || {
            events::take_committed();
            let out = pool
                .get()
                .map_err(|e| AppError::Unavailable { detail: format!("database unavailable: {e}") })
                .and_then(|mut conn| f(&mut conn));
            (out, events::take_committed())
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?;
        if !heads.is_empty() {
            if let Some(listener) = self.on_commit.get() {
                listener(&heads);
            }
        }
        out
    }

    /// Like [`Db::run`], inside one write transaction (see [`write_transaction`]).
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let gate = self.write_gate.clone();
        self.run(move |conn| {
            // A panic inside a previous holder does not make the database unusable.
            let _turn = gate.as_ref().map(|g| g.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            write_transaction(conn, f)
        })
        .await
    }

    /// Readiness: a round trip to the database, and for SQLite the file still in place
    /// (a deleted file keeps working for open connections but loses every write).
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        if let Some(path) = &self.sqlite_file {
            if !path.exists() {
                return Err(format!("database file {} is missing", path.display()));
            }
        }
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(timeout).map_err(|e| e.to_string())?;
            conn.batch_execute("SELECT 1").map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, so the write lock is
/// taken up front and concurrent writers wait on the busy timeout instead of failing with
/// SQLITE_BUSY when a read lock would have to be upgraded.
fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConnection::Postgresql(_) => <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    events::begin_buffer();
    let done = f(conn).and_then(|value| Ok((value, events::flush_buffer(conn)?)));
    match done {
        Ok((value, heads)) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            events::mark_committed(heads);
            Ok(value)
        }
        Err(e) => {
            events::discard_buffer();
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}
