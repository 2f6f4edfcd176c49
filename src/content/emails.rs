//! Emails: content with merge tags and version history. Each operation runs inside the
//! caller's write transaction and writes, with the change, its revision (when the content
//! changed), its outbox event (`email.created|updated|deleted|restored`) and its audit
//! entry.
//!
//! Content is checked before anything is written: sizes (name 200 characters, subject and
//! preheader 998, html 512 KiB, text 256 KiB) and templates (syntax, and only the known
//! merge variables: see [`crate::email::template`]). A change that leaves the content as
//! it was writes nothing at all. Events carry the email without its bodies (`html`,
//! `text`: up to 768 KiB that every subscriber's frame and the resume history would hold);
//! a client that wants them reads the email.
//!
//! This module must never rewrite a revision: restoring revision n appends a new one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::EMAIL;
use crate::db::audit::NewEntry;
use crate::db::content::EmailRow;
use crate::db::events::{ChangeActor, NewEvent};
use crate::db::{TenantDb, TenantTx};
use crate::domain::EmailId;
use crate::email::template;
use crate::error::{AppError, FieldError};

/// Characters in a name.
pub const NAME_MAX: usize = 200;
/// Characters in a subject or preheader (RFC 5322's line limit).
pub const SUBJECT_MAX: usize = 998;
/// Bytes of the HTML body.
pub const HTML_MAX: usize = 512 * 1024;
/// Bytes of the text body.
pub const TEXT_MAX: usize = 256 * 1024;

/// What a revision holds: the whole content of an email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailContent {
    pub name: String,
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
}

impl EmailContent {
    pub fn of(row: &EmailRow) -> Self {
        Self {
            name: row.name.clone(),
            subject: row.subject.clone(),
            preheader: row.preheader.clone(),
            html: row.html.clone(),
            text: row.text.clone(),
        }
    }

    fn snapshot(&self) -> Value {
        json!({"name": self.name, "subject": self.subject, "preheader": self.preheader,
               "html": self.html, "text": self.text})
    }

    /// Every size and template problem, one error per field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() || self.name.chars().count() > NAME_MAX {
            errors.push(FieldError::new("name", format!("is required, at most {NAME_MAX} characters")));
        }
        let fields = [
            ("subject", &self.subject, Limit::Chars(SUBJECT_MAX)),
            ("preheader", &self.preheader, Limit::Chars(SUBJECT_MAX)),
            ("html", &self.html, Limit::Bytes(HTML_MAX)),
            ("text", &self.text, Limit::Bytes(TEXT_MAX)),
        ];
        for (field, value, limit) in fields {
            match limit {
                Limit::Chars(n) if value.chars().count() > n => {
                    errors.push(FieldError::new(field, format!("must be at most {n} characters")))
                }
                Limit::Bytes(n) if value.len() > n => {
                    errors.push(FieldError::new(field, format!("must be at most {} KiB", n / 1024)))
                }
                _ => {
                    if let Err(e) = template::check(field, value) {
                        errors.push(e);
                    }
                }
            }
        }
        errors
    }
}

enum Limit {
    Chars(usize),
    Bytes(usize),
}

/// A change: the fields given replace the current ones.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

impl Changes {
    fn apply(self, mut c: EmailContent) -> EmailContent {
        let set = |slot: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut c.name, self.name.map(|n| n.trim().to_string()));
        set(&mut c.subject, self.subject);
        set(&mut c.preheader, self.preheader);
        set(&mut c.html, self.html);
        set(&mut c.text, self.text);
        c
    }
}

