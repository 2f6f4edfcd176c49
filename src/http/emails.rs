//! Emails over HTTP: `/api/v1/emails` (list, create), `/api/v1/emails/{id}` (read, edit,
//! trash) and the history (`/revisions`, one revision, restore as a new revision). The
//! rules live in `content::emails`; these handlers parse, check access (`campaigns`
//! resource: people of any role read, members and above write; keys by scope) and answer.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page, PageQuery};
use super::principal::{Access, Principal};
use super::AppState;
use crate::content::emails::{self, Changes, EmailContent};
use crate::content::EMAIL;
use crate::db::content::EmailRow;
use crate::domain::EmailId;
use crate::error::AppError;

/// The key scope resource of emails, segments and campaigns.
pub const RESOURCE: &str = "campaigns";

#[derive(Debug, Serialize, ToSchema)]
pub struct Email {
    pub id: String,
    pub name: String,
    /// A template (merge tags; not HTML-escaped).
    pub subject: String,
    /// The preview line inboxes show after the subject (a template, not escaped).
    pub preheader: String,
    /// The HTML body: a template whose merged values are HTML-escaped.
    pub html: String,
    /// The plain-text body (a template, not escaped).
    pub text: String,
    /// The current revision's number (from 1).
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&EmailRow> for Email {
    fn from(r: &EmailRow) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            subject: r.subject.clone(),
            preheader: r.preheader.clone(),
            html: r.html.clone(),
            text: r.text.clone(),
            revision: r.revision,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailPage {
    pub data: Vec<Email>,
    pub next_cursor: Option<String>,
}

/// An email's content. On create `name` is required and the rest default to empty; on
/// edit the fields given replace the current ones. Templates may use `contact.*`,
/// `contact.custom_fields.*`, `custom_values.*`, `tenant.name`, `unsubscribe_url` and
/// filters like `default("there")`; anything else, or a syntax error, is a 422 naming the
/// field and line. Limits: name 200 characters, subject and preheader 998, html 512 KiB,
/// text 256 KiB.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct EmailInput {
    pub name: Option<String>,
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// One entry of an email's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionItem {
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    /// The user or private app key that made it.
    pub author: Option<String>,
    pub subject: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionPage {
    pub data: Vec<RevisionItem>,
    pub next_cursor: Option<String>,
}

/// One revision, whole: the email's content as it was saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailRevision {
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub author: Option<String>,
    pub name: String,
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
}

fn email_id(raw: &str) -> Result<EmailId, AppError> {
    EmailId::parse(raw).ok_or_else(|| AppError::not_found("email"))
}

/// A revision number from a path: anything but a positive whole number is not found.
fn revision_no(raw: &str) -> Result<i32, AppError> {
    raw.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(|| AppError::not_found("revision"))
}

#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = EmailPage)))]
pub async fn list(state: web::Data<AppState>, p: Principal, page: Page) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, page).await?))
}

/// One page of the portal's emails (the web app's list too).
pub async fn page_of(state: &AppState, p: &Principal, page: Page) -> Result<EmailPage, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let mut errors = Vec::new();
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.emails(false, after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode_cursor(&r.id));
            Ok((rows.iter().map(Email::from).collect(), next))
        })
        .await?;
    Ok(EmailPage { data, next_cursor })
}

#[utoipa::path(post, path = "/api/v1/emails", tag = "emails", security(("bearer" = [])), request_body = EmailInput,
    responses((status = 201, body = Email),
        (status = 422, description = "A field is missing, too long, or a template does not parse or names an unknown variable", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<EmailInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(create_email(&state, &p, body.0).await?))
}

/// Creates an email at revision 1 (people who may write; the web app's form too).
pub async fn create_email(state: &AppState, p: &Principal, b: EmailInput) -> Result<Email, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let content = EmailContent {
        name: b.name.unwrap_or_default(),
        subject: b.subject.unwrap_or_default(),
        preheader: b.preheader.unwrap_or_default(),
        html: b.html.unwrap_or_default(),
        text: b.text.unwrap_or_default(),
    };
    let (actor, audit, now) = (p.change_actor(), p.entry("email.created"), state.clock.now());
    let row =
        state.db.tenant(p.tenant_id.clone()).write(move |t| emails::create(t, content, &actor, audit, now)).await?;
    Ok(Email::from(&row))
}

#[utoipa::path(get, path = "/api/v1/emails/{id}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id")),
    responses((status = 200, body = Email), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(get_email(&state, &p, &id).await?))
}

/// One email of this portal (another portal's id is not found).
pub async fn get_email(state: &AppState, p: &Principal, id: &str) -> Result<Email, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let id = email_id(id)?;
    let row = state.db.tenant(p.tenant_id.clone()).read(move |t| emails::get(t, &id)).await?;
    Ok(Email::from(&row))
}

