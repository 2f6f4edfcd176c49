//! Emails in the browser: the list, the form to write or change one, its history (one
//! revision whole, two compared line by line, restoring one as a new revision) and its
//! preview as a contact. Every read and write is the API's (`http::emails`, the preview
//! `http::campaign_actions::preview_email`), so the template check that refuses a bad
//! `{{ }}` with its line, the revisions and the audit entries are the API's own.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::mail::{self, url};
use super::render::{self, see_other};
use super::{diff, Page, Visitor};
use crate::http::campaign_actions;
use crate::http::emails::{self, EmailInput};

/// The form's fields, as the API names them (its 422s land beside the same inputs).
const FIELDS: &[&str] = &["name", "subject", "preheader", "html", "text"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct After {
    after: Option<String>,
}

/// `/app/emails`: 25 at a time, with each one's revision.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let q: After = mail::query(&v)?;
    let page = emails::page_of(&v.state, &m.principal, mail::page_after(&q.after)).await.map_err(|e| v.fail(e))?;
    let next_url = page.next_cursor.map(|c| url("/app/emails", &[("after", &c)]));
    let ctx = json!({"emails": page.data, "next_url": next_url, "paged": q.after.is_some(), "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/emails.html", mail::frame(&v, "emails-title", "emails"), ctx)
        .map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    name: String,
    subject: String,
    preheader: String,
    html: String,
    text: String,
}

/// Browsers send a textarea's lines with CRLF (HTML's form submission rules); stored as
/// sent, every save from the browser would be a change and a new revision of nothing.
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

impl EmailForm {
    fn input(&self) -> EmailInput {
        EmailInput {
            name: Some(self.name.clone()),
            subject: Some(self.subject.clone()),
            preheader: Some(self.preheader.clone()),
            html: Some(lf(&self.html)),
            text: Some(lf(&self.text)),
        }
    }

    fn values(&self) -> Value {
        json!({"name": self.name, "subject": self.subject, "preheader": self.preheader, "html": self.html,
            "text": self.text})
    }
}

fn form_page(
    v: &Visitor,
    status: StatusCode,
    id: Option<&str>,
    values: Value,
    errors: BTreeMap<String, Vec<String>>,
) -> Page {
    let (title, action, cancel) = match id {
        Some(id) => ("email-edit-title", format!("/app/emails/{id}"), format!("/app/emails/{id}")),
        None => ("email-new-title", "/app/emails".to_string(), "/app/emails".to_string()),
    };
    let ctx = json!({"form": values, "errors": errors, "action": action, "cancel": cancel, "heading": title});
    render::page(status, "mail/email_form.html", mail::frame(v, title, "emails"), ctx).map_err(|e| v.fail(e))
}

pub async fn new(v: Visitor) -> Page {
    mail::may_write(&v).await?;
    form_page(&v, StatusCode::OK, None, json!({}), BTreeMap::new())
}

pub async fn edit(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    mail::may_write(&v).await?;
    form_page(&v, StatusCode::OK, Some(&email.id), json!(email), BTreeMap::new())
}

async fn save(v: Visitor, id: Option<String>, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_write(&v).await?;
    let form: EmailForm = forms::parse(v.lang, &body)?;
    let saved = match &id {
        None => emails::create_email(&v.state, &m.principal, form.input()).await,
        Some(id) => emails::update_email(&v.state, &m.principal, id, form.input()).await,
    };
    match saved {
        Ok(email) => Ok(see_other(&format!("/app/emails/{}", email.id))),
        Err(e) => match forms::refused(v.lang, e, FIELDS, "name") {
            Refused::Form { status, errors } => form_page(&v, status, id.as_deref(), form.values(), errors),
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn create(v: Visitor, body: Bytes) -> Page {
    save(v, None, body).await
}

pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    save(v, Some(id.into_inner()), body).await
}

/// `/app/emails/{id}`: the current content, and what can be done with it.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let ctx = json!({"email": email, "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/email.html", mail::frame(&v, "email-title", "emails"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/emails/{id}/revisions`: newest first, with the form to compare two.
pub async fn history(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: After = mail::query(&v)?;
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let page =
        emails::history(&v.state, &m.principal, &email.id, mail::page_after(&q.after)).await.map_err(|e| v.fail(e))?;
    let here = format!("/app/emails/{}/revisions", email.id);
    let next_url = page.next_cursor.map(|c| url(&here, &[("after", &c)]));
    let ctx = json!({"email": email, "revisions": page.data, "next_url": next_url, "paged": q.after.is_some(),
        "first_url": here, "numbers": (1..=email.revision).rev().collect::<Vec<_>>(), "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/email_history.html", mail::frame(&v, "email-history-title", "emails"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/emails/{id}/revisions/{n}`: one revision whole, with restore.
pub async fn revision(v: Visitor, path: web::Path<(String, String)>) -> Page {
    let m = v.member()?;
    let (id, n) = path.into_inner();
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let rev = emails::revision_of(&v.state, &m.principal, &id, &n).await.map_err(|e| v.fail(e))?;
    let ctx = json!({"email": email, "rev": rev, "current": rev.revision == email.revision, "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/email_revision.html", mail::frame(&v, "email-revision-title", "emails"), ctx)
        .map_err(|e| v.fail(e))
}

/// `POST /app/emails/{id}/revisions/{n}/restore`: a new revision with n's content.
pub async fn restore(v: Visitor, path: web::Path<(String, String)>) -> Page {
    let m = v.member()?;
    let (id, n) = path.into_inner();
    let email = emails::restore_revision(&v.state, &m.principal, &id, &n).await.map_err(|e| v.fail(e))?;
    Ok(see_other(&format!("/app/emails/{}/revisions", email.id)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Compare {
    from: String,
    to: String,
}

/// `/app/emails/{id}/compare?from=&to=`: what changed from one revision to another, field
/// by field, as kept, removed and added lines.
pub async fn compare(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: Compare = mail::query(&v)?;
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    // Without a choice: the latest change (the revision before the current one, to it).
    let (from, to) = (q.from.trim(), q.to.trim());
    let from = if from.is_empty() { (email.revision - 1).max(1).to_string() } else { from.to_string() };
    let to = if to.is_empty() { email.revision.to_string() } else { to.to_string() };
    let old = emails::revision_of(&v.state, &m.principal, &id, &from).await.map_err(|e| v.fail(e))?;
    let new = emails::revision_of(&v.state, &m.principal, &id, &to).await.map_err(|e| v.fail(e))?;
    let pairs = [
        ("name", &old.name, &new.name),
        ("subject", &old.subject, &new.subject),
        ("preheader", &old.preheader, &new.preheader),
        ("html", &old.html, &new.html),
        ("text", &old.text, &new.text),
    ];
    let fields: Vec<Value> = pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(name, a, b)| json!({"name": name, "lines": diff::lines(a, b)}))
        .collect();
    let ctx = json!({"email": email, "from": old.revision, "to": new.revision, "fields": fields});
    render::page(StatusCode::OK, "mail/email_compare.html", mail::frame(&v, "email-compare-title", "emails"), ctx)
        .map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PreviewQuery {
    pub contact_id: Option<String>,
    pub q: Option<String>,
}

/// `/app/emails/{id}/preview?contact_id=`: the email merged for one contact, picked from
/// a search of the contacts (`q`).
pub async fn preview(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: PreviewQuery = mail::query(&v)?;
    let email = emails::get_email(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let here = format!("/app/emails/{}/preview", email.id);
    let choices = mail::contact_choices(&v, &here, &q.q).await?;
    let contact = forms::value(&q.contact_id);
    let (status, shown, errors) = match &contact {
        None => (StatusCode::OK, None, Vec::new()),
        Some(c) => match campaign_actions::preview_email(&v.state, &m.principal, &email.id, Some(c.clone())).await {
            Ok(p) => (StatusCode::OK, Some(p), Vec::new()),
            Err(e) => {
                let (status, errors) = mail::messages(&v, e)?;
                (status, None, errors)
            }
        },
    };
    let frame_url = contact.as_deref().map(|c| url(&format!("{here}/html"), &[("contact_id", c)]));
    let ctx = json!({"email": email, "back": format!("/app/emails/{}", email.id), "back_label": email.name,
        "action": here, "choices": choices, "q": q.q, "contact_id": contact, "preview": shown, "errors": errors,
        "frame_url": frame_url});
    render::page(status, "mail/preview.html", mail::frame(&v, "preview-title", "emails"), ctx)
        .map(mail::allow_preview_frame)
        .map_err(|e| v.fail(e))
}

/// `/app/emails/{id}/preview/html?contact_id=`: the rendered HTML alone, for the preview
/// page's sandboxed frame; without a contact, the preview page.
pub async fn preview_html(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: PreviewQuery = mail::query(&v)?;
    let Some(contact) = forms::value(&q.contact_id) else {
        return Ok(see_other(&format!("/app/emails/{}/preview", id.as_str())));
    };
    let p = campaign_actions::preview_email(&v.state, &m.principal, &id, Some(contact)).await.map_err(|e| v.fail(e))?;
    Ok(mail::email_document(p.html))
}
