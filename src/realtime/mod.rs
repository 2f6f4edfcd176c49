//! Real-time push: the actors and the websocket. Everything that knows about actix actors
//! or websocket frames lives in this module (actix-web-actors is deprecated upstream; the
//! transport must be replaceable without touching the rest).
//!
//! ```text
//! PlatformSupervisor ── registry: DashMap<tenant id, Addr<TenantActor>>
//!    └─ TenantActor (one per portal with live sessions; idle ones stop)
//! SessionActor (one per websocket, on the HTTP worker that accepted it)
//! ```
//!
//! Event path: a write transaction commits its events to the outbox; `Db` then calls
//! [`Realtime::committed`] with the portal's new head; the portal's tenant actor (if it
//! has sessions) reads the new events from the outbox in `seq` order and fans them out.
//! Reading from the outbox, not from the writer, is what makes order, resume and (later)
//! other nodes' commits all the same path.
//!
//! This module never writes CRM data, and a session never waits on another session.

pub mod campaign;
pub mod cluster;
pub mod dashboard;
pub mod frames;
pub mod session;
pub mod supervisor;
pub mod tenant;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{CommitSink, Db};
use crate::domain::{ApiKeyId, SessionId, TenantId, UserId};
use crate::features::FlagTable;
use crate::identity::access::Revoked;
use supervisor::{Backoff, PlatformSupervisor, Spawn};
use tenant::{Audience, Committed, TenantActor};

/// Limits and timings of the real-time service.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How often the server pings each websocket.
    pub heartbeat: Duration,
    /// A websocket that sends nothing (not even a pong) for this long is closed.
    pub client_timeout: Duration,
    /// Frames waiting for one session before it is closed as a slow consumer.
    pub queue_frames: usize,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Client frames per second (sustained), and the burst allowed above it.
    pub client_rate: f64,
    pub client_burst: f64,
    /// Open websockets per user (or key) and per portal, on this node.
    pub per_user: usize,
    pub per_tenant: usize,
    /// Recent events each tenant actor keeps for resume.
    pub history: usize,
    /// The furthest back (in events) a `since` is replayed from the outbox.
    pub replay_max: i64,
    /// A tenant actor with no subscriber stops after this long.
    pub tenant_idle: Duration,
    /// Frames a tenant actor hands to sessions per turn before yielding its thread, so one
    /// portal's burst delays other portals' actors by at most one slice.
    pub fanout_slice: usize,
}

impl Limits {
    /// The configured limits (`realtime_*` settings) with the internal tuning.
    pub fn from_settings(settings: &Settings) -> Self {
        let t = &settings.tuning.realtime;
        Self {
            heartbeat: settings.realtime_heartbeat,
            client_timeout: t.client_timeout.unwrap_or(settings.realtime_heartbeat * 3),
            queue_frames: t.queue_frames,
            max_frame_bytes: t.max_frame_bytes,
            client_rate: t.client_rate,
            client_burst: t.client_burst,
            per_user: settings.realtime_max_connections_per_user,
            per_tenant: settings.realtime_max_connections_per_tenant,
            history: t.history,
            replay_max: t.replay_max,
            tenant_idle: t.tenant_idle,
            fanout_slice: t.fanout_slice,
        }
    }
}

/// Real-time metrics, registered with the server's Prometheus registry.
#[derive(Clone)]
pub struct RealtimeMetrics {
    pub connections: IntGauge,
    pub subscriptions: IntGauge,
    pub tenant_actors: IntGauge,
    pub tenant_restarts: IntCounter,
    /// 1 while the cluster bus is connected to Redis.
    pub cluster_connected: IntGauge,
    pub events_in: IntCounter,
    pub frames_out: IntCounter,
    /// Frames not delivered, and sessions closed, by reason.
    pub drops: IntCounterVec,
    pub closes: IntCounterVec,
    /// From the commit announcing events to their frames handed to every session.
    pub fanout_seconds: Histogram,
}

