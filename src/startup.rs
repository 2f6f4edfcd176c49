//! Builds the running server from [`Settings`]: migrations, the database pool, application
//! state, middleware, TLS, and the listening socket. Tests call [`Application::build`] with
//! port 0 and their own clock; `organizeo serve` calls it with the real one.

use std::io::BufReader;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::{ConfigError, Mode, Settings};
use crate::db::{self, Db};
use crate::http::{self, middleware, AppState};
use crate::metrics::Metrics;
use crate::realtime::{Realtime, RealtimeMetrics};
use crate::security::crypto::{self, Keyring};

/// Why the server could not start: a bad setting (exit code 2) or anything else (1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    realtime: Realtime,
    /// The job loops and limiter upkeep this node runs beside its server.
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
    /// The node's sending side: its campaigns are handed back when the server stops.
    campaigns: Arc<crate::campaigns::Engine>,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let tls = load_tls(&settings)?;
        // Bind first: a port already in use is a configuration error, reported before any work.
        let listener = TcpListener::bind(settings.listen).map_err(|e| {
            StartError::Config(ConfigError {
                setting: "ORGANIZEO_LISTEN".into(),
                message: format!("cannot listen on {}: {e}", settings.listen),
            })
        })?;
        if settings.migrate_on_start {
            let applied = db::migrate(&settings.database_url)?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), "applied migrations");
            }
        }
        let pool = Db::connect(&settings.database_url, settings.db_pool_size)?;
        let keyring = keyring(&settings)?;
        let active_setting = if settings.encryption_key.is_some() {
            "ORGANIZEO_ENCRYPTION_KEY"
        } else {
            "ORGANIZEO_ENCRYPTION_KEY_FILE"
        };
        crate::keys::check(&settings.database_url, &keyring, active_setting)?;
        let local = listener.local_addr().map_err(anyhow::Error::from)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            address = %format!("{scheme}://{local}"),
            database = %settings.database_url,
            version = env!("CARGO_PKG_VERSION"),
            "organizeo serving"
        );

        let metrics = Metrics::new()?;
        let realtime = Realtime::start(
            pool.clone(),
            clock.clone(),
            crate::realtime::Limits::from_settings(&settings),
            RealtimeMetrics::new(metrics.registry())?,
            pool.flag_table_now()?,
        );
        if let Some(url) = &settings.redis_url {
            realtime.join_cluster(url.expose())?;
        }
        // Every write of the server and its jobs announces its commits to the real-time
        // service, which reads the events from the outbox.
        let db = pool.with_commit_sink(realtime.commit_sink());
        // The node's background loops: they stop with its server (`run_until_stopped`).
        let mut tasks: Vec<actix_web::rt::task::JoinHandle<()>> = Vec::new();
        if settings.run_jobs {
            tasks.push(actix_web::rt::spawn(crate::jobs::purge_loop(
                db.clone(),
                clock.clone(),
                settings.purge_interval,
            )));
            tasks.push(actix_web::rt::spawn(crate::jobs::export_loop(
                db.clone(),
                clock.clone(),
                settings.export_dir.clone(),
                settings.tuning.jobs_interval,
            )));
            tasks.push(actix_web::rt::spawn(crate::jobs::import_loop(
                db.clone(),
                clock.clone(),
                settings.tuning.jobs_interval,
                settings.tuning.import_chunk_rows,
            )));
        }
        let smtp = match &settings.smtp_url {
            Some(url) => Some(crate::email::smtp::Pool::new(
                crate::email::smtp::parse_url(url.expose(), settings.smtp_pool_size).map_err(|message| {
                    StartError::Config(ConfigError { setting: "ORGANIZEO_SMTP_URL".into(), message })
                })?,
            )),
            None => None,
        };
        let campaigns = Arc::new(crate::campaigns::Engine {
            db: db.clone(),
            clock: clock.clone(),
            keyring: keyring.clone(),
            smtp,
            public_url: settings.public_url.clone(),
            lease: chrono::Duration::from_std(settings.campaign_lease).unwrap_or(chrono::Duration::seconds(60)),
            retry: chrono::Duration::from_std(settings.campaign_retry).unwrap_or(chrono::Duration::seconds(300)),
            owner: format!("node-{}", uuid::Uuid::new_v4()),
            wake: Arc::new(tokio::sync::Notify::new()),
            stop: tokio::sync::watch::Sender::new(false),
            actors: tokio::sync::watch::Sender::new(0),
        });
        let engine = campaigns.clone();
        if settings.run_jobs {
            tasks.push(actix_web::rt::spawn(crate::jobs::campaigns::runner_loop(
                campaigns.clone(),
                crate::realtime::campaign::Running::default(),
                settings.tuning.jobs_interval,
            )));
        }
        let inapp_wake = Arc::new(tokio::sync::Notify::new());
        if settings.run_jobs {
            tasks.push(actix_web::rt::spawn(crate::jobs::inapp_loop(
                db.clone(),
                clock.clone(),
                settings.tuning.jobs_interval,
                inapp_wake.clone(),
            )));
        }
        let inbox_limits = Arc::new(governor::RateLimiter::keyed(
            governor::Quota::per_second(
                std::num::NonZeroU32::new(http::inbox::PER_USER_RATE).unwrap_or(std::num::NonZeroU32::MIN),
            )
            .allow_burst(std::num::NonZeroU32::new(http::inbox::PER_USER_BURST).unwrap_or(std::num::NonZeroU32::MIN)),
        ));
        let backup_metrics = crate::backup::schedule::BackupMetrics::new(metrics.registry())?;
        if settings.run_jobs {
            let plan = crate::backup::schedule::Plan {
                url: settings.database_url.clone(),
                interval: settings.backup_interval,
                options: crate::backup::Options {
                    dir: settings.backup_dir.clone(),
                    keep: settings.backup_keep,
                    seal: settings.backup_encrypt.then(|| keyring.clone()),
                },
            };
            tasks.push(actix_web::rt::spawn(crate::jobs::backup_loop(
                db.clone(),
                clock.clone(),
                plan,
                backup_metrics,
                settings.tuning.jobs_interval,
            )));
        }
        let guard = http::rate_limit::Guard::new(&settings, metrics.registry())?;
        {
            let (guard, clock, inbox_limits) = (guard.clone(), clock.clone(), inbox_limits.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    inbox_limits.retain_recent();
                    guard.forget_idle(clock.now().timestamp().div_euclid(60));
                }
            }));
        }
        crate::web::check().map_err(|e| anyhow::anyhow!("web app: {e}"))?;
        let web_config = crate::web::Config::new(tls.is_some(), &settings.public_url);
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            db,
            clock,
            settings: settings.clone(),
            metrics,
            keyring,
            realtime: realtime.clone(),
            guard,
            campaigns,
            inapp_wake,
            inbox_limits,
            web: web_config,
        });
        let behind_tls = tls.is_some();
        let max_body = settings.max_body_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .configure(http::configure)
                .wrap(from_fn(http::idempotency::idempotency))
                .wrap(from_fn(http::rate_limit::rate_limit))
                .wrap(from_fn(middleware::refuse_nul))
                .wrap(middleware::problem_errors())
                .wrap(from_fn(http::inbox::cors))
                .wrap(middleware::security_headers(behind_tls))
                .wrap(from_fn(middleware::observe))
        })
        .workers(settings.workers)
        .shutdown_timeout(settings.shutdown_timeout.as_secs());
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .map_err(anyhow::Error::from)?
        .run();
        let shutdown_timeout = settings.shutdown_timeout;
        Ok(Self { port: local.port(), server, realtime, tasks, campaigns: engine, shutdown_timeout })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The real-time service (operators' tooling and tests reach tenant actors here).
    pub fn realtime(&self) -> Realtime {
        self.realtime.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish) or `handle().stop()`,
    /// then stops the node's background loops: a stopped node claims no more jobs (what it
    /// had claimed is leased, and the next node takes it over when the lease ends).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        // No runner claims anything now; the campaigns this node sends are handed back
        // (what was mailed recorded, what was claimed put back, the lease given up).
        let left = self.campaigns.hand_back_all(self.shutdown_timeout).await;
        if left > 0 {
            tracing::warn!(campaigns = left, "campaigns not handed back in time; their leases will run out");
        }
        served
    }
}

