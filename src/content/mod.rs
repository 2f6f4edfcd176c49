//! Content with version history: the revision store every kind of content shares (emails
//! now; pages and blog posts later), and the content kinds built on it (`emails`).
//!
//! A revision is an immutable snapshot of the whole content (JSON), numbered from 1 per
//! entity, with its author and time. The next number is taken inside the write
//! transaction that holds the entity's row, so two writers can never take the same one.
//! Restoring an old revision appends a new revision with its content: history is never
//! rewritten. This module must never update or delete a single revision; an entity's
//! history goes only with the entity itself, when the purge deletes it for good.

pub mod emails;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::content::RevisionSummary;
use crate::db::{TenantDb, TenantTx};
use crate::error::AppError;

/// The `kind` of email revisions.
pub const EMAIL: &str = "email";

/// `now` as both databases store it (microseconds), so what a write answers is what a
/// later read returns.
pub fn stored(now: DateTime<Utc>) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    now.naive_utc().trunc_subsecs(6)
}

/// One revision, whole.
#[derive(Debug, Clone)]
pub struct Revision {
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub author: Option<String>,
    pub snapshot: Value,
}

/// Stores `snapshot` as the next revision of `(kind, entity_id)` and returns its number.
/// The caller has read the entity's row in this transaction (locked) or just created it.
pub fn append(
    t: &mut TenantTx<'_>,
    kind: &str,
    entity_id: &str,
    snapshot: &Value,
    author: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    Ok(t.append_revision(kind, entity_id, &snapshot.to_string(), author, crate::content::stored(now))?)
}

/// A page of an entity's history, newest first, before revision `before`; each entry
/// carries the snapshot's top-level string `label_key` (an email's subject).
pub fn list(
    t: &mut TenantDb<'_>,
    kind: &str,
    entity_id: &str,
    label_key: &str,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<RevisionSummary>, AppError> {
    Ok(t.revisions(kind, entity_id, label_key, before, limit)?)
}

/// One revision of an entity, if it exists.
pub fn get(t: &mut TenantDb<'_>, kind: &str, entity_id: &str, revision: i32) -> Result<Option<Revision>, AppError> {
    let Some(row) = t.revision(kind, entity_id, revision)? else {
        return Ok(None);
    };
    let snapshot = serde_json::from_str(&row.snapshot)
        .map_err(|e| AppError::internal(anyhow::anyhow!("revision {revision} of {kind} {entity_id}: {e}")))?;
    Ok(Some(Revision { revision: row.revision, created_at: row.created_at.and_utc(), author: row.author, snapshot }))
}
