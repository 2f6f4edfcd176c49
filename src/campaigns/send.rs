//! One step of a sending campaign, called in a loop by its `CampaignActor` and directly by
//! tests: renew the campaign's lease; build the next batch of the audience, or claim the
//! next batch of due recipients, mail them through the SMTP pool and record how each
//! ended (one transaction for the batch, with the bounce suppressions and, at most twice
//! a second, a `campaign.progress` event); complete the campaign when nothing is queued.
//!
//! It never holds a database transaction while talking SMTP, and never marks a recipient
//! sent before the server accepted the message: a crash between the two sends that
//! message again (same `Message-ID`), which is the only repeat there can be.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audience::{self, Built};
use super::message::{self, Sender};
use super::{announce_progress, announce_status, Engine, MAX_ATTEMPTS};
use crate::crm::objects::Object;
use crate::db::campaign_recipients::{Delivery, RecipientRow};
use crate::db::campaigns::{CampaignRow, Stats};
use crate::db::TenantTx;
use crate::domain::TenantId;
use crate::email::smtp::SendError;
use crate::email::template::{self, MergeData};
use crate::error::AppError;

/// The email content frozen into a campaign's run when its send started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Content {
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
    pub revision: i32,
}

/// What a campaign's actor keeps between steps.
#[derive(Default)]
pub struct State {
    loaded: Option<Loaded>,
    last_progress: Option<Instant>,
    last_stats: Option<Stats>,
    smtp_wait: Duration,
    error_shown: bool,
    /// Messages refused (or not renderable) in a row, none accepted since.
    refusal_streak: u32,
}

struct Loaded {
    campaign: CampaignRow,
    content: Content,
    sender: Sender,
    materialised: bool,
    rate: i32,
    tenant_name: String,
    custom_values: BTreeMap<String, String>,
    erased_key: Option<Vec<u8>>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Did some work; step again after this pause (the sending pace).
    Worked(Duration),
    /// Nothing to do yet (retries waiting, the SMTP server unreachable): step again later.
    Wait(Duration),
    /// This node no longer drives the campaign (paused, cancelled, or another node's).
    Stopped,
    /// The campaign ended with this status.
    Finished(&'static str),
}

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

async fn load(e: &Engine, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<Option<Loaded>, AppError> {
    let key = super::link_key(&e.db, &e.keyring, now).await?;
    let erased_key = match e.db.read(|p| Ok(p.platform_secret(crate::erasure::suppression::SECRET_NAME)?)).await? {
        Some(stored) => Some(
            e.keyring
                .decrypt(
                    &stored,
                    crate::security::crypto::platform_secret_context(crate::erasure::suppression::SECRET_NAME)
                        .as_bytes(),
                )
                .map_err(AppError::internal)?,
        ),
        None => None,
    };
    let cid = id.to_string();
    let found =
        e.db.tenant(tenant.clone())
            .read(move |t| {
                let (Some(campaign), Some(run)) = (t.campaign(&cid)?, t.run(&cid)?) else { return Ok(None) };
                let settings = t.email_settings()?;
                let tenant_name = t.tenant()?.name;
                let mut values = BTreeMap::new();
                let mut after: Option<String> = None;
                loop {
                    let page = t.custom_values(false, after.as_deref(), 500)?;
                    let last = page.last().map(|v| v.id.clone());
                    for v in &page {
                        values.insert(v.value_key.clone(), v.value.clone());
                    }
                    if page.len() < 500 {
                        break;
                    }
                    after = last;
                }
                Ok(Some((campaign, run, settings, tenant_name, values)))
            })
            .await?;
    let Some((campaign, run, settings, tenant_name, custom_values)) = found else { return Ok(None) };
    let content: Content =
        serde_json::from_str(&run.content).map_err(|e| AppError::internal(anyhow::anyhow!("frozen content: {e}")))?;
    let sender = Sender {
        tenant_id: tenant.to_string(),
        campaign_id: campaign.id.clone(),
        from_name: campaign.from_name.clone(),
        from_email: campaign.from_email.clone().unwrap_or_default(),
        reply_to: campaign.reply_to.clone(),
        public_url: e.public_url.clone(),
        tracking: run.tracking,
        key,
    };
    Ok(Some(Loaded {
        campaign,
        content,
        sender,
        materialised: run.materialised,
        rate: settings.sending_rate_per_second.max(1),
        tenant_name,
        custom_values,
        erased_key,
    }))
}

/// Ends the campaign as `status` (completed, or failed with `why`) if it is still sending:
/// the final exact stats, the status event, and a notification to whoever created it.
fn finish(
    t: &mut TenantTx<'_>,
    c: &CampaignRow,
    status: &'static str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if !t.set_status_if(&c.id, &["sending"], status, now.naive_utc())? {
        return Ok(false);
    }
    if let Some(w) = why {
        t.set_run_error(&c.id, Some(w))?;
    }
    t.release_run(&c.id)?;
    let stats = t.campaign_stats(&c.id)?;
    announce_progress(t, &c.id, status, &stats, now);
    announce_status(t, c, "sending", status, &stats, now);
    if let Some(user) = &c.created_by {
        let (title, body) = match status {
            "completed" => (
                format!("Campaign \"{}\" finished", c.name),
                format!(
                    "{} sent, {} bounced, {} failed, {} suppressed.",
                    stats.sent, stats.bounced, stats.failed, stats.suppressed
                ),
            ),
            _ => (format!("Campaign \"{}\" failed", c.name), why.unwrap_or("it could not be sent").to_string()),
        };
        let notice = crate::notifications::Notice {
            kind: "campaign_finished",
            title,
            body,
            data: serde_json::json!({"campaign_id": c.id, "status": status, "stats": stats}),
        };
        crate::notifications::deliver(t, std::slice::from_ref(user), &notice, now)?;
    }
    Ok(true)
}

/// A refusal that is about the campaign, not the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The relay refuses the sender (5xx to MAIL FROM): no message of this campaign can go.
    Sender(String),
    /// The relay refuses the message (5xx after DATA), or it cannot be rendered.
    Message(String),
}

