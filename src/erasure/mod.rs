//! Erasure on request: `POST /api/v1/contacts/{id}/erase` removes a person from a portal
//! everywhere the server keeps them, in one transaction, and keeps only what may be kept:
//!
//! | where | what happens |
//! | --- | --- |
//! | `records` (live or in the trash), `record_values`, `record_tags` | deleted (values and tag links cascade) |
//! | `events` of the record (timeline, websocket resume) | payload and diff replaced by a tombstone `{"id","erased":true}`; rows and `seq` stay, so the outbox has no gaps |
//! | tenant actors' in-memory history | dropped when the `contact.erased` event is read, so resumes come from the tombstoned outbox |
//! | staged `import_rows` | rows quoting the address, the phone, or both names, deleted (a queued import cannot bring the person back) |
//! | `imports.errors` | entries quoting the record id, address or phone, removed |
//! | `idempotency_keys` | stored answers quoting the record id, address or phone, deleted |
//! | `audit_log` | a `contact.erased` entry naming the record id and counts, nothing personal |
//! | `suppressions` | a keyed hash of the address ([`suppression`]), so it is never mailed again |
//!
//! | `campaign_recipients` | rows of the person in every campaign keep status and times (stats stay exact); address and contact link removed |
//! | `email_suppressions` | the address's entry (unsubscribed, bounced…) removed: the keyed hash above keeps it unmailed |
//!
//! | `inapp_items`, `inapp_counters` | the inbox of the contact's `external_id` (the end user), deleted with its counters |
//!
//! (The `inapp.delivered` outbox events of past fan-outs still name the end-user id among
//! their recipients; they carry no message text per person and are not rewritten.)
//! This module must never write the erased values anywhere, logs included.

pub mod suppression;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::db::audit::NewEntry;
use crate::db::events::{ChangeActor, NewEvent};
use crate::db::Db;
use crate::domain::{RecordId, TenantId};
use crate::error::AppError;
use crate::security::crypto::Keyring;

/// What an erasure removed (counts only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erased {
    pub id: String,
    pub erased_at: DateTime<Utc>,
    /// Events of the contact whose payload became a tombstone.
    pub events_tombstoned: usize,
    /// Staged import rows quoting the person, deleted.
    pub import_rows_removed: usize,
    /// Import error entries quoting the person, removed.
    pub import_errors_removed: usize,
    /// Stored idempotent answers quoting the person, deleted.
    pub stored_answers_removed: usize,
    /// Whether the address was added to the portal's suppression list (by hash).
    pub suppressed: bool,
    /// Campaign recipient rows of the person, anonymised.
    pub campaign_recipients_anonymised: usize,
    /// In-app inbox items of the person's `external_id`, deleted.
    pub inbox_items_removed: usize,
}

/// The text that identifies the person in other rows (lower case).
struct Needles {
    email: Option<String>,
    phone: Option<String>,
    names: Option<(String, String)>,
}

impl Needles {
    fn of(props: &Value) -> Self {
        let text =
            |k: &str| props.get(k).and_then(Value::as_str).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        Self {
            email: text("email"),
            // Short values (an extension, "1") would match unrelated rows.
            phone: text("phone").filter(|p| p.chars().filter(char::is_ascii_digit).count() >= 6),
            names: text("first_name").zip(text("last_name")).filter(|(f, l)| f.len() >= 2 && l.len() >= 2),
        }
    }

    /// Exact identifiers: the record id, the address, the phone.
    fn identifiers(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_string()];
        out.extend(self.email.clone());
        out.extend(self.phone.clone());
        out
    }
}

/// Whether a JSON value (an import error entry) quotes any needle.
fn mentions(v: &Value, needles: &[String]) -> bool {
    let text = v.to_string().to_lowercase();
    needles.iter().any(|n| text.contains(n.as_str()))
}