impl RealtimeMetrics {
    pub fn new(registry: &Registry) -> anyhow::Result<Self> {
        let m = Self {
            connections: IntGauge::new("ws_connections", "open websocket connections")?,
            subscriptions: IntGauge::new("ws_subscriptions", "topic subscriptions of open websockets")?,
            tenant_actors: IntGauge::new("realtime_tenant_actors", "running tenant actors")?,
            tenant_restarts: IntCounter::new(
                "realtime_tenant_restarts_total",
                "tenant actors restarted after a failure",
            )?,
            cluster_connected: IntGauge::new(
                "realtime_cluster_connected",
                "1 while connected to the Redis cluster bus",
            )?,
            events_in: IntCounter::new("realtime_events_in_total", "outbox events read by tenant actors")?,
            frames_out: IntCounter::new("realtime_frames_out_total", "frames handed to websocket sessions")?,
            drops: IntCounterVec::new(
                Opts::new("realtime_drops_total", "subscribers dropped, by reason (slow_consumer)"),
                &["reason"],
            )?,
            closes: IntCounterVec::new(
                Opts::new("ws_closes_total", "websockets closed by the server, by reason"),
                &["reason"],
            )?,
            fanout_seconds: Histogram::with_opts(
                HistogramOpts::new("realtime_fanout_seconds", "commit to frames handed to sessions")
                    .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
            )?,
        };
        registry.register(Box::new(m.connections.clone()))?;
        registry.register(Box::new(m.subscriptions.clone()))?;
        registry.register(Box::new(m.tenant_actors.clone()))?;
        registry.register(Box::new(m.tenant_restarts.clone()))?;
        registry.register(Box::new(m.cluster_connected.clone()))?;
        registry.register(Box::new(m.events_in.clone()))?;
        registry.register(Box::new(m.frames_out.clone()))?;
        registry.register(Box::new(m.drops.clone()))?;
        registry.register(Box::new(m.closes.clone()))?;
        registry.register(Box::new(m.fanout_seconds.clone()))?;
        Ok(m)
    }
}

/// Who is on the other end of a websocket.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant: TenantId,
    /// The user id, or the key id for an integration: what the per-user limit counts.
    pub subject: String,
    pub audience: Audience,
    /// The credential the connection was opened with: access revocations are matched
    /// against it, and it is checked again once the session has joined its portal.
    pub credential: Credential,
}

/// A connection's credential.
#[derive(Debug, Clone)]
pub enum Credential {
    Session {
        id: SessionId,
        user: UserId,
        expires_at: DateTime<Utc>,
        mfa_enabled: bool,
        digest: String,
    },
    Key {
        id: ApiKeyId,
        digest: String,
    },
    /// A platform staff member inside the portal through a Portal JITA grant.
    Jita {
        grant: String,
        expires_at: DateTime<Utc>,
        digest: String,
    },
    /// An end user of the portal's product (the in-app widget), vouched for by the
    /// portal's HMAC when the ticket was issued. Only the inbox topic is open to it.
    EndUser {
        user: String,
    },
}

impl Credential {
    /// Whether `revoked` ends this credential's access.
    pub fn is_revoked_by(&self, revoked: &Revoked) -> bool {
        match (self, revoked) {
            (Credential::Session { id, .. }, Revoked::Sessions { ids }) => ids.iter().any(|i| i == id.as_str()),
            (Credential::Session { user, .. }, Revoked::User { id }) => id == user.as_str(),
            (Credential::Session { mfa_enabled, .. }, Revoked::UsersWithoutMfa) => !mfa_enabled,
            (Credential::Key { id: key, .. }, Revoked::Key { id }) => id == key.as_str(),
            (Credential::Jita { grant, .. }, Revoked::Grant { id }) => id == grant,
            _ => false,
        }
    }

    /// When the credential stops working on its own (sign-in sessions expire).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Credential::Session { expires_at, .. } | Credential::Jita { expires_at, .. } => Some(*expires_at),
            Credential::Key { .. } | Credential::EndUser { .. } => None,
        }
    }
}

