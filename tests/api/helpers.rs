//! `spawn_app()`: the real server on port 0 with a fresh database (a temporary SQLite file,
//! or a fresh PostgreSQL database when ORGANIZEO_TEST_POSTGRES_URL is set), a manual clock,
//! and a small typed HTTP client.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use awc::http::Method;
use diesel::{Connection, PgConnection, RunQueryDsl};
use organizeo::clock::Clock;
use organizeo::config::{DatabaseUrl, Secret, Settings};
use organizeo::startup::Application;
use serde_json::{json, Value};

pub const POSTGRES_ENV: &str = "ORGANIZEO_TEST_POSTGRES_URL";
pub const PASSWORD: &str = "Corr3ct-Horse!Battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(app: TestApp)` once per backend, as
/// `<module>::sqlite::name` and `<module>::postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::spawn_postgres_app().await {
                        super::$name(app).await
                    }
                }
            )*
        }
    };
}

/// Says, past the test harness's output capture, that PostgreSQL tests did not run.
pub fn postgres_url_or_warn() -> Option<String> {
    static WARN: Once = Once::new();
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => {
            // Before this process's first PostgreSQL connection (see the module's doc).
            organizeo::db::libpq::prepare();
            Some(url)
        }
        _ => {
            WARN.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** PostgreSQL tests DID NOT RUN: {POSTGRES_ENV} is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/postgres). They pass vacuously. ***\n"
                );
            });
            None
        }
    }
}

/// A database that lives as long as the test.
pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDb {
    pub fn fresh(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("organizeo.db");
                Some(TestDb::Sqlite { _dir: dir, path })
            }
            Backend::Postgres => {
                let admin_url = postgres_url_or_warn()?;
                let name = format!("oz_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url).expect("PostgreSQL admin connection");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
                let url = with_database(&admin_url, &name);
                Some(TestDb::Postgres { admin_url, name, url })
            }
        }
    }

    pub fn url(&self) -> DatabaseUrl {
        match self {
            TestDb::Sqlite { path, .. } => DatabaseUrl::Sqlite(path.clone()),
            TestDb::Postgres { url, .. } => DatabaseUrl::Postgres(url.clone()),
        }
    }

    /// The URL as an operator would write it in ORGANIZEO_DATABASE_URL.
    pub fn url_string(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Sqlite { .. } => Backend::Sqlite,
            TestDb::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Terminates every PostgreSQL backend connected to this database (what a server restart,
    /// a failover or an idle-connection reaper does to a pool); returns how many. SQLite: 0.
    pub fn terminate_connections(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        match self {
            TestDb::Sqlite { .. } => 0,
            TestDb::Postgres { admin_url, name, .. } => {
                let mut admin = PgConnection::establish(admin_url).expect("PostgreSQL admin connection");
                diesel::sql_query(format!(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .get_result::<Count>(&mut admin)
                .expect("terminate backends")
                .n
            }
        }
    }

    /// Makes the database unreachable for a running server: the SQLite file is deleted,
    /// the PostgreSQL database is dropped (its connections are terminated).
    pub fn destroy(&self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { admin_url, name, .. } => drop_pg(admin_url, name),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name, .. } = self {
            drop_pg(admin_url, name);
        }
    }
}

fn drop_pg(admin_url: &str, name: &str) {
    if let Ok(mut admin) = PgConnection::establish(admin_url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

pub fn test_settings(db: &TestDb) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: db.url(),
        db_pool_size: 4,
        workers: 1,
        log_level: "warn".into(),
        shutdown_timeout: Duration::from_secs(1),
        purge_interval: Duration::from_millis(50),
        encryption_key: Some(Secret::new(organizeo::security::crypto::generate_key("test").expect("key"))),
        // No scheduled backups into ./data/backups from every test server; tests of the
        // schedule turn it on with their own directory.
        backup_interval: None,
        // Portal export archives of test servers go to the system's temporary directory.
        export_dir: std::env::temp_dir().join("organizeo-test-exports"),
        ..Settings::default()
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub clock: Clock,
    /// Shared so a restarted server keeps the same database.
    pub db: Arc<TestDb>,
    pub client: awc::Client,
    handle: ServerHandle,
    /// The server's task: done once the server and its background loops have stopped.
    running: Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    settings: Settings,
    pub realtime: organizeo::realtime::Realtime,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDb::fresh(backend).expect("database for backend");
    spawn_with(db, |_| {}).await
}

pub async fn spawn_postgres_app() -> Option<TestApp> {
    let db = TestDb::fresh(Backend::Postgres)?;
    Some(spawn_with(db, |_| {}).await)
}

/// Starts the server on `db`, letting the test adjust settings first.
pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    start(db, settings, Clock::manual()).await
}

async fn start(db: impl Into<Arc<TestDb>>, settings: Settings, clock: Clock) -> TestApp {
    let db: Arc<TestDb> = db.into();
    let app = Application::build(settings.clone(), clock.clone()).expect("server starts");
    let port = app.port();
    let handle = app.handle();
    let realtime = app.realtime();
    let running = Some(actix_web::rt::spawn(app.run_until_stopped()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        clock,
        db,
        client: awc::Client::builder().timeout(Duration::from_secs(30)).finish(),
        handle,
        running,
        settings,
        realtime,
    }
}

/// A response read whole: status, headers, and the body as JSON (Null when not JSON).
pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns it.
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "content type; body: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "code; body: {}", self.text);
        assert_eq!(self.body["status"], status, "status member; body: {}", self.text);
        for member in ["type", "title", "detail"] {
            assert!(self.body[member].is_string(), "{member} missing: {}", self.text);
        }
        &self.body
    }
}

#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub tenant_id: String,
    pub user_id: String,
}

