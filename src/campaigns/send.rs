//! One step of a sending campaign, called in a loop by its `CampaignActor`: build the next
//! batch of the audience; or run three stages of a pipeline *at the same time*:
//!
//! 1. mail the batch composed in the previous step through the SMTP pool;
//! 2. compose (render and build) the messages of the batch claimed in the previous step,
//!    on blocking threads;
//! 3. one database transaction records the outcomes of the batch mailed in the previous
//!    step (with the bounce suppressions and, at most twice a second, a `campaign.progress`
//!    event), renews the campaign's lease and claims (and reads the contacts of) the next
//!    batch.
//!
//! A step lasts as long as the slowest stage, not as their sum: the SMTP connections never
//! wait for the database or the renderer, which is what makes a send as fast as the relay
//! allows. The progress figures are counted on a read connection beside the steps, never
//! inside the write transaction (counting a large campaign's rows takes longer than a
//! step). The campaign completes when nothing is queued and nothing is in flight.
//!
//! It never holds a database transaction while talking SMTP, and never marks a recipient
//! sent before the server accepted the message: a crash before the outcome is recorded
//! (at most two batches: the one in flight, the one sent but not yet recorded) sends those
//! messages again with the same `Message-ID`, which is the only repeat there can be. A
//! claimed batch not yet mailed at a crash goes back to the queue when its lease ends.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::claim::{database_half, finish, materialise, Building, ClaimPlan, Next};
use super::deliver::{self, Batch, Pending, Recorded, Refusal, Retry};
use super::message::Sender;
use super::prepare;
use super::Engine;
use crate::db::campaign_recipients::Delivery;
use crate::db::campaigns::Stats;
use crate::domain::TenantId;
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
    loaded: Option<prepare::Loaded>,
    last_progress: Option<Instant>,
    /// The progress figures being counted on a read connection, to announce next step.
    counting: Option<tokio::task::JoinHandle<Result<Stats, AppError>>>,
    smtp_wait: Duration,
    error_shown: bool,
    /// Messages refused (or not renderable) in a row, none accepted since.
    refusal_streak: u32,
    /// Claimed in the last step (contacts read), to be composed in the next.
    claimed: Option<Batch>,
    /// Composed in the last step, to be mailed in the next.
    ahead: Option<Batch>,
    /// Mailed in the last step, to be recorded in the next.
    pending: Pending,
    /// The earliest the next batch may go on the wire (the portal's sending rate).
    paced: Option<Instant>,
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

/// Consecutive messages refused (or not renderable) with none accepted, after which the
/// campaign fails instead of burning through its audience.
const REFUSALS_BEFORE_FAILING: u32 = 10;

