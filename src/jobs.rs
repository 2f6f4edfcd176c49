//! Background jobs that run on a schedule inside `organizeo serve`. Each pass is
//! idempotent and safe to run on several nodes at once.
//!
//! - purge: items in the trash past their `purge_at` are deleted for good, each with a
//!   `<object>.purged` event.

use std::time::Duration;

use crate::clock::Clock;
use crate::crm::objects::Object;
use crate::db::events::NewEvent;
use crate::db::{custom_fields, records, tags, Db, TenantDb};
use crate::domain::TenantId;
use crate::error::AppError;

/// Claims and runs queued imports, every `interval`, for the life of the server.
pub async fn import_loop(db: Db, clock: Clock, interval: Duration, chunk: usize) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4());
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        loop {
            match import_step(&db, &clock, &owner, chunk, IMPORT_CHUNKS_PER_TURN).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "import worker failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Chunks an import may run per claim before others get a turn.
pub const IMPORT_CHUNKS_PER_TURN: usize = 20;

/// Claims one import and runs up to `max_chunks` chunks of it; false when there was
/// nothing to do.
pub async fn import_step(
    db: &Db,
    clock: &Clock,
    owner: &str,
    chunk: usize,
    max_chunks: usize,
) -> Result<bool, AppError> {
    let now = clock.now();
    let lease_until = now + crate::crm::import::lease();
    let o = owner.to_string();
    let job = db
        .write(move |conn| Ok(crate::db::imports::claim(conn, &o, now.naive_utc(), lease_until.naive_utc())?))
        .await?;
    match job {
        None => Ok(false),
        Some(job) => {
            crate::crm::import::run(db, clock, job, owner, chunk, max_chunks).await?;
            Ok(true)
        }
    }
}

/// At most this many items per pass, so one pass never holds a long transaction.
const PURGE_BATCH: i64 = 500;

/// Runs [`purge_once`] every `interval`, for the life of the server.
pub async fn purge_loop(db: Db, clock: Clock, interval: Duration) {
    let mut tick = actix_web::rt::time::interval(interval);
    loop {
        tick.tick().await;
        match purge_once(&db, &clock).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "trash purge"),
            Err(e) => tracing::warn!(error = %e, "trash purge failed; will retry"),
        }
    }
}

/// One pass: returns how many items were purged.
pub async fn purge_once(db: &Db, clock: &Clock) -> Result<usize, AppError> {
    let now = clock.now();
    db.write(move |conn| {
        let mut purged = 0;
        for (tenant, object, id) in records::due_for_purge(conn, now.naive_utc(), PURGE_BATCH)? {
            let mut tdb = TenantDb::new(conn, TenantId::from_db(tenant));
            if tdb.purge_record(&id)? {
                let object = Object::parse(&object).map(Object::name).unwrap_or("record");
                tdb.append_event(
                    NewEvent {
                        event_type: format!("{object}.purged"),
                        object,
                        record_id: id.clone(),
                        actor_type: "system",
                        actor_id: None,
                        data: serde_json::json!({ "id": id }),
                        diff: None,
                    },
                    now,
                )?;
                purged += 1;
            }
        }
        for (tenant, id) in custom_fields::due_for_purge(conn, now.naive_utc(), PURGE_BATCH)? {
            if TenantDb::new(conn, TenantId::from_db(tenant)).purge_custom_field(&id)? {
                purged += 1;
            }
        }
        crate::db::idempotency::expire(conn, (now - crate::http::idempotency::retention()).naive_utc())?;
        // Websocket tickets are worthless once expired (kept a minute for diagnosis).
        crate::db::realtime_tickets::delete_expired(conn, (now - chrono::Duration::minutes(1)).naive_utc())?;
        let (due_tags, due_values) = tags::due_for_purge(conn, now.naive_utc(), PURGE_BATCH)?;
        for (tenant, id) in due_tags {
            purged += usize::from(TenantDb::new(conn, TenantId::from_db(tenant)).purge_tag(&id)?);
        }
        for (tenant, id) in due_values {
            purged += usize::from(TenantDb::new(conn, TenantId::from_db(tenant)).purge_custom_value(&id)?);
        }
        Ok(purged)
    })
    .await
}
