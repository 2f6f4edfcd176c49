//! Configuration: built-in defaults, overridden by an optional `organizeo.toml`, overridden
//! by `ORGANIZEO_*` environment variables.
//!
//! Every value is parsed here, once; a bad value is a [`ConfigError`] naming the setting, and
//! the CLI turns it into a one-line message and exit code 2. This module must never log or
//! print a secret: [`DatabaseUrl`] redacts its password when displayed.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file read when `--config` is not given (only if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "organizeo.toml";

/// What a bad setting looks like to the operator: which setting, and why.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self { setting: setting.into(), message: message.into() }
    }
}

/// `development` (the default) makes the embedded setup work with nothing configured;
/// `production` refuses to start without the secrets a real deployment must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// A configuration value that must never be printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which database a URL selects. SQLite keeps a path; PostgreSQL keeps the libpq URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://./data/organizeo.db".into());
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Self::Postgres(raw.to_string()))
        } else {
            Err("expected a sqlite://PATH or postgres://… URL".into())
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Displays the URL with any password replaced by `***`, so it is safe in logs.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_url_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn redact_url_password(url: &str) -> String {
    // scheme://user:password@host/… → scheme://user:***@host/…
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return redact_query_password(url);
    };
    let user = userinfo.split(':').next().unwrap_or_default();
    let redacted = if userinfo.contains(':') {
        format!("{scheme}://{user}:***@{host}{tail}")
    } else {
        format!("{scheme}://{userinfo}@{host}{tail}")
    };
    redact_query_password(&redacted)
}

fn redact_query_password(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// The whole, validated configuration of one `organizeo` process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub db_pool_size: u32,
    pub migrate_on_start: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub max_body_bytes: usize,
    pub session_ttl: Duration,
    pub workers: usize,
    pub shutdown_timeout: Duration,
    /// The active field-encryption key, `id:base64` (checked when loaded).
    pub encryption_key: Option<Secret>,
    /// Older keys still able to decrypt, after a rotation.
    pub encryption_old_keys: Vec<Secret>,
    /// Where development mode keeps a generated key when none is configured.
    pub encryption_key_file: PathBuf,
    /// Name shown in authenticator apps next to the account.
    pub totp_issuer: String,
    /// How often the trash purge runs.
    pub purge_interval: Duration,
    /// Run background jobs (imports, purge) in this process.
    pub run_jobs: bool,
    /// How often idle job workers look for work.
    pub jobs_interval: Duration,
    /// Import rows applied per transaction.
    pub import_chunk_rows: usize,
    /// Websocket limits and timings.
    pub realtime: crate::realtime::Limits,
    /// Redis for the cluster bus between nodes (`redis://…`); none: a single node.
    pub redis_url: Option<Secret>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: DatabaseUrl::Sqlite(PathBuf::from("./data/organizeo.db")),
            db_pool_size: 10,
            migrate_on_start: true,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            max_body_bytes: 1024 * 1024,
            session_ttl: Duration::from_secs(12 * 3600),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            shutdown_timeout: Duration::from_secs(30),
            mode: Mode::Development,
            encryption_key: None,
            encryption_old_keys: Vec::new(),
            encryption_key_file: PathBuf::from("./data/encryption.key"),
            totp_issuer: "Organizeo".into(),
            purge_interval: Duration::from_secs(60),
            run_jobs: true,
            jobs_interval: Duration::from_secs(1),
            import_chunk_rows: 500,
            realtime: crate::realtime::Limits::default(),
            redis_url: None,
        }
    }
}

