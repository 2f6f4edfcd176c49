//! In-app messages: a portal's messages to its own end users (people of the portal's
//! product, identified by the portal's server with an HMAC), their inbox with exact
//! counts, and the fan-out that turns one message into one inbox item per recipient.
//!
//! - `identity.rs`: the portal's app id, allowed origins and sealed identity secret;
//!   `user_hash` checked in constant time;
//! - `send.rs`: a message checked and stored (202), then fanned out by
//!   `jobs::inapp::step` a batch per transaction behind a lease;
//! - `inbox.rs`: what an end user does with their items (every change moves the exact
//!   counters in its own transaction and appends one outbox event).
//!
//! Message lifecycle (`inapp_messages.status`):
//!
//! ```text
//! queued ──claim──▶ sending ──last batch──▶ sent
//!                     │  ▲
//!                     └──┘ lease expired (node died): claimed again, resumes at `cursor`
//! ```
//!
//! Real time: each fan-out batch appends ONE `inapp.delivered` outbox event naming its
//! recipients (user id, item id, counts after the batch); every node's tenant actor maps
//! it onto the end users it has connected. A message to 100,000 people is 100 events, not
//! 100,000. Each change by an end user appends one `inapp.changed` event for that user.
//! These events are never on the `crm` topic.
//!
//! This module must never render message text as HTML, nor trust a browser's claim of
//! who it is: the identity is the HMAC or nothing.

pub mod identity;
pub mod inbox;
pub mod send;

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::db::inapp::{ItemRow, MessageRow};

/// The outbox object of in-app events.
pub const OBJECT: &str = "inapp";
/// A fan-out batch reached its recipients.
pub const DELIVERED: &str = "inapp.delivered";
/// An end user changed items (seen, read, archive…).
pub const CHANGED: &str = "inapp.changed";

/// Limits of a message (documented in the README and the OpenAPI document).
pub const TITLE_MAX: usize = 200;
pub const BODY_MAX: usize = 5_000;
pub const ACTION_URL_MAX: usize = 2_048;
pub const CATEGORY_MAX: usize = 64;
/// End-user ids named inline in one audience (more: use a segment).
pub const USER_IDS_MAX: usize = 10_000;
/// The longest end-user id.
pub const USER_ID_MAX: usize = 255;
/// Recipients stored per fan-out transaction (and per `inapp.delivered` event).
pub const FANOUT_BATCH: usize = 1_000;

fn at(t: NaiveDateTime) -> Value {
    json!(t.and_utc())
}

fn opt(t: Option<NaiveDateTime>) -> Value {
    t.map(at).unwrap_or(Value::Null)
}

/// The message's part of an inbox item, as the end user sees it.
pub fn message_view(m: &MessageRow) -> serde_json::Map<String, Value> {
    let mut v = serde_json::Map::new();
    v.insert("message_id".into(), json!(m.id));
    v.insert("title".into(), json!(m.title));
    v.insert("body".into(), json!(m.body));
    v.insert("action_url".into(), json!(m.action_url));
    v.insert("category".into(), json!(m.category));
    v.insert("created_at".into(), at(m.created_at));
    v.insert("expires_at".into(), opt(m.expires_at));
    v
}

/// An inbox item as the end-user API and websocket show it.
pub fn item_view(item: &ItemRow, m: &MessageRow) -> Value {
    let mut v = message_view(m);
    v.insert("id".into(), json!(item.id));
    v.insert("created_at".into(), at(item.created_at));
    v.insert("seen_at".into(), opt(item.seen_at));
    v.insert("read_at".into(), opt(item.read_at));
    v.insert("archived_at".into(), opt(item.archived_at));
    Value::Object(v)
}