/// Starts an end user's inbox websocket (the in-app widget): a viewer that sees only its
/// own `inbox` frames, resuming after `since`.
pub fn end_user_session(
    rt: Realtime,
    tenant: TenantId,
    user: String,
    since: Option<i64>,
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<actix_web::HttpResponse, actix_web::Error> {
    let viewer = Viewer {
        subject: format!("end_user:{}:{user}", tenant.as_str()),
        tenant,
        audience: Audience { objects: Some(Vec::new()), user_id: None, end_user: Some(user.clone()) },
        credential: Credential::EndUser { user },
    };
    session::start_end_user(rt, viewer, since, req, payload)
}

pub(crate) struct Inner {
    db: Db,
    clock: Clock,
    limits: Limits,
    metrics: RealtimeMetrics,
    registry: DashMap<String, Addr<TenantActor>>,
    supervisor: Addr<PlatformSupervisor>,
    per_user: DashMap<String, usize>,
    per_tenant: DashMap<String, usize>,
    next_session: AtomicU64,
    bus: OnceLock<cluster::ClusterBus>,
    /// The feature flag table (the supervisor's): route guards and tenant actors ask it.
    flags: std::sync::RwLock<Arc<FlagTable>>,
}

/// The handle the rest of the server holds.
#[derive(Clone)]
pub struct Realtime {
    inner: Arc<Inner>,
}

/// The commit sink handed to `Db` (see [`Realtime::commit_sink`]).
struct Sink(Weak<Inner>);

impl CommitSink for Sink {
    fn committed(&self, heads: &[(TenantId, i64)]) {
        if let Some(inner) = self.0.upgrade() {
            let heads: Vec<(String, i64)> = heads.iter().map(|(t, h)| (t.as_str().to_string(), *h)).collect();
            Realtime { inner }.committed(&heads);
        }
    }
}

/// Why a websocket was refused after the upgrade.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    PerUser,
    PerTenant,
}