/// One documented setting: its file key, its environment variable and what it means.
pub struct SettingDoc {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// The configuration table shown by `--help` and kept in step with the README.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "mode",
        env: "ORGANIZEO_MODE",
        default: "development",
        meaning: "development or production (production requires ORGANIZEO_ENCRYPTION_KEY)",
    },
    SettingDoc {
        key: "listen",
        env: "ORGANIZEO_LISTEN",
        default: "127.0.0.1:8080",
        meaning: "address and port to serve on",
    },
    SettingDoc {
        key: "database_url",
        env: "ORGANIZEO_DATABASE_URL",
        default: "sqlite://./data/organizeo.db",
        meaning: "sqlite://PATH (embedded) or postgres://USER@HOST/DB",
    },
    SettingDoc {
        key: "db_pool_size",
        env: "ORGANIZEO_DB_POOL_SIZE",
        default: "10",
        meaning: "database connections kept open (1-1000)",
    },
    SettingDoc {
        key: "migrate_on_start",
        env: "ORGANIZEO_MIGRATE_ON_START",
        default: "true",
        meaning: "apply pending migrations when `serve` starts",
    },
    SettingDoc {
        key: "tls_cert",
        env: "ORGANIZEO_TLS_CERT",
        default: "(none)",
        meaning: "PEM certificate chain; with tls_key serves HTTPS (TLS 1.2/1.3)",
    },
    SettingDoc { key: "tls_key", env: "ORGANIZEO_TLS_KEY", default: "(none)", meaning: "PEM private key for tls_cert" },
    SettingDoc { key: "log_format", env: "ORGANIZEO_LOG_FORMAT", default: "text", meaning: "text or json" },
    SettingDoc {
        key: "log_level",
        env: "ORGANIZEO_LOG",
        default: "info",
        meaning: "tracing filter, e.g. info or organizeo=debug",
    },
    SettingDoc {
        key: "max_body_bytes",
        env: "ORGANIZEO_MAX_BODY_BYTES",
        default: "1048576",
        meaning: "largest request body accepted (413 beyond)",
    },
    SettingDoc {
        key: "session_ttl_minutes",
        env: "ORGANIZEO_SESSION_TTL_MINUTES",
        default: "720",
        meaning: "lifetime of a sign-in token",
    },
    SettingDoc { key: "workers", env: "ORGANIZEO_WORKERS", default: "(cores)", meaning: "HTTP worker threads" },
    SettingDoc {
        key: "shutdown_timeout_seconds",
        env: "ORGANIZEO_SHUTDOWN_TIMEOUT_SECONDS",
        default: "30",
        meaning: "grace period for in-flight requests on SIGTERM/SIGINT",
    },
    SettingDoc {
        key: "encryption_key",
        env: "ORGANIZEO_ENCRYPTION_KEY",
        default: "(generated in development)",
        meaning: "active AES-256-GCM key for data at rest, KEY_ID:BASE64 of 32 bytes",
    },
    SettingDoc {
        key: "encryption_old_keys",
        env: "ORGANIZEO_ENCRYPTION_OLD_KEYS",
        default: "(none)",
        meaning: "comma-separated older KEY_ID:BASE64 keys, kept to decrypt after a rotation",
    },
    SettingDoc {
        key: "encryption_key_file",
        env: "ORGANIZEO_ENCRYPTION_KEY_FILE",
        default: "./data/encryption.key",
        meaning: "development only: where a generated key is kept (mode 0600)",
    },
    SettingDoc {
        key: "totp_issuer",
        env: "ORGANIZEO_TOTP_ISSUER",
        default: "Organizeo",
        meaning: "name shown in authenticator apps",
    },
    SettingDoc {
        key: "run_jobs",
        env: "ORGANIZEO_RUN_JOBS",
        default: "true",
        meaning: "run background jobs (imports, trash purge) in this process",
    },
    SettingDoc {
        key: "redis_url",
        env: "ORGANIZEO_REDIS_URL",
        default: "(none: one node)",
        meaning: "redis://[:PASSWORD@]HOST:PORT — several nodes sharing PostgreSQL push each other's events",
    },
    SettingDoc {
        key: "realtime_heartbeat_seconds",
        env: "ORGANIZEO_REALTIME_HEARTBEAT_SECONDS",
        default: "15",
        meaning: "websocket ping interval; a client silent for 3 intervals is closed (4000)",
    },
    SettingDoc {
        key: "realtime_max_connections_per_user",
        env: "ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER",
        default: "20",
        meaning: "open websockets per person or key on this node (4029 beyond)",
    },
    SettingDoc {
        key: "realtime_max_connections_per_tenant",
        env: "ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT",
        default: "20000",
        meaning: "open websockets per portal on this node (4029 beyond)",
    },
    SettingDoc {
        key: "purge_interval_seconds",
        env: "ORGANIZEO_PURGE_INTERVAL_SECONDS",
        default: "60",
        meaning: "how often items past their 30 days in the trash are deleted for good",
    },
];