fn rfc3339(t: chrono::NaiveDateTime) -> Value {
    Value::String(t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// The email as events carry it: everything but the bodies.
fn event_view(row: &EmailRow) -> Value {
    json!({"id": row.id, "name": row.name, "subject": row.subject, "preheader": row.preheader,
           "revision": row.revision, "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)})
}

fn event(verb: &str, row: &EmailRow, actor: &ChangeActor, data: Value) -> NewEvent {
    NewEvent {
        event_type: format!("email.{verb}"),
        object: EMAIL,
        record_id: row.id.clone(),
        actor_type: actor.kind,
        actor_id: actor.id.clone(),
        data,
        diff: None,
    }
}

fn not_found() -> AppError {
    AppError::not_found("email")
}

/// A live email of this portal (what the campaign engine sends from).
pub fn get(t: &mut TenantDb<'_>, id: &EmailId) -> Result<EmailRow, AppError> {
    t.email(id.as_str(), false)?.ok_or_else(not_found)
}

/// The content of revision `n` of a live email (a campaign can send a fixed revision).
pub fn at_revision(t: &mut TenantDb<'_>, id: &EmailId, n: i32) -> Result<EmailContent, AppError> {
    get(t, id)?;
    let rev = super::get(t, EMAIL, id.as_str(), n)?.ok_or_else(|| AppError::not_found("revision"))?;
    serde_json::from_value(rev.snapshot).map_err(AppError::internal)
}

/// Creates an email at revision 1.
pub fn create(
    t: &mut TenantTx<'_>,
    content: EmailContent,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<EmailRow, AppError> {
    let content = EmailContent { name: content.name.trim().to_string(), ..content };
    let errors = content.problems();
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let at = crate::content::stored(now);
    let id = EmailId::new().to_string();
    let revision = super::append(t, EMAIL, &id, &content.snapshot(), actor.id.as_deref(), now)?;
    let row = EmailRow {
        id,
        tenant_id: t.tenant_id().to_string(),
        name: content.name.clone(),
        subject: content.subject.clone(),
        preheader: content.preheader.clone(),
        html: content.html.clone(),
        text: content.text.clone(),
        revision,
        created_at: at,
        updated_at: at,
        deleted_at: None,
    };
    t.insert_email(&row)?;
    t.append_event(event("created", &row, actor, event_view(&row)), now);
    t.audit(audit.target("email", &row.id).details(json!({"name": row.name, "revision": row.revision})), now)?;
    Ok(row)
}

/// Replaces the content with `next` as a new revision; returns the row unchanged (and
/// writes nothing) when `next` is the current content.
fn commit(
    t: &mut TenantTx<'_>,
    mut row: EmailRow,
    next: EmailContent,
    actor: &ChangeActor,
    audit: NewEntry,
    details: Value,
    now: DateTime<Utc>,
) -> Result<EmailRow, AppError> {
    row.revision = super::append(t, EMAIL, &row.id, &next.snapshot(), actor.id.as_deref(), now)?;
    row.name = next.name;
    row.subject = next.subject;
    row.preheader = next.preheader;
    row.html = next.html;
    row.text = next.text;
    row.updated_at = crate::content::stored(now);
    t.save_email(&row)?;
    let mut data = event_view(&row);
    if let (Some(d), Some(extra)) = (data.as_object_mut(), details.as_object()) {
        d.extend(extra.clone());
    }
    t.append_event(event("updated", &row, actor, data), now);
    let mut details = details;
    if let Some(d) = details.as_object_mut() {
        d.insert("revision".into(), json!(row.revision));
    }
    t.audit(audit.target("email", &row.id).details(details), now)?;
    Ok(row)
}

/// Applies `changes`; a new revision only if the content changes.
pub fn update(
    t: &mut TenantTx<'_>,
    id: &EmailId,
    changes: Changes,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<EmailRow, AppError> {
    let row = get(t, id)?;
    let current = EmailContent::of(&row);
    let next = changes.apply(current.clone());
    let errors = next.problems();
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    if next == current {
        return Ok(row);
    }
    let changed: Vec<&str> = [
        ("name", next.name != current.name),
        ("subject", next.subject != current.subject),
        ("preheader", next.preheader != current.preheader),
        ("html", next.html != current.html),
        ("text", next.text != current.text),
    ]
    .into_iter()
    .filter_map(|(f, c)| c.then_some(f))
    .collect();
    commit(t, row, next, actor, audit, json!({"changed": changed}), now)
}

/// Makes the content of revision `n` current again, as a new revision.
pub fn restore_revision(
    t: &mut TenantTx<'_>,
    id: &EmailId,
    n: i32,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<EmailRow, AppError> {
    let row = get(t, id)?;
    let old = super::get(t, EMAIL, id.as_str(), n)?.ok_or_else(|| AppError::not_found("revision"))?;
    let content: EmailContent = serde_json::from_value(old.snapshot).map_err(AppError::internal)?;
    commit(t, row, content, actor, audit, json!({"restored_from": n}), now)
}

/// Moves an email to the trash, with its history.
pub fn trash(
    t: &mut TenantTx<'_>,
    id: &EmailId,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut row = get(t, id)?;
    row.deleted_at = Some(crate::content::stored(now));
    t.save_email(&row)?;
    t.append_event(event("deleted", &row, actor, json!({"id": row.id})), now);
    t.audit(audit.target("email", &row.id).details(json!({"name": row.name})), now)?;
    Ok(())
}

/// Brings an email back from the trash as it was, with its history.
pub fn untrash(
    t: &mut TenantTx<'_>,
    id: &EmailId,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<EmailRow, AppError> {
    let mut row = t.email(id.as_str(), true)?.ok_or_else(not_found)?;
    row.deleted_at = None;
    t.save_email(&row)?;
    t.append_event(event("restored", &row, actor, event_view(&row)), now);
    t.audit(audit.target("email", &row.id).details(json!({"name": row.name})), now)?;
    Ok(row)
}

/// When a trashed email is deleted for good.
pub fn purge_at(row: &EmailRow) -> Option<chrono::NaiveDateTime> {
    row.deleted_at.map(|d| d + crate::crm::records::trash_retention())
}
