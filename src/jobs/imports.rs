//! The import worker. Imports are rows in `imports` claimed with a lease (a conditional
//! UPDATE both backends run, `db::system`); a claimed import is applied in chunks of its
//! staged rows (`import_rows`, parsed once at upload), each chunk's rows, the job's
//! progress and the deletion of those staged rows in one transaction, each row in its own
//! savepoint. A crashed worker's import is picked up again once its lease runs out and
//! resumes at the first row not yet committed, so no row is applied twice; the worker
//! holds one chunk in memory, whatever the file's size.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::crm::csv_io;
use crate::crm::import::{self, lease, Mode, Plan, RowError, RowFailure, MAX_ERRORS};
use crate::crm::objects::Object;
use crate::crm::records::ChangeActor;
use crate::db::imports::ImportRow;
use crate::db::{system, Db};
use crate::domain::{ImportId, TenantId};
use crate::error::AppError;

/// Chunks an import may run per claim before others get a turn.
pub const CHUNKS_PER_TURN: usize = 20;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No import was waiting.
    Idle,
    /// An import ran for a while and gave its turn back (it is queued again).
    Yielded { import: String },
    /// An import finished (completed, or failed as a whole).
    Finished { import: String },
    /// Another worker took the import over (this one's lease had run out).
    LeaseLost { import: String },
}

/// Claims one import and runs up to `max_chunks` chunks of `chunk` rows.
pub async fn step(db: &Db, clock: &Clock, owner: &str, chunk: usize, max_chunks: usize) -> Result<Outcome, AppError> {
    let now = clock.now();
    let lease_until = now + lease();
    let o = owner.to_string();
    let job =
        db.write(move |tx| Ok(system::enter(tx)?.claim_import(&o, now.naive_utc(), lease_until.naive_utc())?)).await?;
    match job {
        None => Ok(Outcome::Idle),
        Some(job) => run(db, clock, job, owner, chunk, max_chunks).await,
    }
}

