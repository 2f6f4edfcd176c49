//! The database: one diesel `MultiConnection` over SQLite (embedded default) and
//! PostgreSQL (production), chosen by the URL scheme; an r2d2 pool; embedded migrations.
//!
//! Diesel is blocking. Async code reaches the database only through the entry points of
//! [`Db`], which move the work to the blocking thread pool and hand the closure a *handle*,
//! never a bare connection:
//!
//! | entry point | handle | for |
//! | --- | --- | --- |
//! | `db.tenant(id).read(…)` | [`TenantDb`] | one portal's data |
//! | `db.tenant(id).write(…)` | [`TenantTx`] | one portal's data, in a write transaction that can append outbox events |
//! | `db.read(…)` | [`Platform`] | platform tables: people, 2FA, throttles, idempotency |
//! | `db.write(…)` | [`Tx`] | a write transaction spanning platform tables and portals (`tx.tenant(id)`) |
//! | `db::system` | `System` | the few genuinely cross-portal reads (credential lookups, job claims, purge scans, audit verify) |
//!
//! Tenant-owned tables are read and written only through [`TenantDb`] (its constructor is
//! private to this module), which adds the tenant filter itself. On PostgreSQL every
//! tenant table also has a row-level security policy keyed on `organizeo.tenant_id`, set
//! with `SET LOCAL` by the handle's transaction (see [`scope`]): a query that forgot the
//! filter still sees only its own portal. `db::system` turns the policy off explicitly.
//!
//! A write transaction is a value ([`Tx`]) that carries the events it appends; they are
//! numbered and written just before COMMIT, and after the commit `Db` hands the portals'
//! new heads to the [`CommitSink`] it was built with (the real-time service). An event
//! cannot be appended outside a write: only [`TenantTx`] has `append_event`.

pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod campaign_links;
pub mod campaign_recipients;
pub mod campaigns;
pub mod connection;
pub mod content;
pub mod custom_fields;
pub mod custom_values;
pub mod dashboard;
pub mod email_suppressions;
pub mod erase;
pub mod events;
pub mod features;
pub mod idempotency;
pub mod imports;
pub mod inapp;
pub mod inbox_items;
pub mod invitations;
pub mod jita;
pub mod libpq;
pub mod members;
pub mod mfa;
pub mod pipelines;
pub mod platform;
pub mod realtime_tickets;
pub mod records;
pub mod schema;
pub mod scope;
pub mod sealed;
pub mod segments;
pub mod sessions;
pub mod sign_in_steps;
pub mod staff;
pub mod system;
pub mod tags;
pub mod tenant_db;
pub mod tenant_exports;
pub mod tenants;
pub mod throttle;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseUrl;
use crate::domain::TenantId;
use crate::error::AppError;

use connection::{discard, is_dead, live};
pub use connection::{ConnectionFactory, DbPool, PooledConn};
pub use platform::Platform;
pub use scope::Tx;
pub use tenant_db::{TenantDb, TenantScope, TenantTx};

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

