//! Reading backups back: the file against its manifest, a scratch restore for `verify`,
//! and `restore` into the configured database. Decoding streams (opener → zstd decoder →
//! a file or `pg_restore`'s standard input), like writing.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{decode, drain, pg_command, stream, Manifest};
use crate::config::DatabaseUrl;
use crate::db::backup as dbb;
use crate::security::crypto::Keyring;

/// Checks the file against its manifest's hash and size.
pub fn check_file(path: &Path) -> anyhow::Result<Manifest> {
    let manifest = Manifest::read(path)?;
    let file = File::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let (sha256, bytes) = stream::hash_reader(BufReader::with_capacity(1 << 20, file))?;
    if bytes != manifest.bytes {
        anyhow::bail!(
            "size mismatch: the manifest says {} bytes, the file has {bytes} (truncated or altered)",
            manifest.bytes
        );
    }
    if sha256 != manifest.sha256 {
        anyhow::bail!(
            "SHA-256 mismatch: the file was altered or damaged (manifest {}, file {sha256})",
            manifest.sha256
        );
    }
    Ok(manifest)
}

/// What `verify` found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub rows: i64,
}

/// Recomputes the hash, restores into a scratch database (a temporary SQLite file, or a
/// database created beside `server`'s on PostgreSQL and dropped after), checks SQLite's
/// integrity and compares every table's row count with the manifest.
pub fn verify(path: &Path, server: &DatabaseUrl, keyring: Option<&Keyring>) -> anyhow::Result<Verified> {
    let manifest = check_file(path)?;
    let found = match manifest.backend.as_str() {
        "sqlite" => {
            let scratch = tempfile::tempdir()?;
            let copy = scratch.path().join("verify.db");
            decode_to_file(path, &manifest, keyring, &copy)?;
            if let Err(problems) = dbb::sqlite_integrity(&copy)? {
                anyhow::bail!("integrity check failed: {problems}");
            }
            dbb::sqlite_file_contents(&copy)?
        }
        "postgres" => {
            let DatabaseUrl::Postgres(pg) = server else {
                anyhow::bail!(
                    "verifying a PostgreSQL backup needs a postgres:// ORGANIZEO_DATABASE_URL: the scratch database is made on that server"
                );
            };
            let name = format!("organizeo_verify_{}", uuid::Uuid::new_v4().simple());
            dbb::pg_admin(server, &name, false)?;
            let scratch = DatabaseUrl::Postgres(with_database(pg, &name));
            let restored = pg_restore(path, &manifest, keyring, &scratch).and_then(|()| dbb::contents(&scratch));
            let dropped = dbb::pg_admin(server, &name, true);
            let found = restored?;
            dropped?;
            found
        }
        other => anyhow::bail!("unknown backend {other:?} in the manifest"),
    };
    compare(&manifest, &found)?;
    Ok(Verified { rows: manifest.total_rows(), manifest })
}

fn compare(manifest: &Manifest, found: &dbb::Contents) -> anyhow::Result<()> {
    if found.schema_version != manifest.schema_version {
        anyhow::bail!(
            "schema version mismatch: the manifest says {}, the restored copy is at {}",
            manifest.schema_version,
            found.schema_version
        );
    }
    for (table, expected) in &manifest.tables {
        let got = found.tables.get(table).copied();
        if got != Some(*expected) {
            anyhow::bail!(
                "row count mismatch in {table}: the manifest says {expected}, the restored copy has {}",
                got.map_or("no such table".to_string(), |n| n.to_string())
            );
        }
    }
    if let Some(extra) = found.tables.keys().find(|t| !manifest.tables.contains_key(*t)) {
        anyhow::bail!("the restored copy has a table the manifest does not list: {extra}");
    }
    Ok(())
}

fn decode_to_file(path: &Path, manifest: &Manifest, keyring: Option<&Keyring>, dest: &Path) -> anyhow::Result<()> {
    let mut source = decode(path, manifest, keyring)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dest)?);
    io::copy(&mut source, &mut out).map_err(|e| anyhow::anyhow!("cannot decode the backup: {e}"))?;
    out.into_inner().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dest.display()))?.sync_all()?;
    Ok(())
}

