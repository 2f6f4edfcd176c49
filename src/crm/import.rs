//! Applying an import job: parse the stored CSV once, then apply rows in chunks. Each chunk
//! is one transaction that also records the progress, so a restart resumes at the first
//! row not yet committed and never applies a row twice.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::csv_io::{self, ColumnMap};
use super::input;
use super::objects::{Kind, Object};
use super::records::{self, ChangeActor};
use crate::db::imports::ImportRow;
use crate::db::{Db, TenantDb};
use crate::domain::TenantId;
use crate::error::AppError;

/// At most this many row errors are kept (the counts stay exact).
pub const MAX_ERRORS: usize = 1000;
/// A worker holds an import this long per chunk; a crashed worker's import is picked up
/// again once its lease runs out.
pub fn lease() -> Duration {
    Duration::seconds(60)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Create,
    Update,
    Upsert,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "create" => Some(Mode::Create),
            "update" => Some(Mode::Update),
            "upsert" => Some(Mode::Upsert),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// Data row, from 1 (the header is not counted).
    pub row: i64,
    pub column: String,
    pub message: String,
}

/// The parsed file: headers and data records.
pub fn read_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<csv::StringRecord>), String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err("the file has no header row".into());
    }
    // Column names end up in error reports; cells with one are row errors instead.
    if let Some(i) = headers.iter().position(|h| h.contains('\0')) {
        return Err(format!("column {} of the header row contains the NUL character (U+0000)", i + 1));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        rows.push(rec.map_err(|e| format!("row {}: {e}", i + 1))?);
    }
    Ok((headers, rows))
}

/// Everything a row needs besides itself.
#[derive(Clone)]
struct Plan {
    object: Object,
    mode: Mode,
    map: ColumnMap,
    known: Vec<(String, Option<Kind>)>,
    defs: Vec<crate::db::custom_fields::CustomFieldRow>,
    actor: ChangeActor,
}

/// Applies one row; `Ok(())` when imported, `Err(errors)` with the row's problems.
fn apply_row(
    tdb: &mut TenantDb<'_>,
    plan: &Plan,
    record: &csv::StringRecord,
    now: DateTime<Utc>,
) -> Result<(), Vec<(String, String)>> {
    let (object, mode, defs, actor) = (plan.object, plan.mode, &plan.defs[..], &plan.actor);
    let body = csv_io::row_body(record, &plan.map, &plan.known);
    let as_field = |e: AppError| -> Vec<(String, String)> {
        match e {
            AppError::Validation { errors, .. } | AppError::WithExtra { errors, .. } if !errors.is_empty() => {
                errors.into_iter().map(|fe| (fe.field, fe.message)).collect()
            }
            other => vec![("".into(), other.to_problem().detail)],
        }
    };
    let mut body = body;
    let target = match mode {
        Mode::Create => None,
        Mode::Update => match body.get("id").and_then(|v| v.as_str()) {
            Some(id) => Some(
                uuid::Uuid::parse_str(id)
                    .map(|u| u.to_string())
                    .map_err(|_| vec![("id".into(), "is not a record id".into())])?,
            ),
            None => return Err(vec![("id".into(), "is required to update".into())]),
        },
        Mode::Upsert => match body.get("email").and_then(|v| v.as_str()) {
            Some(e) => {
                let e = crate::domain::EmailAddress::parse(e).map_err(|m| vec![("email".into(), m.to_string())])?;
                tdb.contact_by_email(e.as_str()).map_err(|e| as_field(e.into()))?
            }
            None => return Err(vec![("email".into(), "is required to upsert".into())]),
        },
    };
    if let Some(obj) = body.as_object_mut() {
        obj.remove("id");
    }
    let result = match target {
        None => input::parse(object, &body, defs, true)
            .map_err(AppError::invalid)
            .and_then(|p| records::create(tdb, object, p, defs, actor, now).map(|_| ())),
        Some(id) => tdb
            .record(object, &id, false)
            .map_err(AppError::from)
            .and_then(|r| r.ok_or_else(|| AppError::validation("id", "no such record")))
            .and_then(|_| input::parse(object, &body, defs, false).map_err(AppError::invalid))
            .and_then(|p| records::update(tdb, object, &id, p, defs, actor, now).map(|_| ())),
    };
    result.map_err(as_field)
}

