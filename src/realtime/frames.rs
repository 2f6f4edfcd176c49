//! The websocket wire format: frames the client sends, frames the server sends, the close
//! codes, and the topics (with `TopicSeqs`, where a subscription has got to on each).
//! Server frames are built once as bytes and shared by every session.

use bytestring::ByteString;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::db::events::EventRow;

/// The topics a session can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Record events of the portal (`contact.created`, `deal.stage_changed`, …).
    Crm,
    /// A snapshot of the portal's live counters on subscribe, then the counters that changed.
    Dashboard,
    /// Events addressed to the signed-in person (`task.assigned`).
    Notifications,
    /// Campaign status changes and sending progress (`campaign.status_changed`,
    /// `campaign.progress`).
    Campaigns,
    /// An end user's in-app inbox: `message`, `changed` and `counts` frames (end-user
    /// sessions only, and only this topic).
    Inbox,
}

impl Topic {
    pub fn parse(s: &str) -> Option<Topic> {
        match s {
            "crm" => Some(Topic::Crm),
            "dashboard" => Some(Topic::Dashboard),
            "notifications" => Some(Topic::Notifications),
            "campaigns" => Some(Topic::Campaigns),
            "inbox" => Some(Topic::Inbox),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Topic::Crm => "crm",
            Topic::Dashboard => "dashboard",
            Topic::Notifications => "notifications",
            Topic::Campaigns => "campaigns",
            Topic::Inbox => "inbox",
        }
    }

    const ALL: [Topic; 5] = [Topic::Crm, Topic::Dashboard, Topic::Notifications, Topic::Campaigns, Topic::Inbox];

    fn index(self) -> usize {
        match self {
            Topic::Crm => 0,
            Topic::Dashboard => 1,
            Topic::Notifications => 2,
            Topic::Campaigns => 3,
            Topic::Inbox => 4,
        }
    }
}

/// Per subscribed topic, the last seq a session has: one small array instead of a hash
/// map (a session follows at most the five topics; both the session and its entry in the
/// tenant actor keep one, so it is paid twice per connection, and the fan-out reads and
/// writes it once per delivery).
#[derive(Debug, Clone, Copy)]
pub struct TopicSeqs([i64; 5]);

impl TopicSeqs {
    /// Marks a topic not subscribed (seqs start at 1; -1 is the dashboard's "no snapshot yet").
    const NONE: i64 = i64::MIN;

    pub fn new() -> Self {
        TopicSeqs([Self::NONE; 5])
    }

    pub fn get(&self, topic: Topic) -> Option<i64> {
        self.0.get(topic.index()).copied().filter(|s| *s != Self::NONE)
    }

    pub fn contains(&self, topic: Topic) -> bool {
        self.get(topic).is_some()
    }

    /// Sets the topic's seq; the previous one, if it was subscribed.
    pub fn insert(&mut self, topic: Topic, seq: i64) -> Option<i64> {
        let slot = self.0.get_mut(topic.index())?;
        let old = std::mem::replace(slot, seq);
        (old != Self::NONE).then_some(old)
    }

    /// Unsubscribes the topic; its seq, if it was subscribed.
    pub fn remove(&mut self, topic: Topic) -> Option<i64> {
        let slot = self.0.get_mut(topic.index())?;
        let old = std::mem::replace(slot, Self::NONE);
        (old != Self::NONE).then_some(old)
    }

    pub fn len(&self) -> usize {
        self.0.iter().filter(|s| **s != Self::NONE).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The subscribed topics and their seqs.
    pub fn iter(&self) -> impl Iterator<Item = (Topic, i64)> + '_ {
        Topic::ALL.into_iter().filter_map(|t| self.get(t).map(|s| (t, s)))
    }
}

impl Default for TopicSeqs {
    fn default() -> Self {
        Self::new()
    }
}

