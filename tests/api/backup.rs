//! Backups on both databases: a backup taken while writes run restores to a consistent
//! database that `audit verify` accepts; tampering is named; retention keeps the newest;
//! the schedule follows the injected clock, one node per slot, with its metrics; restore
//! refuses a database holding data unless forced.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use organizeo::backup::{self, Options, RestoreError};
use organizeo::security::crypto::Keyring;
use serde_json::json;

use crate::helpers::{wait_for, TestApp, TestDb};

fn keyring(app: &TestApp) -> Keyring {
    organizeo::startup::keyring(app.settings()).expect("keyring")
}

fn options(app: &TestApp, dir: &Path, keep: usize, sealed: bool) -> Options {
    Options { dir: dir.to_path_buf(), keep, seal: sealed.then(|| keyring(app)) }
}

/// Takes a backup on the blocking pool, so the test's own tasks (writers) keep running.
async fn take(app: &TestApp, opts: Options) -> backup::Created {
    let url = app.db.url();
    let now = app.clock.now();
    actix_web::web::block(move || backup::create(&url, &opts, now)).await.unwrap().expect("backup created")
}

/// A copy of a backup and its manifest that the test may change (the originals are 0444).
fn writable_copy(src: &Path, dir: &Path) -> PathBuf {
    let dest = dir.join(src.file_name().unwrap());
    fs::copy(src, &dest).unwrap();
    fs::copy(backup::Manifest::path_for(src), backup::Manifest::path_for(&dest)).unwrap();
    for p in [dest.clone(), backup::Manifest::path_for(&dest)] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    }
    dest
}

async fn backup_taken_while_writes_run_restores_to_a_consistent_database(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, written, client, url, token) =
            (stop.clone(), written.clone(), app.client.clone(), app.url("/api/v1/contacts"), owner.token.clone());
        actix_web::rt::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let body = json!({"email": format!("p{i}@example.com"), "first_name": "P", "tags": ["live"]});
                let r = client.post(&url).bearer_auth(&token).send_json(&body).await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_for("writes to start", Duration::from_secs(30), || {
        let n = written.load(Ordering::SeqCst);
        async move { (n >= 20).then_some(()) }
    })
    .await;
    let created = take(&app, options(&app, dir.path(), 7, true)).await;
    let during = written.load(Ordering::SeqCst);
    wait_for("writes to continue after the backup", Duration::from_secs(30), || {
        let n = written.load(Ordering::SeqCst);
        async move { (n > during + 5).then_some(()) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    let mode = fs::metadata(&created.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444, "the backup file is read-only");
    let manifest_mode = fs::metadata(backup::Manifest::path_for(&created.path)).unwrap().permissions().mode() & 0o777;
    assert_eq!(manifest_mode, 0o444, "the manifest is read-only");
    let m = &created.manifest;
    assert_eq!(m.key_id.as_deref(), Some(keyring(&app).active_id()));
    let contacts = m.tables["records"];
    assert!(
        contacts >= 20 && (contacts as usize) < written.load(Ordering::SeqCst),
        "a snapshot mid-stream: {contacts}"
    );

    // Restored into a fresh database: the counts are the manifest's (checked by restore),
    // the outbox is gap-free up to its head, every contact has its created event, and the
    // audit chains hold.
    let target = TestDb::fresh(app.db.backend()).unwrap();
    let url = target.url();
    let (path, ring) = (created.path.clone(), keyring(&app));
    let restored =
        actix_web::web::block(move || backup::restore(&path, &url, false, Some(&ring))).await.unwrap().unwrap();
    assert_eq!(restored.tables["records"], contacts);
    let db = organizeo::db::Db::connect(&target.url(), 1).unwrap();
    let tenant = organizeo::domain::TenantId::from_db(owner.tenant_id.clone());
    let events = db.tenant(tenant).read(|t| Ok(t.events_after(0, 1_000_000)?)).await.unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "outbox seqs are gap-free");
    }
    let created_events = events.iter().filter(|e| e.event_type == "contact.created").count() as i64;
    assert_eq!(created_events, contacts, "one contact.created per restored contact");
    let report = organizeo::db::system::verify_audit(&target.url()).unwrap();
    assert!(report.first_break.is_none(), "{:?}", report.first_break);
    assert!(report.entries >= 1);

    let verified = {
        let (path, url, ring) = (created.path.clone(), app.db.url(), keyring(&app));
        actix_web::web::block(move || backup::verify(&path, &url, Some(&ring))).await.unwrap().unwrap()
    };
    assert_eq!(verified.rows, created.manifest.total_rows());
}

