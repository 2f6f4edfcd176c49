//! The portal's side of in-app messages: its widget identity (app id, allowed origins,
//! the identity secret shown once at rotation) and the messages it sends, with per
//! message delivery figures. The end users' side is `inbox.rs`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::inapp::{AppRow, MessageRow};
use crate::error::AppError;
use crate::messages::{identity, send};

/// Key scopes `inapp:read` / `inapp:write`.
pub const RESOURCE: &str = "inapp";

#[derive(Debug, Serialize, ToSchema)]
pub struct InappSettings {
    /// Public: the widget's `data-app-id` and the `X-Organizeo-App` header.
    pub app_id: String,
    /// Origins allowed to call the end-user inbox API from a browser.
    pub allowed_origins: Vec<String>,
    /// The last four characters of the identity secret; null until the first rotation
    /// (end users are refused until then).
    pub secret_last4: Option<String>,
}

fn settings_view(row: &AppRow) -> InappSettings {
    InappSettings {
        app_id: row.app_id.clone(),
        allowed_origins: identity::origins_of(row),
        secret_last4: row.secret_last4.clone(),
    }
}

/// The portal's in-app identity (created on first read).
#[utoipa::path(get, path = "/api/v1/inapp/settings", tag = "inapp", security(("bearer" = [])),
    responses((status = 200, body = InappSettings)))]
pub async fn get_settings(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, RESOURCE, Access::Read).await?;
    let row = identity::settings(&state.db, &p.tenant_id, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(settings_view(&row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// Up to 50 origins (`https://app.example.com`); replaces the list.
    pub allowed_origins: Vec<String>,
}

/// Sets the origins allowed to call the inbox API from a browser.
#[utoipa::path(patch, path = "/api/v1/inapp/settings", tag = "inapp", security(("bearer" = [])),
    request_body = SettingsPatch,
    responses((status = 200, body = InappSettings)))]