/// Close codes (RFC 6455 ranges: 1000-1015 standard, 4000-4999 ours).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame: only JSON text frames are spoken here.
    pub const UNSUPPORTED: u16 = 1003;
    /// Too many frames from the client (see the rate limit).
    pub const POLICY: u16 = 1008;
    /// A client frame larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// No pong (or any frame) from the client within the timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// The credential behind the session was revoked or lost access.
    pub const ACCESS_REVOKED: u16 = 4003;
    /// The client could not keep up: its outbound queue filled.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Too many open connections for this user or key, or for this portal.
    pub const TOO_MANY_CONNECTIONS: u16 = 4029;
}

/// A frame from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        topic: String,
        #[serde(default)]
        since: Option<i64>,
    },
    Unsubscribe {
        topic: String,
    },
    /// An application-level ping (for clients that cannot see websocket pings); answered
    /// with `{"type":"pong"}`.
    Ping,
}

/// `{"type":"error","code","message"}`.
pub fn error(code: &str, message: &str) -> String {
    json!({"type": "error", "code": code, "message": message}).to_string()
}

pub fn subscribed(topic: Topic, seq: i64) -> String {
    json!({"type": "subscribed", "topic": topic.name(), "seq": seq}).to_string()
}

/// A subscription refused or ended because `feature` is off for the portal.
pub fn feature_not_enabled(kind: &str, topic: Topic, feature: &str) -> String {
    json!({
        "type": kind, "code": "feature_not_enabled", "topic": topic.name(), "feature": feature,
        "message": format!("the feature {feature} is not enabled for this portal"),
    })
    .to_string()
}

pub fn unsubscribed(topic: Topic) -> String {
    json!({"type": "unsubscribed", "topic": topic.name()}).to_string()
}

/// The client must refetch over REST: its `since` is older than what can be replayed, or
/// unknown. `seq` is where the live stream continues from.
pub fn reset(topic: Topic, seq: i64, reason: &str) -> String {
    json!({"type": "reset", "topic": topic.name(), "seq": seq, "reason": reason}).to_string()
}

pub fn snapshot(seq: i64, data: &Value) -> ByteString {
    ByteString::from(json!({"type": "snapshot", "topic": "dashboard", "seq": seq, "data": data}).to_string())
}

pub fn dashboard_delta(seq: i64, changed: &Value) -> ByteString {
    ByteString::from(
        json!({"type": "event", "topic": "dashboard", "seq": seq, "event": "dashboard.changed", "data": changed})
            .to_string(),
    )
}