/// The field-encryption keyring: the configured key (and older ones), or in development
/// mode a key generated once and kept in `encryption_key_file` with mode 0600.
pub fn keyring(settings: &Settings) -> Result<Keyring, StartError> {
    let bad = |setting: &str, message: String| StartError::Config(ConfigError { setting: setting.into(), message });
    let older = settings
        .encryption_old_keys
        .iter()
        .map(|k| crypto::parse_key(k.expose()).map_err(|m| bad("ORGANIZEO_ENCRYPTION_OLD_KEYS", m)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(key) = &settings.encryption_key {
        let active = crypto::parse_key(key.expose()).map_err(|m| bad("ORGANIZEO_ENCRYPTION_KEY", m))?;
        return Ok(Keyring::new(active, older));
    }
    if settings.mode == Mode::Production {
        return Err(bad("ORGANIZEO_ENCRYPTION_KEY", "required in production mode".into()));
    }
    let path = &settings.encryption_key_file;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crypto::generate_key("dev")?;
            write_private(path, &key)
                .map_err(|e| bad("ORGANIZEO_ENCRYPTION_KEY_FILE", format!("cannot write {}: {e}", path.display())))?;
            tracing::warn!(
                path = %path.display(),
                "generated a development encryption key; set ORGANIZEO_ENCRYPTION_KEY in production"
            );
            key
        }
        Err(e) => return Err(bad("ORGANIZEO_ENCRYPTION_KEY_FILE", format!("cannot read {}: {e}", path.display()))),
    };
    let active = crypto::parse_key(&text).map_err(|m| bad("ORGANIZEO_ENCRYPTION_KEY_FILE", m))?;
    Ok(Keyring::new(active, older))
}

/// Creates a file readable by its owner only (0600), failing if it already exists.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// TLS 1.2 and 1.3 only (rustls supports nothing older), ring as the crypto provider.
fn load_tls(settings: &Settings) -> Result<Option<rustls::ServerConfig>, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let (Some(cert_path), Some(key_path)) = (&settings.tls_cert, &settings.tls_key) else {
        return Ok(None);
    };
    let bad = |setting: &str, message: String| ConfigError { setting: setting.to_string(), message };
    let cert_file = std::fs::File::open(cert_path)
        .map_err(|e| bad("ORGANIZEO_TLS_CERT", format!("cannot read {}: {e}", cert_path.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_reader_iter(BufReader::new(cert_file))
        .collect::<Result<_, _>>()
        .map_err(|e| bad("ORGANIZEO_TLS_CERT", format!("{}: not a PEM certificate chain: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(bad("ORGANIZEO_TLS_CERT", format!("{}: no certificate found", cert_path.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| bad("ORGANIZEO_TLS_KEY", format!("{}: not a PEM private key: {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad("ORGANIZEO_TLS_CERT", format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("ORGANIZEO_TLS_KEY", format!("certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}
