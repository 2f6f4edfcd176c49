//! The campaign runner of a node: every tick it starts scheduled campaigns whose time has
//! come (`scheduled → sending`, announced like any status change) and claims sending
//! campaigns that no node drives — new ones, resumed ones, and those whose node died (its
//! lease ran out) — starting a `CampaignActor` for each.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;

use crate::campaigns::{announce_status, Engine};
use crate::db::system;
use crate::domain::TenantId;
use crate::error::AppError;
use crate::realtime::campaign::{CampaignActor, Running};

/// Fresh planner statistics once a campaign's audience is built (PostgreSQL; nothing on
/// SQLite): the send step asks for it, the cross-portal statement lives here with the jobs.
pub async fn refresh_statistics(db: &crate::db::Db) -> Result<(), AppError> {
    db.write(|tx| Ok(system::enter(tx)?.analyze_campaign_tables()?)).await
}

/// What one tick did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Scheduled campaigns moved to sending.
    pub started: usize,
    /// Campaigns this node began driving.
    pub claimed: Vec<String>,
}

/// Starts due scheduled campaigns and claims free sending ones (without starting actors:
/// the loop does that, tests may drive `send::step` themselves).
pub async fn tick(engine: &Engine, running: &Running) -> Result<Tick, AppError> {
    let now = engine.clock.now();
    let mut out = Tick::default();
    let due = system::read(&engine.db, move |s| Ok(s.due_scheduled_campaigns(now.naive_utc(), 50)?)).await?;
    for (tenant, id) in due {
        let started = engine
            .db
            .tenant(TenantId::from_db(tenant))
            .write(move |t| {
                let Some(row) = t.campaign(&id)? else { return Ok(false) };
                if !t.set_status_if(&id, &["scheduled"], "sending", now.naive_utc())? {
                    return Ok(false);
                }
                let stats = t.campaign_stats(&id)?;
                announce_status(t, &row, "scheduled", "sending", &stats, now);
                Ok(true)
            })
            .await?;
        out.started += usize::from(started);
    }
    loop {
        let skip: Vec<String> = running.iter().map(|e| e.key().clone()).collect();
        let (owner, until) = (engine.owner.clone(), (now + engine.lease).naive_utc());
        let claimed = engine
            .db
            .write(move |tx| Ok(system::enter(tx)?.claim_campaign(&owner, now.naive_utc(), until, &skip)?))
            .await?;
        let Some((tenant, id)) = claimed else { break };
        running.insert(id.clone(), TenantId::from_db(tenant));
        out.claimed.push(id);
    }
    Ok(out)
}

/// Runs [`tick`] every `interval` for the life of the server, starting an actor for each
/// campaign claimed.
pub async fn runner_loop(engine: Arc<Engine>, running: Running, interval: Duration) {
    let mut timer = actix_web::rt::time::interval(interval);
    loop {
        // A tick, or a campaign sent or resumed on this node, whichever comes first.
        let woken = engine.wake.notified();
        futures_util::future::select(Box::pin(timer.tick()), Box::pin(woken)).await;
        match tick(&engine, &running).await {
            Ok(t) => {
                for id in t.claimed {
                    if let Some(tenant) = running.get(&id).map(|e| e.value().clone()) {
                        CampaignActor::new(engine.clone(), tenant, id, running.clone()).start();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "campaign runner failed; will retry"),
        }
    }
}
