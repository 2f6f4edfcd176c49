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

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use serde_json::Value;

use super::frames::{self, Topic};
use super::session::{Push, SessionCommand};
use super::supervisor::TenantStopped;
use super::Realtime;
use crate::db::events::EventRow;
use crate::domain::TenantId;

/// Events read from the outbox per query, and so the largest burst a session's queue sees
/// at once (well below the default queue of 1,024 frames: a healthy session drains while
/// the next batch is read).
const FETCH_BATCH: i64 = 256;

/// A committed event, ready to send.
struct Delivered {
    seq: i64,
    object: String,
    crm: ByteString,
    /// The person this event notifies, and the frame.
    notify: Option<(String, ByteString)>,
}

impl Delivered {
    fn of(e: &EventRow) -> Self {
        Delivered {
            seq: e.seq,
            crm: frames::crm_event(e),
            notify: frames::assigned_to(e).map(|user| (user, frames::task_assigned(e))),
            object: e.object.clone(),
        }
    }

    /// This event's frame on `topic` for `audience`, if it gets one.
    fn frame_for(&self, topic: Topic, audience: &Audience) -> Option<&ByteString> {
        match topic {
            Topic::Crm => audience.sees(&self.object).then_some(&self.crm),
            Topic::Notifications => self
                .notify
                .as_ref()
                .filter(|(user, _)| audience.user_id.as_deref() == Some(user.as_str()))
                .map(|(_, b)| b),
            Topic::Dashboard => None,
        }
    }
}

/// The frames of outbox rows on `topic` for `audience` (the catch-up of a `since` older
/// than the tenant actor's memory).
pub fn frames_for(rows: &[EventRow], topic: Topic, audience: &Audience) -> Vec<(i64, ByteString)> {
    rows.iter().filter_map(|e| Delivered::of(e).frame_for(topic, audience).map(|b| (e.seq, b.clone()))).collect()
}

/// What a subscriber may see.
#[derive(Debug, Clone)]
pub struct Audience {
    /// `None` for a person (every object); for a key, the objects its scopes can read.
    pub objects: Option<Vec<&'static str>>,
    /// The person, for `notifications`.
    pub user_id: Option<String>,
}

impl Audience {
    fn sees(&self, object: &str) -> bool {
        self.objects.as_ref().is_none_or(|o| o.contains(&object))
    }
}

struct Subscriber {
    session: Recipient<Push>,
    control: Recipient<SessionCommand>,
    audience: Audience,
    /// Per topic: the last seq this session already has (events up to it are skipped).
    topics: HashMap<Topic, i64>,
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
    dashboard: Option<Value>,
    dashboard_dirty: bool,
    dashboard_running: bool,
    idle_since: Instant,
    failed: bool,
}

