//! What backups need from the database, and nothing else: a consistent snapshot (SQLite
//! `VACUUM INTO`; a PostgreSQL exported snapshot that `pg_dump` shares), the row count of
//! every table and the schema version read inside that same snapshot, SQLite's integrity
//! check, whether a restore target already holds data, and the schedule's lease row.
//!
//! The file format, compression, encryption and `pg_dump`/`pg_restore` live in
//! `crate::backup`; this module only talks SQL. Counts read every table, tenant-owned or
//! not, so on PostgreSQL they run with `organizeo.system = on` (row-level security off,
//! explicitly) like `db::system`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::backup_schedule as bs;
use super::{ConnectionFactory, DbConnection, Platform};
use crate::config::DatabaseUrl;

/// What a snapshot holds: the newest applied migration and every table's row count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub schema_version: String,
    pub tables: BTreeMap<String, i64>,
}

/// Diesel's record of applied migrations; absent in a database never migrated.
const MIGRATIONS: &str = "__diesel_schema_migrations";

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Table names are read from the catalogue and quoted; anything else is refused rather
/// than spliced into SQL.
fn quoted(table: &str) -> QueryResult<String> {
    if table.is_empty() || !table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(diesel::result::Error::QueryBuilderError(format!("unexpected table name {table:?}").into()));
    }
    Ok(format!("\"{table}\""))
}

fn contents_sqlite(c: &mut diesel::SqliteConnection) -> QueryResult<Contents> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(c)?;
    let mut tables = BTreeMap::new();
    for Name { name } in names {
        let Count { n } = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {}", quoted(&name)?)).get_result(c)?;
        tables.insert(name, n);
    }
    let version: Option<Name> = if !tables.contains_key(MIGRATIONS) {
        None
    } else {
        diesel::sql_query("SELECT COALESCE(MAX(version), '') AS name FROM __diesel_schema_migrations")
            .get_result(c)
            .optional()?
    };
    Ok(Contents { schema_version: version.map(|v| v.name).unwrap_or_default(), tables })
}

fn contents_pg(c: &mut diesel::PgConnection) -> QueryResult<Contents> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
    )
    .load(c)?;
    let mut tables = BTreeMap::new();
    for Name { name } in names {
        let Count { n } = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {}", quoted(&name)?)).get_result(c)?;
        tables.insert(name, n);
    }
    let version: Option<Name> = if !tables.contains_key(MIGRATIONS) {
        None
    } else {
        diesel::sql_query("SELECT COALESCE(MAX(version), '')::text AS name FROM __diesel_schema_migrations")
            .get_result(c)
            .optional()?
    };
    Ok(Contents { schema_version: version.map(|v| v.name).unwrap_or_default(), tables })
}

fn open(url: &DatabaseUrl) -> anyhow::Result<DbConnection> {
    ConnectionFactory::new(url.clone()).open().map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))
}

fn sqlite_conn(url: &DatabaseUrl) -> anyhow::Result<diesel::SqliteConnection> {
    match open(url)? {
        DbConnection::Sqlite(c) => Ok(c),
        DbConnection::Postgresql(_) => anyhow::bail!("{url} is not an SQLite database"),
    }
}

fn pg_conn(url: &DatabaseUrl) -> anyhow::Result<diesel::PgConnection> {
    match open(url)? {
        DbConnection::Postgresql(c) => Ok(c),
        DbConnection::Sqlite(_) => anyhow::bail!("{url} is not a PostgreSQL database"),
    }
}

/// An SQLite file opened as it is, without the serving connections' settings (a copy
/// being checked must not be switched to WAL, which would write beside it).
fn raw_sqlite(path: &Path) -> anyhow::Result<diesel::SqliteConnection> {
    let target = path.to_str().ok_or_else(|| anyhow::anyhow!("path is not UTF-8: {}", path.display()))?;
    diesel::SqliteConnection::establish(target).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))
}

/// What an SQLite file (a decompressed backup) holds.
pub fn sqlite_file_contents(path: &Path) -> anyhow::Result<Contents> {
    Ok(contents_sqlite(&mut raw_sqlite(path)?)?)
}