/// The file layer: every key optional, unknown keys refused (a typo must not pass silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    mode: Option<String>,
    encryption_key: Option<String>,
    encryption_old_keys: Option<Vec<String>>,
    encryption_key_file: Option<String>,
    totp_issuer: Option<String>,
    purge_interval_seconds: Option<i64>,
    realtime_heartbeat_seconds: Option<i64>,
    redis_url: Option<String>,
    realtime_max_connections_per_user: Option<i64>,
    realtime_max_connections_per_tenant: Option<i64>,
    run_jobs: Option<bool>,
    listen: Option<String>,
    database_url: Option<String>,
    db_pool_size: Option<i64>,
    migrate_on_start: Option<bool>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    max_body_bytes: Option<i64>,
    session_ttl_minutes: Option<i64>,
    workers: Option<i64>,
    shutdown_timeout_seconds: Option<i64>,
}

impl Settings {
    /// Loads defaults < file < environment. `file` is `--config`; without it
    /// `organizeo.toml` in the working directory is read if present.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let file_layer = match file {
            Some(path) => Some(read_file(path)?),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Some(read_file(Path::new(DEFAULT_CONFIG_FILE))?),
            None => None,
        };
        if let Some(f) = file_layer {
            settings.apply_file(f)?;
        }
        settings.apply_env(env)?;
        settings.check()?;
        Ok(settings)
    }

    /// Loads from the real process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, &|k| std::env::var(k).ok())
    }

    fn set_heartbeat(&mut self, seconds: i64) {
        self.realtime.heartbeat = Duration::from_secs(seconds as u64);
        self.realtime.client_timeout = Duration::from_secs(seconds as u64 * 3);
    }

    fn apply_file(&mut self, f: FileSettings) -> Result<(), ConfigError> {
        if let Some(v) = f.mode {
            self.mode = parse_mode("mode", &v)?;
        }
        if let Some(v) = f.encryption_key {
            self.encryption_key = Some(checked_key("encryption_key", &v)?);
        }
        if let Some(v) = f.encryption_old_keys {
            self.encryption_old_keys =
                v.iter().map(|k| checked_key("encryption_old_keys", k)).collect::<Result<_, _>>()?;
        }
        if let Some(v) = f.encryption_key_file {
            self.encryption_key_file = PathBuf::from(v);
        }
        if let Some(v) = f.run_jobs {
            self.run_jobs = v;
        }
        if let Some(v) = f.purge_interval_seconds {
            self.purge_interval = Duration::from_secs(in_range("purge_interval_seconds", v, 1, 86_400)? as u64);
        }
        if let Some(v) = f.redis_url {
            self.redis_url = Some(checked_redis_url("redis_url", &v)?);
        }
        if let Some(v) = f.realtime_heartbeat_seconds {
            self.set_heartbeat(in_range("realtime_heartbeat_seconds", v, 1, 3600)?);
        }
        if let Some(v) = f.realtime_max_connections_per_user {
            self.realtime.per_user = in_range("realtime_max_connections_per_user", v, 1, 1_000_000)? as usize;
        }
        if let Some(v) = f.realtime_max_connections_per_tenant {
            self.realtime.per_tenant = in_range("realtime_max_connections_per_tenant", v, 1, 10_000_000)? as usize;
        }
        if let Some(v) = f.totp_issuer {
            self.totp_issuer = checked_issuer("totp_issuer", &v)?;
        }
        if let Some(v) = f.listen {
            self.listen = parse_listen("listen", &v)?;
        }
        if let Some(v) = f.database_url {
            self.database_url = DatabaseUrl::parse(&v).map_err(|m| ConfigError::new("database_url", m))?;
        }
        if let Some(v) = f.db_pool_size {
            self.db_pool_size = in_range("db_pool_size", v, 1, 1000)? as u32;
        }
        if let Some(v) = f.migrate_on_start {
            self.migrate_on_start = v;
        }
        if let Some(v) = f.tls_cert {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = f.tls_key {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = f.log_format {
            self.log_format = parse_log_format("log_format", &v)?;
        }
        if let Some(v) = f.log_level {
            self.log_level = v;
        }
        if let Some(v) = f.max_body_bytes {
            self.max_body_bytes = in_range("max_body_bytes", v, 1024, 1 << 30)? as usize;
        }
        if let Some(v) = f.session_ttl_minutes {
            self.session_ttl = Duration::from_secs(in_range("session_ttl_minutes", v, 1, 525_600)? as u64 * 60);
        }
        if let Some(v) = f.workers {
            self.workers = in_range("workers", v, 1, 1024)? as usize;
        }
        if let Some(v) = f.shutdown_timeout_seconds {
            self.shutdown_timeout = Duration::from_secs(in_range("shutdown_timeout_seconds", v, 0, 3600)? as u64);
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = get("ORGANIZEO_MODE") {
            self.mode = parse_mode("ORGANIZEO_MODE", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_ENCRYPTION_KEY") {
            self.encryption_key = Some(checked_key("ORGANIZEO_ENCRYPTION_KEY", &v)?);
        }
        if let Some(v) = get("ORGANIZEO_ENCRYPTION_OLD_KEYS") {
            self.encryption_old_keys = v
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| checked_key("ORGANIZEO_ENCRYPTION_OLD_KEYS", k))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("ORGANIZEO_ENCRYPTION_KEY_FILE") {
            self.encryption_key_file = PathBuf::from(v);
        }
        if let Some(v) = get("ORGANIZEO_RUN_JOBS") {
            self.run_jobs = parse_bool("ORGANIZEO_RUN_JOBS", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_PURGE_INTERVAL_SECONDS") {
            self.purge_interval =
                Duration::from_secs(parse_int("ORGANIZEO_PURGE_INTERVAL_SECONDS", &v, 1, 86_400)? as u64);
        }
        if let Some(v) = get("ORGANIZEO_REDIS_URL") {
            self.redis_url = Some(checked_redis_url("ORGANIZEO_REDIS_URL", &v)?);
        }
        if let Some(v) = get("ORGANIZEO_REALTIME_HEARTBEAT_SECONDS") {
            self.set_heartbeat(parse_int("ORGANIZEO_REALTIME_HEARTBEAT_SECONDS", &v, 1, 3600)?);
        }
        if let Some(v) = get("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER") {
            self.realtime.per_user =
                parse_int("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER", &v, 1, 1_000_000)? as usize;
        }
        if let Some(v) = get("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT") {
            self.realtime.per_tenant =
                parse_int("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT", &v, 1, 10_000_000)? as usize;
        }
        if let Some(v) = get("ORGANIZEO_TOTP_ISSUER") {
            self.totp_issuer = checked_issuer("ORGANIZEO_TOTP_ISSUER", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_LISTEN") {
            self.listen = parse_listen("ORGANIZEO_LISTEN", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_DATABASE_URL") {
            self.database_url = DatabaseUrl::parse(&v).map_err(|m| ConfigError::new("ORGANIZEO_DATABASE_URL", m))?;
        }
        if let Some(v) = get("ORGANIZEO_DB_POOL_SIZE") {
            self.db_pool_size = parse_int("ORGANIZEO_DB_POOL_SIZE", &v, 1, 1000)? as u32;
        }
        if let Some(v) = get("ORGANIZEO_MIGRATE_ON_START") {
            self.migrate_on_start = parse_bool("ORGANIZEO_MIGRATE_ON_START", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ORGANIZEO_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ORGANIZEO_LOG_FORMAT") {
            self.log_format = parse_log_format("ORGANIZEO_LOG_FORMAT", &v)?;
        }
        if let Some(v) = get("ORGANIZEO_LOG") {
            self.log_level = v;
        }
        if let Some(v) = get("ORGANIZEO_MAX_BODY_BYTES") {
            self.max_body_bytes = parse_int("ORGANIZEO_MAX_BODY_BYTES", &v, 1024, 1 << 30)? as usize;
        }
        if let Some(v) = get("ORGANIZEO_SESSION_TTL_MINUTES") {
            self.session_ttl =
                Duration::from_secs(parse_int("ORGANIZEO_SESSION_TTL_MINUTES", &v, 1, 525_600)? as u64 * 60);
        }
        if let Some(v) = get("ORGANIZEO_WORKERS") {
            self.workers = parse_int("ORGANIZEO_WORKERS", &v, 1, 1024)? as usize;
        }
        if let Some(v) = get("ORGANIZEO_SHUTDOWN_TIMEOUT_SECONDS") {
            self.shutdown_timeout =
                Duration::from_secs(parse_int("ORGANIZEO_SHUTDOWN_TIMEOUT_SECONDS", &v, 0, 3600)? as u64);
        }
        Ok(())
    }

    /// Cross-setting rules, checked after every layer is applied.
    fn check(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(ConfigError::new("ORGANIZEO_TLS_KEY", "tls_cert is set but tls_key is not")),
            (None, Some(_)) => Err(ConfigError::new("ORGANIZEO_TLS_CERT", "tls_key is set but tls_cert is not")),
            _ => Ok(()),
        }?;
        if self.mode == Mode::Production && self.encryption_key.is_none() {
            return Err(ConfigError::new(
                "ORGANIZEO_ENCRYPTION_KEY",
                "required in production mode (KEY_ID:BASE64 of 32 random bytes)",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::new("ORGANIZEO_LOG", format!("invalid log filter: {e}")))?;
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&name, format!("cannot read: {e}")))?;
    // serde_path_to_error names the key whose value is wrong, not just the file.
    serde_path_to_error::deserialize(toml::Deserializer::new(&text)).map_err(|e| {
        let key = e.path().to_string();
        let message = e.into_inner().message().to_string();
        if key == "." {
            ConfigError::new(&name, message)
        } else {
            ConfigError::new(format!("{name}: {key}"), message)
        }
    })
}

fn parse_listen(setting: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| ConfigError::new(setting, format!("'{v}' is not an address:port such as 127.0.0.1:8080")))
}

fn parse_mode(setting: &str, v: &str) -> Result<Mode, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "development" | "dev" => Ok(Mode::Development),
        "production" | "prod" => Ok(Mode::Production),
        _ => Err(ConfigError::new(setting, format!("'{v}' is not development or production"))),
    }
}

/// Validates a key without ever echoing it back.
fn checked_key(setting: &str, v: &str) -> Result<Secret, ConfigError> {
    crate::security::crypto::parse_key(v).map_err(|m| ConfigError::new(setting, m))?;
    Ok(Secret::new(v.trim()))
}

fn checked_issuer(setting: &str, v: &str) -> Result<String, ConfigError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 64 || v.contains(':') {
        return Err(ConfigError::new(setting, "must be 1-64 characters without ':'"));
    }
    Ok(v.to_string())
}

fn parse_log_format(setting: &str, v: &str) -> Result<LogFormat, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::new(setting, format!("'{v}' is not text or json"))),
    }
}

