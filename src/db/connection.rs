//! Connections: opening one for either backend with its per-connection settings (the
//! pool's [`ConnectionFactory`]), and checking a pooled one out alive ([`live`]).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};

use super::{libpq, sqlite_strpos, strpos_utils, DbConnection};
use crate::config::DatabaseUrl;
use crate::error::AppError;

/// Run on each serving PostgreSQL connection: see [`ConnectionFactory::open`].
const ACT_AS_APP_ROLE: &str = "DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'organizeo_app') THEN
        IF (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)
           AND pg_has_role(current_user, 'organizeo_app', 'MEMBER') THEN
            SET ROLE organizeo_app;
        END IF;
    END IF;
END $$";

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
                strpos_utils::register_impl(&mut conn, sqlite_strpos).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                libpq::prepare();
                let mut conn = diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                if !self.create {
                    // Row-level security does not apply to superusers or BYPASSRLS roles: a
                    // serving connection made as one acts as `organizeo_app` (created by the
                    // migrations when they may create roles), so the second wall holds.
                    conn.batch_execute(ACT_AS_APP_ROLE).map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConnection::Postgresql(conn))
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

    /// A connection left in a transaction, or marked by [`discard`] (its server went away),
    /// is not reused.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        match conn {
            DbConnection::Sqlite(c) => c.is_broken(),
            DbConnection::Postgresql(c) => c.is_broken(),
        }
    }
}

/// Whether an error means the connection itself is gone (the server restarted, the backend
/// was terminated, the network dropped it), not that the statement failed.
pub(super) fn is_dead(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(e, Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _))
}

/// Marks `conn` so the pool drops it instead of handing it out again.
pub(super) fn discard(conn: &mut DbConnection) {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error(),
        DbConnection::Postgresql(c) => AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error(),
    }
}

/// A pooled connection on which `first` — the statement that opens the work (`BEGIN` for
/// a transaction) — succeeded. Connections are not pinged when checked out (that was a
/// round trip on every request); the first statement is the check instead: a connection
/// found dead is discarded and `first` tried on another, before anything else ran, so a
/// database restart or a terminated backend costs no request.
pub(super) fn live(
    pool: &DbPool,
    mut first: impl FnMut(&mut DbConnection) -> QueryResult<()>,
) -> Result<PooledConn, AppError> {
    let mut dead: u32 = 0;
    loop {
        let mut conn =
            pool.get().map_err(|e| AppError::Unavailable { detail: format!("database unavailable: {e}") })?;
        match first(&mut conn) {
            Ok(()) => return Ok(conn),
            Err(e) if is_dead(&e) => {
                discard(&mut conn);
                dead += 1;
                tracing::warn!(error = %e, "a pooled database connection was dead; trying another");
                if dead > pool.max_size() {
                    return Err(AppError::Unavailable { detail: format!("database unavailable: {e}") });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub type DbPool = Pool<ConnectionFactory>;
pub type PooledConn = PooledConnection<ConnectionFactory>;