pub async fn patch_settings(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, RESOURCE, Access::Write).await?;
    let body: SettingsPatch = super::extract::shape(body.0)?;
    let origins = identity::parse_origins(&body.allowed_origins)?;
    let now = state.clock.now();
    identity::settings(&state.db, &p.tenant_id, now).await?;
    let (tenant, audit) = (p.tenant_id.clone(), p.entry("inapp.settings_changed"));
    let text = serde_json::to_string(&origins).map_err(AppError::internal)?;
    let details = serde_json::json!({"allowed_origins": origins});
    let row = state
        .db
        .write(move |tx| {
            tx.platform().set_inapp_origins(tenant.as_str(), &text, now.naive_utc())?;
            tx.tenant(&tenant)?.audit(audit.details(details), now)?;
            tx.platform().inapp_app_of_tenant(tenant.as_str())?.ok_or_else(|| AppError::not_found("in-app settings"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(settings_view(&row)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// Shown this once: keep it on the portal's server, never in a browser.
    pub identity_secret: String,
}

/// A new identity secret; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/inapp/settings/rotate-secret", tag = "inapp", security(("bearer" = [])),
    responses((status = 200, body = RotatedSecret)))]
pub async fn rotate_secret(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, RESOURCE, Access::Write).await?;
    let now = state.clock.now();
    let row = identity::settings(&state.db, &p.tenant_id, now).await?;
    let secret = identity::fresh_secret()?;
    let sealed = identity::seal(&state.keyring, &row.app_id, &secret)?;
    let last4: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let (tenant, audit) = (p.tenant_id.clone(), p.entry("inapp.secret_rotated"));
    state
        .db
        .write(move |tx| {
            tx.platform().set_inapp_secret(tenant.as_str(), &sealed, &last4, now.naive_utc())?;
            tx.tenant(&tenant)?.audit(audit, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(RotatedSecret { identity_secret: secret }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// Exactly one of `{"user_ids":[…]}` (1-10,000 ids), `{"segment_id":…}` (its members
    /// with an `external_id`) or `{"all":true}` (every contact with an `external_id`).
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    /// 1-200 characters, shown as text.
    pub title: String,
    /// Up to 5,000 characters, shown as text (never HTML).
    #[serde(default)]
    pub body: String,
    /// An absolute http or https URL (at most 2,048 characters).
    pub action_url: Option<String>,
    /// Up to 64 characters of a-z, 0-9, `_`, `-`, `.`.
    pub category: Option<String>,
    /// In the future.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageAccepted {
    pub id: String,
    /// The end users it reaches as of now (exact).
    pub recipients: i64,
    /// `queued`: the fan-out runs in the background.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageStats {
    pub delivered: i64,
    pub seen: i64,
    pub read: i64,
    pub archived: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
    pub category: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    /// `queued`, `sending`, `sent`.
    pub status: String,
    /// Inbox items stored so far.
    pub recipients: i64,
    pub delivered: i64,
    pub seen: i64,
    pub read: i64,
    pub archived: i64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

fn message_view(m: MessageRow, (delivered, seen, read, archived): (i64, i64, i64, i64)) -> Message {
    Message {
        audience: send::audience_view(&m),
        id: m.id,
        title: m.title,
        body: m.body,
        action_url: m.action_url,
        category: m.category,
        expires_at: m.expires_at.map(|t| t.and_utc()),
        status: m.status,
        recipients: m.recipients,
        delivered,
        seen,
        read,
        archived,
        created_at: m.created_at.and_utc(),
        completed_at: m.completed_at.map(|t| t.and_utc()),
    }
}

/// Sends a message: checked whole, stored, answered at once; the fan-out to its
/// recipients runs in the background (see `GET …/messages/{id}` for progress).
#[utoipa::path(post, path = "/api/v1/inapp/messages", tag = "inapp", security(("bearer" = [])),
    request_body = MessageInput,
    responses((status = 202, body = MessageAccepted)))]
pub async fn send_message(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Accepted().json(send(&state, &p, body.0).await?))
}

/// Checks, stores and queues a message (`MessageInput` as JSON); the web app's compose
/// form sends the same body.
pub async fn send(state: &AppState, p: &Principal, body: serde_json::Value) -> Result<MessageAccepted, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let b: MessageInput = super::extract::shape(body)?;
    let draft = send::Draft {
        audience: b.audience,
        title: b.title,
        body: b.body,
        action_url: b.action_url,
        category: b.category,
        expires_at: b.expires_at,
    };
    let (now, audit, by) = (state.clock.now(), p.entry("inapp.message_sent"), p.change_actor().id);
    let (row, recipients) = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let (row, recipients) = send::create(t, draft, by, now)?;
            t.audit(
                audit.target("inapp_message", &row.id).details(serde_json::json!({"recipients": recipients})),
                now,
            )?;
            Ok((row, recipients))
        })
        .await?;
    state.inapp_wake.notify_one();
    Ok(MessageAccepted { id: row.id, recipients, status: row.status })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub data: Vec<Message>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The portal's messages, newest first, each with its delivery figures.
#[utoipa::path(get, path = "/api/v1/inapp/messages", tag = "inapp", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = MessagePage)))]
pub async fn list_messages(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, query.into_inner()).await?))
}

/// A page of the portal's messages, newest first, with their figures.
pub async fn page_of(state: &AppState, p: &Principal, q: ListQuery) -> Result<MessagePage, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let mut errors = Vec::new();
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let rows = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.inapp_messages(after.as_deref(), limit + 1)?;
            let mut out = Vec::with_capacity(rows.len());
            for m in rows {
                let stats = t.inapp_message_stats(&m.id)?;
                out.push((m, stats));
            }
            Ok(out)
        })
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |(m, _)| encode_cursor(&m.id));
    let data = rows.into_iter().map(|(m, s)| message_view(m, s)).collect();
    Ok(MessagePage { data, next_cursor })
}

/// One message with its delivery figures.
#[utoipa::path(get, path = "/api/v1/inapp/messages/{id}", tag = "inapp", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = Message)))]
pub async fn get_message(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(message(&state, &p, id.into_inner()).await?))
}

/// One message with its figures.
pub async fn message(state: &AppState, p: &Principal, id: String) -> Result<Message, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(AppError::not_found("message"));
    }
    let (m, stats) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let m = t.inapp_message(&id)?.ok_or_else(|| AppError::not_found("message"))?;
            let stats = t.inapp_message_stats(&m.id)?;
            Ok((m, stats))
        })
        .await?;
    Ok(message_view(m, stats))
}
