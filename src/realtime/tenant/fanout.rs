//! What a subscriber may see, and handing each event's frames to the subscribed sessions.
//! A frame is built once per event and the same bytes go to every session; a session whose
//! bounded mailbox is full is dropped as a slow consumer, never waited for.

use actix::dev::SendError;
use actix::prelude::*;
use bytestring::ByteString;

use super::{Push, SessionCommand, TenantActor};
use crate::db::events::EventRow;
use crate::identity::access::{self, Revocation};
use crate::realtime::frames::{self, Topic, TopicSeqs};
use crate::realtime::Viewer;

/// A committed event, ready to send.
pub(super) struct Delivered {
    pub(super) seq: i64,
    pub(super) object: String,
    pub(super) crm: ByteString,
    /// The person this event notifies, and the frame.
    pub(super) notify: Option<(String, ByteString)>,
    /// The `campaigns` frame of a campaign event.
    pub(super) campaign: Option<ByteString>,
    /// An in-app event, mapped onto end users as they are found.
    pub(super) inbox: Option<std::sync::Arc<frames::InboxEvent>>,
}

impl Delivered {
    pub(super) fn of(e: &EventRow) -> Self {
        Delivered {
            seq: e.seq,
            crm: frames::crm_event(e),
            notify: frames::assigned_to(e)
                .map(|user| (user, frames::task_assigned(e)))
                .or_else(|| frames::notification_for(e).map(|user| (user, frames::notification_created(e)))),
            campaign: (e.object == crate::campaigns::OBJECT).then(|| frames::campaign_event(e)),
            inbox: frames::InboxEvent::of(e).map(std::sync::Arc::new),
            object: e.object.clone(),
        }
    }

