//! Backups: one file per backup, compressed (zstd) and optionally sealed (AES-256-GCM with
//! the keyring's active key), made read-only (0444) once complete, with a manifest line
//! beside it (SHA-256, size, time, schema version, rows per table).
//!
//! - SQLite: `VACUUM INTO` a scratch file (one consistent snapshot while writers go on),
//!   then that file is streamed through the encoder.
//! - PostgreSQL: `pg_dump --format=custom --compress=0` of a snapshot exported by the
//!   transaction that counted the rows, streamed through the same encoder.
//!
//! Nothing is held whole in memory: every path is `Read` → zstd → (sealer) → hashing → file,
//! and back. `verify` recomputes the hash, restores into a scratch database, runs SQLite's
//! integrity check and compares row counts; `restore` decodes into the configured
//! database (refusing one that holds data unless forced) and migrates it to this binary's
//! schema. The schedule inside `serve` is [`schedule`]; the CLI is `organizeo backup`.
//!
//! This module must never write into an existing backup file or its manifest: files are
//! written under a temporary name, synced, made read-only, then renamed into place.

pub mod manifest;
pub mod schedule;
pub mod stream;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

use crate::config::DatabaseUrl;
use crate::db::backup as dbb;
use crate::security::crypto::Keyring;
pub use manifest::Manifest;
use stream::{Hashing, Opener, Sealer};

/// zstd's default level: about 3x on this data at well over 100 MB/s on one core.
const ZSTD_LEVEL: i32 = 3;
const FORMAT: u32 = 1;
const PREFIX: &str = "organizeo-";

/// Where and how backups are written.
#[derive(Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// Backups kept after a new one (older ones are deleted).
    pub keep: usize,
    /// Seal files with this keyring's active key; `None` leaves them compressed only.
    pub seal: Option<Keyring>,
}

/// A backup just written.
#[derive(Debug)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Older backups deleted to keep the newest `keep`.
    pub pruned: Vec<PathBuf>,
}

/// Takes a backup of `url` into `opts.dir` and prunes to the newest `opts.keep`.
pub fn create(url: &DatabaseUrl, opts: &Options, now: DateTime<Utc>) -> anyhow::Result<Created> {
    fs::create_dir_all(&opts.dir)
        .map_err(|e| anyhow::anyhow!("cannot create backup directory {}: {e}", opts.dir.display()))?;
    let mut tag = [0u8; 3];
    getrandom::getrandom(&mut tag).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let kind = match url {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "pgdump",
    };
    let name = format!(
        "{PREFIX}{}-{:02x}{:02x}{:02x}.{kind}.zst{}",
        now.format("%Y%m%dT%H%M%SZ"),
        tag[0],
        tag[1],
        tag[2],
        if opts.seal.is_some() { ".sealed" } else { "" }
    );
    let path = opts.dir.join(&name);
    let partial = opts.dir.join(format!(".{name}.partial"));
    let written = write_body(url, opts, &partial);
    let (contents, sha256, bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    let manifest = Manifest {
        format: FORMAT,
        file: name,
        sha256,
        bytes,
        created_at: now,
        backend: url.backend_name().to_string(),
        schema_version: contents.schema_version,
        compression: "zstd".into(),
        key_id: opts.seal.as_ref().map(|k| k.active_id().to_string()),
        tables: contents.tables,
    };
    seal_in_place(&partial, &path)?;
    write_read_only(&Manifest::path_for(&path), manifest.line()?.as_bytes())?;
    sync_dir(&opts.dir);
    let pruned = prune(&opts.dir, opts.keep)?;
    Ok(Created { path, manifest, pruned })
}

/// Streams the database's snapshot through zstd (and the sealer) into `partial`.
fn write_body(url: &DatabaseUrl, opts: &Options, partial: &Path) -> anyhow::Result<(dbb::Contents, String, u64)> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(partial)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
    let out = Hashing::new(BufWriter::with_capacity(1 << 20, file));
    let (contents, out) = match url {
        DatabaseUrl::Sqlite(_) => {
            let scratch = tempfile::Builder::new().prefix(".snapshot-").tempdir_in(&opts.dir)?;
            let copy = scratch.path().join("copy.db");
            let contents = dbb::sqlite_snapshot(url, &copy)?;
            let source = File::open(&copy)?;
            (contents, encode(source, out, opts.seal.as_ref())?)
        }
        DatabaseUrl::Postgres(pg) => dbb::pg_snapshot(url, |snapshot| {
            let mut child = pg_command("pg_dump")
                .args(["--format=custom", "--compress=0", "--enable-row-security", "--no-password"])
                .arg(format!("--snapshot={snapshot}"))
                .arg(format!("--dbname={pg}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot run pg_dump (is it installed and on PATH?): {e}"))?;
            let stderr = drain(child.stderr.take());
            let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("pg_dump has no output"))?;
            let encoded = encode(stdout, out, opts.seal.as_ref());
            let status = child.wait()?;
            let errors = stderr.join().unwrap_or_default();
            if !status.success() {
                anyhow::bail!("pg_dump failed ({status}): {}", errors.trim());
            }
            encoded
        })?,
    };
    let (buffered, sha256, bytes) = out.finish();
    let file = buffered.into_inner().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
    file.sync_all()?;
    Ok((contents, sha256, bytes))
}

