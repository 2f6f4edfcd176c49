//! One item of a batch write or one row of an import: find the record it addresses (none
//! to create, by `id` to update, by `email` to upsert a contact), check the body, then
//! create or update. Batches and imports word their errors differently (a batch item
//! answers like the single request would, an import row names its column), so the
//! addressing failures come back typed and each caller words them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::input;
use super::objects::Object;
use super::records::{self, ChangeActor};
use crate::db::custom_fields::CustomFieldRow;
use crate::db::TenantTx;
use crate::domain::{EmailAddress, RecordId};
use crate::error::AppError;

/// How items are matched to records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every item is a new record.
    Create,
    /// Items carry the `id` of the record to change.
    Update,
    /// Contacts only: matched by `email` (case-insensitive); created when none matches.
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

/// Why an item addresses no record it may change.
#[derive(Debug)]
pub enum Unaddressed {
    IdMissing,
    IdMalformed,
    NoSuchRecord,
    EmailMissing,
    EmailInvalid(String),
}

/// What went wrong with an item.
#[derive(Debug)]
pub enum ItemError {
    Unaddressed(Unaddressed),
    /// The body (422), a conflict (409), or a database failure.
    Failed(AppError),
}

impl From<AppError> for ItemError {
    fn from(e: AppError) -> Self {
        ItemError::Failed(e)
    }
}

impl From<diesel::result::Error> for ItemError {
    fn from(e: diesel::result::Error) -> Self {
        ItemError::Failed(e.into())
    }
}

/// The outcome of an applied item.
#[derive(Debug)]
pub enum Applied {
    Created(Value),
    Updated(Value),
}

/// Applies one item in `mode` (run it inside a savepoint so a failure leaves no trace).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    t: &mut TenantTx<'_>,
    object: Object,
    mode: Mode,
    body: &Value,
    defs: &[CustomFieldRow],
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<Applied, ItemError> {
    let target = match mode {
        Mode::Create => None,
        Mode::Update => {
            let raw = body.get("id").and_then(Value::as_str).ok_or(ItemError::Unaddressed(Unaddressed::IdMissing))?;
            let id = RecordId::parse(raw).ok_or(ItemError::Unaddressed(Unaddressed::IdMalformed))?;
            t.record(object, &id, false)?.ok_or(ItemError::Unaddressed(Unaddressed::NoSuchRecord))?;
            Some(id)
        }
        Mode::Upsert => {
            let raw =
                body.get("email").and_then(Value::as_str).ok_or(ItemError::Unaddressed(Unaddressed::EmailMissing))?;
            let email = EmailAddress::parse(raw)
                .map_err(|m| ItemError::Unaddressed(Unaddressed::EmailInvalid(m.to_string())))?;
            t.contact_by_email(email.as_str())?.map(RecordId::from_db)
        }
    };
    match target {
        None => {
            let parsed = input::parse(object, body, defs, true).map_err(AppError::invalid)?;
            Ok(Applied::Created(records::create(t, object, parsed, defs, actor, now)?))
        }
        Some(id) => {
            let parsed = input::parse(object, body, defs, false).map_err(AppError::invalid)?;
            Ok(Applied::Updated(records::update(t, object, &id, parsed, defs, actor, now)?))
        }
    }
}
