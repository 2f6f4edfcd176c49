//! Subscribing with resume, and unsubscribing. A subscription is answered with how the
//! session catches up (frames from memory, a range to read from the outbox, or a reset);
//! live frames all have `seq` above the head it was given, so there are no gaps or
//! duplicates.

use actix::prelude::*;
use bytestring::ByteString;

use super::fanout::Subscriber;
use super::{Push, SessionCommand, TenantActor};
use crate::realtime::frames::{Topic, TopicSeqs};
use crate::realtime::Viewer;

/// A session subscribes to a topic, optionally resuming after `since`.
#[derive(Message)]
#[rtype(result = "SubscribeReply")]
pub struct Subscribe {
    pub session_id: u64,
    pub session: Recipient<Push>,
    pub control: Recipient<SessionCommand>,
    pub viewer: std::sync::Arc<Viewer>,
    /// `None`: join the portal without a topic yet (every session does when it starts, so
    /// access revocations reach it).
    pub topic: Option<Topic>,
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
    /// The topic's feature is off for this portal: not subscribed.
    Refused { feature: &'static str },
}

impl Handler<Subscribe> for TenantActor {
    type Result = SubscribeReply;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> SubscribeReply {
        let head = self.delivered;
        if let Some(feature) = msg.topic.and_then(|t| self.topic_gate(t)) {
            return SubscribeReply { head, catch_up: CatchUp::Refused { feature } };
        }
        self.subscribers.entry(msg.session_id).or_insert_with(|| Subscriber {
            session: msg.session,
            control: msg.control,
            viewer: msg.viewer,
            topics: TopicSeqs::new(),
        });
        let Some(topic) = msg.topic else {
            self.index_end_user(msg.session_id);
            return SubscribeReply { head, catch_up: CatchUp::None };
        };
        self.index_end_user(msg.session_id);
        let Some(sub) = self.subscribers.get_mut(&msg.session_id) else {
            return SubscribeReply { head, catch_up: CatchUp::None };
        };
        if !sub.topics.contains(topic) {
            self.rt.metrics().subscriptions.inc();
        }
        let catch_up = match (topic, msg.since) {
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
                        .flat_map(|d| d.frames_on(topic, &sub.viewer.audience).into_iter().map(move |b| (d.seq, b)))
                        .collect();
                    CatchUp::Frames(frames)
                } else {
                    CatchUp::Outbox { since }
                }
            }
        };
        if topic != Topic::Dashboard {
            sub.topics.insert(topic, head);
        }
        if topic == Topic::Dashboard {
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
                    if sub.topics.remove(topic).is_some() {
                        metrics.subscriptions.dec();
                    }
                }
            }
            None => {
                if let Some(sub) = self.remove_subscriber(msg.session_id) {
                    metrics.subscriptions.sub(sub.topics.len() as i64);
                }
            }
        }
        self.note_subscriptions();
    }
}