/// `source` → zstd → (sealer) → `out`, returning `out` once everything is flushed into it.
fn encode<W: Write>(mut source: impl Read, out: W, seal: Option<&Keyring>) -> anyhow::Result<W> {
    fn compress<W: Write>(source: &mut impl Read, w: W) -> io::Result<W> {
        let mut enc = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)?;
        enc.include_checksum(true)?;
        io::copy(source, &mut enc)?;
        enc.finish()
    }
    Ok(match seal {
        Some(keyring) => compress(&mut source, Sealer::new(out, keyring)?)?.finish()?,
        None => compress(&mut source, out)?,
    })
}

/// The plain database bytes of a backup file (opened and decompressed as they are read).
fn decode(path: &Path, manifest: &Manifest, keyring: Option<&Keyring>) -> anyhow::Result<Box<dyn Read + Send>> {
    let file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let inner: Box<dyn Read + Send> = match &manifest.key_id {
        Some(id) => {
            let keyring = keyring.ok_or_else(|| anyhow::anyhow!("the backup is sealed with key {id}; no keyring"))?;
            Box::new(Opener::new(file, keyring)?)
        }
        None => Box::new(file),
    };
    Ok(Box::new(zstd::stream::read::Decoder::new(inner)?))
}

/// Renames a finished `partial` to `path`, read-only.
fn seal_in_place(partial: &Path, path: &Path) -> anyhow::Result<()> {
    fs::set_permissions(partial, fs::Permissions::from_mode(0o444))?;
    fs::rename(partial, path).map_err(|e| anyhow::anyhow!("cannot move the backup into place: {e}"))?;
    Ok(())
}

fn write_read_only(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial)?;
    f.write_all(data)?;
    f.sync_all()?;
    seal_in_place(&partial, path)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `pg_dump`/`pg_restore` with row-level security switched off explicitly for their
/// session (`organizeo.system = on`), as `db::system` does, so a table owner that is not
/// a superuser still dumps every portal's rows.
fn pg_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PGOPTIONS", "-c organizeo.system=on").stdin(Stdio::null());
    cmd
}

/// Reads a child's stderr on a thread, so a chatty child never blocks on a full pipe.
fn drain(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_string(&mut text);
        }
        text
    })
}

/// One backup found in the directory.
#[derive(Debug)]
pub struct Listed {
    pub path: PathBuf,
    /// The manifest, or why it cannot be read.
    pub manifest: Result<Manifest, String>,
}

/// Every backup in `dir`, oldest first (names start with their UTC time).
pub fn list(dir: &Path) -> anyhow::Result<Vec<Listed>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read backup directory {}: {e}", dir.display()),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && !n.ends_with(manifest::SUFFIX) && n.contains(".zst"))
        })
        .collect();
    found.sort();
    Ok(found
        .into_iter()
        .map(|path| {
            let manifest = Manifest::read(&path).map_err(|e| e.to_string());
            Listed { path, manifest }
        })
        .collect())
}

/// Deletes all but the newest `keep` backups (with their manifests); returns the deleted.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for old in all.into_iter().take(excess) {
        fs::remove_file(&old.path).map_err(|e| anyhow::anyhow!("cannot delete {}: {e}", old.path.display()))?;
        let _ = fs::remove_file(Manifest::path_for(&old.path));
        deleted.push(old.path);
    }
    Ok(deleted)
}

/// The newest backup in `dir`.
pub fn newest(dir: &Path) -> anyhow::Result<PathBuf> {
    list(dir)?.pop().map(|l| l.path).ok_or_else(|| anyhow::anyhow!("no backups in {}", dir.display()))
}

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
    let mut child = pg_command("pg_restore")
        .args(["--format=custom", "--no-owner", "--exit-on-error", "--single-transaction", "--no-password"])
        .arg(format!("--dbname={pg}"))
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