/// SQLite's online copy: `VACUUM INTO dest` reads one consistent snapshot while other
/// connections keep writing (WAL), and writes a compact database file. Returns what the
/// copy holds, counted in the copy itself.
pub fn sqlite_snapshot(url: &DatabaseUrl, dest: &Path) -> anyhow::Result<Contents> {
    let mut c = sqlite_conn(url)?;
    let target = dest.to_str().ok_or_else(|| anyhow::anyhow!("backup path is not UTF-8: {}", dest.display()))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(&mut c)
        .map_err(|e| anyhow::anyhow!("VACUUM INTO failed: {e}"))?;
    drop(c);
    Ok(contents_sqlite(&mut raw_sqlite(dest)?)?)
}

/// Runs `dump` with the id of a PostgreSQL snapshot exported by a repeatable-read
/// transaction, after counting every table in that snapshot: `pg_dump --snapshot=ID`
/// then dumps exactly what was counted, whatever commits meanwhile.
pub fn pg_snapshot<R>(
    url: &DatabaseUrl,
    dump: impl FnOnce(&str) -> anyhow::Result<R>,
) -> anyhow::Result<(Contents, R)> {
    let mut c = pg_conn(url)?;
    c.batch_execute(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL organizeo.system = 'on'; \
         SET LOCAL organizeo.tenant_id = '';",
    )?;
    let run = (|| {
        let Name { name: snapshot } = diesel::sql_query("SELECT pg_export_snapshot() AS name").get_result(&mut c)?;
        let contents = contents_pg(&mut c)?;
        let out = dump(&snapshot)?;
        Ok((contents, out))
    })();
    let end = if run.is_ok() { "COMMIT" } else { "ROLLBACK" };
    c.batch_execute(end)?;
    run
}

/// What a database holds now (a restored copy, a scratch database).
pub fn contents(url: &DatabaseUrl) -> anyhow::Result<Contents> {
    match open(url)? {
        DbConnection::Sqlite(mut c) => Ok(contents_sqlite(&mut c)?),
        DbConnection::Postgresql(mut c) => {
            c.batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL organizeo.system = 'on'; \
                 SET LOCAL organizeo.tenant_id = '';",
            )?;
            let out = contents_pg(&mut c);
            c.batch_execute("COMMIT")?;
            Ok(out?)
        }
    }
}

/// `PRAGMA integrity_check` on an SQLite file: `Ok(())` when it answers `ok`, else the
/// problems it lists.
pub fn sqlite_integrity(path: &Path) -> anyhow::Result<Result<(), String>> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let mut c = raw_sqlite(path)?;
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check").load(&mut c)?;
    let lines: Vec<String> = lines.into_iter().map(|l| l.integrity_check).collect();
    Ok(if lines.len() == 1 && lines.first().is_some_and(|l| l == "ok") { Ok(()) } else { Err(lines.join("; ")) })
}

/// Whether a restore would overwrite data: any portal, person or staff member. A missing
/// SQLite file, or a database whose tables do not exist yet, is empty.
pub fn holds_data(url: &DatabaseUrl) -> anyhow::Result<bool> {
    if let DatabaseUrl::Sqlite(path) = url {
        if !path.exists() {
            return Ok(false);
        }
    }
    let found = contents(url)?;
    Ok(["tenants", "users", "staff_members"].iter().any(|t| found.tables.get(*t).is_some_and(|n| *n > 0)))
}

