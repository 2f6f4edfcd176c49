//! `TenantActor`: one per portal with live sessions. It reads the portal's committed events
//! from the outbox in `seq` order, keeps the most recent ones for resume, keeps the
//! dashboard counters, and fans each event out to the subscribed sessions: the frame is
//! built once and the same bytes go to every session.
//!
//! It never blocks: database reads run on the blocking pool and come back as actor
//! futures; a session that cannot take a frame (its bounded mailbox is full) is told to
//! close as a slow consumer instead of being waited for. It stops itself when it has had
//! no subscriber for a while, and reports a failure (a database error) to the supervisor,
//! which starts a fresh one; its sessions then re-subscribe from their last `seq`.

//!
//! - `mod.rs`: the actor, its lifecycle and the outbox reader;
//! - `fanout.rs`: what a subscriber may see and handing frames to sessions;
//! - `dashboard.rs`: the live counters;
//! - `subscriptions.rs`: subscribe with resume, unsubscribe.
//!
//! The messages it sends ([`Push`], [`SessionCommand`], [`TenantStopped`]) are defined
//! here, beside those it receives: sessions and the supervisor depend on this module,
//! never the other way round.

mod dashboard;
mod fanout;
mod subscriptions;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use serde_json::Value;

pub use fanout::{frames_for, Audience};
use fanout::{Delivered, Subscriber};
pub use subscriptions::{CatchUp, Subscribe, SubscribeReply, Unsubscribe};

use super::frames::Topic;
use super::Realtime;
use crate::db::events::EventRow;
use crate::domain::TenantId;

/// Events read from the outbox per query, and so the largest burst a session's queue sees
/// at once (well below the default queue of 1,024 frames: a healthy session drains while
/// the next batch is read).
const FETCH_BATCH: i64 = 256;

/// A frame for a session, from its tenant actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Push {
    pub topic: Topic,
    pub seq: i64,
    pub bytes: ByteString,
    /// A second frame of the same event, sent right after (an inbox message is followed by
    /// the counts it leaves).
    pub more: Option<ByteString>,
}

/// What a tenant actor tells a session outside the frame stream.
#[derive(Message)]
#[rtype(result = "()")]
pub enum SessionCommand {
    /// The session could not keep up and has been dropped: close it.
    SlowConsumer,
    /// The tenant actor stopped (failure): subscribe again from the last `seq`.
    TenantRestarted,
    /// The credential behind the session lost its access here: close it (4003, `reason`).
    AccessRevoked { reason: &'static str },
    /// A feature flag turned off for this portal: the topic's subscription has ended.
    TopicClosed { topic: Topic, feature: &'static str },
}

/// The flag table changed (this node, or another through the bus): recompute the portal's
/// disabled set and end subscriptions to topics whose feature is now off.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlagsChanged;

/// Told to the supervisor when a tenant actor stops (`failed`: it should be restarted
/// when its sessions come back, after a back-off).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TenantStopped {
    pub tenant: TenantId,
    pub failed: bool,
}

pub struct TenantActor {
    tenant: TenantId,
    rt: Realtime,
    /// The last seq fanned out.
    delivered: i64,
    /// The highest head announced by a commit.
    wanted: i64,
    /// When the oldest undelivered announcement arrived (fan-out latency).
    announced_at: Option<Instant>,
    fetching: bool,
    /// Fetched events not fanned out yet (a burst being delivered slice by slice).
    backlog: VecDeque<EventRow>,
    history: VecDeque<Delivered>,
    subscribers: HashMap<u64, Subscriber>,
    /// End-user sessions by end-user id, so an in-app batch finds its connected
    /// recipients without walking every subscriber.
    end_users: HashMap<String, Vec<u64>>,
    dashboard: Option<Value>,
    dashboard_dirty: bool,
    dashboard_running: bool,
    idle_since: Instant,
    failed: bool,
    /// The gated features that are off for this portal (from the supervisor's flag table).
    disabled: std::collections::HashSet<String>,
}

impl TenantActor {
    pub fn new(tenant: TenantId, rt: Realtime) -> Self {
        let disabled = rt.flags().disabled_for(tenant.as_str());
        Self {
            disabled,
            tenant,
            rt,
            delivered: 0,
            wanted: 0,
            announced_at: None,
            fetching: false,
            backlog: VecDeque::new(),
            history: VecDeque::new(),
            subscribers: HashMap::new(),
            end_users: HashMap::new(),
            dashboard: None,
            dashboard_dirty: false,
            dashboard_running: false,
            idle_since: Instant::now(),
            failed: false,
        }
    }