impl Realtime {
    /// Starts the supervisor on the current arbiter. `db` is for the service's own reads;
    /// give the server's write path [`Realtime::commit_sink`] so commits reach it.
    pub fn start(db: Db, clock: Clock, limits: Limits, metrics: RealtimeMetrics, flags: FlagTable) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            db,
            clock,
            limits,
            metrics,
            registry: DashMap::new(),
            supervisor: PlatformSupervisor::new(weak.clone()).start(),
            per_user: DashMap::new(),
            per_tenant: DashMap::new(),
            next_session: AtomicU64::new(1),
            bus: OnceLock::new(),
            flags: std::sync::RwLock::new(Arc::new(flags)),
        });
        Self { inner }
    }

    /// Where the database announces commits: it holds a weak reference, so the database
    /// never keeps this service alive.
    pub fn commit_sink(&self) -> Arc<dyn CommitSink> {
        Arc::new(Sink(Arc::downgrade(&self.inner)))
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub(crate) fn metrics(&self) -> &RealtimeMetrics {
        &self.inner.metrics
    }

    pub(crate) fn supervisor(&self) -> &Addr<PlatformSupervisor> {
        &self.inner.supervisor
    }

    /// Joins the Redis cluster bus (`ORGANIZEO_REDIS_URL`): commits here are announced to
    /// other nodes, and theirs reach the tenant actors here.
    pub fn join_cluster(&self, redis_url: &str) -> anyhow::Result<()> {
        let bus = cluster::ClusterBus::start(redis_url, self, self.inner.metrics.cluster_connected.clone())?;
        tracing::info!(node = bus.node(), "joining the cluster bus");
        self.inner.bus.set(bus).map_err(|_| anyhow::anyhow!("already joined the cluster bus"))
    }

    /// Whether commits of other nodes arrive through the bus (tenant actors then also
    /// re-read their head now and then, in case an announcement was lost).
    pub fn clustered(&self) -> bool {
        self.inner.bus.get().is_some()
    }

    /// Transactions on this node committed events: wake the local tenant actors and tell
    /// the other nodes.
    pub fn committed(&self, heads: &[(String, i64)]) {
        self.deliver_committed(heads);
        if let Some(bus) = self.inner.bus.get() {
            bus.publish(heads);
        }
    }

    /// The feature flag table as this node knows it.
    pub fn flags(&self) -> Arc<FlagTable> {
        match self.inner.flags.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the flag table and tells every tenant actor here (a change on this node,
    /// announced by another, or the bus reconnecting).
    pub async fn reload_flags(&self) -> Result<(), crate::error::AppError> {
        let table = self.inner.db.read(|p| Ok(p.flag_table()?)).await?;
        match self.inner.flags.write() {
            Ok(mut t) => *t = Arc::new(table),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(table),
        }
        for entry in self.inner.registry.iter() {
            entry.value().do_send(tenant::FlagsChanged);
        }
        Ok(())
    }

    /// A flag changed here (its transaction committed): apply it on this node now and
    /// tell the other nodes.
    pub async fn flags_changed(&self) -> Result<(), crate::error::AppError> {
        self.reload_flags().await?;
        if let Some(bus) = self.inner.bus.get() {
            bus.publish_flags();
        }
        Ok(())
    }

    /// Re-reads the head of every portal with a tenant actor here (after the bus was away).
    pub async fn resync(&self) {
        if let Err(e) = self.reload_flags().await {
            tracing::warn!(error = %e, "re-reading the flag table failed");
        }
        let tenants: Vec<String> = self.inner.registry.iter().map(|e| e.key().clone()).collect();
        for tenant in tenants {
            let id = TenantId::from_db(tenant.clone());
            let head = self.inner.db.tenant(id).read(|t| Ok(t.event_head()?)).await;
            match head {
                Ok(head) => self.deliver_committed(&[(tenant, head)]),
                Err(e) => tracing::warn!(error = %e, "re-reading a portal's event head failed"),
            }
        }
    }

    /// Commits (from this node or announced by another): wake the tenant actors that have
    /// sessions here.
    pub fn deliver_committed(&self, heads: &[(String, i64)]) {
        let at = Instant::now();
        for (tenant, head) in heads {
            if let Some(addr) = self.inner.registry.get(tenant) {
                addr.do_send(Committed { head: *head, at });
            }
        }
    }

    /// The running tenant actor of a portal, started if needed.
    pub async fn tenant_actor(&self, tenant: &TenantId) -> Option<Addr<TenantActor>> {
        if let Some(addr) = self.inner.registry.get(tenant.as_str()).map(|a| a.clone()) {
            if addr.connected() {
                return Some(addr);
            }
        }
        self.inner.supervisor.send(Spawn { tenant: tenant.clone() }).await.ok().flatten()
    }

    /// How long to wait before re-subscribing to a portal whose actor just failed.
    pub(crate) async fn backoff(&self, tenant: &TenantId) -> Duration {
        self.inner.supervisor.send(Backoff { tenant: tenant.clone() }).await.unwrap_or(Duration::from_secs(1))
    }

    /// Removes a stopping tenant actor from the registry, unless another one replaced it.
    pub(crate) fn forget_tenant(&self, tenant: &TenantId, addr: &Addr<TenantActor>) {
        self.inner.registry.remove_if(tenant.as_str(), |_, a| a == addr);
    }

    /// Whether a tenant actor is running for the portal (tests and metrics).
    pub fn has_tenant_actor(&self, tenant: &TenantId) -> bool {
        self.inner.registry.get(tenant.as_str()).is_some_and(|a| a.connected())
    }

    /// Makes the portal's tenant actor fail (operators shed a wedged portal; tests prove
    /// the restart path).
    pub fn fail_tenant_actor(&self, tenant: &TenantId) -> bool {
        match self.inner.registry.get(tenant.as_str()) {
            Some(addr) => {
                addr.do_send(tenant::Fail);
                true
            }
            None => false,
        }
    }

    /// Counts a new connection against the per-user and per-portal limits.
    pub(crate) fn admit(&self, viewer: &Viewer) -> Result<(), Refusal> {
        let limits = &self.inner.limits;
        let mut tenant = self.inner.per_tenant.entry(viewer.tenant.as_str().to_string()).or_insert(0);
        if *tenant >= limits.per_tenant {
            return Err(Refusal::PerTenant);
        }
        let mut user = self.inner.per_user.entry(viewer.subject.clone()).or_insert(0);
        if *user >= limits.per_user {
            return Err(Refusal::PerUser);
        }
        *user += 1;
        *tenant += 1;
        Ok(())
    }

    /// Gives back what [`Realtime::admit`] counted.
    pub(crate) fn release(&self, viewer: &Viewer) {
        let dec = |map: &DashMap<String, usize>, key: &str| {
            map.remove_if_mut(key, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        };
        dec(&self.inner.per_user, &viewer.subject);
        dec(&self.inner.per_tenant, viewer.tenant.as_str());
    }

    pub(crate) fn next_session_id(&self) -> u64 {
        self.inner.next_session.fetch_add(1, Ordering::Relaxed)
    }
}