/// One step of campaign `id` of `tenant` on this node.
pub async fn step(e: &Engine, tenant: &TenantId, id: &str, st: &mut State) -> Result<Outcome, AppError> {
    let now = e.clock.now();
    let until = (now + e.lease).naive_utc();
    if st.loaded.is_none() {
        st.loaded = prepare::load(e, tenant, id, now).await?;
    }
    let Some(l) = st.loaded.as_mut() else { return Ok(Outcome::Stopped) };
    if !l.materialised && e.smtp.is_none() {
        // Nothing can be mailed: build the audience meanwhile, so the counts are known.
        return materialise(e, tenant, id, l, now).await;
    }
    let (composer, rate, campaign) = (l.composer.clone(), l.rate, l.campaign.clone());
    let audience = (!l.materialised).then(|| Building {
        tenant: tenant.clone(),
        segment: l.campaign.segment_id.clone().unwrap_or_default(),
        sender: l.composer.sender.clone(),
        erased: l.erased_key.clone(),
    });

    let Some(smtp) = e.smtp.clone() else {
        let (cid, owner) = (id.to_string(), e.owner.clone());
        let held =
            e.db.tenant(tenant.clone())
                .write(move |t| {
                    let held = t.renew_run_lease(&cid, &owner, until, now.naive_utc())?;
                    t.set_run_error(&cid, Some("no SMTP server is configured (ORGANIZEO_SMTP_URL)"))?;
                    Ok(held)
                })
                .await?;
        return Ok(if held { Outcome::Wait(Duration::from_secs(30)) } else { Outcome::Stopped });
    };

    let current = st.ahead.take();
    let to_compose = st.claimed.take();
    // The server must be reachable before anyone is charged an attempt.
    if let Some(batch) = &current {
        if let Err(why) = smtp.check().await {
            st.smtp_wait = (st.smtp_wait * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
            let mut undo = std::mem::take(&mut st.pending);
            let kept = undo.clone();
            undo.append(batch.released());
            if let Some(b) = &to_compose {
                undo.append(b.released());
            }
            let (cid, owner) = (id.to_string(), e.owner.clone());
            let message = format!("waiting for the SMTP server: {why}");
            let written =
                e.db.tenant(tenant.clone())
                    .write(move |t| {
                        undo.record(t, &cid, &owner, now)?;
                        t.set_run_error(&cid, Some(&message))?;
                        Ok(())
                    })
                    .await;
            if let Err(err) = written {
                // Nothing was recorded: try again with the same batches next step.
                st.pending = kept;
                st.ahead = current;
                st.claimed = to_compose;
                return Err(err);
            }
            st.error_shown = true;
            tracing::warn!(campaign = %id, error = %why, "SMTP server unreachable; the campaign waits");
            return Ok(Outcome::Wait(st.smtp_wait));
        }
        st.smtp_wait = Duration::ZERO;
    }

    // Paused or cancelled since the batch was composed (a pause usually lands while the
    // step waits for its pace): nothing more goes on the wire. Only what is already being
    // mailed when a pause lands still goes out.
    if current.is_some() {
        let cid = id.to_string();
        let status = e.db.tenant(tenant.clone()).read(move |t| Ok(t.campaign_status(&cid)?)).await?;
        if status.as_deref() != Some("sending") {
            let mut undo = std::mem::take(&mut st.pending);
            for b in current.iter().chain(to_compose.iter()) {
                undo.append(b.released());
            }
            stopped(e, tenant, id, undo, now).await?;
            return Ok(Outcome::Stopped);
        }
    }

    // The progress figures, counted beside the steps: announced once counted, and counted
    // again at most twice a second.
    let mut progress = None;
    if st.counting.as_ref().is_some_and(tokio::task::JoinHandle::is_finished) {
        if let Some(counted) = st.counting.take().and_then(futures_util::FutureExt::now_or_never) {
            match counted {
                Ok(Ok(stats)) => progress = Some(stats),
                Ok(Err(err)) => tracing::warn!(campaign = %id, error = %err, "counting a campaign's progress failed"),
                Err(err) => tracing::warn!(campaign = %id, error = %err, "counting a campaign's progress failed"),
            }
        }
    }
    if st.counting.is_none() && st.last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
        st.last_progress = Some(Instant::now());
        let (db, cid) = (e.db.tenant(tenant.clone()), id.to_string());
        st.counting = Some(actix_web::rt::spawn(async move { db.read(move |t| Ok(t.campaign_stats(&cid)?)).await }));
    }

    // The database stage: record the last batch, renew the lease, claim the next.
    let pending = std::mem::take(&mut st.pending);
    let kept = pending.clone();
    let clear_error = st.error_shown && current.is_some();
    let in_flight = current.is_some() || to_compose.is_some();
    let size = i64::from(rate).clamp(1, 500);
    let (cid, owner, finishing) = (id.to_string(), e.owner.clone(), campaign.clone());
    let plan = ClaimPlan { until, size, progress, clear_error, in_flight, audience };
    let database = async move {
        let started = Instant::now();
        let written =
            e.db.tenant(tenant.clone())
                .write(move |t| database_half(t, &cid, &owner, &pending, plan, &finishing, now))
                .await;
        tracing::debug!(db_ms = started.elapsed().as_millis(), "campaign step, database stage");
        written
    };
    // The compose stage: the batch claimed last step is rendered on blocking threads, so
    // the actor's thread does nothing but SMTP.
    let composing = async {
        let started = Instant::now();
        let composed = match to_compose {
            Some(batch) => Some(batch.compose(composer.clone()).await),
            None => None,
        };
        tracing::debug!(compose_ms = started.elapsed().as_millis(), "campaign step, compose stage");
        composed
    };
    // The SMTP stage: mail the batch composed last step.
    let retry = Retry { base: e.retry, now };
    let mailing = async {
        let started = Instant::now();
        let out = match &current {
            Some(batch) => deliver::send_batch(&smtp, batch, &retry).await,
            None => Vec::new(),
        };
        tracing::debug!(smtp_ms = started.elapsed().as_millis(), "campaign step, batch mailed");
        out
    };
    let send_started = Instant::now();
    let (results, next, composed) = futures_util::future::join3(mailing, database, composing).await;
    let elapsed = send_started.elapsed();

    let (outcomes, refusals): (Vec<Recorded>, Vec<Option<Refusal>>) = results.into_iter().unzip();
    let sent = outcomes.iter().filter(|(_, _, d)| *d == Delivery::Sent).count();
    let mailed = current.as_ref().map(|b| Pending::of(b, outcomes)).unwrap_or_default();
    let stop = campaign_stop(st, &refusals, sent, &composer.sender);
    // A batch that could not be composed (a blocking thread failed) stays claimed: its
    // lease runs out and it is claimed again.
    let composed = match composed {
        Some(Ok(b)) => Some(b),
        Some(Err(err)) => {
            tracing::error!(campaign = %id, error = %err, "composing a batch failed; it goes again when its lease ends");
            None
        }
        None => None,
    };
    let (next, built) = match next {
        Ok(n) => n,
        Err(err) => {
            // Rolled back: nothing recorded, nothing claimed. Keep what was mailed, and the
            // composed batch (still claimed) for the next step.
            st.pending = kept;
            st.pending.append(mailed);
            st.ahead = composed;
            return Err(err);
        }
    };
    st.error_shown = st.error_shown && !clear_error;
    if let Some(l) = st.loaded.as_mut().filter(|l| built && !l.materialised) {
        l.materialised = true;
        // Fresh planner statistics for the claims of the rest of the send (PostgreSQL),
        // without holding up the batch on the wire.
        let db = e.db.clone();
        actix_web::rt::spawn(async move {
            if let Err(err) = crate::jobs::campaigns::refresh_statistics(&db).await {
                tracing::warn!(error = %err, "ANALYZE after building a campaign's audience failed");
            }
        });
    }
    let claimed_next = match &next {
        Next::Claimed(b) => b.claimed.len(),
        _ => 0,
    };
    tracing::debug!(campaign = %id, sent, batch = current.as_ref().map_or(0, |b| b.claimed.len()), claimed_next,
        step_ms = elapsed.as_millis(), "campaign step");

    if let Some(why) = stop {
        // Record what was mailed, put back what was claimed, and end the campaign.
        let mut undo = mailed;
        if let Some(b) = &composed {
            undo.append(b.released());
        }
        if let Next::Claimed(b) = &next {
            undo.append(b.released());
        }
        let (cid, owner) = (id.to_string(), e.owner.clone());
        let reason = why.clone();
        e.db.tenant(tenant.clone())
            .write(move |t| {
                undo.record(t, &cid, &owner, now)?;
                finish(t, &campaign, "failed", Some(&reason), now)?;
                Ok(())
            })
            .await?;
        tracing::warn!(campaign = %id, reason = %why, "campaign failed");
        return Ok(Outcome::Finished("failed"));
    }
    match next {
        Next::Stopped | Next::Failed => {
            // Paused, cancelled or taken over mid-batch: what was mailed is still recorded,
            // and the composed batch goes back to the queue uncharged.
            let mut undo = mailed;
            if let Some(b) = &composed {
                undo.append(b.released());
            }
            stopped(e, tenant, id, undo, now).await?;
            Ok(if matches!(next, Next::Failed) { Outcome::Finished("failed") } else { Outcome::Stopped })
        }
        Next::Building => {
            st.pending = mailed;
            st.ahead = composed;
            Ok(Outcome::Worked(Duration::ZERO))
        }
        Next::Completed => Ok(Outcome::Finished("completed")),
        Next::Wait(at) => {
            st.pending = mailed;
            st.ahead = composed;
            let wait = at
                .map(|at| (at.and_utc() - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(50), Duration::from_secs(5));
            Ok(Outcome::Wait(wait))
        }
        Next::Draining | Next::Claimed(_) => {
            st.pending = mailed;
            st.ahead = composed;
            if let Next::Claimed(b) = next {
                st.claimed = Some(b);
            }
            // Paced by when each batch went on the wire, not by how long a step took: a
            // batch starts a full `count / rate` after the one before (never sooner, and
            // never in a burst to catch up after a slow step).
            let count = current.as_ref().map_or(0, |b| b.claimed.len());
            let pace = Duration::from_secs_f64(count as f64 / f64::from(rate.max(1)));
            let next = st.paced.map_or(send_started, |d| d.max(send_started)) + pace;
            st.paced = Some(next);
            Ok(Outcome::Worked(next.saturating_duration_since(Instant::now())))
        }
    }
}

/// Records what was mailed (and releases what was claimed) after the campaign stopped
/// being this node's to send. When it was paused or cancelled, a last `campaign.progress`
/// with the figures now: the status event was announced before these were recorded.
async fn stopped(
    e: &Engine,
    tenant: &TenantId,
    id: &str,
    undo: Pending,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let (cid, owner) = (id.to_string(), e.owner.clone());
    e.db.tenant(tenant.clone())
        .write(move |t| {
            let mailed = undo.outcomes.iter().any(|(_, _, d)| *d != Delivery::Released);
            undo.record(t, &cid, &owner, now)?;
            if mailed {
                if let Some(status) = t.campaign_status(&cid)?.filter(|s| s == "paused" || s == "cancelled") {
                    let stats = t.campaign_stats(&cid)?;
                    super::announce_progress(t, &cid, &status, &stats, now);
                }
            }
            Ok(())
        })
        .await
}

/// Hands campaign `id` back when this node stops gracefully, between two steps: records
/// what the last step mailed, puts the batches it claimed back in the queue uncharged, and
/// gives up the run's lease if this node still holds it, so the next node resumes at once
/// and mails nobody twice.
pub async fn hand_back(e: &Engine, tenant: &TenantId, id: &str, st: State) -> Result<(), AppError> {
    let mut undo = st.pending;
    for batch in st.ahead.iter().chain(st.claimed.iter()) {
        undo.append(batch.released());
    }
    let now = e.clock.now();
    let (cid, owner) = (id.to_string(), e.owner.clone());
    e.db.tenant(tenant.clone())
        .write(move |t| {
            undo.record(t, &cid, &owner, now)?;
            t.release_run_of(&cid, &owner)?;
            Ok(())
        })
        .await
}

/// Whether the answers of a batch stop the campaign: a refused sender at once, refused
/// (or unrenderable) messages after [`REFUSALS_BEFORE_FAILING`] in a row.
fn campaign_stop(st: &mut State, refusals: &[Option<Refusal>], sent: usize, sender: &Sender) -> Option<String> {
    let mut stop = refusals.iter().flatten().find_map(|r| match r {
        Refusal::Sender(why) => Some(format!("the relay refuses the sender {}: {why}", sender.from_email)),
        Refusal::Message(_) => None,
    });
    if sent > 0 {
        st.refusal_streak = 0;
    }
    for r in refusals.iter().flatten() {
        if let Refusal::Message(why) = r {
            st.refusal_streak += 1;
            if st.refusal_streak >= REFUSALS_BEFORE_FAILING && stop.is_none() {
                stop = Some(format!(
                    "{REFUSALS_BEFORE_FAILING} messages in a row were refused or could not be rendered; the last: {why}"
                ));
            }
        }
    }
    stop
}