impl TestApp {
    /// Stops this server and starts a new one on the same database, settings and clock,
    /// as an operator's restart would.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// Another server on the same database and clock, beside this one (a second node).
    pub async fn another_node(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        adjust(&mut settings);
        start(self.db.clone(), settings, self.clock.clone()).await
    }

    /// Stops this server and starts a new one on the same database and clock with adjusted
    /// settings (a restart with a different configuration).
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        self.halt().await;
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        adjust(&mut settings);
        start(self.db.clone(), settings, self.clock.clone()).await
    }

    /// Stops this server (as an operator stops it before a restore); the database and the
    /// settings stay for the test.
    pub async fn stop(mut self) -> (Arc<TestDb>, Settings) {
        self.halt().await;
        (self.db.clone(), self.settings.clone())
    }

    /// Stops the server and waits until its background loops (jobs) are stopped too, so a
    /// restarted node is the only one claiming work.
    async fn halt(&mut self) {
        self.handle.stop(true).await;
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }

    /// The settings this server was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A direct database connection, for checking what is stored and for tampering.
    pub fn db_conn(&self) -> organizeo::db::DbConnection {
        organizeo::db::ConnectionFactory::new(self.db.url()).open().expect("database connection")
    }

    /// The database URL as an operator would configure it (for server processes).
    pub fn database_url(&self) -> String {
        match &*self.db {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db.url(), DatabaseUrl::Postgres(_))
    }

    /// The portal's outbox, in `seq` order.
    pub async fn events(&self, tenant: &str) -> Vec<organizeo::db::events::EventRow> {
        let db = organizeo::db::Db::connect(&self.db.url(), 1).expect("pool");
        db.tenant(organizeo::domain::TenantId::from_db(tenant.to_string()))
            .read(|t| Ok(t.events_after(0, 100_000)?))
            .await
            .expect("events")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let sent = match body {
            Some(b) => req.insert_header(("Content-Type", "application/json")).send_body(b).await,
            None => req.send().await,
        };
        read(sent.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        self.request(Method::POST, path, token, Some(body.to_string().into_bytes())).await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        self.request(Method::PATCH, path, token, Some(body.to_string().into_bytes())).await
    }

    /// Signs up a portal and returns its owner's token.
    pub async fn signup(&self, tenant: &str, email: &str) -> Signed {
        let r = self
            .post(
                "/api/v1/signup",
                &json!({"tenant_name": tenant, "email": email, "password": PASSWORD, "name": "Test Owner"}),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        Signed {
            token: r.body["token"].as_str().expect("token").to_string(),
            tenant_id: r.body["tenant"]["id"].as_str().expect("tenant id").to_string(),
            user_id: r.body["user"]["id"].as_str().expect("user id").to_string(),
        }
    }

    pub async fn login(&self, email: &str, password: &str, tenant_id: Option<&str>) -> Resp {
        let mut body = json!({"email": email, "password": password});
        if let Some(t) = tenant_id {
            body["tenant_id"] = json!(t);
        }
        self.post("/api/v1/auth/login", &body, None).await
    }
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, None).await
    }

    pub async fn delete_json(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, Some(body.to_string().into_bytes())).await
    }

    /// Defines a custom field (`{"object":"contact","key":…,"type":…}` plus options) and
    /// returns its id.
    pub async fn custom_field(&self, who: &Signed, object: &str, key: &str, kind: &str, extra: Value) -> String {
        let mut body = json!({"object": object, "key": key, "label": key, "type": kind});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.post("/api/v1/custom-fields", &body, Some(&who.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Invites a new person with `role` to the owner's portal (with an initial password),
    /// and signs them in accepting the invitation.
    pub async fn member(&self, owner: &Signed, email: &str, role: &str) -> Signed {
        let r = self
            .post(
                "/api/v1/users",
                &json!({"email": email, "name": "Member", "role": role, "password": PASSWORD}),
                Some(&owner.token),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let invitation = r.body["id"].as_str().expect("invitation id").to_string();
        let login = self
            .post(
                "/api/v1/auth/login",
                &json!({"email": email, "password": PASSWORD, "invitation_id": invitation}),
                None,
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.text);
        let token = login.body["token"].as_str().expect("token").to_string();
        let me = self.get("/api/v1/me", Some(&token)).await;
        Signed {
            token,
            tenant_id: owner.tenant_id.clone(),
            user_id: me.body["user"]["id"].as_str().expect("id").into(),
        }
    }

    /// The current TOTP code for a base32 secret, at the app's clock.
    pub fn totp_code(&self, base32: &str) -> String {
        let secret = totp_rs::Secret::Encoded(base32.to_string()).to_bytes().expect("base32");
        organizeo::security::totp::code_at(&secret, self.clock.now().timestamp() as u64).expect("code")
    }

    /// Turns 2FA on for the token's user; returns the base32 secret and recovery codes.
    pub async fn enable_mfa(&self, token: &str) -> (String, Vec<String>) {
        let r = self.post("/api/v1/me/mfa/totp", &json!({}), Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let secret = r.body["secret"].as_str().expect("secret").to_string();
        let r = self.post("/api/v1/me/mfa/totp/confirm", &json!({"code": self.totp_code(&secret)}), Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let codes = r.body["recovery_codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_string())
            .collect();
        // The confirming code's time step is spent; move to the next one.
        self.clock.advance(chrono::Duration::seconds(30));
        (secret, codes)
    }

    /// The portal's audit actions, oldest first (as an owner or admin sees them).
    pub async fn audit_actions(&self, token: &str) -> Vec<String> {
        let r = self.get("/api/v1/audit-log?limit=100", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut actions: Vec<String> = r.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_string())
            .collect();
        actions.reverse();
        actions
    }
    /// A fresh sign-in token (after the clock moved past the old one's lifetime).
    pub async fn sign_in(&self, email: &str) -> String {
        let r = self.login(email, PASSWORD, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["token"].as_str().expect("token").to_string()
    }

    /// How many items of `kind` are in the portal's trash.
    pub async fn trash_len(&self, who: &Signed, kind: &str) -> usize {
        let r = self.get(&format!("/api/v1/trash?type={kind}&limit=100"), Some(&who.token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["data"].as_array().expect("data").len()
    }

    /// Creates a record at `path` (asserting 201) and returns it.
    pub async fn create(&self, who: &Signed, path: &str, body: Value) -> Value {
        let r = self.post(path, &body, Some(&who.token)).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        r.body
    }

    /// Creates a contact (asserting 201) and returns it.
    pub async fn contact(&self, who: &Signed, body: Value) -> Value {
        self.create(who, "/api/v1/contacts", body).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and close the pool's sockets before the database is dropped.
        let stop = self.handle.stop(false);
        actix_web::rt::spawn(stop);
    }
}

pub async fn read<S>(mut res: awc::ClientResponse<S>) -> Resp
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.body().limit(64 * 1024 * 1024).await.expect("body");
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, body, text }
}

/// Polls `check` until it returns Some, or panics after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}
