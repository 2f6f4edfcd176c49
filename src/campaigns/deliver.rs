//! A claimed batch of recipients and how its messages go out: the contacts to merge (read
//! with the claim), each message rendered from the campaign's prepared templates and handed
//! to the SMTP pool, and each answer judged — for the recipient (sent, bounced, deferred,
//! failed) and, when the relay refuses the sender or the message, for the campaign.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::message::{self, Built, Sender};
use crate::crm::objects::Object;
use crate::db::campaign_recipients::{Delivery, RecipientRow};
use crate::db::TenantTx;
use crate::email::smtp::{Job, Pool, SendError, Wire};
use crate::email::template::Prepared;
use crate::error::AppError;

/// One recipient's outcome as recorded: its id, attempts so far, and how it ended.
pub type Recorded = (String, i32, Delivery);

/// Recipients claimed for this node, with their messages once composed.
pub struct Batch {
    pub claimed: Vec<RecipientRow>,
    contacts: HashMap<String, serde_json::Value>,
    /// Addresses (lower case) suppressed since the audience was built.
    suppressed: HashSet<String>,
    /// One per claimed recipient, in order, once [`Batch::compose`] ran.
    messages: Vec<Composed>,
}

/// One recipient's message, or why there is none.
enum Composed {
    Ready(lettre::address::Envelope, Wire),
    Skip(Delivery, Option<Refusal>),
}

impl Batch {
    /// Reads the claimed recipients' contacts (their API view, custom fields included) and
    /// takes a last look at the suppression list.
    pub fn read(t: &mut TenantTx<'_>, claimed: Vec<RecipientRow>) -> Result<Batch, AppError> {
        let ids: Vec<String> = claimed.iter().filter_map(|r| r.contact_id.clone()).collect();
        let lowers: Vec<String> = claimed.iter().map(|r| r.email_lower.clone()).collect();
        let defs = t.custom_fields(Some(Object::Contact))?;
        let rows = t.records_by_ids(Object::Contact, &ids)?;
        let contacts = rows
            .iter()
            .map(|r| (r.id.clone(), crate::crm::records::view(Object::Contact, r, Vec::new(), &defs)))
            .collect();
        let suppressed = t.suppressed_among(&lowers)?.into_iter().collect();
        Ok(Batch { claimed, contacts, suppressed, messages: Vec::new() })
    }

    /// Renders and builds every message of the batch on blocking threads, split in as many
    /// parts as the machine has cores, while the SMTP connections carry the batch before:
    /// rendering is the longest part of preparing a batch, and one thread alone left the
    /// connections waiting for it.
    pub async fn compose(mut self, c: Arc<Composer>) -> Result<Batch, AppError> {
        let parts = std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1).clamp(1, 8);
        let shared = Arc::new((std::mem::take(&mut self.contacts), std::mem::take(&mut self.suppressed)));
        let size = self.claimed.len().div_ceil(parts).max(1);
        let mut rows = std::mem::take(&mut self.claimed);
        let mut chunks = Vec::with_capacity(parts);
        while !rows.is_empty() {
            let rest = rows.split_off(size.min(rows.len()));
            chunks.push(std::mem::replace(&mut rows, rest));
        }
        let tasks = chunks.into_iter().map(|chunk| {
            let (c, shared) = (c.clone(), shared.clone());
            actix_web::web::block(move || {
                let (contacts, suppressed) = &*shared;
                let messages: Vec<Composed> = chunk
                    .iter()
                    .map(|r| {
                        if suppressed.contains(&r.email_lower) {
                            Composed::Skip(Delivery::Suppressed, None)
                        } else {
                            compose(&c, contacts, r)
                        }
                    })
                    .collect();
                (chunk, messages)
            })
        });
        for done in futures_util::future::join_all(tasks).await {
            let (chunk, messages) = done.map_err(|e| AppError::internal(anyhow::anyhow!("composing a batch: {e}")))?;
            self.claimed.extend(chunk);
            self.messages.extend(messages);
        }
        Ok(self)
    }

    /// Every claimed recipient back to the queue, uncharged.
    pub fn released(&self) -> Pending {
        let outcomes = self.claimed.iter().map(|r| (r.id.clone(), r.attempts, Delivery::Released)).collect();
        Pending { outcomes, bounced: Vec::new() }
    }
}

/// A refusal that is about the campaign, not the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The relay refuses the sender (5xx to MAIL FROM): no message of this campaign can go.
    Sender(String),
    /// The relay refuses the message (5xx after DATA), or it cannot be rendered.
    Message(String),
}

/// What the messages of one campaign are made from, prepared once per run.
pub struct Composer {
    pub sender: Sender,
    pub templates: Prepared,
}

