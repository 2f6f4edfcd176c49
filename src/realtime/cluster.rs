//! The cluster bus: with `ORGANIZEO_REDIS_URL`, every node publishes the new event heads of
//! its commits on one Redis channel and hands the heads other nodes published to its own
//! tenant actors, which read the events from the shared PostgreSQL outbox. Redis carries
//! only "portal P is now at seq N"; the events themselves, their order and any gap filling
//! come from the outbox, so a lost message can delay a frame but never reorder or lose it.
//!
//! If Redis goes away, each node keeps serving its own sessions (its own commits reach its
//! actors directly), reconnects with back-off, and on reconnecting re-reads the head of
//! every portal it has sessions for. While the bus is configured, tenant actors also
//! re-read their head every few seconds, which bounds the delay of a lost message.

use std::time::Duration;

use futures_util::StreamExt;
use prometheus::IntGauge;
use serde::{Deserialize, Serialize};

use super::{Inner, Realtime};

/// The channel every node publishes to and listens on.
pub const CHANNEL: &str = "organizeo:commits";

#[derive(Serialize, Deserialize)]
struct Announcement {
    node: String,
    heads: Vec<(String, i64)>,
    /// The feature flag table changed: re-read it.
    #[serde(default)]
    flags: bool,
}

/// What the publisher sends.
enum Outgoing {
    Heads(Vec<(String, i64)>),
    Flags,
}

/// The publishing side: commits are queued here and sent by one task.
#[derive(Clone)]
pub struct ClusterBus {
    node: String,
    tx: tokio::sync::mpsc::UnboundedSender<Outgoing>,
}

impl ClusterBus {
    /// Starts the publisher and subscriber tasks on the current runtime.
    pub fn start(url: &str, rt: &Realtime, connected: IntGauge) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("bad Redis URL: {e}"))?;
        let node = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        actix_web::rt::spawn(publish_loop(client.clone(), node.clone(), rx));
        actix_web::rt::spawn(subscribe_loop(client, node.clone(), std::sync::Arc::downgrade(&rt.inner), connected));
        Ok(Self { node, tx })
    }

    pub fn publish(&self, heads: &[(String, i64)]) {
        // The receiver lives as long as the runtime; a send error means it is shutting down.
        let _ = self.tx.send(Outgoing::Heads(heads.to_vec()));
    }

    /// Tells the other nodes the flag table changed.
    pub fn publish_flags(&self) {
        let _ = self.tx.send(Outgoing::Flags);
    }

    pub fn node(&self) -> &str {
        &self.node
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

async fn publish_loop(client: redis::Client, node: String, mut rx: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    while let Some(first) = rx.recv().await {
        // Coalesce what queued up meanwhile: only the newest head per portal matters.
        let (mut heads, mut flags) = (Vec::new(), false);
        let mut add = |o: Outgoing| match o {
            Outgoing::Heads(h) => heads.extend(h),
            Outgoing::Flags => flags = true,
        };
        add(first);
        while let Ok(more) = rx.try_recv() {
            add(more);
        }
        heads.sort();
        heads.reverse();
        heads.dedup_by(|a, b| a.0 == b.0);
        let Ok(payload) = serde_json::to_string(&Announcement { node: node.clone(), heads, flags }) else { continue };
        if conn.is_none() {
            conn = actix_web::rt::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(c) = conn.as_mut() else {
            // Redis is away: other nodes catch up by re-reading heads when it is back.
            continue;
        };
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(CHANNEL).arg(&payload).query_async(c).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "publishing to Redis failed; reconnecting on the next commit");
            conn = None;
        }
    }
}

/// Runs until the server that owns `rt` is gone.
async fn subscribe_loop(client: redis::Client, node: String, rt: std::sync::Weak<Inner>, connected: IntGauge) {
    let mut attempt = 0u32;
    let alive = || rt.upgrade().map(|inner| Realtime { inner });
    while alive().is_some() {
        let pubsub = actix_web::rt::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await;
        let mut pubsub = match pubsub {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, attempt, "cannot reach Redis; retrying");
                actix_web::rt::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            Err(_) => {
                tracing::warn!(attempt, "connecting to Redis timed out; retrying");
                attempt += 1;
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(CHANNEL).await {
            tracing::warn!(error = %e, "subscribing on Redis failed; retrying");
            actix_web::rt::time::sleep(backoff(attempt)).await;
            attempt += 1;
            continue;
        }
        attempt = 0;
        connected.set(1);
        tracing::info!("cluster bus connected");
        // Whatever other nodes committed while we were away: re-read every live portal's head.
        if let Some(rt) = alive() {
            rt.resync().await;
        }
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else { continue };
            let Some(rt) = alive() else { return };
            match serde_json::from_str::<Announcement>(&payload) {
                Ok(a) if a.node != node => {
                    rt.deliver_committed(&a.heads);
                    if a.flags {
                        actix_web::rt::spawn(async move {
                            if let Err(e) = rt.reload_flags().await {
                                tracing::warn!(error = %e, "re-reading the flag table failed");
                            }
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed cluster message"),
            }
        }
        connected.set(0);
        tracing::warn!("cluster bus lost its Redis connection; reconnecting");
        actix_web::rt::time::sleep(backoff(0)).await;
    }
}
