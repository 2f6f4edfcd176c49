//! The database stage of a campaign's send step (see [`super::send`]): one write
//! transaction that records the outcomes of the batch mailed before, renews the run's
//! lease, builds the next part of the audience while it is incomplete, announces the
//! progress counted beside the steps and claims the next batch — or completes the
//! campaign; and [`finish`], which ends a campaign with its exact figures.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::audience::{self, Built};
use super::deliver::{Batch, Pending};
use super::message::Sender;
use super::prepare::Loaded;
use super::send::Outcome;
use super::{announce_progress, announce_status, Engine};
use crate::db::campaigns::{CampaignRow, Stats};
use crate::db::TenantTx;
use crate::domain::TenantId;
use crate::error::AppError;

/// Ends the campaign as `status` (completed, or failed with `why`) if it is still sending:
/// the final exact stats, the status event, and a notification to whoever created it.
pub(super) fn finish(
    t: &mut TenantTx<'_>,
    c: &CampaignRow,
    status: &'static str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if !t.set_status_if(&c.id, &["sending"], status, now.naive_utc())? {
        return Ok(false);
    }
    // A completed campaign shows no error: a "waiting for the SMTP server" left by a node
    // that stopped while waiting is not cleared by the node that finished the send.
    t.set_run_error(&c.id, why)?;
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

/// What the database half of a step found.
pub(super) enum Next {
    /// The campaign is no longer this node's to send (paused, cancelled, taken over).
    Stopped,
    /// This batch is claimed for the next step.
    Claimed(Batch),
    /// Nothing left to claim, but a batch is in flight.
    Draining,
    /// Nothing due now; retries wait until then (None: no retry is waiting).
    Wait(Option<chrono::NaiveDateTime>),
    /// The campaign completed.
    Completed,
    /// The audience is still being built and gave nothing to claim yet: step again.
    Building,
    /// The campaign failed in this transaction (its segment became unusable).
    Failed,
}

/// What the database half builds of the audience in the same transaction, while the
/// audience is not yet complete: sending starts after the first batch instead of after
/// the whole audience.
pub(super) struct Building {
    pub(super) tenant: TenantId,
    pub(super) segment: String,
    pub(super) sender: Sender,
    pub(super) erased: Option<Vec<u8>>,
}

/// Builds the next batch of the audience (one transaction).
pub(super) async fn materialise(
    e: &Engine,
    tenant: &TenantId,
    id: &str,
    l: &mut Loaded,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let until = (now + e.lease).naive_utc();
    let (t_id, cid, owner, seg, sender, erased) = (
        tenant.clone(),
        id.to_string(),
        e.owner.clone(),
        l.campaign.segment_id.clone().unwrap_or_default(),
        l.composer.sender.clone(),
        l.erased_key.clone(),
    );
    let campaign = l.campaign.clone();
    let built =
        e.db.tenant(tenant.clone())
            .write(move |t| {
                if !t.renew_run_lease(&cid, &owner, until, now.naive_utc())? {
                    return Ok(None);
                }
                let built = audience::step(t, &t_id, &cid, &seg, &sender, erased.as_deref())?;
                if let Built::Unusable(why) = &built {
                    finish(t, &campaign, "failed", Some(why), now)?;
                }
                Ok(Some(built))
            })
            .await?;
    Ok(match built {
        None => Outcome::Stopped,
        Some(Built::More) => Outcome::Worked(Duration::ZERO),
        Some(Built::Done) => {
            l.materialised = true;
            if let Err(err) = crate::jobs::campaigns::refresh_statistics(&e.db).await {
                tracing::warn!(error = %err, "ANALYZE after building a campaign's audience failed");
            }
            Outcome::Worked(Duration::ZERO)
        }
        Some(Built::Unusable(_)) => Outcome::Finished("failed"),
    })
}

/// What the database half of a step is to do besides recording.
pub(super) struct ClaimPlan {
    pub(super) until: chrono::NaiveDateTime,
    pub(super) size: i64,
    /// Progress counted beside the last steps, to announce in this transaction.
    pub(super) progress: Option<Stats>,
    pub(super) clear_error: bool,
    pub(super) in_flight: bool,
    pub(super) audience: Option<Building>,
}

/// What the database half found: what comes next, and whether the audience is complete
/// now.
pub(super) type Half = (Next, bool);

/// The database half of a step, one transaction: record the last batch's outcomes, renew
/// the lease, build the next part of the audience while it is incomplete, announce the
/// progress counted beside the steps, claim and read the next batch — or, with the
/// audience built and nothing queued or in flight, complete the campaign.
pub(super) fn database_half(
    t: &mut TenantTx<'_>,
    cid: &str,
    owner: &str,
    pending: &Pending,
    p: ClaimPlan,
    campaign: &CampaignRow,
    now: DateTime<Utc>,
) -> Result<Half, AppError> {
    let t0 = Instant::now();
    pending.record(t, cid, owner, now)?;
    let record_us = t0.elapsed().as_micros();
    if !t.renew_run_lease(cid, owner, p.until, now.naive_utc())? {
        return Ok((Next::Stopped, false));
    }
    if p.clear_error {
        t.set_run_error(cid, None)?;
    }
    let built = match &p.audience {
        None => true,
        Some(a) => match audience::step(t, &a.tenant, cid, &a.segment, &a.sender, a.erased.as_deref())? {
            Built::More => false,
            Built::Done => true,
            Built::Unusable(why) => {
                finish(t, campaign, "failed", Some(&why), now)?;
                return Ok((Next::Failed, false));
            }
        },
    };
    if let Some(stats) = &p.progress {
        announce_progress(t, cid, "sending", stats, now);
    }
    let t1 = Instant::now();
    let claimed = t.claim_recipients(cid, owner, now.naive_utc(), p.until, p.size)?;
    let t2 = Instant::now();
    if !claimed.is_empty() {
        let b = Batch::read(t, claimed)?;
        tracing::debug!(campaign = %cid, record_us, audience_us = (t1 - t0).as_micros() - record_us,
                claim_us = (t2 - t1).as_micros(), read_us = t2.elapsed().as_micros(), "campaign step, database half");
        return Ok((Next::Claimed(b), built));
    }
    if p.in_flight {
        return Ok((Next::Draining, built));
    }
    if !built {
        return Ok((Next::Building, built));
    }
    if t.has_queued(cid)? {
        return Ok((Next::Wait(t.next_retry_at(cid)?), built));
    }
    let done = finish(t, campaign, "completed", None, now)?;
    Ok((if done { Next::Completed } else { Next::Stopped }, built))
}