impl TenantActor {
    pub fn new(tenant: TenantId, rt: Realtime) -> Self {
        Self {
            tenant,
            rt,
            delivered: 0,
            wanted: 0,
            announced_at: None,
            fetching: false,
            backlog: VecDeque::new(),
            history: VecDeque::new(),
            subscribers: HashMap::new(),
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

    fn fan_out(&mut self, d: &Delivered) {
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for (id, sub) in &mut self.subscribers {
            let frames = [Topic::Crm, Topic::Notifications].into_iter().filter_map(|topic| {
                let wants = sub.topics.get(&topic).is_some_and(|last| d.seq > *last);
                wants.then(|| d.frame_for(topic, &sub.audience).map(|b| (topic, b.clone()))).flatten()
            });
            let frames: Vec<(Topic, ByteString)> = frames.collect();
            for (topic, bytes) in frames {
                match sub.session.try_send(Push { topic, seq: d.seq, bytes }) {
                    Ok(()) => {
                        self.rt.metrics().frames_out.inc();
                        sub.topics.insert(topic, d.seq);
                    }
                    Err(SendError::Full(_)) => {
                        slow.push(*id);
                        break;
                    }
                    Err(SendError::Closed(_)) => {
                        gone.push(*id);
                        break;
                    }
                }
            }
        }
        self.drop_subscribers(slow, gone);
    }

    fn drop_subscribers(&mut self, slow: Vec<u64>, gone: Vec<u64>) {
        for id in slow {
            if let Some(sub) = self.subscribers.remove(&id) {
                self.rt.metrics().drops.with_label_values(&["slow_consumer"]).inc();
                self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
                // do_send ignores the mailbox bound: the session learns why it is closed
                // once it drains what it has.
                sub.control.do_send(SessionCommand::SlowConsumer);
            }
        }
        for id in gone {
            if let Some(sub) = self.subscribers.remove(&id) {
                self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
            }
        }
        self.note_subscriptions();
    }

    fn note_subscriptions(&mut self) {
        if self.subscribers.is_empty() {
            self.idle_since = Instant::now();
        }
    }

    /// Recomputes the counters (at most one computation at a time; changes that arrive
    /// meanwhile trigger one more) and sends snapshots to new subscribers and the changed
    /// counters to the others.
    fn refresh_dashboard(&mut self, ctx: &mut Context<Self>) {
        let wanted = self.subscribers.values().any(|s| s.topics.contains_key(&Topic::Dashboard));
        if self.dashboard_running || !wanted {
            return;
        }
        if !self.dashboard_dirty && self.dashboard.is_some() {
            return;
        }
        self.dashboard_running = true;
        self.dashboard_dirty = false;
        let (db, tenant, clock) = (self.rt.db().clone(), self.tenant.clone(), self.rt.clock().clone());
        let compute = async move {
            let now = clock.now();
            db.tenant(tenant).read(move |t| super::dashboard::compute(t, now)).await
        };
        ctx.spawn(compute.into_actor(self).map(|res, act, ctx| {
            act.dashboard_running = false;
            match res {
                Ok(snapshot) => act.publish_dashboard(snapshot),
                Err(e) => return act.fail(ctx, "computing the dashboard failed", e),
            }
            act.refresh_dashboard(ctx);
        }));
    }

    fn publish_dashboard(&mut self, snapshot: Value) {
        let seq = self.delivered;
        let full = frames::snapshot(seq, &snapshot);
        let delta = self.dashboard.as_ref().map(|old| super::dashboard::changed(old, &snapshot));
        let delta = delta.filter(|d| !d.is_empty()).map(|d| frames::dashboard_delta(seq, &Value::Object(d)));
        let (mut slow, mut gone) = (Vec::new(), Vec::new());
        for (id, sub) in &mut self.subscribers {
            // -1 marks a subscriber that has not had its snapshot yet.
            let bytes = match sub.topics.get(&Topic::Dashboard) {
                Some(-1) => &full,
                Some(_) => match &delta {
                    Some(d) => d,
                    None => continue,
                },
                None => continue,
            };
            match sub.session.try_send(Push { topic: Topic::Dashboard, seq, bytes: bytes.clone() }) {
                Ok(()) => {
                    self.rt.metrics().frames_out.inc();
                    sub.topics.insert(Topic::Dashboard, seq);
                }
                Err(SendError::Full(_)) => slow.push(*id),
                Err(SendError::Closed(_)) => gone.push(*id),
            }
        }
        self.dashboard = Some(snapshot);
        self.drop_subscribers(slow, gone);
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

/// A session subscribes to a topic, optionally resuming after `since`.
#[derive(Message)]
#[rtype(result = "SubscribeReply")]
pub struct Subscribe {
    pub session_id: u64,
    pub session: Recipient<Push>,
    pub control: Recipient<SessionCommand>,
    pub audience: Audience,
    pub topic: Topic,
    pub since: Option<i64>,
}

/// How the session catches up before live frames (which all have `seq > head`) arrive.
#[derive(Debug, MessageResponse)]
pub struct SubscribeReply {
    /// The last seq the tenant actor has fanned out.
    pub head: i64,
    pub catch_up: CatchUp,
}

#[derive(Debug)]
pub enum CatchUp {
    /// Nothing to replay.
    None,
    /// These frames, from memory, in order.
    Frames(Vec<(i64, ByteString)>),
    /// Read `(since, head]` from the outbox.
    Outbox { since: i64 },
    /// `since` cannot be replayed: refetch, then continue live after `head`.
    Reset { reason: &'static str },
}

impl Handler<Subscribe> for TenantActor {
    type Result = SubscribeReply;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> SubscribeReply {
        let head = self.delivered;
        let sub = self.subscribers.entry(msg.session_id).or_insert_with(|| Subscriber {
            session: msg.session,
            control: msg.control,
            audience: msg.audience,
            topics: HashMap::new(),
        });
        if !sub.topics.contains_key(&msg.topic) {
            self.rt.metrics().subscriptions.inc();
        }
        let catch_up = match (msg.topic, msg.since) {
            (Topic::Dashboard, _) => {
                sub.topics.insert(Topic::Dashboard, -1);
                CatchUp::None
            }
            (_, None) => CatchUp::None,
            (_, Some(since)) if since == head => CatchUp::None,
            (_, Some(since)) if since > head || since < 0 => CatchUp::Reset { reason: "unknown_seq" },
            (_, Some(since)) if head - since > self.rt.limits().replay_max => CatchUp::Reset { reason: "too_old" },
            (topic, Some(since)) => {
                let oldest = self.history.front().map(|d| d.seq).unwrap_or(head + 1);
                if since + 1 >= oldest {
                    let frames = self
                        .history
                        .iter()
                        .filter(|d| d.seq > since)
                        .filter_map(|d| d.frame_for(topic, &sub.audience).map(|b| (d.seq, b.clone())))
                        .collect();
                    CatchUp::Frames(frames)
                } else {
                    CatchUp::Outbox { since }
                }
            }
        };
        if msg.topic != Topic::Dashboard {
            sub.topics.insert(msg.topic, head);
        }
        if msg.topic == Topic::Dashboard {
            match self.dashboard.clone() {
                Some(snapshot) if !self.dashboard_dirty && !self.dashboard_running => self.publish_dashboard(snapshot),
                _ => self.refresh_dashboard(ctx),
            }
        }
        SubscribeReply { head, catch_up }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub session_id: u64,
    /// `None`: the session is closing, drop all its topics.
    pub topic: Option<Topic>,
}

impl Handler<Unsubscribe> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        let metrics = self.rt.metrics().clone();
        match msg.topic {
            Some(topic) => {
                if let Some(sub) = self.subscribers.get_mut(&msg.session_id) {
                    if sub.topics.remove(&topic).is_some() {
                        metrics.subscriptions.dec();
                    }
                    if sub.topics.is_empty() {
                        self.subscribers.remove(&msg.session_id);
                    }
                }
            }
            None => {
                if let Some(sub) = self.subscribers.remove(&msg.session_id) {
                    metrics.subscriptions.sub(sub.topics.len() as i64);
                }
            }
        }
        self.note_subscriptions();
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
