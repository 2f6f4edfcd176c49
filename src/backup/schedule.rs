//! The backup schedule inside `organizeo serve`: one testable [`step`] returning an
//! [`Outcome`], called in a loop by `jobs::backup_loop` and directly by tests.
//!
//! Time (the injected clock) is cut into slots of `ORGANIZEO_BACKUP_INTERVAL_HOURS`; each
//! slot gets one backup, taken by whichever node claims it first. The run's state lives in
//! the one `backup_schedule` row:
//!
//! ```text
//!             claim (status idle, row slot < current slot)
//!   idle(s) ────────────────────────────────────────────► running(t, owner, lease)
//!     ▲                                                     │        │
//!     │  success: last_success_at, last_file, last_bytes    │        │ lease expired
//!     ├─────────────────────────────────────────────────────┘        │ (node died):
//!     │  failure: failures + 1, last_error (the next slot retries)   │ any node may
//!     └──────────────────────────────────────────────────────────────┘ claim again
//! ```
//!
//! A claim is one conditional UPDATE, so on several nodes exactly one wins each slot. The
//! metrics every node exports are read from the row, so they agree whichever node ran.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{Gauge, IntCounter, IntGauge, Registry};

use super::{Created, Options};
use crate::clock::Clock;
use crate::config::DatabaseUrl;
use crate::db::Db;
use crate::error::AppError;

/// How long a claimed run is exclusive before another node may take it over.
pub const LEASE: Duration = Duration::from_secs(2 * 3600);

/// What the schedule needs: the database to copy, the interval and where files go.
#[derive(Clone)]
pub struct Plan {
    pub url: DatabaseUrl,
    /// `None`: no scheduled backups (the metrics are still kept current, e.g. for backups
    /// taken by `organizeo backup create` from cron).
    pub interval: Option<Duration>,
    pub options: Options,
}

/// What one step did.
#[derive(Debug)]
pub enum Outcome {
    /// The current slot has its backup, or another node is taking it.
    NotDue,
    /// This node took the slot's backup.
    Done(Box<Created>),
    /// This node tried and failed (counted; the next slot tries again).
    Failed(String),
}

/// `organizeo_backup_*`: read from the schedule row at every step, except the failure
/// counter, which counts this node's failed runs.
#[derive(Clone)]
pub struct BackupMetrics {
    last_success: Gauge,
    failures: IntCounter,
    bytes: IntGauge,
}

impl BackupMetrics {
    pub fn new(registry: &Registry) -> anyhow::Result<Self> {
        let last_success = Gauge::new(
            "backup_last_success_timestamp_seconds",
            "Unix time of the newest successful backup (0 before the first)",
        )?;
        let failures = IntCounter::new("backup_failures_total", "backups this node tried and failed to take")?;
        let bytes = IntGauge::new("backup_bytes", "size of the newest successful backup file")?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        Ok(Self { last_success, failures, bytes })
    }

    async fn refresh(&self, db: &Db) -> Result<(), AppError> {
        if let Some(row) = db.read(|p| Ok(p.backup_schedule()?)).await? {
            if let Some(at) = row.last_success_at {
                self.last_success.set(at.and_utc().timestamp() as f64);
            }
            self.bytes.set(row.last_bytes.unwrap_or(0));
        }
        Ok(())
    }
}

fn slot_of(now: DateTime<Utc>, interval: Duration) -> i64 {
    now.timestamp().div_euclid(i64::try_from(interval.as_secs().max(1)).unwrap_or(i64::MAX))
}

/// Takes the current slot's backup if it is due and this node wins the claim.
pub async fn step(
    db: &Db,
    clock: &Clock,
    plan: &Plan,
    owner: &str,
    metrics: Option<&BackupMetrics>,
) -> Result<Outcome, AppError> {
    let now = clock.now();
    let Some(interval) = plan.interval else {
        if let Some(m) = metrics {
            m.refresh(db).await?;
        }
        return Ok(Outcome::NotDue);
    };
    let slot = slot_of(now, interval);
    let naive = now.naive_utc();
    let lease_until = naive + chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::hours(2));
    // A read first: most steps find nothing due and never take a write lock.
    let row = db.read(|p| Ok(p.backup_schedule()?)).await?;
    let due = row.is_some_and(|r| {
        (r.status == "idle" && r.slot < slot) || (r.status == "running" && r.lease_until.is_some_and(|l| l < naive))
    });
    let claimed = due && {
        let owner = owner.to_string();
        db.write(move |tx| Ok(tx.platform().claim_backup_slot(slot, &owner, naive, lease_until)?)).await?
    };
    if !claimed {
        if let Some(m) = metrics {
            m.refresh(db).await?;
        }
        return Ok(Outcome::NotDue);
    }
    let (url, options) = (plan.url.clone(), plan.options.clone());
    let made: anyhow::Result<Created> = match actix_web::web::block(move || super::create(&url, &options, now)).await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("backup task failed: {e}")),
    };
    let ended = clock.now().naive_utc();
    let owner = owner.to_string();
    let outcome = match made {
        Ok(created) => {
            let (file, bytes) = (created.manifest.file.clone(), created.manifest.bytes as i64);
            db.write(move |tx| Ok(tx.platform().finish_backup_run(&owner, ended, Ok((&file, bytes)))?)).await?;
            tracing::info!(file = %created.path.display(), bytes = created.manifest.bytes, pruned = created.pruned.len(), "scheduled backup taken");
            Outcome::Done(Box::new(created))
        }
        Err(e) => {
            let cause = format!("{e:#}");
            if let Some(m) = metrics {
                m.failures.inc();
            }
            tracing::error!(error = %cause, "scheduled backup failed");
            let stored = cause.clone();
            db.write(move |tx| Ok(tx.platform().finish_backup_run(&owner, ended, Err(&stored))?)).await?;
            Outcome::Failed(cause)
        }
    };
    if let Some(m) = metrics {
        m.refresh(db).await?;
    }
    Ok(outcome)
}