async fn run(
    db: &Db,
    clock: &Clock,
    job: ImportRow,
    owner: &str,
    chunk: usize,
    max_chunks: usize,
) -> Result<Outcome, AppError> {
    let tenant = TenantId::from_db(job.tenant_id.clone());
    let finished = Outcome::Finished { import: job.id.clone() };
    let Some(object) = Object::parse(&job.object) else {
        fail(db, clock, &tenant, &job.id, "unknown object").await?;
        return Ok(finished);
    };
    let mode = Mode::parse(&job.mode).unwrap_or(Mode::Create);
    let headers: Vec<String> = serde_json::from_str(&job.headers).unwrap_or_default();
    let mapping: Option<HashMap<String, String>> = serde_json::from_str(&job.mapping).ok().flatten();
    let defs = db.tenant(tenant.clone()).read(move |t| Ok(t.custom_fields(Some(object))?)).await?;
    let known = csv_io::importable_fields(object, &defs);
    let map = match csv_io::map_columns(&headers, mapping.as_ref(), &known) {
        Ok(m) => m,
        Err(errs) => {
            let msg = errs.into_iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; ");
            fail(db, clock, &tenant, &job.id, &msg).await?;
            return Ok(finished);
        }
    };
    let actor = ChangeActor { kind: "system", id: Some(format!("import:{}", job.id)) };
    let plan = Arc::new(Plan { object, mode, map, known, defs, actor });
    let mut next_row = job.next_row.max(1);
    let mut imported = job.rows_imported;
    let mut failed = job.rows_failed;
    let mut errors: Vec<RowError> = serde_json::from_str(&job.errors).unwrap_or_default();
    let total = job.rows_total;
    let mut chunks_left = max_chunks.max(1);
    loop {
        let now = clock.now();
        let (plan2, owner2, id2, from) = (plan.clone(), owner.to_string(), ImportId::from_db(job.id.clone()), next_row);
        let (mut imp, mut fl, mut errs) = (imported, failed, errors.clone());
        let outcome = db
            .tenant(tenant.clone())
            .write(move |t| {
                // One more than a chunk, to know whether this chunk is the last.
                let staged = t.staged_rows(&id2, from, chunk as i64 + 1)?;
                let done = staged.len() <= chunk;
                let mut next = from;
                for (row_no, cells) in staged.iter().take(chunk) {
                    next = row_no + 1;
                    let mut note = |field: &str, message: String| {
                        if errs.len() < MAX_ERRORS {
                            errs.push(RowError { row: *row_no, column: plan2.map.column_of(field), message });
                        }
                    };
                    let Ok(record) = serde_json::from_str::<Vec<String>>(cells) else {
                        fl += 1;
                        note("", "the staged row cannot be read".into());
                        continue;
                    };
                    match t.savepoint(|t| import::apply_row(t, &plan2, &record, now)) {
                        Ok(()) => imp += 1,
                        Err(RowFailure::Row(problems)) => {
                            fl += 1;
                            for (field, message) in problems {
                                note(&field, message);
                            }
                        }
                        Err(RowFailure::Db(e)) => return Err(e),
                    }
                }
                let errors_json = serde_json::to_string(&errs).map_err(AppError::internal)?;
                let still_ours = t.advance_import(
                    &id2,
                    &owner2,
                    next,
                    imp,
                    fl,
                    &errors_json,
                    done,
                    now.naive_utc(),
                    (now + lease()).naive_utc(),
                )?;
                if !still_ours {
                    return Err(AppError::conflict("lease lost"));
                }
                if done {
                    // The people who may import (owners and admins) hear that it is done.
                    let notice = crate::notifications::Notice {
                        kind: "import_finished",
                        title: format!("Import finished: {imp} imported, {fl} failed"),
                        body: String::new(),
                        data: serde_json::json!({"import_id": id2.as_str(), "rows_imported": imp, "rows_failed": fl}),
                    };
                    let managers = crate::notifications::managers(t)?;
                    crate::notifications::deliver(t, &managers, &notice, now)?;
                }
                Ok((imp, fl, errs, next, done))
            })
            .await;
        let done = match outcome {
            Ok((i, f, e, next, done)) => {
                imported = i;
                failed = f;
                errors = e;
                next_row = next;
                done
            }
            Err(AppError::Conflict { .. }) => return Ok(Outcome::LeaseLost { import: job.id }),
            Err(e) => return Err(e),
        };
        if done {
            tracing::info!(import = %job.id, total, imported, failed, "import finished");
            // A bulk load changes the tables' shape at once; PostgreSQL plans searches from
            // statistics, and stale ones pick nested loops that do not scale.
            db.write(|tx| Ok(system::enter(tx)?.analyze_crm_tables()?)).await?;
            return Ok(finished);
        }
        chunks_left -= 1;
        if chunks_left == 0 {
            let (id, o) = (ImportId::from_db(job.id.clone()), owner.to_string());
            db.tenant(tenant.clone()).write(move |t| Ok(t.release_import(&id, &o)?)).await?;
            return Ok(Outcome::Yielded { import: job.id });
        }
    }
}

async fn fail(db: &Db, clock: &Clock, tenant: &TenantId, id: &str, message: &str) -> Result<(), AppError> {
    let errors = serde_json::to_string(&[RowError { row: 0, column: String::new(), message: message.to_string() }])
        .map_err(AppError::internal)?;
    let id = ImportId::from_db(id.to_string());
    let now = clock.now();
    let notice = crate::notifications::Notice {
        kind: "import_failed",
        title: "Import failed".into(),
        body: message.to_string(),
        data: serde_json::json!({"import_id": id.as_str()}),
    };
    db.tenant(tenant.clone())
        .write(move |t| {
            t.fail_import(&id, &errors, now.naive_utc())?;
            let managers = crate::notifications::managers(t)?;
            crate::notifications::deliver(t, &managers, &notice, now)?;
            Ok(())
        })
        .await
}
