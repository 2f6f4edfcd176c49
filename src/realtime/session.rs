//! `SessionActor`: one per websocket (actix-web-actors). It speaks the JSON frames of
//! [`super::frames`], subscribes to its portal's tenant actor, catches up after `since`
//! (from the tenant actor's memory or the outbox) before live frames, and enforces the
//! per-connection rules: heartbeat, client frame size and rate, and a bounded queue.
//!
//! The bounded queue is the actor's mailbox: the tenant actor uses `try_send`, and the
//! websocket context only runs this actor while the client is reading (the response
//! stream is polled only when the socket can take more), so a client that stops reading
//! fills the mailbox and is closed as a slow consumer; what it holds is at most
//! `queue_frames` shared frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws;
use bytestring::ByteString;

use super::frames::{self, close, ClientFrame, Topic, TopicSeqs};
use super::tenant::{CatchUp, Push, SessionCommand, Subscribe, TenantActor, Unsubscribe};
use super::{Credential, Realtime, Refusal, Viewer};
use crate::identity::access::Reason;
use crate::identity::credentials;

/// The objects the dashboard's counters summarise: a reader must be able to read them all.
const DASHBOARD_OBJECTS: [&str; 4] = ["contact", "deal", "ticket", "task"];

/// Catch-up bytes handed to the connection per turn before yielding to its write buffer.
const REPLAY_TURN_BYTES: usize = 64 * 1024;
/// Outbox rows read per catch-up page.
const REPLAY_PAGE_ROWS: i64 = 64;

/// Whether the viewer's credential still resolves to the same portal and credential (the
/// reason to close with when it does not).
async fn still_valid(rt: &Realtime, viewer: &Viewer) -> Result<(), &'static str> {
    let (digest, kind) = match &viewer.credential {
        Credential::Session { digest, .. } => (digest.clone(), credentials::Kind::Session),
        Credential::Key { digest, .. } => (digest.clone(), credentials::Kind::Key),
        Credential::Jita { digest, .. } => (digest.clone(), credentials::Kind::Jita),
        // The HMAC was checked when the ticket was issued; nothing revokes an end user.
        Credential::EndUser { .. } => return Ok(()),
    };
    let now = rt.clock().now();
    match credentials::resolve(rt.db(), digest, kind, now).await {
        Ok(r) if r.tenant != viewer.tenant => Err(Reason::SessionRevoked.as_str()),
        Ok(credentials::Resolved { actor: credentials::Actor::User(u), .. }) if u.require_mfa && !u.mfa_enabled => {
            Err(Reason::MfaRequired.as_str())
        }
        Ok(_) => Ok(()),
        Err(crate::error::AppError::Unauthorized { .. }) => Err(Reason::SessionRevoked.as_str()),
        // The database is unavailable: the next revocation event will still reach us.
        Err(_) => Ok(()),
    }
}

/// A future that is pending once: lets the connection write what is buffered before the
/// actor goes on.
#[derive(Default)]
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

pub struct SessionActor {
    /// An end-user session subscribes to its inbox at once (after `since`, if given).
    auto_inbox: Option<Option<i64>>,
    id: u64,
    rt: Realtime,
    /// Shared with this session's entry in the tenant actor (one copy per connection).
    viewer: Arc<Viewer>,
    refused: Option<Refusal>,
    tenant: Option<Addr<TenantActor>>,
    /// The last seq sent, per subscribed topic.
    topics: TopicSeqs,
    last_heard: Instant,
    tokens: f64,
    refilled: Instant,
}

impl SessionActor {
    pub fn new(rt: Realtime, viewer: Viewer, refused: Option<Refusal>) -> Self {
        let burst = rt.limits().client_burst;
        Self {
            auto_inbox: None,
            id: rt.next_session_id(),
            rt,
            viewer: Arc::new(viewer),
            refused,
            tenant: None,
            topics: TopicSeqs::new(),
            last_heard: Instant::now(),
            tokens: burst,
            refilled: Instant::now(),
        }
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &'static str) {
        self.rt.metrics().closes.with_label_values(&[reason]).inc();
        ctx.close(Some(ws::CloseReason { code: ws::CloseCode::Other(code), description: Some(reason.into()) }));
        ctx.stop();
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, text: String) {
        ctx.text(text);
    }

    /// Writes a shared frame: `ByteString` clones share one buffer, so nothing is copied
    /// or re-validated per session.
    fn send_bytes(&self, ctx: &mut ws::WebsocketContext<Self>, frame: ByteString) {
        ctx.text(frame);
    }