fn parse_bool(setting: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(setting, format!("'{v}' is not true or false"))),
    }
}

/// `redis://` only (this build has no TLS client for Redis); the value may hold a password,
/// so it is kept as a [`Secret`] and never echoed in the error.
fn checked_redis_url(setting: &str, v: &str) -> Result<Secret, ConfigError> {
    match redis::parse_redis_url(v) {
        Some(url) if url.scheme() == "redis" => Ok(Secret::new(v)),
        _ => Err(ConfigError::new(setting, "must be a redis://HOST:PORT URL (rediss:// is not supported)")),
    }
}

fn parse_int(setting: &str, v: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n: i64 = v.trim().parse().map_err(|_| ConfigError::new(setting, format!("'{v}' is not a whole number")))?;
    in_range(setting, n, min, max)
}

fn in_range(setting: &str, n: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    if n < min || n > max {
        return Err(ConfigError::new(setting, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn env_overrides_defaults() {
        let s =
            Settings::load(None, &env_of(&[("ORGANIZEO_LISTEN", "0.0.0.0:9000"), ("ORGANIZEO_LOG_FORMAT", "json")]))
                .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Settings::load(None, &env_of(&[("ORGANIZEO_DB_POOL_SIZE", "zero")])).unwrap_err();
        assert_eq!(e.setting, "ORGANIZEO_DB_POOL_SIZE");
        let e = Settings::load(None, &env_of(&[("ORGANIZEO_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(e.setting, "ORGANIZEO_DATABASE_URL");
        let e = Settings::load(None, &env_of(&[("ORGANIZEO_TLS_CERT", "/x.pem")])).unwrap_err();
        assert_eq!(e.setting, "ORGANIZEO_TLS_KEY");
    }

    #[test]
    fn database_url_display_hides_password() {
        let u = DatabaseUrl::parse("postgres://app:s3cret@db:5432/org?sslmode=require&password=other").unwrap();
        let shown = u.to_string();
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(shown.starts_with("postgres://app:***@db:5432/org"), "{shown}");
    }
}
