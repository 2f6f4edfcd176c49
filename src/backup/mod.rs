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
mod restore;
pub mod schedule;
pub mod stream;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

use crate::config::DatabaseUrl;
use crate::db::backup as dbb;
use crate::security::crypto::Keyring;
pub use manifest::Manifest;
pub use restore::{check_file, restore, verify, RestoreError, Verified};
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
    // Only the server's own user may enter a directory this creates (access control; the
    // files inside are read-only besides).
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&opts.dir)
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
            let mut child = pg_command("pg_dump", pg)
                .args(["--format=custom", "--compress=0", "--enable-row-security", "--no-password"])
                .arg(format!("--snapshot={snapshot}"))
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

/// `pg_dump`/`pg_restore` connected to `url`, with row-level security switched off
/// explicitly for their session (`organizeo.system = on`), as the cross-portal reads do,
/// so a table owner that is not a superuser still dumps every portal's rows. A password
/// in the URL goes in `PGPASSWORD`, never on the command line (which `ps` shows).
fn pg_command(program: &str, url: &str) -> Command {
    let (url, password) = split_password(url);
    let mut cmd = Command::new(program);
    cmd.env("PGOPTIONS", "-c organizeo.system=on").arg(format!("--dbname={url}")).stdin(Stdio::null());
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, `secret` percent-decoded).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), None) };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return (url.to_string(), None) };
    let Some((user, password)) = userinfo.split_once(':') else { return (url.to_string(), None) };
    (format!("{scheme}://{user}@{host}{tail}"), Some(percent_decode(password)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

/// Leftovers of a run that died (a `.partial` file, a `.snapshot-` copy) are removed
/// once this old; younger ones may belong to a run in progress on another node.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Deletes all but the newest `keep` backups (with their manifests), and leftovers of runs
/// that died; returns the backups deleted.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let leftover = (name.starts_with(&format!(".{PREFIX}")) && name.ends_with(".partial"))
                || name.starts_with(".snapshot-");
            let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if leftover && old.is_some_and(|age| age > LEFTOVER_AGE) {
                let path = e.path();
                let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://app:s%40cret@db:5432/org?sslmode=require"),
            ("postgres://app@db:5432/org?sslmode=require".to_string(), Some("s@cret".to_string()))
        );
        assert_eq!(split_password("postgres://app@db/org"), ("postgres://app@db/org".to_string(), None));
        assert_eq!(split_password("postgres://db/org"), ("postgres://db/org".to_string(), None));
    }
}