    /// The client's frame budget: `client_rate` per second, up to `client_burst`.
    fn take_token(&mut self) -> bool {
        let limits = self.rt.limits();
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * limits.client_rate)
            .min(limits.client_burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(f) => f,
            Err(e) => {
                return self.send(ctx, frames::error("bad_frame", &format!("not a frame this server understands: {e}")))
            }
        };
        match frame {
            ClientFrame::Ping => self.send(ctx, r#"{"type":"pong"}"#.to_string()),
            ClientFrame::Subscribe { topic, since } if self.viewer.audience.end_user.is_some() => {
                match Topic::parse(&topic) {
                    Some(Topic::Inbox) => self.subscribe(Topic::Inbox, since, ctx),
                    _ => self.send(ctx, frames::error("unknown_topic", "an end user's only topic is inbox")),
                }
            }
            ClientFrame::Subscribe { topic, since } => match Topic::parse(&topic) {
                None | Some(Topic::Inbox) => self.send(
                    ctx,
                    frames::error("unknown_topic", "topics are crm, dashboard, notifications and campaigns"),
                ),
                Some(Topic::Notifications) if self.viewer.audience.user_id.is_none() => self.send(
                    ctx,
                    frames::error("topic_forbidden", "notifications are addressed to people; keys have none"),
                ),
                Some(Topic::Dashboard) if !DASHBOARD_OBJECTS.iter().all(|o| self.viewer.audience.can_read(o)) => self
                    .send(
                    ctx,
                    frames::error(
                        "topic_forbidden",
                        "the dashboard summarises contacts, deals, tickets and tasks; this key cannot read all of them",
                    ),
                ),
                Some(topic) => self.subscribe(topic, since, ctx),
            },
            ClientFrame::Unsubscribe { topic } => match Topic::parse(&topic) {
                Some(topic) => {
                    self.topics.remove(topic);
                    if let Some(t) = &self.tenant {
                        t.do_send(Unsubscribe { session_id: self.id, topic: Some(topic) });
                    }
                    self.send(ctx, frames::unsubscribed(topic));
                }
                None => self.send(
                    ctx,
                    frames::error("unknown_topic", "topics are crm, dashboard, notifications and campaigns"),
                ),
            },
        }
    }

    /// Joins the portal's tenant actor (so access revocations reach this session even
    /// before it subscribes), then checks the credential once more: a revocation that
    /// committed between the upgrade and the join is in no event this session will see.
    fn join(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let rt = self.rt.clone();
        let viewer = self.viewer.clone();
        let (session_id, session, control) =
            (self.id, ctx.address().recipient::<Push>(), ctx.address().recipient::<SessionCommand>());
        let work = async move {
            let addr = rt.tenant_actor(&viewer.tenant).await?;
            addr.send(Subscribe { session_id, session, control, viewer: viewer.clone(), topic: None, since: None })
                .await
                .ok()?;
            let still = still_valid(&rt, &viewer).await;
            Some((addr, still))
        };
        ctx.wait(work.into_actor(self).map(|res, act, ctx| match res {
            Some((addr, Ok(()))) => act.tenant = Some(addr),
            Some((_, Err(reason))) => act.close(ctx, close::ACCESS_REVOKED, reason),
            // The service is stopping or the actor restarted: subscribing will retry.
            None => {}
        }));
    }

