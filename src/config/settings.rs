//! Every setting, declared once. A declaration names the struct field, the TOML file key,
//! the environment variable, the default (as `--help` shows it, and as the value), the
//! parser (with its range) and, in its doc comment, what it means. `settings!` turns the
//! list into the `Settings` struct, its `Default`, the `--help` table ([`SETTINGS`]) and
//! the one `set(key, text)` both layers use. Adding a setting is adding a declaration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::parse;
use super::{DatabaseUrl, LogFormat, Mode, RateLimit, Secret, SettingDoc, Tuning};

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty {
            key: $key:literal,
            env: $env:literal,
            default: $shown:literal => $default:expr,
            parse: $parse:expr $(,)?
        }
    )*) => {
        /// The whole, validated configuration of one `organizeo` process.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
            /// Not configuration: internal timings and sizes that tests and benchmarks adjust.
            pub tuning: Tuning,
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $( $field: $default, )* tuning: Tuning::default() }
            }
        }

        /// The configuration table shown by `--help` and kept in step with the README.
        pub const SETTINGS: &[SettingDoc] = &[
            $( SettingDoc { key: $key, env: $env, default: $shown, meaning: concat!($($doc),+) }, )*
        ];

        impl Settings {
            /// Sets one setting, by file key, from text.
            pub(super) fn set(&mut self, key: &str, raw: &str) -> Result<(), String> {
                match key {
                    $( $key => {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        self.$field = parse(raw)?;
                    } )*
                    _ => return Err("unknown setting".into()),
                }
                Ok(())
            }
        }
    };
}

