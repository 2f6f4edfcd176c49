//! The in-app fan-out worker: one step claims (or keeps) one message being fanned out and
//! stores one batch of its inbox items, the counters, the message's progress and one
//! `inapp.delivered` outbox event in a single transaction. A node that dies mid-message
//! loses nothing: its lease runs out and any node resumes at the stored cursor; a batch
//! is either wholly stored (cursor moved) or not at all, so no end user gets an item twice.

use serde_json::json;

use crate::clock::Clock;
use crate::db::events::NewEvent;
use crate::db::inapp::Batch;
use crate::db::{system, Db};
use crate::domain::TenantId;
use crate::error::AppError;
use crate::messages::{self, send};

/// A claimed message is this node's for this long past its last batch.
pub const LEASE_SECONDS: i64 = 60;

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to fan out.
    Idle,
    /// Stored a batch of `delivered` items for message `id`; more follow.
    Batch { id: String, delivered: usize },
    /// The message's last batch is stored.
    Sent(String),
    /// Another node holds the message now.
    LeaseLost(String),
}

pub async fn step(db: &Db, clock: &Clock, owner: &str) -> Result<Outcome, AppError> {
    let now = clock.now();
    let lease = (now + chrono::Duration::seconds(LEASE_SECONDS)).naive_utc();
    let who = owner.to_string();
    if !system::read(db, move |s| Ok(s.inapp_fanout_due(&who, now.naive_utc())?)).await? {
        return Ok(Outcome::Idle);
    }
    let who = owner.to_string();
    let claimed = db.write(move |tx| Ok(system::enter(tx)?.claim_inapp_message(&who, now.naive_utc(), lease)?)).await?;
    let Some(m) = claimed else { return Ok(Outcome::Idle) };
    let tenant = TenantId::from_db(m.tenant_id.clone());
    let who = owner.to_string();
    db.tenant(tenant)
        .write(move |t| {
            // Re-read under the lock: the claim may be stale by now.
            let m = match t.inapp_message(&m.id)? {
                Some(m) if m.status == "sending" && m.lease_owner.as_deref() == Some(who.as_str()) => m,
                _ => return Ok(Outcome::LeaseLost(m.id)),
            };
            let (users, next) = send::next_batch(t, &m)?;
            let delivered = t.deliver_inapp_items(&m.id, &users, now.naive_utc())?;
            let done = next.is_none();
            let cursor = next.or(m.cursor.clone());
            let batch = Batch { cursor: cursor.as_deref(), delivered: delivered.len() as i64, done };
            if !t.advance_inapp_message(&m.id, &who, batch, now.naive_utc(), lease)? {
                return Ok(Outcome::LeaseLost(m.id));
            }
            if !delivered.is_empty() {
                let recipients: Vec<serde_json::Value> =
                    delivered.iter().map(|(user, item, c)| json!([user, item, c.unread, c.unseen, c.total])).collect();
                t.append_event(
                    NewEvent {
                        event_type: messages::DELIVERED.to_string(),
                        object: messages::OBJECT,
                        record_id: m.id.clone(),
                        actor_type: "system",
                        actor_id: None,
                        data: json!({"message": messages::message_view(&m), "recipients": recipients}),
                        diff: None,
                    },
                    now,
                );
            }
            Ok(if done { Outcome::Sent(m.id) } else { Outcome::Batch { id: m.id, delivered: delivered.len() } })
        })
        .await
}