async fn tampered_backups_fail_verification_naming_the_problem(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let sealed = take(&app, options(&app, dir.path(), 7, true)).await;
    let plain = take(&app, options(&app, dir.path(), 7, false)).await;
    assert!(plain.manifest.key_id.is_none());
    let verify = |path: PathBuf| {
        let (url, ring) = (app.db.url(), keyring(&app));
        async move { actix_web::web::block(move || backup::verify(&path, &url, Some(&ring))).await.unwrap() }
    };
    for created in [&sealed, &plain] {
        assert!(verify(created.path.clone()).await.is_ok(), "an untouched backup verifies");

        // One flipped byte in the middle of the file.
        let copy = writable_copy(&created.path, work.path());
        let mut bytes = fs::read(&copy).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        fs::write(&copy, &bytes).unwrap();
        let e = verify(copy.clone()).await.unwrap_err().to_string();
        assert!(e.contains("SHA-256 mismatch"), "{e}");

        // Cut short.
        fs::write(&copy, &bytes[..bytes.len() - 10]).unwrap();
        let e = verify(copy.clone()).await.unwrap_err().to_string();
        assert!(e.contains("size mismatch"), "{e}");
        fs::remove_file(&copy).unwrap();
        fs::remove_file(backup::Manifest::path_for(&copy)).unwrap();

        // The manifest altered to promise rows the file does not hold.
        let copy = writable_copy(&created.path, work.path());
        let mut manifest = backup::Manifest::read(&copy).unwrap();
        *manifest.tables.get_mut("tenants").unwrap() += 1;
        fs::write(backup::Manifest::path_for(&copy), manifest.line().unwrap()).unwrap();
        let e = verify(copy.clone()).await.unwrap_err().to_string();
        assert!(e.contains("row count mismatch in tenants"), "{e}");
        fs::remove_file(&copy).unwrap();
        fs::remove_file(backup::Manifest::path_for(&copy)).unwrap();

        // No manifest at all.
        let copy = writable_copy(&created.path, work.path());
        fs::remove_file(backup::Manifest::path_for(&copy)).unwrap();
        let e = verify(copy.clone()).await.unwrap_err().to_string();
        assert!(e.contains("manifest"), "{e}");
        fs::remove_file(&copy).unwrap();
    }

    // A sealed file, consistently re-hashed after tampering, still fails to open.
    let copy = writable_copy(&sealed.path, work.path());
    let mut bytes = fs::read(&copy).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 1;
    fs::write(&copy, &bytes).unwrap();
    let mut manifest = backup::Manifest::read(&copy).unwrap();
    let (sha, size) = backup::stream::hash_reader(bytes.as_slice()).unwrap();
    (manifest.sha256, manifest.bytes) = (sha, size);
    fs::write(backup::Manifest::path_for(&copy), manifest.line().unwrap()).unwrap();
    let e = format!("{:#}", verify(copy.clone()).await.unwrap_err());
    assert!(e.contains("does not decrypt") || e.contains("altered"), "{e}");

    // And without the key it was sealed with, the problem names the key.
    let other = Keyring::new(("other".into(), [9; 32]), vec![]);
    let (path, url) = (sealed.path.clone(), app.db.url());
    let e = actix_web::web::block(move || backup::verify(&path, &url, Some(&other))).await.unwrap().unwrap_err();
    assert!(format!("{e:#}").contains(&format!("sealed with key {}", keyring(&app).active_id())), "{e:#}");
}

async fn retention_keeps_the_newest_backups(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::seconds(2));
        let c = take(&app, options(&app, dir.path(), 2, false)).await;
        made.push(c.path);
    }
    let listed: Vec<PathBuf> = backup::list(dir.path()).unwrap().into_iter().map(|l| l.path).collect();
    assert_eq!(listed, made[2..].to_vec(), "the newest two, oldest first");
    for old in &made[..2] {
        assert!(
            !old.exists() && !backup::Manifest::path_for(old).exists(),
            "{} and its manifest deleted",
            old.display()
        );
    }
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 4, "two backups and two manifests, no leftovers: {names:?}");
}

