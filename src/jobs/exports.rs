//! The portal export worker: one step claims one export job (`db::system::claim_export`),
//! builds its archive (`tenant_export::build`) and records the outcome.

use std::path::Path;

use crate::clock::Clock;
use crate::db::{system, Db};
use crate::domain::TenantId;
use crate::error::AppError;

/// A claimed export is this node's for this long; a node that dies mid-build loses it
/// then, and another node builds the archive again.
pub const LEASE_MINUTES: i64 = 120;

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing queued.
    Idle,
    /// Built export `id`.
    Completed(String),
    /// Export `id` failed (its row says why).
    Failed(String),
}

pub async fn step(db: &Db, clock: &Clock, dir: &Path, owner: &str) -> Result<Outcome, AppError> {
    let now = clock.now();
    let lease = (now + chrono::Duration::minutes(LEASE_MINUTES)).naive_utc();
    let due = system::read(db, move |s| Ok(s.export_due(now.naive_utc())?)).await?;
    if !due {
        return Ok(Outcome::Idle);
    }
    let who = owner.to_string();
    let claimed = db.write(move |tx| Ok(system::enter(tx)?.claim_export(&who, now.naive_utc(), lease)?)).await?;
    let Some(job) = claimed else { return Ok(Outcome::Idle) };
    let tenant = TenantId::from_db(job.tenant_id.clone());
    let path = crate::tenant_export::archive_path(dir, &tenant, &job.id);
    let built = crate::tenant_export::build(db, &tenant, &path, now).await;
    let ended = clock.now().naive_utc();
    let (id, who) = (job.id.clone(), owner.to_string());
    match built {
        Ok(bytes) => {
            let file = path.to_string_lossy().into_owned();
            db.tenant(tenant).write(move |t| Ok(t.finish_export(&id, &who, ended, Ok((&file, bytes as i64)))?)).await?;
            tracing::info!(export = %job.id, bytes, "portal export built");
            Ok(Outcome::Completed(job.id))
        }
        Err(e) => {
            tracing::error!(export = %job.id, error = %format!("{e:?}"), "portal export failed");
            let _ = std::fs::remove_file(path.with_extension("zip.partial"));
            db.tenant(tenant)
                .write(move |t| Ok(t.finish_export(&id, &who, ended, Err("the archive could not be built"))?))
                .await?;
            Ok(Outcome::Failed(job.id))
        }
    }
}