    /// This event's frame on `topic` for `audience`, if it gets one.
    pub(super) fn frame_for(&self, topic: Topic, audience: &Audience) -> Option<&ByteString> {
        match topic {
            // Access revocations are for the server: no topic carries them.
            Topic::Crm if self.object == access::OBJECT => None,
            // A person's notifications are theirs: only the notifications topic carries them.
            Topic::Crm if self.object == crate::notifications::OBJECT => None,
            // Campaign events have their own topic.
            Topic::Crm if self.object == crate::campaigns::OBJECT => None,
            // In-app events are the end users' own: only the inbox topic carries them.
            Topic::Crm if self.object == crate::messages::OBJECT => None,
            Topic::Inbox => None,
            Topic::Campaigns => self.campaign.as_ref().filter(|_| audience.sees(crate::campaigns::OBJECT)),
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

impl Delivered {
    /// Every frame of this event on `topic` for `audience` (an inbox event gives an end
    /// user two: the message or change, then the counts).
    pub(super) fn frames_on(&self, topic: Topic, audience: &Audience) -> Vec<ByteString> {
        if topic == Topic::Inbox {
            return match (&self.inbox, &audience.end_user) {
                (Some(i), Some(u)) => i.frames_for(u),
                _ => Vec::new(),
            };
        }
        self.frame_for(topic, audience).cloned().into_iter().collect()
    }
}

/// The frames of outbox rows on `topic` for `audience` (the catch-up of a `since` older
/// than the tenant actor's memory).
pub fn frames_for(rows: &[EventRow], topic: Topic, audience: &Audience) -> Vec<(i64, ByteString)> {
    rows.iter().flat_map(|e| Delivered::of(e).frames_on(topic, audience).into_iter().map(move |b| (e.seq, b))).collect()
}

/// What a subscriber may see.
#[derive(Debug, Clone)]
pub struct Audience {
    /// `None` for a person (every object); for a key, the objects its scopes can read.
    pub objects: Option<Vec<&'static str>>,
    /// The person, for `notifications`.
    pub user_id: Option<String>,
    /// An end user of the portal's product (in-app inbox): sees only their own inbox.
    pub end_user: Option<String>,
}

impl Audience {
    pub(super) fn sees(&self, object: &str) -> bool {
        self.can_read(object)
    }

    /// Whether this reader may read records of `object` (people: all; keys: their scopes).
    pub fn can_read(&self, object: &str) -> bool {
        self.objects.as_ref().is_none_or(|o| o.contains(&object))
    }
}

pub(super) struct Subscriber {
    pub(super) session: Recipient<Push>,
    pub(super) control: Recipient<SessionCommand>,
    pub(super) viewer: std::sync::Arc<Viewer>,
    /// Per topic: the last seq this session already has (events up to it are skipped).
    pub(super) topics: TopicSeqs,
}

impl TenantActor {
    pub(super) fn fan_out(&mut self, d: &Delivered) {
        if let Some(inbox) = &d.inbox {
            return self.fan_out_inbox(d.seq, inbox);
        }
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        let mut sent = 0;
        for (id, sub) in &mut self.subscribers {
            if sub.viewer.audience.end_user.is_some() {
                continue;
            }
            for topic in [Topic::Crm, Topic::Notifications, Topic::Campaigns] {
                if sub.topics.get(topic).is_none_or(|last| d.seq <= last) {
                    continue;
                }
                let Some(bytes) = d.frame_for(topic, &sub.viewer.audience) else { continue };
                match sub.session.try_send(Push { topic, seq: d.seq, bytes: bytes.clone(), more: None }) {
                    Ok(()) => {
                        sent += 1;
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
        // One shared counter update per event, not one per delivery.
        self.rt.metrics().frames_out.inc_by(sent);
        if !slow.is_empty() || !gone.is_empty() {
            self.drop_subscribers(slow, gone);
        }
    }

    /// Hands an in-app event to the connected end users it names: a batch of 1,000
    /// recipients costs 1,000 map lookups here, whoever else is connected.
    fn fan_out_inbox(&mut self, seq: i64, inbox: &frames::InboxEvent) {
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for user in inbox.users() {
            let Some(ids) = self.end_users.get(user) else { continue };
            let mut frames: Option<Vec<ByteString>> = None;
            for id in ids {
                let Some(sub) = self.subscribers.get_mut(id) else { continue };
                if sub.topics.get(Topic::Inbox).is_none_or(|last| seq <= last) {
                    continue;
                }
                let frames = frames.get_or_insert_with(|| inbox.frames_for(user));
                let mut it = frames.iter().cloned();
                let Some(bytes) = it.next() else { continue };
                match sub.session.try_send(Push { topic: Topic::Inbox, seq, bytes, more: it.next() }) {
                    Ok(()) => {
                        self.rt.metrics().frames_out.inc();
                        sub.topics.insert(Topic::Inbox, seq);
                    }
                    Err(SendError::Full(_)) => slow.push(*id),
                    Err(SendError::Closed(_)) => gone.push(*id),
                }
            }
        }
        self.drop_subscribers(slow, gone);
    }

    /// Indexes an end-user session (see `end_users`).
    pub(super) fn index_end_user(&mut self, id: u64) {
        if let Some(user) = self.subscribers.get(&id).and_then(|s| s.viewer.audience.end_user.clone()) {
            let ids = self.end_users.entry(user).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// Removes a subscriber and its end-user index entry.
    pub(super) fn remove_subscriber(&mut self, id: u64) -> Option<Subscriber> {
        let sub = self.subscribers.remove(&id)?;
        if let Some(user) = &sub.viewer.audience.end_user {
            if let Some(ids) = self.end_users.get_mut(user) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.end_users.remove(user);
                }
            }
        }
        Some(sub)
    }

    /// Closes the sessions an `access.revoked` event ends (on every node: each reads the
    /// same outbox).
    pub(super) fn revoke(&mut self, e: &EventRow) {
        let Some(revocation) = Revocation::parse(&e.data) else {
            tracing::warn!(seq = e.seq, "unreadable access.revoked event");
            return;
        };
        let ended: Vec<u64> = self
            .subscribers
            .iter()
            .filter(|(_, sub)| sub.viewer.credential.is_revoked_by(&revocation.revoked))
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some(sub) = self.remove_subscriber(id) {
                self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
                // do_send ignores the mailbox bound: a revocation must get through.
                sub.control.do_send(SessionCommand::AccessRevoked { reason: revocation.reason.as_str() });
            }
        }
        self.note_subscriptions();
    }

    pub(super) fn drop_subscribers(&mut self, slow: Vec<u64>, gone: Vec<u64>) {
        for id in slow {
            if let Some(sub) = self.remove_subscriber(id) {
                self.rt.metrics().drops.with_label_values(&["slow_consumer"]).inc();
                self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
                // do_send ignores the mailbox bound: the session learns why it is closed
                // once it drains what it has.
                sub.control.do_send(SessionCommand::SlowConsumer);
            }
        }
        for id in gone {
            if let Some(sub) = self.remove_subscriber(id) {
                self.rt.metrics().subscriptions.sub(sub.topics.len() as i64);
            }
        }
        self.note_subscriptions();
    }
}
