//! Configuration: built-in defaults, overridden by an optional `organizeo.toml`, overridden
//! by `ORGANIZEO_*` environment variables.
//!
//! Each setting is declared once, in `settings.rs` (its file key, environment variable,
//! default, parser with range and meaning); the struct, the defaults, both layers and the
//! `--help` table all come from that declaration. Every value is parsed once; a bad value
//! is a [`ConfigError`] naming the setting, and the CLI turns it into a one-line message
//! and exit code 2. This module must never log or print a secret: [`Secret`] and
//! [`DatabaseUrl`] redact themselves when displayed.

mod parse;
mod settings;

pub use settings::{Settings, SETTINGS};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub(crate) fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
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

/// One documented setting: its file key, its environment variable and what it means.
/// A token bucket: `rate` requests per second sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub rate: u32,
    pub burst: u32,
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.rate, self.burst)
    }
}

pub struct SettingDoc {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Tuning that is not configuration: timings and sizes tests and benchmarks adjust, with
/// defaults that suit production.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often idle job workers look for work.
    pub jobs_interval: Duration,
    /// Import rows applied per transaction.
    pub import_chunk_rows: usize,
    pub realtime: RealtimeTuning,
}

impl Default for Tuning {
    fn default() -> Self {
        Self { jobs_interval: Duration::from_secs(1), import_chunk_rows: 500, realtime: RealtimeTuning::default() }
    }
}

/// The real-time service's internal limits (the configurable ones are settings).
#[derive(Debug, Clone)]
pub struct RealtimeTuning {
    /// A websocket that sends nothing (not even a pong) for this long is closed; default
    /// three heartbeats.
    pub client_timeout: Option<Duration>,
    /// Frames waiting for one session before it is closed as a slow consumer.
    pub queue_frames: usize,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Client frames per second (sustained), and the burst allowed above it.
    pub client_rate: f64,
    pub client_burst: f64,
    /// Recent events each tenant actor keeps for resume.
    pub history: usize,
    /// The furthest back (in events) a `since` is replayed from the outbox.
    pub replay_max: i64,
    /// A tenant actor with no subscriber stops after this long.
    pub tenant_idle: Duration,
    /// Frames a tenant actor hands to sessions per turn before yielding its thread.
    pub fanout_slice: usize,
}

impl Default for RealtimeTuning {
    fn default() -> Self {
        Self {
            client_timeout: None,
            queue_frames: 1024,
            max_frame_bytes: 4096,
            client_rate: 10.0,
            client_burst: 20.0,
            history: 1000,
            replay_max: 10_000,
            tenant_idle: Duration::from_secs(60),
            fanout_slice: 20_000,
        }
    }
}

impl Settings {
    /// Loads defaults < file < environment. `file` is `--config`; without it
    /// `organizeo.toml` in the working directory is read if present.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let path = match file {
            Some(path) => Some(path),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Some(Path::new(DEFAULT_CONFIG_FILE)),
            None => None,
        };
        if let Some(path) = path {
            settings.apply_file(path)?;
        }
        for doc in SETTINGS {
            if let Some(v) = env(doc.env).filter(|v| !v.is_empty()) {
                settings.set(doc.key, &v).map_err(|m| ConfigError::new(doc.env, m))?;
            }
        }
        settings.check()?;
        Ok(settings)
    }

    /// Loads from the real process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, &|k| std::env::var(k).ok())
    }

    /// The file layer: every key optional, unknown keys refused (a typo must not pass
    /// silently). Values are read as text (numbers, booleans and lists of strings too) and
    /// go through the same parser as the environment's.
    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&name, format!("cannot read: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::new(&name, e.message()))?;
        for (key, value) in table {
            let at = format!("{name}: {key}");
            if !SETTINGS.iter().any(|d| d.key == key) {
                return Err(ConfigError::new(at, "unknown setting"));
            }
            let raw = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s),
                        _ => Err(ConfigError::new(&at, "expected a list of strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                other => return Err(ConfigError::new(at, format!("unexpected {}", other.type_str()))),
            };
            self.set(&key, &raw).map_err(|m| ConfigError::new(&at, m))?;
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
    fn every_default_is_what_its_help_line_says() {
        let defaults = Settings::default();
        for doc in SETTINGS {
            if doc.default.starts_with('(') {
                continue; // computed ("(cores)") or unset ("(none)")
            }
            let mut parsed = Settings::default();
            parsed.set(doc.key, doc.default).unwrap_or_else(|m| panic!("{}: {m}", doc.key));
            assert_eq!(format!("{:?}", parsed), format!("{:?}", defaults), "{}", doc.key);
        }
    }

    #[test]
    fn a_file_sets_values_of_any_toml_type_and_names_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.toml");
        std::fs::write(&path, "db_pool_size = 7\nrun_jobs = false\nlisten = \"0.0.0.0:9\"\n").unwrap();
        let s = Settings::load(Some(&path), &|_| None).unwrap();
        assert_eq!((s.db_pool_size, s.run_jobs, s.listen.port()), (7, false, 9));
        std::fs::write(&path, "db_pool_size = 0\n").unwrap();
        let e = Settings::load(Some(&path), &|_| None).unwrap_err();
        assert!(e.setting.ends_with(": db_pool_size"), "{}", e.setting);
        std::fs::write(&path, "db_pool_sise = 3\n").unwrap();
        let e = Settings::load(Some(&path), &|_| None).unwrap_err();
        assert!(e.setting.ends_with(": db_pool_sise") && e.message.contains("unknown"), "{e}");
    }

    #[test]
    fn database_url_display_hides_password() {
        let u = DatabaseUrl::parse("postgres://app:s3cret@db:5432/org?sslmode=require&password=other").unwrap();
        let shown = u.to_string();
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(shown.starts_with("postgres://app:***@db:5432/org"), "{shown}");
    }
}
