//! Background work inside `organizeo serve`. Each worker is one testable step that returns
//! an outcome (`purge::step`, `imports::step`), called in a loop here and directly by tests.
//! Work is rows in the database (jobs with leases), so every step is idempotent, safe on
//! several nodes at once, and resumes after a crash.
//!
//! This module and the CLI are the only users of `db::system` besides `identity`.

pub mod campaigns;
pub mod exports;
pub mod imports;
pub mod inapp;
pub mod purge;

use std::time::Duration;

use crate::clock::Clock;
use crate::db::Db;

/// Claims and runs queued imports, every `interval`, for the life of the server.
pub async fn import_loop(db: Db, clock: Clock, interval: Duration, chunk: usize) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4());
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        loop {
            match imports::step(&db, &clock, &owner, chunk, imports::CHUNKS_PER_TURN).await {
                Ok(imports::Outcome::Idle) => break,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "import worker failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Runs [`crate::backup::schedule::step`] every `interval` (the check is one read; the
/// backup itself runs when the injected clock enters a slot without one).
pub async fn backup_loop(
    db: Db,
    clock: Clock,
    plan: crate::backup::schedule::Plan,
    metrics: crate::backup::schedule::BackupMetrics,
    interval: Duration,
) {
    use crate::backup::schedule::{self, Outcome};
    let owner = format!("node-{}", uuid::Uuid::new_v4());
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        match schedule::step(&db, &clock, &plan, &owner, Some(&metrics)).await {
            Ok(Outcome::NotDue | Outcome::Done(_) | Outcome::Failed(_)) => {}
            Err(e) => tracing::warn!(error = %e, "backup schedule check failed; will retry"),
        }
    }
}

/// Builds queued portal exports, every `interval`, for the life of the server.
pub async fn export_loop(db: Db, clock: Clock, dir: std::path::PathBuf, interval: Duration) {
    let owner = format!("exporter-{}", uuid::Uuid::new_v4());
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        loop {
            match exports::step(&db, &clock, &dir, &owner).await {
                Ok(exports::Outcome::Idle) => break,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "export worker failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Fans out in-app messages, every `interval` (and at once when `wake` is notified by a
/// new message on this node), for the life of the server.
pub async fn inapp_loop(db: Db, clock: Clock, interval: Duration, wake: std::sync::Arc<tokio::sync::Notify>) {
    let owner = format!("fanout-{}", uuid::Uuid::new_v4());
    loop {
        let _ = actix_web::rt::time::timeout(interval, wake.notified()).await;
        loop {
            match inapp::step(&db, &clock, &owner).await {
                Ok(inapp::Outcome::Idle) => break,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "in-app fan-out failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Runs [`purge::step`] every `interval`, for the life of the server.
pub async fn purge_loop(db: Db, clock: Clock, interval: Duration) {
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        match purge::step(&db, &clock).await {
            Ok(done) if done.items() == 0 => {}
            Ok(done) => tracing::info!(purged = done.items(), "trash purge"),
            Err(e) => tracing::warn!(error = %e, "trash purge failed; will retry"),
        }
    }
}
