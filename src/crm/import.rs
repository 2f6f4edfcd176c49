//! How an import row is applied: the column plan and [`apply_row`] (the same addressing
//! and write path as a batch item, `crm::item`). Files are read by `crm::csv_read`; the job
//! that applies staged rows chunk by chunk is `jobs::imports`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::csv_io::{self, ColumnMap};
pub use super::item::Mode;
use super::item::{self, ItemError, Unaddressed};
use super::objects::{Kind, Object};
use super::records::ChangeActor;
use crate::db::TenantTx;
use crate::error::AppError;

/// At most this many row errors are kept (the counts stay exact).
pub const MAX_ERRORS: usize = 1000;
/// A worker holds an import this long per chunk; a crashed worker's import is picked up
/// again once its lease runs out.
pub fn lease() -> Duration {
    Duration::seconds(60)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// Data row, from 1 (the header is not counted).
    pub row: i64,
    pub column: String,
    pub message: String,
}

/// Everything a row needs besides itself.
#[derive(Clone)]
pub struct Plan {
    pub object: Object,
    pub mode: Mode,
    pub map: ColumnMap,
    pub known: Vec<(String, Option<Kind>)>,
    pub defs: Vec<crate::db::custom_fields::CustomFieldRow>,
    pub actor: ChangeActor,
}

/// A row's problems, each as `(field, message)`.
pub type RowProblems = Vec<(String, String)>;

/// Why a row was not applied: its own problems (it is rolled back alone), or a database
/// failure (the chunk is abandoned and retried, so nothing acknowledged is lost).
pub enum RowFailure {
    Row(RowProblems),
    Db(AppError),
}

impl From<diesel::result::Error> for RowFailure {
    fn from(e: diesel::result::Error) -> Self {
        RowFailure::Db(e.into())
    }
}

/// Applies one row (run it in a savepoint).
pub fn apply_row(t: &mut TenantTx<'_>, plan: &Plan, record: &[String], now: DateTime<Utc>) -> Result<(), RowFailure> {
    let body = csv_io::row_body(record, &plan.map, &plan.known);
    let problems = |e: AppError| -> RowFailure {
        match e {
            AppError::Internal(_) | AppError::Unavailable { .. } => RowFailure::Db(e),
            AppError::Validation { errors, .. } | AppError::WithExtra { errors, .. } if !errors.is_empty() => {
                RowFailure::Row(errors.into_iter().map(|fe| (fe.field, fe.message)).collect())
            }
            other => RowFailure::Row(vec![("".into(), other.to_problem().detail)]),
        }
    };
    let one = |field: &str, message: &str| RowFailure::Row(vec![(field.to_string(), message.to_string())]);
    match item::apply(t, plan.object, plan.mode, &body, &plan.defs, &plan.actor, now) {
        Ok(_) => Ok(()),
        Err(ItemError::Unaddressed(u)) => Err(match u {
            Unaddressed::IdMissing => one("id", "is required to update"),
            Unaddressed::IdMalformed => one("id", "is not a record id"),
            Unaddressed::NoSuchRecord => one("id", "no such record"),
            Unaddressed::EmailMissing => one("email", "is required to upsert"),
            Unaddressed::EmailInvalid(m) => one("email", &m),
        }),
        Err(ItemError::Failed(e)) => Err(problems(e)),
    }
}