/// Edit an email: a change of content is stored as a new revision; a change that leaves
/// everything as it was stores nothing and answers the email as it is.
#[utoipa::path(patch, path = "/api/v1/emails/{id}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id")), request_body = EmailInput,
    responses((status = 200, body = Email), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is too long, or a template does not parse or names an unknown variable", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<EmailInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(update_email(&state, &p, &id, body.0).await?))
}

/// Applies an edit (a new revision when the content changed; the web app's form too).
pub async fn update_email(state: &AppState, p: &Principal, id: &str, b: EmailInput) -> Result<Email, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let id = email_id(id)?;
    let changes = Changes { name: b.name, subject: b.subject, preheader: b.preheader, html: b.html, text: b.text };
    let (actor, audit, now) = (p.change_actor(), p.entry("email.updated"), state.clock.now());
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| emails::update(t, &id, changes, &actor, audit, now))
        .await?;
    Ok(Email::from(&row))
}

/// Move an email to the trash (with its history): `POST /api/v1/trash/email/{id}/restore`
/// brings it back for 30 days.
#[utoipa::path(delete, path = "/api/v1/emails/{id}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id")),
    responses((status = 204, description = "In the trash"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, RESOURCE, Access::Write).await?;
    let id = email_id(&id)?;
    let (actor, audit, now) = (p.change_actor(), p.entry("email.deleted"), state.clock.now());
    state.db.tenant(p.tenant_id.clone()).write(move |t| emails::trash(t, &id, &actor, audit, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An email's history, newest first; `next_cursor` pages to older revisions.
#[utoipa::path(get, path = "/api/v1/emails/{id}/revisions", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id"), PageQuery),
    responses((status = 200, body = RevisionPage), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revisions(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(history(&state, &p, &id, page).await?))
}

/// One page of an email's history, newest first (the web app's history too).
pub async fn history(state: &AppState, p: &Principal, id: &str, page: Page) -> Result<RevisionPage, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let id = email_id(id)?;
    let mut errors = Vec::new();
    let before = page.after_seq(&mut errors, "is not a cursor from this history");
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let before = before.map(|b| i32::try_from(b).unwrap_or(i32::MAX));
    let limit = page.limit;
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            emails::get(t, &id)?;
            let rows = crate::content::list(t, EMAIL, id.as_str(), "subject", before, limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| r.revision.to_string());
            let data = rows
                .into_iter()
                .map(|r| RevisionItem {
                    revision: r.revision,
                    created_at: r.created_at.and_utc(),
                    author: r.author,
                    subject: r.label,
                })
                .collect::<Vec<_>>();
            Ok((data, next))
        })
        .await?;
    Ok(RevisionPage { data, next_cursor })
}

#[utoipa::path(get, path = "/api/v1/emails/{id}/revisions/{n}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id"), ("n" = i32, Path, description = "Revision number")),
    responses((status = 200, body = EmailRevision), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revision(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, n) = path.into_inner();
    Ok(HttpResponse::Ok().json(revision_of(&state, &p, &id, &n).await?))
}

/// Revision `n` of an email, whole (the web app's revision page and comparison too).
pub async fn revision_of(state: &AppState, p: &Principal, id: &str, n: &str) -> Result<EmailRevision, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let (id, n) = (email_id(id)?, revision_no(n)?);
    let rev = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            emails::get(t, &id)?;
            crate::content::get(t, EMAIL, id.as_str(), n)?.ok_or_else(|| AppError::not_found("revision"))
        })
        .await?;
    let content: EmailContent = serde_json::from_value(rev.snapshot).map_err(AppError::internal)?;
    Ok(EmailRevision {
        revision: rev.revision,
        created_at: rev.created_at,
        author: rev.author,
        name: content.name,
        subject: content.subject,
        preheader: content.preheader,
        html: content.html,
        text: content.text,
    })
}

/// Make revision n's content current again: stored as a new revision (history is never
/// rewritten); answers the email.
#[utoipa::path(post, path = "/api/v1/emails/{id}/revisions/{n}/restore", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "Email id"), ("n" = i32, Path, description = "Revision number")),
    responses((status = 200, body = Email), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn restore(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, n) = path.into_inner();
    Ok(HttpResponse::Ok().json(restore_revision(&state, &p, &id, &n).await?))
}

/// Makes revision `n`'s content current as a new revision (the web app's restore too).
pub async fn restore_revision(state: &AppState, p: &Principal, id: &str, n: &str) -> Result<Email, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let (id, n) = (email_id(id)?, revision_no(n)?);
    let (actor, audit, now) = (p.change_actor(), p.entry("email.revision_restored"), state.clock.now());
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| emails::restore_revision(t, &id, n, &actor, audit, now))
        .await?;
    Ok(Email::from(&row))
}