/// How long a deferred recipient waits before its next attempt.
pub struct Retry {
    pub base: chrono::Duration,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Mails every recipient of a composed `batch` through `smtp` (as many at once as the
/// pool has connections) and returns each outcome, with the campaign-level refusal if
/// there was one.
pub async fn send_batch(smtp: &Pool, batch: &Batch, retry: &Retry) -> Vec<(Recorded, Option<Refusal>)> {
    let jobs: Vec<Job<'_>> = batch
        .messages
        .iter()
        .filter_map(|m| match m {
            Composed::Ready(envelope, wire) => Some(Job { envelope, wire }),
            Composed::Skip(..) => None,
        })
        .collect();
    let mut answers = smtp.send_all(&jobs).await.into_iter();
    batch
        .claimed
        .iter()
        .zip(&batch.messages)
        .map(|(r, m)| {
            let (d, refusal) = match m {
                Composed::Skip(d, refusal) => (d.clone(), refusal.clone()),
                Composed::Ready(..) => {
                    let answer = answers.next().unwrap_or_else(|| Err(SendError::Unavailable("not sent".into())));
                    judge(answer, r, retry)
                }
            };
            ((r.id.clone(), r.attempts, d), refusal)
        })
        .collect()
}

/// Renders and builds one recipient's message.
fn compose(c: &Composer, contacts: &HashMap<String, serde_json::Value>, r: &RecipientRow) -> Composed {
    let Some(contact) = r.contact_id.as_ref().and_then(|id| contacts.get(id)) else {
        return Composed::Skip(Delivery::Failed("the contact was deleted before it was mailed".into()), None);
    };
    let unsubscribe_url = c.sender.unsubscribe_url(&r.id);
    let rendered = match c.templates.render(contact, &unsubscribe_url) {
        Ok(r) => r,
        Err(why) => {
            let why = format!("the email could not be rendered: {why}");
            return Composed::Skip(Delivery::Failed(why.clone()), Some(Refusal::Message(why)));
        }
    };
    match message::build(&c.sender, &r.id, &r.email, rendered, &unsubscribe_url, false) {
        Ok(Built { envelope, bytes }) => Composed::Ready(envelope, Wire::new(bytes)),
        Err(why) => Composed::Skip(Delivery::Failed(why), None),
    }
}

/// How the relay's answer ends this recipient's attempt.
fn judge(answer: Result<(), SendError>, r: &RecipientRow, retry: &Retry) -> (Delivery, Option<Refusal>) {
    match answer {
        Ok(()) => (Delivery::Sent, None),
        Err(SendError::Permanent(why)) => (Delivery::Bounced(why), None),
        Err(SendError::Transient(why)) => {
            let wait = retry.base * 2i32.pow(r.attempts.clamp(1, 8) as u32 - 1);
            (Delivery::Deferred { error: why, retry_at: (retry.now + wait).naive_utc() }, None)
        }
        Err(SendError::Unavailable(_)) => (Delivery::Released, None),
        // Not this recipient's doing: back to the queue uncharged; the campaign stops.
        Err(SendError::SenderRefused(why)) => (Delivery::Released, Some(Refusal::Sender(why))),
        Err(SendError::MessageRefused(why)) => {
            let why = format!("the relay refused the message: {why}");
            (Delivery::Failed(why.clone()), Some(Refusal::Message(why)))
        }
    }
}

/// Outcomes sent but not yet recorded, with the bounced addresses to suppress.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    pub outcomes: Vec<Recorded>,
    pub bounced: Vec<String>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// The outcomes of `batch`'s recipients, in order.
    pub fn of(batch: &Batch, outcomes: Vec<Recorded>) -> Pending {
        let bounced = batch
            .claimed
            .iter()
            .zip(&outcomes)
            .filter(|(_, (_, _, d))| matches!(d, Delivery::Bounced(_)))
            .map(|(r, _)| r.email.clone())
            .collect();
        Pending { outcomes, bounced }
    }

    pub fn append(&mut self, other: Pending) {
        self.outcomes.extend(other.outcomes);
        self.bounced.extend(other.bounced);
    }

    /// Records the outcomes (in `t`'s transaction) and suppresses the bounced addresses,
    /// auditing each new suppression with the address masked.
    pub fn record(
        &self,
        t: &mut TenantTx<'_>,
        campaign: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        if self.outcomes.is_empty() {
            return Ok(());
        }
        t.record_deliveries(campaign, owner, &self.outcomes, now.naive_utc(), super::MAX_ATTEMPTS)?;
        for email in &self.bounced {
            let (_, new) = t.suppress_address(email, "hard_bounce", Some(campaign), now.naive_utc())?;
            if new {
                t.audit(
                    crate::db::audit::NewEntry::new("suppression.hard_bounced")
                        .target("campaign", campaign)
                        .details(serde_json::json!({"email": super::mask_address(email), "reason": "hard_bounce"})),
                    now,
                )?;
            }
        }
        Ok(())
    }
}