    fn fail(&mut self, ctx: &mut Context<Self>, what: &str, e: impl std::fmt::Display) {
        tracing::error!(tenant = %self.tenant.as_str(), error = %e, "{what}; restarting the tenant actor");
        self.failed = true;
        ctx.stop();
    }

    /// Reads the next events after `delivered` if a commit announced some.
    fn fetch(&mut self, ctx: &mut Context<Self>) {
        if self.fetching || !self.backlog.is_empty() || self.wanted <= self.delivered {
            return;
        }
        self.fetching = true;
        let (db, tenant, after) = (self.rt.db().clone(), self.tenant.clone(), self.delivered);
        let read =
            async move { db.tenant(tenant.clone()).read(move |t| Ok(t.events_after(after, FETCH_BATCH)?)).await };
        ctx.spawn(read.into_actor(self).map(|rows, act, ctx| {
            act.fetching = false;
            match rows {
                Ok(rows) if rows.is_empty() => act.wanted = act.delivered,
                Ok(rows) => {
                    act.backlog.extend(rows);
                    act.pump(ctx);
                }
                Err(e) => act.fail(ctx, "reading the outbox failed", e),
            }
        }));
    }

    /// Reads the portal's head from the database and fetches if it moved.
    fn poll_head(&mut self, ctx: &mut Context<Self>) {
        let (db, tenant) = (self.rt.db().clone(), self.tenant.clone());
        let head = async move { db.tenant(tenant.clone()).read(move |t| Ok(t.event_head()?)).await };
        ctx.spawn(head.into_actor(self).map(|head, act, ctx| match head {
            Ok(head) if head > act.wanted => {
                act.wanted = head;
                act.announced_at.get_or_insert_with(Instant::now);
                act.fetch(ctx);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "re-reading the event head failed"),
        }));
    }

    /// Fans out the backlog, one slice per turn, then reads on.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let metrics = self.rt.metrics().clone();
        let mut dashboard_touched = false;
        let mut budget = self.rt.limits().fanout_slice;
        while let Some(e) = self.backlog.pop_front() {
            if budget == 0 {
                self.backlog.push_front(e);
                break;
            }
            budget = budget.saturating_sub(self.subscribers.len().max(1));
            if e.seq <= self.delivered {
                continue;
            }
            metrics.events_in.inc();
            if e.object == crate::identity::access::OBJECT {
                self.revoke(&e);
                self.delivered = e.seq;
                continue;
            }
            if e.event_type.ends_with(".erased") {
                // Erasure on request: the frames kept for resume may quote the person. The
                // outbox now holds tombstones, so resumes read it instead.
                self.history.clear();
            }
            let d = Delivered::of(&e);
            dashboard_touched |= matches!(d.object.as_str(), "contact" | "deal" | "ticket" | "task");
            self.fan_out(&d);
            self.delivered = d.seq;
            self.history.push_back(d);
            while self.history.len() > self.rt.limits().history {
                self.history.pop_front();
            }
        }
        if self.delivered >= self.wanted {
            if let Some(at) = self.announced_at.take() {
                metrics.fanout_seconds.observe(at.elapsed().as_secs_f64());
            }
        }
        if dashboard_touched {
            self.dashboard_dirty = true;
            self.refresh_dashboard(ctx);
        }
        if self.backlog.is_empty() {
            self.fetch(ctx);
        } else {
            // Yield the thread (a timer, not a message, so other actors run first).
            ctx.run_later(Duration::ZERO, |act, ctx| act.pump(ctx));
        }
    }

