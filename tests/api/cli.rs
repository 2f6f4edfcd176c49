//! The `organizeo` binary as an operator runs it: configuration errors, `migrate`, help,
//! secrets kept out of output, graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestDb, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_organizeo");

/// The binary in an empty working directory with no ORGANIZEO_* variables inherited.
fn organizeo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("ORGANIZEO_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run organizeo")
}

#[test]
fn bad_configuration_stops_startup_with_exit_2_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("ORGANIZEO_LISTEN", "nonsense".into())], "ORGANIZEO_LISTEN"),
        (vec![("ORGANIZEO_LISTEN", taken_addr)], "ORGANIZEO_LISTEN"),
        (vec![("ORGANIZEO_DATABASE_URL", "mysql://db/x".into())], "ORGANIZEO_DATABASE_URL"),
        (vec![("ORGANIZEO_LOG_FORMAT", "xml".into())], "ORGANIZEO_LOG_FORMAT"),
        (vec![("ORGANIZEO_LOG", "[[[".into())], "ORGANIZEO_LOG"),
        (vec![("ORGANIZEO_DB_POOL_SIZE", "0".into())], "ORGANIZEO_DB_POOL_SIZE"),
        (vec![("ORGANIZEO_MAX_BODY_BYTES", "lots".into())], "ORGANIZEO_MAX_BODY_BYTES"),
        (vec![("ORGANIZEO_MIGRATE_ON_START", "maybe".into())], "ORGANIZEO_MIGRATE_ON_START"),
        (vec![("ORGANIZEO_SESSION_TTL_MINUTES", "-5".into())], "ORGANIZEO_SESSION_TTL_MINUTES"),
        (vec![("ORGANIZEO_TLS_CERT", "/nonexistent/cert.pem".into())], "ORGANIZEO_TLS_KEY"),
        (vec![("ORGANIZEO_REDIS_URL", "rediss://:hunter2@cache:6380".into())], "ORGANIZEO_REDIS_URL"),
        (vec![("ORGANIZEO_REDIS_URL", "cache:6379".into())], "ORGANIZEO_REDIS_URL"),
        (vec![("ORGANIZEO_REALTIME_HEARTBEAT_SECONDS", "0".into())], "ORGANIZEO_REALTIME_HEARTBEAT_SECONDS"),
        (
            vec![
                ("ORGANIZEO_TLS_CERT", "/nonexistent/cert.pem".into()),
                ("ORGANIZEO_TLS_KEY", "/nonexistent/key.pem".into()),
            ],
            "ORGANIZEO_TLS_CERT",
        ),
    ];
    for (env, setting) in cases {
        let mut cmd = organizeo(dir.path());
        cmd.env("ORGANIZEO_DATABASE_URL", format!("sqlite://{}/x.db", dir.path().display()));
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(cmd.arg("serve"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: one line, got: {stderr}");
        assert!(stderr.contains(setting), "{env:?}: should name {setting}: {stderr}");
        assert!(!stderr.contains("hunter2"), "a password is never echoed: {stderr}");
    }
    drop(taken);

    // The same rules hold for the file layer, and a typo'd key is refused, not ignored.
    for (toml, needle) in [
        ("listen = \"nowhere\"\n", "listen"),
        ("log_format = \"yaml\"\n", "log_format"),
        ("db_pool_size = \"ten\"\n", "db_pool_size"),
        ("lisen = \"127.0.0.1:1\"\n", "lisen"),
    ] {
        let file = dir.path().join("organizeo.toml");
        std::fs::write(&file, toml).unwrap();
        let out = run(organizeo(dir.path()).args(["--config", file.to_str().unwrap(), "serve"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(needle), "{toml}: {stderr}");
    }
}

fn migrate_twice(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let first = run(organizeo(dir.path()).env("ORGANIZEO_DATABASE_URL", db.url_string()).arg("migrate"));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out} {}", String::from_utf8_lossy(&first.stderr));
    let migrations = std::fs::read_dir(format!("{}/migrations/sqlite", env!("CARGO_MANIFEST_DIR"))).unwrap().count();
    assert!(out.contains(&format!("({migrations} applied)")), "{out}");
    let second = run(organizeo(dir.path()).env("ORGANIZEO_DATABASE_URL", db.url_string()).arg("migrate"));
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{out}");
    assert!(out.contains("up to date"), "{out}");
}

#[test]
fn migrations_can_run_twice_sqlite() {
    migrate_twice(&TestDb::fresh(Backend::Sqlite).unwrap());
}

#[test]
fn migrations_can_run_twice_postgres() {
    if let Some(db) = TestDb::fresh(Backend::Postgres) {
        migrate_twice(&db);
    }
}

#[test]
fn help_explains_configuration_and_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(organizeo(dir.path())
        .env("ORGANIZEO_DATABASE_URL", "postgres://app:hunter2@db.internal/organizeo")
        .arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for s in organizeo::config::SETTINGS {
        assert!(help.contains(s.env), "--help should explain {}: {help}", s.env);
    }
    assert!(help.contains("serve") && help.contains("migrate"));
    assert!(!help.contains("hunter2"));
    let out = run(organizeo(dir.path()).arg("--version"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("organizeo {}", env!("CARGO_PKG_VERSION")));
}

/// The README's configuration table is the operator's reference: every setting is in it.
#[test]
fn the_readme_documents_every_setting() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for s in organizeo::config::SETTINGS {
        assert!(readme.contains(&format!("`{}`", s.env)), "README.md does not document {}", s.env);
        assert!(readme.contains(&format!("`{}`", s.key)), "README.md does not name the file key {}", s.key);
    }
}

#[test]
fn database_passwords_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: start-up fails, and says why without the password.
    let out = run(organizeo(dir.path())
        .env("ORGANIZEO_DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/organizeo")
        .env("ORGANIZEO_LISTEN", "127.0.0.1:0")
        .arg("serve"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("app:***@127.0.0.1:1"), "{stderr}");
}

/// A running `organizeo serve`; killed and reaped if the test ends early.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    logs: mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `organizeo serve` on a free port and waits for it to log its address.
fn serve(dir: &std::path::Path) -> ServerProcess {
    serve_with(dir, &[("ORGANIZEO_DATABASE_URL", format!("sqlite://{}/o.db", dir.display()))])
}

/// Like [`serve`], with more settings (a shared database, Redis, keys).
pub fn serve_with(dir: &std::path::Path, env: &[(&str, String)]) -> ServerProcess {
    let mut cmd = organizeo(dir);
    cmd.env("ORGANIZEO_LISTEN", "127.0.0.1:0")
        .env("ORGANIZEO_WORKERS", "1")
        .env("ORGANIZEO_SHUTDOWN_TIMEOUT_SECONDS", "20")
        .env("ORGANIZEO_LOG", "info,organizeo=debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.arg("serve").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let (tx, logs) = mpsc::channel();
    let mut server = ServerProcess { child, port: 0, logs };
    let stderr = server.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.logs.recv_timeout(left).expect("server should log its address");
        if let Some(rest) = line.split("address=http://127.0.0.1:").nth(1) {
            server.port = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
            return server;
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let port = server.port;

    // A connection the server has certainly accepted: one full request on it first.
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // Half a signup request: in flight while the signal arrives.
    let body =
        serde_json::json!({"tenant_name": "Acme", "email": "ada@acme.example", "password": PASSWORD, "name": "Ada"})
            .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    write!(
        conn,
        "POST /api/v1/signup HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    // Wait until the server has begun that request (its handler is reading the body).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.logs.recv_timeout(left).expect("server should start the signup request");
        if line.contains("path=/api/v1/signup") && line.contains("started") {
            break;
        }
    }

    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };

    // The listener closes first: new connections are refused while the old one is served.
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "listener still open after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(e) = conn.write_all(tail.as_bytes()) {
        let _ = server.child.wait();
        let lines: Vec<String> = server.logs.try_iter().collect();
        panic!("write failed: {e}; server said: {lines:#?}");
    }
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "in-flight request should complete: {answer}");

    let status = wait_exit(&mut server.child, Duration::from_secs(25));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn production_mode_refuses_to_start_without_an_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(organizeo(dir.path())
        .env("ORGANIZEO_MODE", "production")
        .env("ORGANIZEO_DATABASE_URL", format!("sqlite://{}/x.db", dir.path().display()))
        .arg("serve"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ORGANIZEO_ENCRYPTION_KEY"), "{stderr}");
    // A malformed key is refused without being echoed.
    let out = run(organizeo(dir.path()).env("ORGANIZEO_ENCRYPTION_KEY", "main:c2VjcmV0LXRvby1zaG9ydA==").arg("serve"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ORGANIZEO_ENCRYPTION_KEY") && !stderr.contains("c2VjcmV0"), "{stderr}");
}

#[test]
fn development_mode_generates_a_private_key_file_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let key_file = dir.path().join("data/encryption.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let first = std::fs::read_to_string(&key_file).unwrap();
    assert!(first.starts_with("dev:"));
    drop(server);
    let server = serve(dir.path());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first, "kept across restarts");
    drop(server);
}