/// Runs a claimed import, `chunk` rows per transaction, for at most `max_chunks` chunks
/// (then the lease is handed back so other imports get a turn). Returns whether it
/// finished.
pub async fn run(
    db: &Db,
    clock: &crate::clock::Clock,
    job: ImportRow,
    owner: &str,
    chunk: usize,
    max_chunks: usize,
) -> Result<bool, AppError> {
    let tenant = TenantId::from_db(job.tenant_id.clone());
    let Some(object) = Object::parse(&job.object) else {
        fail(db, clock, &tenant, &job.id, "unknown object").await?;
        return Ok(true);
    };
    let mode = Mode::parse(&job.mode).unwrap_or(Mode::Create);
    let (headers, rows) = match read_csv(&job.file) {
        Ok(parsed) => parsed,
        Err(m) => {
            fail(db, clock, &tenant, &job.id, &m).await?;
            return Ok(true);
        }
    };
    let mapping: Option<HashMap<String, String>> = serde_json::from_str(&job.mapping).ok().flatten();
    let t = tenant.clone();
    let defs = db.run(move |conn| Ok(TenantDb::new(conn, t).custom_fields(Some(object))?)).await?;
    let known = csv_io::importable_fields(object, &defs);
    let map = match csv_io::map_columns(&headers, mapping.as_ref(), &known) {
        Ok(m) => m,
        Err(errs) => {
            let msg = errs.into_iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; ");
            fail(db, clock, &tenant, &job.id, &msg).await?;
            return Ok(true);
        }
    };
    let actor = ChangeActor { kind: "system", id: Some(format!("import:{}", job.id)) };
    let plan = std::sync::Arc::new(Plan { object, mode, map: map.clone(), known, defs, actor });
    let mut next_row = job.next_row.max(1);
    let mut imported = job.rows_imported;
    let mut failed = job.rows_failed;
    let mut errors: Vec<RowError> = serde_json::from_str(&job.errors).unwrap_or_default();
    let total = rows.len() as i64;
    let rows = std::sync::Arc::new(rows);
    let mut chunks_left = max_chunks.max(1);
    loop {
        let start = (next_row - 1) as usize;
        let end = (start + chunk).min(rows.len());
        let done = end >= rows.len();
        let now = clock.now();
        let (rows2, plan2, owner2, tenant2, id2) =
            (rows.clone(), plan.clone(), owner.to_string(), tenant.clone(), job.id.clone());
        let (mut imp, mut fl, mut errs) = (imported, failed, errors.clone());
        let outcome = db
            .write(move |conn| {
                for (i, record) in rows2[start..end].iter().enumerate() {
                    let row_no = (start + i + 1) as i64;
                    let applied = crate::db::events::savepoint(conn, |c| {
                        let mut tdb = TenantDb::new(c, tenant2.clone());
                        apply_row(&mut tdb, &plan2, record, now).map_err(RowFailure::Row)
                    });
                    match applied {
                        Ok(()) => imp += 1,
                        Err(RowFailure::Row(problems)) => {
                            fl += 1;
                            for (field, message) in problems {
                                if errs.len() < MAX_ERRORS {
                                    errs.push(RowError { row: row_no, column: plan2.map.column_of(&field), message });
                                }
                            }
                        }
                        Err(RowFailure::Db(e)) => return Err(AppError::from(e)),
                    }
                }
                let errors_json = serde_json::to_string(&errs).map_err(AppError::internal)?;
                let still_ours = TenantDb::new(conn, tenant2.clone()).advance_import(
                    &id2,
                    &owner2,
                    (end + 1) as i64,
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
                Ok((imp, fl, errs))
            })
            .await;
        match outcome {
            Ok((i, f, e)) => {
                imported = i;
                failed = f;
                errors = e;
                next_row = (end + 1) as i64;
            }
            Err(AppError::Conflict { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
        if done {
            tracing::info!(import = %job.id, total, imported, failed, "import finished");
            // A bulk load changes the tables' shape at once; PostgreSQL plans searches from
            // statistics, and stale ones pick nested loops that do not scale.
            db.run(|conn| {
                if let crate::db::DbConnection::Postgresql(c) = conn {
                    diesel::connection::SimpleConnection::batch_execute(
                        c,
                        "ANALYZE records, record_values, record_tags, tags",
                    )?;
                }
                Ok(())
            })
            .await?;
            return Ok(true);
        }
        chunks_left -= 1;
        if chunks_left == 0 {
            let (id, o, t) = (job.id.clone(), owner.to_string(), tenant.clone());
            db.write(move |conn| Ok(TenantDb::new(conn, t).release_import(&id, &o)?)).await?;
            return Ok(false);
        }
    }
}

/// A row's own problem (rolled back alone) or a database failure (aborts the chunk).
enum RowFailure {
    Row(Vec<(String, String)>),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for RowFailure {
    fn from(e: diesel::result::Error) -> Self {
        RowFailure::Db(e)
    }
}

async fn fail(
    db: &Db,
    clock: &crate::clock::Clock,
    tenant: &TenantId,
    id: &str,
    message: &str,
) -> Result<(), AppError> {
    let errors = serde_json::to_string(&[RowError { row: 0, column: String::new(), message: message.to_string() }])
        .map_err(AppError::internal)?;
    let (t, id) = (tenant.clone(), id.to_string());
    let now = clock.now().naive_utc();
    db.write(move |conn| Ok(TenantDb::new(conn, t).fail_import(&id, &errors, now)?)).await
}