/// The `crm` frame of an outbox event. `data` and `diff` are already JSON in the outbox, so
/// they are spliced in, not parsed and re-encoded.
pub fn crm_event(e: &EventRow) -> ByteString {
    let occurred = e.occurred_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let actor = json!({"type": e.actor_type, "id": e.actor_id});
    let mut s = String::with_capacity(e.data.len() + 256);
    s.push_str(r#"{"type":"event","topic":"crm","seq":"#);
    s.push_str(&e.seq.to_string());
    s.push_str(r#","event":"#);
    s.push_str(&Value::String(e.event_type.clone()).to_string());
    s.push_str(r#","object":"#);
    s.push_str(&Value::String(e.object.clone()).to_string());
    s.push_str(r#","record_id":"#);
    s.push_str(&Value::String(e.record_id.clone()).to_string());
    s.push_str(r#","occurred_at":""#);
    s.push_str(&occurred);
    s.push_str(r#"","actor":"#);
    s.push_str(&actor.to_string());
    s.push_str(r#","data":"#);
    s.push_str(&e.data);
    if let Some(diff) = &e.diff {
        s.push_str(r#","diff":"#);
        s.push_str(diff);
    }
    s.push('}');
    ByteString::from(s)
}

/// The person a task event assigns the task to, if this event assigns it (a new task with
/// an assignee, or an update that changed the assignee).
pub fn assigned_to(e: &EventRow) -> Option<String> {
    if e.object != "task" {
        return None;
    }
    match e.event_type.as_str() {
        "task.created" | "task.restored" => {
            let data: Value = serde_json::from_str(&e.data).ok()?;
            data.get("assignee_id")?.as_str().map(str::to_string)
        }
        "task.updated" => {
            let diff: Value = serde_json::from_str(e.diff.as_deref()?).ok()?;
            diff.get("assignee_id")?.get("to")?.as_str().map(str::to_string)
        }
        _ => None,
    }
}

/// The `notifications` frame telling the assignee about a task.
/// The person a `notification.created` event is for.
pub fn notification_for(e: &EventRow) -> Option<String> {
    if e.object != crate::notifications::OBJECT {
        return None;
    }
    let data: Value = serde_json::from_str(&e.data).ok()?;
    data.get("user_id")?.as_str().map(str::to_string)
}

/// The `notifications` frame of a `notification.created` event.
pub fn notification_created(e: &EventRow) -> ByteString {
    notifications_frame(e, "notification.created")
}

/// A `notifications` topic frame carrying the event's data under `event`.
fn notifications_frame(e: &EventRow, event: &str) -> ByteString {
    let mut s = String::with_capacity(e.data.len() + 96);
    s.push_str(r#"{"type":"event","topic":"notifications","seq":"#);
    s.push_str(&e.seq.to_string());
    s.push_str(r#","event":""#);
    s.push_str(event);
    s.push_str(r#"","data":"#);
    s.push_str(&e.data);
    s.push('}');
    ByteString::from(s)
}

/// The `campaigns` frame of a campaign event (`{id, status, stats}` as data).
pub fn campaign_event(e: &EventRow) -> ByteString {
    let mut s = String::with_capacity(e.data.len() + 96);
    s.push_str(r#"{"type":"event","topic":"campaigns","seq":"#);
    s.push_str(&e.seq.to_string());
    s.push_str(r#","event":"#);
    s.push_str(&Value::String(e.event_type.clone()).to_string());
    s.push_str(r#","data":"#);
    s.push_str(&e.data);
    s.push('}');
    ByteString::from(s)
}

/// An in-app outbox event, parsed once by the tenant actor and mapped onto the end users
/// it has connected: a fan-out batch (`inapp.delivered`: one message, its recipients with
/// their item ids and counts) or one end user's change (`inapp.changed`).
#[derive(Debug)]
pub enum InboxEvent {
    Delivered {
        seq: i64,
        /// The message's fields, shared by every recipient's item.
        message: serde_json::Map<String, Value>,
        /// End-user id → (item id, unread, unseen, total after the batch).
        recipients: std::collections::HashMap<String, (String, i64, i64, i64)>,
    },
    Changed {
        seq: i64,
        user: String,
        changed: ByteString,
        counts: ByteString,
    },
}

fn counts_frame(seq: i64, counts: &Value) -> ByteString {
    ByteString::from(json!({"type": "counts", "seq": seq, "data": counts}).to_string())
}

impl InboxEvent {
    /// The in-app event in `e`, if it is one.
    pub fn of(e: &EventRow) -> Option<InboxEvent> {
        if e.object != crate::messages::OBJECT {
            return None;
        }
        let mut data: Value = serde_json::from_str(&e.data).ok()?;
        if e.event_type == crate::messages::DELIVERED {
            let message = data.get_mut("message")?.as_object_mut().map(std::mem::take)?;
            let recipients = data
                .get("recipients")?
                .as_array()?
                .iter()
                .filter_map(|r| {
                    let r = r.as_array()?;
                    let n = |i: usize| r.get(i).and_then(Value::as_i64).unwrap_or(0);
                    Some((r.first()?.as_str()?.to_string(), (r.get(1)?.as_str()?.to_string(), n(2), n(3), n(4))))
                })
                .collect();
            return Some(InboxEvent::Delivered { seq: e.seq, message, recipients });
        }
        let user = data.get("user_id")?.as_str()?.to_string();
        let counts = data.get("counts").cloned().unwrap_or(Value::Null);
        let obj = data.as_object_mut()?;
        obj.remove("user_id");
        obj.remove("counts");
        let changed = ByteString::from(json!({"type": "changed", "seq": e.seq, "data": obj}).to_string());
        Some(InboxEvent::Changed { seq: e.seq, user, changed, counts: counts_frame(e.seq, &counts) })
    }

    /// The end users this event is for.
    pub fn users(&self) -> Vec<&str> {
        match self {
            InboxEvent::Delivered { recipients, .. } => recipients.keys().map(String::as_str).collect(),
            InboxEvent::Changed { user, .. } => vec![user.as_str()],
        }
    }

    /// The frames for end user `user` (none if the event is not theirs).
    pub fn frames_for(&self, user: &str) -> Vec<ByteString> {
        match self {
            InboxEvent::Delivered { seq, message, recipients } => {
                let Some((item, unread, unseen, total)) = recipients.get(user) else { return Vec::new() };
                let mut data = message.clone();
                let created = data.get("created_at").cloned().unwrap_or(Value::Null);
                data.insert("id".into(), json!(item));
                data.insert("created_at".into(), created);
                data.insert("seen_at".into(), Value::Null);
                data.insert("read_at".into(), Value::Null);
                data.insert("archived_at".into(), Value::Null);
                let msg = ByteString::from(json!({"type": "message", "seq": seq, "data": data}).to_string());
                let counts = json!({"unread": unread, "unseen": unseen, "total": total});
                vec![msg, counts_frame(*seq, &counts)]
            }
            InboxEvent::Changed { user: u, changed, counts, .. } if u == user => vec![changed.clone(), counts.clone()],
            InboxEvent::Changed { .. } => Vec::new(),
        }
    }
}

pub fn task_assigned(e: &EventRow) -> ByteString {
    notifications_frame(e, "task.assigned")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event_type: &str, data: Value, diff: Option<Value>) -> EventRow {
        EventRow {
            tenant_id: "t".into(),
            seq: 7,
            id: "e".into(),
            event_type: event_type.into(),
            object: event_type.split('.').next().unwrap_or_default().into(),
            record_id: "r\"1".into(),
            actor_type: "user".into(),
            actor_id: Some("u".into()),
            data: data.to_string(),
            diff: diff.map(|d| d.to_string()),
            occurred_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default().naive_utc(),
        }
    }

    #[test]
    fn crm_frames_are_valid_json_with_the_record_spliced_in() {
        let e = row(
            "contact.updated",
            json!({"id": "r\"1", "email": "a@b.c"}),
            Some(json!({"email": {"from": null, "to": "a@b.c"}})),
        );
        let v: Value = serde_json::from_str(&crm_event(&e)).expect("valid JSON");
        assert_eq!(v["type"], "event");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["record_id"], "r\"1", "strings are escaped");
        assert_eq!(v["data"]["email"], "a@b.c");
        assert_eq!(v["diff"]["email"]["to"], "a@b.c");
        assert_eq!(v["actor"], json!({"type": "user", "id": "u"}));
    }

    #[test]
    fn only_assigning_task_events_notify() {
        assert_eq!(assigned_to(&row("task.created", json!({"assignee_id": "u2"}), None)), Some("u2".into()));
        assert_eq!(assigned_to(&row("task.created", json!({"assignee_id": null}), None)), None);
        let moved = json!({"assignee_id": {"from": "u1", "to": "u3"}});
        assert_eq!(assigned_to(&row("task.updated", json!({}), Some(moved))), Some("u3".into()));
        let other = json!({"title": {"from": "a", "to": "b"}});
        assert_eq!(assigned_to(&row("task.updated", json!({"assignee_id": "u1"}), Some(other))), None);
        assert_eq!(assigned_to(&row("contact.created", json!({"assignee_id": "u1"}), None)), None);
        let v: Value = serde_json::from_str(&task_assigned(&row("task.created", json!({"id": "t"}), None))).unwrap();
        assert_eq!(
            (v["topic"].as_str(), v["event"].as_str(), v["seq"].as_i64()),
            (Some("notifications"), Some("task.assigned"), Some(7))
        );
    }
}