/// Creates (`drop = false`) or drops a database on the server of a PostgreSQL URL,
/// connected through that URL's own database. Names are generated, never user input.
pub fn pg_admin(url: &DatabaseUrl, name: &str, drop: bool) -> anyhow::Result<()> {
    quoted(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut c = pg_conn(url)?;
    let sql =
        if drop { format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)") } else { format!("CREATE DATABASE {name}") };
    c.batch_execute(&sql).map_err(|e| anyhow::anyhow!("{sql}: {e}"))
}

/// The schedule row as every node reads it for its metrics.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bs)]
pub struct ScheduleRow {
    pub slot: i64,
    pub status: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub last_file: Option<String>,
    pub last_bytes: Option<i64>,
    pub failures: i64,
    pub last_failure_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl Platform<'_> {
    pub fn backup_schedule(&mut self) -> QueryResult<Option<ScheduleRow>> {
        bs::table.find(1).select(ScheduleRow::as_select()).first(self.conn()).optional()
    }

    /// Takes `slot` for `owner` until `lease_until`: one conditional UPDATE, won by one
    /// node only. Open when the last run finished in an older slot, or when a run's lease
    /// expired (its node died).
    pub fn claim_backup_slot(
        &mut self,
        slot: i64,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let open =
            bs::status.eq("idle").and(bs::slot.lt(slot)).or(bs::status.eq("running").and(bs::lease_until.lt(now)));
        let won = diesel::update(bs::table.filter(bs::id.eq(1)).filter(open))
            .set((
                bs::slot.eq(slot),
                bs::status.eq("running"),
                bs::lease_owner.eq(Some(owner)),
                bs::lease_until.eq(Some(lease_until)),
            ))
            .execute(self.conn())?;
        Ok(won == 1)
    }

    /// Ends `owner`'s run (if it still holds the lease) with its outcome.
    pub fn finish_backup_run(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        outcome: Result<(&str, i64), &str>,
    ) -> QueryResult<bool> {
        let target = bs::table.filter(bs::id.eq(1)).filter(bs::lease_owner.eq(owner)).filter(bs::status.eq("running"));
        let n = match outcome {
            Ok((file, bytes)) => diesel::update(target)
                .set((
                    bs::status.eq("idle"),
                    bs::lease_until.eq(None::<NaiveDateTime>),
                    bs::last_success_at.eq(Some(now)),
                    bs::last_file.eq(Some(file)),
                    bs::last_bytes.eq(Some(bytes)),
                ))
                .execute(self.conn())?,
            Err(error) => diesel::update(target)
                .set((
                    bs::status.eq("idle"),
                    bs::lease_until.eq(None::<NaiveDateTime>),
                    bs::failures.eq(bs::failures + 1),
                    bs::last_failure_at.eq(Some(now)),
                    bs::last_error.eq(Some(error)),
                ))
                .execute(self.conn())?,
        };
        Ok(n == 1)
    }

    /// A backup taken outside the schedule (`organizeo backup create`) counts as the last
    /// success too, so the alert on staleness sees it.
    pub fn record_backup_success(&mut self, now: NaiveDateTime, file: &str, bytes: i64) -> QueryResult<()> {
        diesel::update(bs::table.filter(bs::id.eq(1)))
            .set((bs::last_success_at.eq(Some(now)), bs::last_file.eq(Some(file)), bs::last_bytes.eq(Some(bytes))))
            .execute(self.conn())?;
        Ok(())
    }
}

/// Empties a PostgreSQL database's schema for a restore: every table (with its indexes,
/// triggers and policies), view, sequence and function of the current schema is dropped.
/// Roles, default privileges and the schema itself stay.
///
/// The drops take each table's lock in turn, so a transaction still running against the
/// database (a stopping server's last job, a straggling client) can deadlock with them;
/// PostgreSQL then aborts one side. When that side is ours the wipe is tried again, a few
/// times, after the other has had the moment it needs to finish.
pub fn pg_wipe(url: &DatabaseUrl) -> anyhow::Result<()> {
    let mut c = pg_conn(url)?;
    let mut attempt = 1;
    loop {
        match pg_wipe_once(&mut c) {
            Err(diesel::result::Error::DatabaseError(_, info))
                if attempt < 5 && info.message().contains("deadlock detected") =>
            {
                tracing::warn!(attempt, "emptying the target database deadlocked with another session; trying again");
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
                attempt += 1;
            }
            other => return other.map_err(|e| anyhow::anyhow!("cannot empty the target database: {e}")),
        }
    }
}

fn pg_wipe_once(c: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    c.batch_execute(
        "DO $$
         DECLARE r record;
         BEGIN
             FOR r IN SELECT viewname FROM pg_views WHERE schemaname = current_schema() LOOP
                 EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', r.viewname);
             END LOOP;
             FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
                 EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
             END LOOP;
             FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
                 EXECUTE format('DROP SEQUENCE IF EXISTS %I CASCADE', r.sequencename);
             END LOOP;
             FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = current_schema() LOOP
                 EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f::text || ' CASCADE';
             END LOOP;
         END $$;",
    )
}