/// Feeds a `pg_dump` backup to `pg_restore` into `target` in one transaction: it restores
/// whole or not at all.
fn pg_restore(path: &Path, manifest: &Manifest, keyring: Option<&Keyring>, target: &DatabaseUrl) -> anyhow::Result<()> {
    let DatabaseUrl::Postgres(pg) = target else {
        anyhow::bail!("a PostgreSQL backup restores only into PostgreSQL");
    };
    let mut source = decode(path, manifest, keyring)?;
    let mut child = pg_command("pg_restore", pg)
        .args(["--format=custom", "--no-owner", "--exit-on-error", "--single-transaction", "--no-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run pg_restore (is it installed and on PATH?): {e}"))?;
    let stderr = drain(child.stderr.take());
    let fed = child.stdin.take().map(|mut stdin| io::copy(&mut source, &mut stdin));
    let status = child.wait()?;
    let errors = stderr.join().unwrap_or_default();
    // A stream that failed to decode is the cause of whatever pg_restore then says.
    match fed {
        Some(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => {
            anyhow::bail!("cannot decode the backup: {e}")
        }
        None => anyhow::bail!("pg_restore took no input"),
        _ => {}
    }
    if !status.success() {
        anyhow::bail!("pg_restore failed ({status}): {}", errors.trim());
    }
    Ok(())
}

/// `postgres://u@h:5432/db?x` with the database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base.get(start..).and_then(|rest| rest.find('/')).map_or(base.len(), |i| start + i);
    format!("{}/{name}{query}", base.get(..host_end).unwrap_or(base))
}

/// Why a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the target database {0} already holds data; restore with --force to replace it")]
    NotEmpty(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Restores a backup into `target` (SQLite: the file is replaced atomically after the
/// decoded copy passed its integrity check and row counts; PostgreSQL: the schema's tables
/// and functions are dropped and `pg_restore` runs in one transaction), then migrates it
/// to this binary's schema. Refuses a target holding data unless `force`.
pub fn restore(
    path: &Path,
    target: &DatabaseUrl,
    force: bool,
    keyring: Option<&Keyring>,
) -> Result<Manifest, RestoreError> {
    let manifest = check_file(path)?;
    if !force && dbb::holds_data(target)? {
        return Err(RestoreError::NotEmpty(target.to_string()));
    }
    match (manifest.backend.as_str(), target) {
        ("sqlite", DatabaseUrl::Sqlite(file)) => {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            fs::create_dir_all(dir).map_err(anyhow::Error::from)?;
            let staged = tempfile::Builder::new().prefix(".restore-").tempdir_in(dir).map_err(anyhow::Error::from)?;
            let copy = staged.path().join("restored.db");
            decode_to_file(path, &manifest, keyring, &copy)?;
            if let Err(problems) = dbb::sqlite_integrity(&copy)? {
                return Err(anyhow::anyhow!("integrity check of the decoded copy failed: {problems}").into());
            }
            compare(&manifest, &dbb::sqlite_file_contents(&copy)?)?;
            for suffix in ["-wal", "-shm"] {
                let mut side = file.as_os_str().to_os_string();
                side.push(suffix);
                match fs::remove_file(PathBuf::from(side)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(anyhow::Error::from(e).into()),
                    _ => {}
                }
            }
            fs::rename(&copy, file)
                .map_err(|e| anyhow::anyhow!("cannot move the restored database into place: {e}"))?;
        }
        ("postgres", DatabaseUrl::Postgres(_)) => {
            dbb::pg_wipe(target)?;
            pg_restore(path, &manifest, keyring, target)?;
            compare(&manifest, &dbb::contents(target)?)?;
        }
        (backend, _) => {
            return Err(anyhow::anyhow!(
                "a {backend} backup cannot be restored into {target}: restore into the same kind of database"
            )
            .into())
        }
    }
    crate::db::migrate(target)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_database_urls_keep_server_and_options() {
        assert_eq!(with_database("postgres://u@h:5432/app?sslmode=off", "x"), "postgres://u@h:5432/x?sslmode=off");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