    /// Subscribes through the tenant actor and catches up; nothing else is processed for
    /// this session until that is done, so live frames (all after the head the tenant
    /// actor answered with) follow the replay in order, queued in the bounded mailbox.
    fn subscribe(&mut self, topic: Topic, since: Option<i64>, ctx: &mut ws::WebsocketContext<Self>) {
        let rt = self.rt.clone();
        let viewer = self.viewer.clone();
        let (session_id, session, control) =
            (self.id, ctx.address().recipient::<Push>(), ctx.address().recipient::<SessionCommand>());
        let work = async move {
            let addr = rt.tenant_actor(&viewer.tenant).await.ok_or("the real-time service is stopping")?;
            let reply = addr
                .send(Subscribe { session_id, session, control, viewer, topic: Some(topic), since })
                .await
                .map_err(|_| "the portal's real-time actor restarted; subscribe again")?;
            Ok::<_, &'static str>((addr, reply))
        };
        ctx.wait(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok((addr, reply)) => {
                act.tenant = Some(addr);
                let head = reply.head;
                match reply.catch_up {
                    CatchUp::Frames(frames) => act.replay(topic, frames.into(), None, head, ctx),
                    CatchUp::Outbox { since } => act.replay(topic, VecDeque::new(), Some(since), head, ctx),
                    CatchUp::Reset { reason } => {
                        act.send(ctx, frames::reset(topic, head, reason));
                        act.subscribed(topic, head, ctx);
                    }
                    CatchUp::None => act.subscribed(topic, head, ctx),
                    CatchUp::Refused { feature } => {
                        act.send(ctx, frames::feature_not_enabled("error", topic, feature));
                    }
                }
            }
            Err(message) => act.send(ctx, frames::error("unavailable", message)),
        }));
    }

    /// Sends catch-up frames up to [`REPLAY_TURN_BYTES`] per turn, yielding between
    /// turns: the context is polled again only when the connection's write buffer has
    /// room, so a client that does not read holds at most a turn's frames plus one page
    /// read from the outbox (the same bound as live delivery) instead of every frame it
    /// missed. `outbox_after` is where the next outbox page starts, if the catch-up reads
    /// the outbox; it ends at `head`.
    fn replay(
        &mut self,
        topic: Topic,
        mut pending: VecDeque<(i64, ByteString)>,
        outbox_after: Option<i64>,
        head: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let mut budget = REPLAY_TURN_BYTES;
        while budget > 0 {
            let Some((_, bytes)) = pending.pop_front() else { break };
            budget = budget.saturating_sub(bytes.len());
            self.rt.metrics().frames_out.inc();
            self.send_bytes(ctx, bytes);
        }
        if !pending.is_empty() {
            let next = YieldOnce::default().into_actor(self);
            return ctx.wait(next.map(move |(), act, ctx| act.replay(topic, pending, outbox_after, head, ctx)));
        }
        let Some(after) = outbox_after.filter(|a| *a < head) else {
            return self.subscribed(topic, head, ctx);
        };
        let (db, tenant) = (self.rt.db().clone(), self.viewer.tenant.clone());
        let page = (head - after).min(REPLAY_PAGE_ROWS);
        let read = async move { db.tenant(tenant).read(move |t| Ok(t.events_after(after, page)?)).await };
        ctx.wait(read.into_actor(self).map(move |rows, act, ctx| {
            let rows = match rows {
                Ok(rows) if !rows.is_empty() => rows,
                Ok(_) => return act.subscribed(topic, head, ctx),
                Err(_) => {
                    return act.send(ctx, frames::error("unavailable", "reading missed events failed; subscribe again"))
                }
            };
            let last = rows.last().map(|r| r.seq).unwrap_or(head).min(head);
            let rows: Vec<_> = rows.into_iter().filter(|r| r.seq <= head).collect();
            let frames = super::tenant::frames_for(&rows, topic, &act.viewer.audience).into();
            act.replay(topic, frames, Some(last), head, ctx);
        }));
    }

    /// The catch-up is done: live frames after `head` flow from here.
    fn subscribed(&mut self, topic: Topic, head: i64, ctx: &mut ws::WebsocketContext<Self>) {
        self.topics.insert(topic, head);
        self.send(ctx, frames::subscribed(topic, head));
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() > self.rt.limits().client_timeout {
            return self.close(ctx, close::HEARTBEAT_TIMEOUT, "heartbeat_timeout");
        }
        if self.viewer.credential.expires_at().is_some_and(|t| t <= self.rt.clock().now()) {
            return self.close(ctx, close::ACCESS_REVOKED, Reason::Expired.as_str());
        }
        ctx.ping(b"");
    }
}

impl Actor for SessionActor {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.rt.limits().queue_frames);
        self.rt.metrics().connections.inc();
        if let Some(refusal) = self.refused {
            let (code, message) = match refusal {
                Refusal::PerUser => ("too_many_connections", "this user or key has too many open connections"),
                Refusal::PerTenant => ("too_many_connections", "this portal has too many open connections"),
            };
            self.send(ctx, frames::error(code, message));
            return self.close(ctx, close::TOO_MANY_CONNECTIONS, "too_many_connections");
        }
        ctx.run_interval(self.rt.limits().heartbeat, |act, ctx| act.heartbeat(ctx));
        // Expiry is also checked at every heartbeat (by the server's clock); this timer
        // closes the session on time when the heartbeat is long.
        if let Some(left) = self.viewer.credential.expires_at().and_then(|t| (t - self.rt.clock().now()).to_std().ok())
        {
            ctx.run_later(left, |act, ctx| act.heartbeat(ctx));
        }
        self.join(ctx);
        if let Some(since) = self.auto_inbox.take() {
            self.subscribe(Topic::Inbox, since, ctx);
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.rt.metrics().connections.dec();
        if let Some(t) = &self.tenant {
            t.do_send(Unsubscribe { session_id: self.id, topic: None });
        }
        if self.refused.is_none() {
            self.rt.release(&self.viewer);
        }
    }
}