diesel::define_sql_function! {
    /// The 1-based position of `needle` in `haystack`, 0 when absent: PostgreSQL's
    /// built-in, registered in Rust on SQLite connections. Substring searches too long for
    /// SQLite's LIKE use it.
    fn strpos(haystack: diesel::sql_types::Nullable<diesel::sql_types::Text>, needle: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::Integer>;
}

/// `strpos` for SQLite (characters, like PostgreSQL's).
fn sqlite_strpos(haystack: Option<String>, needle: String) -> Option<i32> {
    let h = haystack?;
    Some(h.find(&needle).map(|i| h.get(..i).map_or(0, |p| p.chars().count()) as i32 + 1).unwrap_or(0))
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>();
    // Data migrations that need the application's own rules (idempotent, cheap once done).
    let fixed =
        scope::write_transaction(&mut conn, scope::Scope::System, None, |tx| Ok(system::enter(tx)?.reindex_money()?))
            .map_err(|e| anyhow::anyhow!("reindexing money failed: {}", e.to_problem().detail))?
            .0;
    if fixed > 0 {
        tracing::info!(rows = fixed, "deal amounts reindexed as exact keys");
    }
    let staged = scope::write_transaction(&mut conn, scope::Scope::System, None, |tx| {
        Ok(system::enter(tx)?.stage_legacy_imports()?)
    })
    .map_err(|e| anyhow::anyhow!("staging imports failed: {}", e.to_problem().detail))?
    .0;
    if staged > 0 {
        tracing::info!(imports = staged, "queued imports staged row by row");
    }
    Ok(applied)
}

/// Told, after a transaction commits, the new event head of each portal it wrote events
/// for. The real-time service is the sink in a server; tools run without one.
pub trait CommitSink: Send + Sync {
    fn committed(&self, heads: &[(TenantId, i64)]);
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
    sink: Option<Arc<dyn CommitSink>>,
}

impl Db {
    /// A pool without a commit sink (tools, and the real-time service's own reads).
    pub fn connect(url: &DatabaseUrl, size: u32) -> anyhow::Result<Self> {
        Self::connect_with(url, size, Some(1))
    }

    /// A one-connection pool for a command-line tool: no background thread keeps idle
    /// connections open (one still connecting when the process exits can crash libpq's
    /// exit handlers).
    pub fn for_tool(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Self::connect_with(url, 1, Some(0))
    }

    fn connect_with(url: &DatabaseUrl, size: u32, min_idle: Option<u32>) -> anyhow::Result<Self> {
        prepare(url)?;
        let pool = Pool::builder()
            .max_size(size)
            // No ping on checkout: `live` makes the first statement of the work the check.
            .test_on_check_out(false)
            .min_idle(min_idle)
            .connection_timeout(Duration::from_secs(10))
            .build(ConnectionFactory::existing(url.clone()))
            .map_err(|e| anyhow::anyhow!("cannot open database pool for {url}: {e}"))?;
        let sqlite_file = match url {
            DatabaseUrl::Sqlite(p) => Some(p.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        let write_gate = sqlite_file.as_ref().map(|_| Arc::new(std::sync::Mutex::new(())));
        Ok(Self { pool, sqlite_file, write_gate, sink: None })
    }

    /// The feature flag table, read on the calling thread (start-up, before serving: a
    /// flag that is off must be off from the first request).
    pub fn flag_table_now(&self) -> anyhow::Result<crate::features::FlagTable> {
        let mut conn = self.pool.get().map_err(|e| anyhow::anyhow!("cannot read the feature flags: {e}"))?;
        Platform::new(&mut conn).flag_table().map_err(|e| anyhow::anyhow!("cannot read the feature flags: {e}"))
    }

    /// The same pool, announcing its commits to `sink`.
    pub fn with_commit_sink(&self, sink: Arc<dyn CommitSink>) -> Self {
        Self { sink: Some(sink), ..self.clone() }
    }

    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// One portal's data.
    pub fn tenant(&self, id: TenantId) -> TenantScope {
        TenantScope::new(self.clone(), id)
    }

    /// Reads (and single-statement writes) of platform tables: people, 2FA, throttles,
    /// idempotency keys. Tenant tables are not reachable from here.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Platform<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(move |conn| f(&mut Platform::new(conn))).await
    }

    /// A write transaction over platform tables and any portals it enters with
    /// `tx.tenant(id)`; its events are announced after it commits.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.transact(scope::Scope::Unscoped, f).await
    }

    /// Runs blocking work with a pooled connection on the blocking thread pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            // Platform statements run outside a transaction: on PostgreSQL a `SELECT 1`
            // opens the work (the check a checkout used to do); SQLite files do not go away.
            let mut conn = live(&pool, |c| match c {
                DbConnection::Sqlite(_) => Ok(()),
                DbConnection::Postgresql(_) => c.batch_execute("SELECT 1"),
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// One read statement outside a transaction (each statement is its own on PostgreSQL),
    /// tried again on another connection when the first proves dead — safe, as it changed
    /// nothing. For the credential lookups of `system::credentials`.
    pub(crate) async fn read_once<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut DbConnection) -> QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut out = None;
            let _conn = live(&pool, |c| {
                out = Some(f(c)?);
                Ok(())
            })?;
            out.ok_or_else(|| AppError::internal(anyhow::anyhow!("read_once finished without a value")))
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// A read in `scope` (on PostgreSQL a read-only transaction carrying the scope).
    pub(crate) async fn read_in<T, F>(&self, scope: scope::Scope, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = live(&pool, |c| scope::begin_read(c, &scope))?;
            scope::read_begun(&mut conn, f)
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// A write transaction starting in `scope`; announces the committed heads.
    pub(crate) async fn transact<T, F>(&self, scope: scope::Scope, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let gate = self.write_gate.clone();
        // A request with an Idempotency-Key marks its key in every write it commits.
        let mark = idempotency::WriteMark::current();
        let pool = self.pool.clone();
        let (value, heads) = actix_web::web::block(move || {
            // A panic inside a previous holder does not make the database unusable.
            let _turn = gate.as_ref().map(|g| g.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            let mut conn = live(&pool, |c| scope::begin(c, &scope, false))?;
            scope::write_begun(&mut conn, scope, mark, f)
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))??;
        if !heads.is_empty() {
            if let Some(sink) = &self.sink {
                sink.committed(&heads);
            }
        }
        Ok(value)
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
            // A connection that died while pooled is dropped and the next one asked, as
            // `live` does: readiness is about the database, not one stale socket.
            let mut dead = 0;
            loop {
                let mut conn = pool.get_timeout(timeout).map_err(|e| e.to_string())?;
                match conn.batch_execute("SELECT 1") {
                    Ok(()) => return Ok(()),
                    Err(e) if is_dead(&e) && dead < pool.max_size() => {
                        discard(&mut conn);
                        dead += 1;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