/// Erases contact `id` of portal `tenant` (live or in the trash). `audit` is the entry
/// the request makes (actor, origin); counts are added to it.
pub async fn erase_contact(
    db: &Db,
    keyring: &Keyring,
    tenant: TenantId,
    id: RecordId,
    actor: ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<Erased, AppError> {
    let keyring = keyring.clone();
    db.write(move |tx| {
        let rid = id.as_str().to_string();
        let props: Value = {
            let mut t = tx.tenant(&tenant)?;
            let object = t.record_object_any_state(&rid)?;
            if object.as_deref() != Some("contact") {
                return Err(AppError::not_found("contact"));
            }
            let row = match t.record(crate::crm::objects::Object::Contact, &id, false)? {
                Some(r) => r,
                None => t
                    .record(crate::crm::objects::Object::Contact, &id, true)?
                    .ok_or_else(|| AppError::not_found("contact"))?,
            };
            serde_json::from_str(&row.props).unwrap_or(Value::Null)
        };
        let needles = Needles::of(&props);
        let identifiers = needles.identifiers(&rid);
        let (suppression_hash, stored_answers_removed) = {
            let mut p = tx.platform();
            let hash = match &needles.email {
                Some(email) => Some(suppression::hash(&suppression::key(&mut p, &keyring, now)?, &tenant, email)?),
                None => None,
            };
            (hash, p.scrub_idempotency(&identifiers)?)
        };
        let mut t = tx.tenant(&tenant)?;
        if !t.erase_record(&rid)? {
            return Err(AppError::not_found("contact"));
        }
        let events_tombstoned = t.tombstone_events(&rid)?;
        let mut import_rows_removed = t.scrub_import_rows(&identifiers)?;
        if let Some((first, last)) = &needles.names {
            import_rows_removed += t.scrub_import_rows_naming(first, last)?;
        }
        let mut import_errors_removed = 0;
        for (import_id, errors) in t.imports_with_errors_mentioning(&identifiers)? {
            let list: Vec<Value> = serde_json::from_str(&errors).unwrap_or_default();
            let before = list.len();
            let kept: Vec<Value> = list.into_iter().filter(|e| !mentions(e, &identifiers)).collect();
            import_errors_removed += before - kept.len();
            t.set_import_errors(&import_id, &Value::Array(kept).to_string())?;
        }
        if let Some(hash) = &suppression_hash {
            t.suppress(hash, "erased", now.naive_utc())?;
        }
        let campaign_recipients_anonymised = t.anonymise_recipients(&rid, needles.email.as_deref())?;
        let inbox_items_removed = match props.get("external_id").and_then(Value::as_str) {
            Some(user) => t.erase_inapp_user(user)?,
            None => 0,
        };
        if let Some(email) = &needles.email {
            t.unsuppress(email)?;
        }
        let erased = Erased {
            id: rid.clone(),
            erased_at: now,
            events_tombstoned,
            import_rows_removed,
            import_errors_removed,
            stored_answers_removed,
            suppressed: suppression_hash.is_some(),
            campaign_recipients_anonymised,
            inbox_items_removed,
        };
        t.append_event(
            NewEvent {
                event_type: "contact.erased".into(),
                object: "contact",
                record_id: rid.clone(),
                actor_type: actor.kind,
                actor_id: actor.id.clone(),
                data: json!({ "id": rid, "erased": true }),
                diff: None,
            },
            now,
        );
        let details = json!({
            "events_tombstoned": erased.events_tombstoned,
            "import_rows_removed": erased.import_rows_removed,
            "import_errors_removed": erased.import_errors_removed,
            "stored_answers_removed": erased.stored_answers_removed,
            "suppressed": erased.suppressed,
            "campaign_recipients_anonymised": erased.campaign_recipients_anonymised,
            "inbox_items_removed": erased.inbox_items_removed,
        });
        t.audit(audit.target("contact", &rid).details(details), now)?;
        Ok(erased)
    })
    .await
}