async fn restore_refuses_a_database_holding_data_unless_forced(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let before = take(&app, options(&app, dir.path(), 7, true)).await;
    let r = app.post("/api/v1/contacts", &json!({"email": "late@example.com"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201);

    let restore = |force: bool| {
        let (path, url, ring) = (before.path.clone(), app.db.url(), keyring(&app));
        async move { actix_web::web::block(move || backup::restore(&path, &url, force, Some(&ring))).await.unwrap() }
    };
    match restore(false).await {
        Err(RestoreError::NotEmpty(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    let r = app.get("/api/v1/contacts", Some(&owner.token)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "nothing changed");

    // Forced, the database is the backup's (the server is stopped first, as the README says).
    let (db, settings) = app.stop().await;
    let (path, url, ring) = (before.path.clone(), db.url(), organizeo::startup::keyring(&settings).unwrap());
    actix_web::web::block(move || backup::restore(&path, &url, true, Some(&ring))).await.unwrap().unwrap();
    let report = organizeo::db::system::verify_audit(&db.url()).unwrap();
    assert!(report.first_break.is_none(), "{:?}", report.first_break);
    let count = organizeo::db::backup::contents(&db.url()).unwrap().tables["records"];
    assert_eq!(count, 0, "the contact written after the backup is gone");
}

/// Sets up a server whose schedule runs every 24 h of the manual clock, checked often.
async fn scheduled(app: TestApp, dir: &Path, keep: usize) -> TestApp {
    let dir = dir.to_path_buf();
    app.restart_with(move |s| {
        s.backup_interval = Some(Duration::from_secs(24 * 3600));
        s.backup_dir = dir;
        s.backup_keep = keep;
        s.tuning.jobs_interval = Duration::from_millis(20);
    })
    .await
}

async fn backup_count(dir: &Path, n: usize) -> Vec<backup::Listed> {
    wait_for(&format!("{n} backups in {}", dir.display()), Duration::from_secs(60), || {
        let found = backup::list(dir).unwrap();
        async move { (found.len() == n && found.iter().all(|l| l.manifest.is_ok())).then_some(found) }
    })
    .await
}

async fn the_schedule_follows_the_clock_one_node_per_slot(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let app = scheduled(app, dir.path(), 2).await;
    let second = app.another_node(|_| {}).await;
    let first = backup_count(dir.path(), 1).await;

    // Nothing more within the slot, however often both nodes look.
    let row = |app: &TestApp| {
        let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
        async move { db.read(|p| Ok(p.backup_schedule()?)).await.unwrap().unwrap() }
    };
    wait_for("the run to end", Duration::from_secs(30), || {
        let r = row(&app);
        async move { (r.await.status == "idle").then_some(()) }
    })
    .await;
    let slot = row(&app).await.slot;
    assert_eq!(backup::list(dir.path()).unwrap().len(), 1);

    // A day later by the clock: one more backup, from one of the two nodes.
    app.clock.advance(chrono::Duration::hours(24));
    let two = backup_count(dir.path(), 2).await;
    assert_eq!(two[0].path, first[0].path);
    let newest = two[1].path.clone();
    app.clock.advance(chrono::Duration::hours(24));
    wait_for("the third slot's backup, pruned to two", Duration::from_secs(60), || {
        let found = backup::list(dir.path()).unwrap();
        let pruned = found.len() == 2 && found[0].path == newest;
        let r = row(&app);
        async move {
            let r = r.await;
            (r.slot == slot + 2 && r.status == "idle" && pruned).then_some(())
        }
    })
    .await;
    let r = row(&app).await;
    assert_eq!((r.failures, r.last_error), (0, None));

    // Every node reports the same last success, from the row.
    let last = r.last_success_at.unwrap().and_utc().timestamp();
    for node in [&app, &second] {
        let text = wait_for("the metric", Duration::from_secs(30), || {
            let f = node.get("/metrics", None);
            async move {
                let t = f.await.text;
                t.contains(&format!("organizeo_backup_last_success_timestamp_seconds {last}")).then_some(t)
            }
        })
        .await;
        assert!(text.contains("organizeo_backup_failures_total 0"), "{text}");
        assert!(!text.contains("organizeo_backup_bytes 0\n"), "{text}");
    }
}

async fn a_failed_scheduled_backup_is_counted(app: TestApp) {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A regular file where the directory should be: the backup cannot be written.
    let app = scheduled(app, &blocker.path().join("backups"), 7).await;
    wait_for("a failure in the metrics", Duration::from_secs(30), || {
        let f = app.get("/metrics", None);
        async move { f.await.text.contains("organizeo_backup_failures_total 1").then_some(()) }
    })
    .await;
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    let row = db.read(|p| Ok(p.backup_schedule()?)).await.unwrap().unwrap();
    assert_eq!(row.failures, 1);
    assert!(row.last_error.unwrap().contains("cannot create backup directory"));
}

async fn a_node_that_died_mid_run_is_replaced_when_its_lease_ends(app: TestApp) {
    use organizeo::backup::schedule::{self, Outcome, Plan};
    app.signup("Acme", "ada@acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    let interval = Duration::from_secs(24 * 3600);
    let plan = Plan { url: app.db.url(), interval: Some(interval), options: options(&app, dir.path(), 7, false) };
    // A node claims the current slot and dies without finishing.
    let now = app.clock.now();
    let slot = now.timestamp().div_euclid(interval.as_secs() as i64);
    let lease = (now + chrono::Duration::hours(2)).naive_utc();
    let won = db.write(move |tx| Ok(tx.platform().claim_backup_slot(slot, "dead-node", now.naive_utc(), lease)?)).await;
    assert!(won.unwrap());
    let outcome = schedule::step(&db, &app.clock, &plan, "live-node", None).await.unwrap();
    assert!(matches!(outcome, Outcome::NotDue), "the lease still holds: {outcome:?}");
    assert!(backup::list(dir.path()).unwrap().is_empty());
    app.clock.advance(chrono::Duration::minutes(121));
    let outcome = schedule::step(&db, &app.clock, &plan, "live-node", None).await.unwrap();
    assert!(matches!(outcome, Outcome::Done(_)), "taken over: {outcome:?}");
    let row = db.read(|p| Ok(p.backup_schedule()?)).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.lease_owner.as_deref()), ("idle", Some("live-node")));
    // A leftover of the dead run, once old, is cleared by the next prune.
    let leftover = dir.path().join(".organizeo-dead.sqlite.zst.partial");
    fs::write(&leftover, b"half").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
    fs::File::options().write(true).open(&leftover).unwrap().set_modified(old).unwrap();
    backup::prune(dir.path(), 7).unwrap();
    assert!(!leftover.exists());
}

crate::both_backends!(
    a_node_that_died_mid_run_is_replaced_when_its_lease_ends,
    backup_taken_while_writes_run_restores_to_a_consistent_database,
    tampered_backups_fail_verification_naming_the_problem,
    retention_keeps_the_newest_backups,
    restore_refuses_a_database_holding_data_unless_forced,
    the_schedule_follows_the_clock_one_node_per_slot,
    a_failed_scheduled_backup_is_counted,
);

/// The commands as an operator runs them: paths printed, exit 0 when sound, 1 naming the
/// problem, 2 for a bad key.
#[test]
fn backup_commands_exit_as_documented() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let key = organizeo::security::crypto::generate_key("k1").unwrap();
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_organizeo"));
        cmd.current_dir(dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ORGANIZEO_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ORGANIZEO_DATABASE_URL", "sqlite://./data/o.db")
            .env("ORGANIZEO_ENCRYPTION_KEY", &key)
            .env("ORGANIZEO_LOG", "error");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["migrate"], &[]).0, Some(0));
    let (code, out, err) = run(&["backup", "create"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let path = dir.path().join(out.trim());
    assert!(path.exists() && out.trim().starts_with("./data/backups/organizeo-"), "{out}");
    let (code, out, _) = run(&["backup", "list"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains(path.file_name().unwrap().to_str().unwrap()) && out.contains("k1"), "{out}");
    let (code, out, err) = run(&["backup", "verify"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("verified") && out.contains("integrity check ok"), "{out}");

    let copy = writable_copy(&path, dir.path());
    let mut bytes = fs::read(&copy).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 1;
    fs::write(&copy, bytes).unwrap();
    let (code, out, _) = run(&["backup", "verify", copy.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAILED verification") && out.contains("SHA-256 mismatch"), "{out}");

    // The migrated database holds no data: a restore needs no --force; once it holds
    // data, it does.
    let (code, _, err) = run(&["backup", "restore", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["staff", "add", "sam@platform.example", "--role", "support"], &[]);
    assert_eq!(code, Some(1), "no password on stdin: {err}");
    let mut add = Command::new(env!("CARGO_BIN_EXE_organizeo"));
    add.current_dir(dir.path())
        .env("ORGANIZEO_DATABASE_URL", "sqlite://./data/o.db")
        .env("ORGANIZEO_ENCRYPTION_KEY", &key)
        .args(["staff", "add", "sam@platform.example", "--role", "support"])
        .stdin(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    {
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{}", crate::helpers::PASSWORD).unwrap();
    }
    assert!(child.wait().unwrap().success());
    let (code, _, err) = run(&["backup", "restore", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("already holds data") && err.contains("--force"), "{err}");
    let (code, out, err) = run(&["backup", "restore", "--force", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, _) = run(&["audit", "verify"], &[]);
    assert_eq!(code, Some(0), "{out}");

    // A sealed backup needs its key; a malformed key is a configuration error.
    let (code, _, err) = run(&["backup", "verify"], &[("ORGANIZEO_ENCRYPTION_KEY", "k1:short")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ORGANIZEO_ENCRYPTION_KEY"), "{err}");
    let other = organizeo::security::crypto::generate_key("k2").unwrap();
    let (code, out, _) = run(&["backup", "verify"], &[("ORGANIZEO_ENCRYPTION_KEY", &other)]);
    assert_eq!(code, Some(1));
    assert!(out.contains("sealed with key k1"), "{out}");
}