/// Renders and sends one recipient's message.
async fn deliver(
    e: &Engine,
    l: &Loaded,
    contacts: &HashMap<String, serde_json::Value>,
    r: &RecipientRow,
) -> (Delivery, Option<Refusal>) {
    let Some(smtp) = &e.smtp else { return (Delivery::Released, None) };
    let Some(contact) = r.contact_id.as_ref().and_then(|c| contacts.get(c)) else {
        return (Delivery::Failed("the contact was deleted before it was mailed".into()), None);
    };
    let unsubscribe_url = l.sender.unsubscribe_url(&r.id);
    let data = MergeData {
        contact: contact.clone(),
        custom_values: l.custom_values.clone(),
        tenant_name: l.tenant_name.clone(),
        unsubscribe_url: unsubscribe_url.clone(),
    };
    let c = &l.content;
    let rendered = match template::render(&c.subject, &c.preheader, &c.html, &c.text, &data) {
        Ok(r) => r,
        Err(why) => {
            let why = format!("the email could not be rendered: {why}");
            return (Delivery::Failed(why.clone()), Some(Refusal::Message(why)));
        }
    };
    let built = match message::build(&l.sender, &r.id, &r.email, rendered, &unsubscribe_url, false) {
        Ok(b) => b,
        Err(why) => return (Delivery::Failed(why), None),
    };
    match smtp.send(&built.envelope, &built.bytes).await {
        Ok(()) => (Delivery::Sent, None),
        Err(SendError::Permanent(why)) => (Delivery::Bounced(why), None),
        Err(SendError::Transient(why)) => {
            let wait = e.retry * 2i32.pow(r.attempts.clamp(1, 8) as u32 - 1);
            (Delivery::Deferred { error: why, retry_at: (e.clock.now() + wait).naive_utc() }, None)
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

/// One recipient's outcome as recorded: its id, attempts so far, and how it ended.
type Recorded = (String, i32, Delivery);

/// Consecutive messages refused (or not renderable) with none accepted, after which the
/// campaign fails instead of burning through its audience.
const REFUSALS_BEFORE_FAILING: u32 = 10;

/// One step of campaign `id` of `tenant` on this node.
pub async fn step(e: &Engine, tenant: &TenantId, id: &str, st: &mut State) -> Result<Outcome, AppError> {
    let now = e.clock.now();
    let until = (now + e.lease).naive_utc();
    let (cid, owner) = (id.to_string(), e.owner.clone());
    let held =
        e.db.tenant(tenant.clone())
            .write(move |t| Ok(t.renew_run_lease(&cid, &owner, until, now.naive_utc())?))
            .await?;
    if !held {
        return Ok(Outcome::Stopped);
    }
    if st.loaded.is_none() {
        st.loaded = load(e, tenant, id, now).await?;
    }
    let Some(l) = st.loaded.as_ref() else { return Ok(Outcome::Stopped) };

    if !l.materialised {
        let (t_id, cid, seg, sender, erased) = (
            tenant.clone(),
            id.to_string(),
            l.campaign.segment_id.clone().unwrap_or_default(),
            l.sender.clone(),
            l.erased_key.clone(),
        );
        let campaign = l.campaign.clone();
        let built =
            e.db.tenant(tenant.clone())
                .write(move |t| {
                    let built = audience::step(t, &t_id, &cid, &seg, &sender, erased.as_deref())?;
                    if let Built::Unusable(why) = &built {
                        finish(t, &campaign, "failed", Some(why), now)?;
                    }
                    Ok(built)
                })
                .await?;
        return Ok(match built {
            Built::More => Outcome::Worked(Duration::ZERO),
            Built::Done => {
                if let Some(l) = st.loaded.as_mut() {
                    l.materialised = true;
                }
                if let Err(err) = crate::jobs::campaigns::refresh_statistics(&e.db).await {
                    tracing::warn!(error = %err, "ANALYZE after building a campaign's audience failed");
                }
                Outcome::Worked(Duration::ZERO)
            }
            Built::Unusable(_) => Outcome::Finished("failed"),
        });
    }

    let Some(smtp) = e.smtp.clone() else {
        let cid = id.to_string();
        e.db.tenant(tenant.clone())
            .write(move |t| Ok(t.set_run_error(&cid, Some("no SMTP server is configured (ORGANIZEO_SMTP_URL)"))?))
            .await?;
        return Ok(Outcome::Wait(Duration::from_secs(30)));
    };

    let batch = i64::from(l.rate).clamp(1, 500);
    let (cid, owner) = (id.to_string(), e.owner.clone());
    let step_started = Instant::now();
    let claimed =
        e.db.tenant(tenant.clone())
            .write(move |t| Ok(t.claim_recipients(&cid, &owner, now.naive_utc(), until, batch)?))
            .await?;
    if claimed.is_empty() {
        let (cid, campaign) = (id.to_string(), l.campaign.clone());
        let (finished, next) =
            e.db.tenant(tenant.clone())
                .write(move |t| {
                    if t.has_queued(&cid)? {
                        return Ok((false, t.next_retry_at(&cid)?));
                    }
                    Ok((finish(t, &campaign, "completed", None, now)?, None))
                })
                .await?;
        if finished {
            return Ok(Outcome::Finished("completed"));
        }
        let wait = next
            .map(|at| (at.and_utc() - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        return Ok(Outcome::Wait(wait));
    }

    // The server must be reachable before anyone is charged an attempt.
    if let Err(why) = smtp.check().await {
        st.smtp_wait = (st.smtp_wait * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let released: Vec<(String, i32, Delivery)> =
            claimed.iter().map(|r| (r.id.clone(), r.attempts, Delivery::Released)).collect();
        let (cid, owner) = (id.to_string(), e.owner.clone());
        let message = format!("waiting for the SMTP server: {why}");
        e.db.tenant(tenant.clone())
            .write(move |t| {
                t.record_deliveries(&cid, &owner, &released, now.naive_utc(), MAX_ATTEMPTS)?;
                t.set_run_error(&cid, Some(&message))?;
                Ok(())
            })
            .await?;
        st.error_shown = true;
        tracing::warn!(campaign = %id, error = %why, "SMTP server unreachable; the campaign waits");
        return Ok(Outcome::Wait(st.smtp_wait));
    }
    st.smtp_wait = Duration::ZERO;

    let claim_ms = step_started.elapsed().as_millis();
    // Contacts for the merge, and a last look at the suppression list.
    let ids: Vec<String> = claimed.iter().filter_map(|r| r.contact_id.clone()).collect();
    let lowers: Vec<String> = claimed.iter().map(|r| r.email_lower.clone()).collect();
    let (contacts, suppressed) =
        e.db.tenant(tenant.clone())
            .read(move |t| {
                let defs = t.custom_fields(Some(Object::Contact))?;
                let rows = t.records_by_ids(Object::Contact, &ids)?;
                let contacts: HashMap<String, serde_json::Value> = rows
                    .iter()
                    .map(|r| (r.id.clone(), crate::crm::records::view(Object::Contact, r, Vec::new(), &defs)))
                    .collect();
                let suppressed: std::collections::HashSet<String> = t.suppressed_among(&lowers)?.into_iter().collect();
                Ok((contacts, suppressed))
            })
            .await?;

    let started = Instant::now();
    let read_ms = (started - step_started).as_millis() - claim_ms;
    let sends = claimed.iter().map(|r| {
        let (contacts, suppressed) = (&contacts, &suppressed);
        async move {
            let (d, refusal) = if suppressed.contains(&r.email_lower) {
                (Delivery::Suppressed, None)
            } else {
                deliver(e, l, contacts, r).await
            };
            ((r.id.clone(), r.attempts, d), refusal)
        }
    });
    let results: Vec<(Recorded, Option<Refusal>)> = futures_util::future::join_all(sends).await;
    let send_ms = started.elapsed().as_millis();
    let (outcomes, refusals): (Vec<Recorded>, Vec<Option<Refusal>>) = results.into_iter().unzip();
    let sent = outcomes.iter().filter(|(_, _, d)| *d == Delivery::Sent).count();
    // A refused sender stops the campaign at once; refused messages after a run of them.
    let mut stop: Option<String> = refusals.iter().flatten().find_map(|r| match r {
        Refusal::Sender(why) => Some(format!("the relay refuses the sender {}: {why}", l.sender.from_email)),
        Refusal::Message(_) => None,
    });
    if sent > 0 {
        st.refusal_streak = 0;
    }
    for r in refusals.iter().flatten() {
        if let Refusal::Message(why) = r {
            st.refusal_streak += 1;
            if st.refusal_streak >= REFUSALS_BEFORE_FAILING && stop.is_none() {
                stop = Some(format!("{REFUSALS_BEFORE_FAILING} messages in a row were refused or could not be rendered; the last: {why}"));
            }
        }
    }
    let bounced: Vec<String> = claimed
        .iter()
        .zip(&outcomes)
        .filter(|(_, (_, _, d))| matches!(d, Delivery::Bounced(_)))
        .map(|(r, _)| r.email.clone())
        .collect();
    let progress_due = st.last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
    let clear_error = std::mem::take(&mut st.error_shown);
    let (cid, owner, campaign) = (id.to_string(), e.owner.clone(), l.campaign.clone());
    let failing = stop.clone();
    let done = e.clock.now();
    let stats = e
        .db
        .tenant(tenant.clone())
        .write(move |t| {
            t.record_deliveries(&cid, &owner, &outcomes, done.naive_utc(), MAX_ATTEMPTS)?;
            for email in &bounced {
                let (_, new) = t.suppress_address(email, "hard_bounce", Some(&cid), done.naive_utc())?;
                if new {
                    t.audit(
                        crate::db::audit::NewEntry::new("suppression.hard_bounced")
                            .target("campaign", &cid)
                            .details(serde_json::json!({"email": super::mask_address(email), "reason": "hard_bounce"})),
                        done,
                    )?;
                }
            }
            if let Some(why) = &stop {
                finish(t, &campaign, "failed", Some(why), done)?;
                return Ok(None);
            }
            if clear_error {
                t.set_run_error(&cid, None)?;
            }
            if progress_due {
                let stats = t.campaign_stats(&cid)?;
                announce_progress(t, &cid, "sending", &stats, done);
                return Ok(Some(stats));
            }
            Ok(None)
        })
        .await?;
    if let Some(why) = failing {
        tracing::warn!(campaign = %id, reason = %why, "campaign failed");
        return Ok(Outcome::Finished("failed"));
    }
    if let Some(s) = stats {
        st.last_progress = Some(Instant::now());
        st.last_stats = Some(s);
    }
    let pace = Duration::from_secs_f64(claimed.len() as f64 / f64::from(l.rate.max(1)));
    let record_ms = started.elapsed().as_millis() - send_ms;
    tracing::debug!(campaign = %id, sent, batch = claimed.len(), claim_ms, read_ms, send_ms, record_ms, progress_due, "campaign batch");
    Ok(Outcome::Worked(pace.saturating_sub(started.elapsed())))
}