settings! {
    /// development or production (production requires ORGANIZEO_ENCRYPTION_KEY)
    mode: Mode {
        key: "mode", env: "ORGANIZEO_MODE",
        default: "development" => Mode::Development,
        parse: parse::mode,
    }
    /// address and port to serve on
    listen: SocketAddr {
        key: "listen", env: "ORGANIZEO_LISTEN",
        default: "127.0.0.1:8080" => SocketAddr::from(([127, 0, 0, 1], 8080)),
        parse: parse::listen,
    }
    /// sqlite://PATH (embedded) or postgres://USER@HOST/DB
    database_url: DatabaseUrl {
        key: "database_url", env: "ORGANIZEO_DATABASE_URL",
        default: "sqlite://./data/organizeo.db" => DatabaseUrl::Sqlite(PathBuf::from("./data/organizeo.db")),
        parse: parse::database_url,
    }
    /// database connections kept open (1-1000)
    db_pool_size: u32 {
        key: "db_pool_size", env: "ORGANIZEO_DB_POOL_SIZE",
        default: "10" => 10,
        parse: |v| parse::int(v, 1, 1000).map(|n| n as u32),
    }
    /// apply pending migrations when `serve` starts
    migrate_on_start: bool {
        key: "migrate_on_start", env: "ORGANIZEO_MIGRATE_ON_START",
        default: "true" => true,
        parse: parse::boolean,
    }
    /// PEM certificate chain; with tls_key serves HTTPS (TLS 1.2/1.3)
    tls_cert: Option<PathBuf> {
        key: "tls_cert", env: "ORGANIZEO_TLS_CERT",
        default: "(none)" => None,
        parse: parse::optional_path,
    }
    /// PEM private key for tls_cert
    tls_key: Option<PathBuf> {
        key: "tls_key", env: "ORGANIZEO_TLS_KEY",
        default: "(none)" => None,
        parse: parse::optional_path,
    }
    /// text or json
    log_format: LogFormat {
        key: "log_format", env: "ORGANIZEO_LOG_FORMAT",
        default: "text" => LogFormat::Text,
        parse: parse::log_format,
    }
    /// tracing filter, e.g. info or organizeo=debug
    log_level: String {
        key: "log_level", env: "ORGANIZEO_LOG",
        default: "info" => "info".into(),
        parse: parse::text,
    }
    /// largest request body accepted (413 beyond)
    max_body_bytes: usize {
        key: "max_body_bytes", env: "ORGANIZEO_MAX_BODY_BYTES",
        default: "1048576" => 1024 * 1024,
        parse: |v| parse::count(v, 1024, 1 << 30),
    }
    /// lifetime of a sign-in token
    session_ttl: Duration {
        key: "session_ttl_minutes", env: "ORGANIZEO_SESSION_TTL_MINUTES",
        default: "720" => Duration::from_secs(12 * 3600),
        parse: |v| parse::minutes(v, 1, 525_600),
    }
    /// HTTP worker threads
    workers: usize {
        key: "workers", env: "ORGANIZEO_WORKERS",
        default: "(cores)" => parse::cores(),
        parse: |v| parse::count(v, 1, 1024),
    }
    /// grace period on SIGTERM/SIGINT for in-flight requests, then for campaign hand-back
    shutdown_timeout: Duration {
        key: "shutdown_timeout_seconds", env: "ORGANIZEO_SHUTDOWN_TIMEOUT_SECONDS",
        default: "30" => Duration::from_secs(30),
        parse: |v| parse::seconds(v, 0, 3600),
    }
    /// active AES-256-GCM key for data at rest, KEY_ID:BASE64 of 32 bytes
    encryption_key: Option<Secret> {
        key: "encryption_key", env: "ORGANIZEO_ENCRYPTION_KEY",
        default: "(generated in development)" => None,
        parse: parse::optional_key,
    }
    /// comma-separated older KEY_ID:BASE64 keys, kept to decrypt after a rotation
    encryption_old_keys: Vec<Secret> {
        key: "encryption_old_keys", env: "ORGANIZEO_ENCRYPTION_OLD_KEYS",
        default: "(none)" => Vec::new(),
        parse: parse::keys,
    }
    /// development only: where a generated key is kept (mode 0600)
    encryption_key_file: PathBuf {
        key: "encryption_key_file", env: "ORGANIZEO_ENCRYPTION_KEY_FILE",
        default: "./data/encryption.key" => PathBuf::from("./data/encryption.key"),
        parse: parse::path,
    }
    /// name shown in authenticator apps
    totp_issuer: String {
        key: "totp_issuer", env: "ORGANIZEO_TOTP_ISSUER",
        default: "Organizeo" => "Organizeo".into(),
        parse: parse::issuer,
    }
    /// run background jobs (imports, trash purge) in this process
    run_jobs: bool {
        key: "run_jobs", env: "ORGANIZEO_RUN_JOBS",
        default: "true" => true,
        parse: parse::boolean,
    }
    /// how often items past their 30 days in the trash are deleted for good
    purge_interval: Duration {
        key: "purge_interval_seconds", env: "ORGANIZEO_PURGE_INTERVAL_SECONDS",
        default: "60" => Duration::from_secs(60),
        parse: |v| parse::seconds(v, 1, 86_400),
    }
    /// directory for backup files and their manifests (created if missing)
    backup_dir: PathBuf {
        key: "backup_dir", env: "ORGANIZEO_BACKUP_DIR",
        default: "./data/backups" => PathBuf::from("./data/backups"),
        parse: parse::path,
    }
    /// hours between scheduled backups taken by `serve` (one node per slot); 0 turns the schedule off
    backup_interval: Option<Duration> {
        key: "backup_interval_hours", env: "ORGANIZEO_BACKUP_INTERVAL_HOURS",
        default: "24" => Some(Duration::from_secs(24 * 3600)),
        parse: |v| parse::int(v, 0, 8760).map(|h| (h > 0).then(|| Duration::from_secs(h as u64 * 3600))),
    }
    /// backups kept; `backup create` and the schedule delete older ones
    backup_keep: usize {
        key: "backup_keep", env: "ORGANIZEO_BACKUP_KEEP",
        default: "7" => 7,
        parse: |v| parse::count(v, 1, 10_000),
    }
    /// seal backup files with the active encryption key (AES-256-GCM); keep the keys safe apart from the backups
    backup_encrypt: bool {
        key: "backup_encrypt", env: "ORGANIZEO_BACKUP_ENCRYPT",
        default: "true" => true,
        parse: parse::boolean,
    }
    /// directory where portal export archives are built and kept for download
    export_dir: PathBuf {
        key: "export_dir", env: "ORGANIZEO_EXPORT_DIR",
        default: "./data/exports" => PathBuf::from("./data/exports"),
        parse: parse::path,
    }
    /// redis://[:PASSWORD@]HOST:PORT — several nodes sharing PostgreSQL push each other's events
    redis_url: Option<Secret> {
        key: "redis_url", env: "ORGANIZEO_REDIS_URL",
        default: "(none: one node)" => None,
        parse: parse::redis_url,
    }
    /// smtp://[USER:PASS@]HOST:PORT, smtps://… (implicit TLS) or smtp://…?tls=starttls — the relay campaigns send through
    smtp_url: Option<Secret> {
        key: "smtp_url", env: "ORGANIZEO_SMTP_URL",
        default: "(none: sending is refused)" => None,
        parse: parse::smtp_url,
    }
    /// SMTP connections this node keeps open at most, shared by every campaign (1-1000)
    smtp_pool_size: usize {
        key: "smtp_pool_size", env: "ORGANIZEO_SMTP_POOL_SIZE",
        default: "4" => 4,
        parse: |v| parse::count(v, 1, 1000),
    }
    /// the public base URL of this server: unsubscribe, tracking and widget links start with it
    public_url: String {
        key: "public_url", env: "ORGANIZEO_PUBLIC_URL",
        default: "http://127.0.0.1:8080" => "http://127.0.0.1:8080".into(),
        parse: parse::public_url,
    }
    /// how long a node holds a sending campaign (and a claimed recipient) before another node may take over
    campaign_lease: Duration {
        key: "campaign_lease_seconds", env: "ORGANIZEO_CAMPAIGN_LEASE_SECONDS",
        default: "60" => Duration::from_secs(60),
        parse: |v| parse::seconds(v, 1, 3600),
    }
    /// first wait before a recipient deferred with an SMTP 4xx is retried (doubled for the next; 3 attempts)
    campaign_retry: Duration {
        key: "campaign_retry_seconds", env: "ORGANIZEO_CAMPAIGN_RETRY_SECONDS",
        default: "300" => Duration::from_secs(300),
        parse: |v| parse::seconds(v, 0, 86_400),
    }
    /// requests per second from one IP address, RATE:BURST, or off (429 beyond)
    rate_limit_per_ip: Option<RateLimit> {
        key: "rate_limit_per_ip", env: "ORGANIZEO_RATE_LIMIT_PER_IP",
        default: "10000:20000" => Some(RateLimit { rate: 10_000, burst: 20_000 }),
        parse: parse::rate_limit,
    }
    /// requests per second with one sign-in token or key, RATE:BURST, or off (429 beyond)
    rate_limit_per_credential: Option<RateLimit> {
        key: "rate_limit_per_credential", env: "ORGANIZEO_RATE_LIMIT_PER_CREDENTIAL",
        default: "10000:20000" => Some(RateLimit { rate: 10_000, burst: 20_000 }),
        parse: parse::rate_limit,
    }
    /// requests per second to one portal, all its credentials together, RATE:BURST, or off
    rate_limit_per_tenant: Option<RateLimit> {
        key: "rate_limit_per_tenant", env: "ORGANIZEO_RATE_LIMIT_PER_TENANT",
        default: "20000:40000" => Some(RateLimit { rate: 20_000, burst: 40_000 }),
        parse: parse::rate_limit,
    }
    /// 401/403/404 answers to one credential (or IP) within a minute that mark it as probing
    abuse_errors_per_minute: u32 {
        key: "abuse_errors_per_minute", env: "ORGANIZEO_ABUSE_ERRORS_PER_MINUTE",
        default: "60" => 60,
        parse: |v| parse::int(v, 1, 1_000_000).map(|n| n as u32),
    }
    /// record reads in a minute above this many times a credential's usual rate mark it as scraping
    abuse_read_factor: u32 {
        key: "abuse_read_factor", env: "ORGANIZEO_ABUSE_READ_FACTOR",
        default: "20" => 20,
        parse: |v| parse::int(v, 2, 100_000).map(|n| n as u32),
    }
    /// record reads in a minute below which a credential is never marked as scraping
    abuse_read_floor: u32 {
        key: "abuse_read_floor", env: "ORGANIZEO_ABUSE_READ_FLOOR",
        default: "1000" => 1000,
        parse: |v| parse::int(v, 1, 100_000_000).map(|n| n as u32),
    }
    /// different portals one staff member may ask to enter within an hour; one more raises staff.risk_alert
    jita_max_portals_per_hour: u32 {
        key: "jita_max_portals_per_hour", env: "ORGANIZEO_JITA_MAX_PORTALS_PER_HOUR",
        default: "5" => 5,
        parse: |v| parse::int(v, 1, 10_000).map(|n| n as u32),
    }
    /// refused requests (high-risk routes) under one JITA grant that suspend it
    jita_max_refusals: u32 {
        key: "jita_max_refusals", env: "ORGANIZEO_JITA_MAX_REFUSALS",
        default: "3" => 3,
        parse: |v| parse::int(v, 1, 10_000).map(|n| n as u32),
    }
    /// requests per hour of a JITA grant's life beyond which it is suspended as unusual volume
    jita_max_requests_per_hour: u32 {
        key: "jita_max_requests_per_hour", env: "ORGANIZEO_JITA_MAX_REQUESTS_PER_HOUR",
        default: "2000" => 2000,
        parse: |v| parse::int(v, 1, 100_000_000).map(|n| n as u32),
    }
    /// reverse proxies (comma-separated IPs) whose X-Forwarded-For names the client
    trusted_proxies: Vec<std::net::IpAddr> {
        key: "trusted_proxies", env: "ORGANIZEO_TRUSTED_PROXIES",
        default: "(none)" => Vec::new(),
        parse: parse::ip_list,
    }
    /// websocket ping interval; a client silent for 3 intervals is closed (4000)
    realtime_heartbeat: Duration {
        key: "realtime_heartbeat_seconds", env: "ORGANIZEO_REALTIME_HEARTBEAT_SECONDS",
        default: "15" => Duration::from_secs(15),
        parse: |v| parse::seconds(v, 1, 3600),
    }
    /// open websockets per person or key on this node (4029 beyond)
    realtime_max_connections_per_user: usize {
        key: "realtime_max_connections_per_user", env: "ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER",
        default: "20" => 20,
        parse: |v| parse::count(v, 1, 1_000_000),
    }
    /// open websockets per portal on this node (4029 beyond)
    realtime_max_connections_per_tenant: usize {
        key: "realtime_max_connections_per_tenant", env: "ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT",
        default: "20000" => 20_000,
        parse: |v| parse::count(v, 1, 10_000_000),
    }
}
