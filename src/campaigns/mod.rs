//! Email campaigns: a named send of one email to one segment.
//!
//! ## Status machine
//!
//! ```text
//!            send (send_at in the future)          due (the runner)
//!   draft ─────────────────────────────▶ scheduled ───────────────▶ sending ──▶ completed
//!     │  send (now)                          │ cancel                │  ▲  (every recipient
//!     └──────────────────────────────────────┼──────────────────────▶│  │   sent, failed,
//!                                            ▼                 pause │  │ resume  bounced or
//!                                        cancelled ◀──── cancel ─ paused   suppressed)
//!                                            ▲                       │
//!                                            └──────── cancel ───────┘ (from sending too)
//! ```
//!
//! `failed` is for a campaign that cannot go on (its email or segment was deleted before
//! the audience was built). Only drafts are editable; anything else is 409. Every
//! transition is one conditional UPDATE (`set_status_if`), so a race has one winner, and
//! appends `campaign.status_changed` to the outbox (the `campaigns` topic).
//!
//! ## Sending
//!
//! When a send starts, the email's content is frozen into the campaign's run
//! (`campaign_runs`), so later edits to the email do not reach a send in progress. The
//! node's runner (`jobs::campaigns`) claims a sending campaign no node holds and starts a
//! [`crate::realtime::campaign::CampaignActor`] for it, which repeats [`send::step`]:
//! first the audience becomes recipient rows ([`audience`]), a batch at a time behind a
//! cursor; then recipients are claimed with leases, mailed through the node's SMTP pool at
//! the portal's `sending_rate_per_second`, and their outcomes recorded. A crash loses at
//! most the messages in flight, which are sent again with the same `Message-ID`.

pub mod audience;
mod claim;
pub mod deliver;
pub mod message;
mod prepare;
pub mod send;
pub mod tokens;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::clock::Clock;
use crate::db::campaigns::{CampaignRow, Stats};
use crate::db::events::NewEvent;
use crate::db::{Db, TenantTx};
use crate::email::smtp::Pool;
use crate::error::AppError;
use crate::security::crypto::Keyring;

/// The outbox object of campaign events (the `campaigns` topic, never `crm`).
pub const OBJECT: &str = "campaign";
pub const STATUS_CHANGED: &str = "campaign.status_changed";
pub const PROGRESS: &str = "campaign.progress";

/// Attempts per recipient before a deferral (4xx, broken connection) becomes `failed`.
pub const MAX_ATTEMPTS: i32 = 3;

/// Every status.
pub const STATUSES: &[&str] = &["draft", "scheduled", "sending", "paused", "completed", "cancelled", "failed"];

/// A change a person or key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    Pause,
    Resume,
    Cancel,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
        }
    }

    /// The statuses this action may start from.
    pub fn from(self) -> &'static [&'static str] {
        match self {
            Action::Send => &["draft"],
            Action::Pause => &["sending"],
            Action::Resume => &["paused"],
            Action::Cancel => &["scheduled", "sending", "paused"],
        }
    }
}

/// The status after `action` from `status`, or `None` when the machine forbids it (409).
pub fn next(status: &str, action: Action, scheduled: bool) -> Option<&'static str> {
    if !action.from().contains(&status) {
        return None;
    }
    Some(match action {
        Action::Send if scheduled => "scheduled",
        Action::Send | Action::Resume => "sending",
        Action::Pause => "paused",
        Action::Cancel => "cancelled",
    })
}

/// Appends `campaign.status_changed` for `row` (now in `status`).
pub fn announce_status(
    t: &mut TenantTx<'_>,
    row: &CampaignRow,
    previous: &str,
    status: &str,
    stats: &Stats,
    now: DateTime<Utc>,
) {
    t.append_event(
        NewEvent {
            event_type: STATUS_CHANGED.into(),
            object: OBJECT,
            record_id: row.id.clone(),
            actor_type: "system",
            actor_id: None,
            data: json!({"id": row.id, "name": row.name, "status": status, "previous": previous, "stats": stats}),
            diff: None,
        },
        now,
    );
}

/// Appends `campaign.progress` (`{id, stats}`).
pub fn announce_progress(t: &mut TenantTx<'_>, id: &str, status: &str, stats: &Stats, now: DateTime<Utc>) {
    t.append_event(
        NewEvent {
            event_type: PROGRESS.into(),
            object: OBJECT,
            record_id: id.to_string(),
            actor_type: "system",
            actor_id: None,
            data: json!({"id": id, "status": status, "stats": stats}),
            diff: None,
        },
        now,
    );
}