    fn note_subscriptions(&mut self) {
        if self.subscribers.is_empty() {
            self.idle_since = Instant::now();
        }
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rt.metrics().tenant_actors.inc();
        // Start from the current head: new sessions get what happens from now on, and
        // `since` reaches back through the outbox. Nothing else runs until it is known.
        let (db, tenant) = (self.rt.db().clone(), self.tenant.clone());
        let head = async move { db.tenant(tenant.clone()).read(move |t| Ok(t.event_head()?)).await };
        ctx.wait(head.into_actor(self).map(|head, act, ctx| match head {
            Ok(head) => {
                act.delivered = head.max(act.delivered);
                act.wanted = act.wanted.max(act.delivered);
                act.fetch(ctx);
            }
            Err(e) => act.fail(ctx, "reading the event head failed", e),
        }));
        let idle = self.rt.limits().tenant_idle;
        ctx.run_interval(idle.min(Duration::from_secs(60)) / 2 + Duration::from_millis(10), move |act, ctx| {
            if act.subscribers.is_empty() && act.idle_since.elapsed() >= idle {
                ctx.stop();
            }
        });
        if self.rt.clustered() {
            // A lost bus announcement delays frames by at most this long.
            ctx.run_interval(Duration::from_secs(2), |act, ctx| act.poll_head(ctx));
        }
        // "New today" and "due" move with the clock even without events.
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            act.dashboard_dirty = true;
            act.refresh_dashboard(ctx);
        });
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        // Leave the registry first, so nobody new reaches a stopping actor.
        self.rt.forget_tenant(&self.tenant, &ctx.address());
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.rt.metrics().tenant_actors.dec();
        for sub in self.subscribers.values() {
            self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
            sub.control.do_send(SessionCommand::TenantRestarted);
        }
        self.rt.supervisor().do_send(TenantStopped { tenant: self.tenant.clone(), failed: self.failed });
    }
}

/// New events were committed for this portal, up to `head`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Committed {
    pub head: i64,
    pub at: Instant,
}

impl Handler<Committed> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Committed, ctx: &mut Context<Self>) {
        if msg.head > self.wanted {
            self.wanted = msg.head;
            self.announced_at.get_or_insert(msg.at);
        }
        self.fetch(ctx);
    }
}

/// Stops the actor as if it had failed (used by the failure test and by operators'
/// tooling to shed a wedged portal); the supervisor starts a fresh one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fail;

impl Handler<Fail> for TenantActor {
    type Result = ();

    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        self.fail(ctx, "failure requested", "Fail message");
    }
}

impl TenantActor {
    /// Whether this portal may subscribe to `topic` now; the gating flag's key if not.
    pub(super) fn topic_gate(&self, topic: Topic) -> Option<&'static str> {
        crate::features::gate_for_topic(topic.name()).filter(|key| self.disabled.contains(*key))
    }
}

impl Handler<FlagsChanged> for TenantActor {
    type Result = ();

    fn handle(&mut self, _: FlagsChanged, _: &mut Context<Self>) {
        self.disabled = self.rt.flags().disabled_for(self.tenant.as_str());
        let metrics = self.rt.metrics().clone();
        for sub in self.subscribers.values_mut() {
            let closed: Vec<Topic> = sub
                .topics
                .iter()
                .map(|(t, _)| t)
                .filter(|t| crate::features::gate_for_topic(t.name()).is_some_and(|key| self.disabled.contains(key)))
                .collect();
            for topic in closed {
                sub.topics.remove(topic);
                metrics.subscriptions.dec();
                if let Some(feature) = crate::features::gate_for_topic(topic.name()) {
                    let _ = sub.control.try_send(SessionCommand::TopicClosed { topic, feature });
                }
            }
        }
    }
}