impl Handler<Push> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Push, ctx: &mut Self::Context) {
        let Some(last) = self.topics.get(msg.topic) else { return };
        if msg.topic != Topic::Dashboard {
            if msg.seq <= last {
                return; // already sent during the catch-up
            }
            self.topics.insert(msg.topic, msg.seq);
        }
        self.send_bytes(ctx, msg.bytes);
        if let Some(more) = msg.more {
            self.send_bytes(ctx, more);
        }
    }
}

impl Handler<SessionCommand> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: SessionCommand, ctx: &mut Self::Context) {
        match msg {
            SessionCommand::SlowConsumer => self.close(ctx, close::SLOW_CONSUMER, "slow_consumer"),
            SessionCommand::AccessRevoked { reason } => self.close(ctx, close::ACCESS_REVOKED, reason),
            SessionCommand::TopicClosed { topic, feature } => {
                if self.topics.remove(topic).is_some() {
                    self.send(ctx, frames::feature_not_enabled("unsubscribed", topic, feature));
                }
            }
            SessionCommand::TenantRestarted => {
                self.tenant = None;
                let rt = self.rt.clone();
                let tenant = self.viewer.tenant.clone();
                let wait = async move { rt.backoff(&tenant).await };
                ctx.wait(wait.into_actor(self).map(|delay, _, ctx| {
                    ctx.run_later(delay, |act, ctx| {
                        let topics: Vec<(Topic, i64)> = std::mem::take(&mut act.topics).iter().collect();
                        if topics.is_empty() {
                            act.join(ctx);
                        }
                        for (topic, last) in topics {
                            let since = if topic == Topic::Dashboard { None } else { Some(last) };
                            act.subscribe(topic, since, ctx);
                        }
                    });
                }));
            }
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for SessionActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        let msg = match msg {
            Ok(m) => m,
            Err(ws::ProtocolError::Overflow) => {
                self.send(ctx, frames::error("frame_too_large", "frames are limited in size"));
                return self.close(ctx, close::TOO_BIG, "frame_too_large");
            }
            Err(_) => return self.close(ctx, close::POLICY, "protocol_error"),
        };
        match msg {
            ws::Message::Ping(p) => ctx.pong(&p),
            ws::Message::Pong(_) => {}
            ws::Message::Text(text) => {
                if !self.take_token() {
                    self.send(ctx, frames::error("rate_limited", "too many frames; slow down"));
                    return self.close(ctx, close::POLICY, "rate_limited");
                }
                self.on_text(&text, ctx);
            }
            ws::Message::Binary(_) | ws::Message::Continuation(_) => {
                self.send(ctx, frames::error("unsupported_frame", "send JSON text frames"));
                self.close(ctx, close::UNSUPPORTED, "unsupported_frame");
            }
            ws::Message::Close(_) => {
                ctx.close(None);
                ctx.stop();
            }
            ws::Message::Nop => {}
        }
    }
}

/// Starts a session for an upgraded request.
pub fn start(
    rt: Realtime,
    viewer: Viewer,
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<actix_web::HttpResponse, actix_web::Error> {
    let refused = rt.admit(&viewer).err();
    let max_frame = rt.limits().max_frame_bytes;
    ws::WsResponseBuilder::new(SessionActor::new(rt, viewer, refused), req, payload).frame_size(max_frame).start()
}

/// Starts an end user's inbox session: subscribed to the inbox topic at once, resuming
/// after `since` when given.
pub fn start_end_user(
    rt: Realtime,
    viewer: Viewer,
    since: Option<i64>,
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<actix_web::HttpResponse, actix_web::Error> {
    let refused = rt.admit(&viewer).err();
    let max_frame = rt.limits().max_frame_bytes;
    let mut session = SessionActor::new(rt, viewer, refused);
    session.auto_inbox = Some(since);
    ws::WsResponseBuilder::new(session, req, payload).frame_size(max_frame).start()
}