/// An address as the audit log may keep it (`a***@example.com`): the append-only log
/// cannot forget what erasure removes everywhere else, so it never holds whole addresses.
pub fn mask_address(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// What the sending side of a node needs.
pub struct Engine {
    pub db: Db,
    pub clock: Clock,
    pub keyring: Keyring,
    /// `None` when `ORGANIZEO_SMTP_URL` is not set: sends are refused (409).
    pub smtp: Option<Arc<Pool>>,
    /// `ORGANIZEO_PUBLIC_URL` without a trailing slash.
    pub public_url: String,
    /// How long a node holds a campaign or a claimed recipient before another may take it.
    pub lease: chrono::Duration,
    /// The first retry's wait after a 4xx (doubled for the next).
    pub retry: chrono::Duration,
    /// This node's name in leases.
    pub owner: String,
    /// Wakes this node's campaign runner before its next tick: a campaign sent or resumed
    /// here starts at once instead of up to a tick later.
    pub wake: Arc<tokio::sync::Notify>,
    /// Set once when the node stops gracefully: each campaign actor then finishes its
    /// step, records what it mailed, puts back what it claimed and gives up its lease
    /// ([`send::hand_back`]), so the next node resumes at once and mails nobody twice.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// How many campaign actors run on this node (the graceful stop waits for 0).
    pub actors: tokio::sync::watch::Sender<usize>,
}

impl Engine {
    /// Asks this node's campaign actors to hand their campaigns back, and waits until they
    /// have (at most `deadline`). Returns how many were still running at the deadline:
    /// their leases run out and another node resumes them, as after a crash.
    pub async fn hand_back_all(&self, deadline: std::time::Duration) -> usize {
        self.stop.send_replace(true);
        let mut actors = self.actors.subscribe();
        let _ = actix_web::rt::time::timeout(deadline, actors.wait_for(|n| *n == 0)).await;
        let left = *actors.borrow();
        left
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "campaign engine {} ({:?})", self.owner, self.smtp)
    }
}

/// The link-signing key (a platform secret, created on first use, sealed by the keyring).
pub async fn link_key(db: &Db, keyring: &Keyring, now: DateTime<Utc>) -> Result<Vec<u8>, AppError> {
    use crate::security::crypto::platform_secret_context;
    let context = platform_secret_context(tokens::SECRET_NAME);
    if let Some(stored) = db.read(|p| Ok(p.platform_secret(tokens::SECRET_NAME)?)).await? {
        return keyring.decrypt(&stored, context.as_bytes()).map_err(AppError::internal);
    }
    let mut fresh = [0u8; 32];
    getrandom::getrandom(&mut fresh).map_err(|e| AppError::internal(anyhow::anyhow!("no randomness: {e}")))?;
    let sealed = keyring.encrypt(&fresh, context.as_bytes())?;
    let stored = db
        .write(move |tx| {
            let mut p = tx.platform();
            if p.platform_secret(tokens::SECRET_NAME)?.is_none() {
                p.add_platform_secret(tokens::SECRET_NAME, &sealed, now.naive_utc())?;
            }
            Ok(p.platform_secret(tokens::SECRET_NAME)?)
        })
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the link key was not stored")))?;
    keyring.decrypt(&stored, context.as_bytes()).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_entries_keep_only_a_masked_address() {
        assert_eq!(mask_address("Ann.Smith@example.com"), "A***@example.com");
        assert_eq!(mask_address("nope"), "***");
    }

    #[test]
    fn the_status_machine_allows_only_its_arrows() {
        assert_eq!(next("draft", Action::Send, false), Some("sending"));
        assert_eq!(next("draft", Action::Send, true), Some("scheduled"));
        assert_eq!(next("sending", Action::Pause, false), Some("paused"));
        assert_eq!(next("paused", Action::Resume, false), Some("sending"));
        for s in ["scheduled", "sending", "paused"] {
            assert_eq!(next(s, Action::Cancel, false), Some("cancelled"));
        }
        for (s, a) in [
            ("sending", Action::Send),
            ("completed", Action::Send),
            ("draft", Action::Pause),
            ("scheduled", Action::Pause),
            ("paused", Action::Pause),
            ("sending", Action::Resume),
            ("draft", Action::Resume),
            ("completed", Action::Cancel),
            ("cancelled", Action::Cancel),
            ("draft", Action::Cancel),
            ("failed", Action::Resume),
        ] {
            assert_eq!(next(s, a, false), None, "{s} {a:?}");
        }
    }
}
