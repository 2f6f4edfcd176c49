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

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws;
use bytestring::ByteString;

use super::frames::{self, close, ClientFrame, Topic};
use super::tenant::{CatchUp, Push, SessionCommand, Subscribe, TenantActor, Unsubscribe};
use super::{Realtime, Refusal, Viewer};

pub struct SessionActor {
    id: u64,
    rt: Realtime,
    viewer: Viewer,
    refused: Option<Refusal>,
    tenant: Option<Addr<TenantActor>>,
    /// The last seq sent, per subscribed topic.
    topics: HashMap<Topic, i64>,
    last_heard: Instant,
    tokens: f64,
    refilled: Instant,
}

impl SessionActor {
    pub fn new(rt: Realtime, viewer: Viewer, refused: Option<Refusal>) -> Self {
        let burst = rt.limits().client_burst;
        Self {
            id: rt.next_session_id(),
            rt,
            viewer,
            refused,
            tenant: None,
            topics: HashMap::new(),
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
            ClientFrame::Subscribe { topic, since } => match Topic::parse(&topic) {
                None => self.send(ctx, frames::error("unknown_topic", "topics are crm, dashboard and notifications")),
                Some(Topic::Notifications) if self.viewer.audience.user_id.is_none() => self.send(
                    ctx,
                    frames::error("topic_forbidden", "notifications are addressed to people; keys have none"),
                ),
                Some(topic) => self.subscribe(topic, since, ctx),
            },
            ClientFrame::Unsubscribe { topic } => match Topic::parse(&topic) {
                Some(topic) => {
                    self.topics.remove(&topic);
                    if let Some(t) = &self.tenant {
                        t.do_send(Unsubscribe { session_id: self.id, topic: Some(topic) });
                    }
                    self.send(ctx, frames::unsubscribed(topic));
                }
                None => self.send(ctx, frames::error("unknown_topic", "topics are crm, dashboard and notifications")),
            },
        }
    }

    /// Subscribes through the tenant actor and catches up; nothing else is processed for
    /// this session until that is done, so live frames follow the replay in order.
    fn subscribe(&mut self, topic: Topic, since: Option<i64>, ctx: &mut ws::WebsocketContext<Self>) {
        let rt = self.rt.clone();
        let viewer = self.viewer.clone();
        let msg_parts = (self.id, ctx.address().recipient::<Push>(), ctx.address().recipient::<SessionCommand>());
        let work = async move {
            let addr = rt.tenant_actor(&viewer.tenant).await.ok_or("the real-time service is stopping")?;
            let (session_id, session, control) = msg_parts;
            let reply = addr
                .send(Subscribe { session_id, session, control, audience: viewer.audience.clone(), topic, since })
                .await
                .map_err(|_| "the portal's real-time actor restarted; subscribe again")?;
            let catch_up = match reply.catch_up {
                CatchUp::Outbox { since } => {
                    let (tenant, head) = (viewer.tenant.clone(), reply.head);
                    let rows = rt
                        .db()
                        .tenant(tenant.clone())
                        .read(move |t| Ok(t.events_after(since, head - since)?))
                        .await
                        .map_err(|_| "reading missed events failed; subscribe again")?;
                    let rows: Vec<_> = rows.into_iter().filter(|r| r.seq <= reply.head).collect();
                    CatchUp::Frames(super::tenant::frames_for(&rows, topic, &viewer.audience))
                }
                other => other,
            };
            Ok::<_, &'static str>((addr, reply.head, catch_up))
        };
        ctx.wait(work.into_actor(self).map(move |res, act, ctx| match res {
            Ok((addr, head, catch_up)) => {
                act.tenant = Some(addr);
                match catch_up {
                    CatchUp::Frames(frames) => {
                        for (_, bytes) in frames {
                            act.rt.metrics().frames_out.inc();
                            act.send_bytes(ctx, bytes);
                        }
                    }
                    CatchUp::Reset { reason } => act.send(ctx, frames::reset(topic, head, reason)),
                    CatchUp::None | CatchUp::Outbox { .. } => {}
                }
                act.topics.insert(topic, head);
                act.send(ctx, frames::subscribed(topic, head));
            }
            Err(message) => act.send(ctx, frames::error("unavailable", message)),
        }));
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() > self.rt.limits().client_timeout {
            return self.close(ctx, close::HEARTBEAT_TIMEOUT, "heartbeat_timeout");
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
        let Some(last) = self.topics.get_mut(&msg.topic) else { return };
        if msg.topic != Topic::Dashboard {
            if msg.seq <= *last {
                return; // already sent during the catch-up
            }
            *last = msg.seq;
        }
        self.send_bytes(ctx, msg.bytes);
    }
}

impl Handler<SessionCommand> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: SessionCommand, ctx: &mut Self::Context) {
        match msg {
            SessionCommand::SlowConsumer => self.close(ctx, close::SLOW_CONSUMER, "slow_consumer"),
            SessionCommand::TenantRestarted => {
                self.tenant = None;
                let rt = self.rt.clone();
                let tenant = self.viewer.tenant.clone();
                let wait = async move { rt.backoff(&tenant).await };
                ctx.wait(wait.into_actor(self).map(|delay, _, ctx| {
                    ctx.run_later(delay, |act, ctx| {
                        let topics: Vec<(Topic, i64)> = act.topics.drain().collect();
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
