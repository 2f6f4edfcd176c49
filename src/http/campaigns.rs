//! Campaigns: drafts (create, edit, delete while draft), reading with exact stats, the
//! preview as a contact, and the recipient list. The status changes (send, pause, resume,
//! cancel) and test sends are in `campaign_actions.rs`; the rules in `crate::campaigns`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::campaigns::{CampaignRow, Stats};
use crate::error::{AppError, FieldError};

#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub email_id: Option<String>,
    pub segment_id: Option<String>,
    pub from_name: String,
    pub from_email: Option<String>,
    pub reply_to: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    /// draft, scheduled, sending, paused, completed, cancelled or failed.
    pub status: String,
    pub stats: Stats,
    /// Why a sending campaign is waiting (the SMTP server is unreachable) or why it failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Campaign {
    pub fn of(r: CampaignRow, stats: Stats, error: Option<String>) -> Self {
        Self {
            id: r.id,
            name: r.name,
            email_id: r.email_id,
            segment_id: r.segment_id,
            from_name: r.from_name,
            from_email: r.from_email,
            reply_to: r.reply_to,
            send_at: r.send_at.map(|t| t.and_utc()),
            status: r.status,
            stats,
            error,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            started_at: r.started_at.map(|t| t.and_utc()),
            completed_at: r.completed_at.map(|t| t.and_utc()),
        }
    }
}

/// The campaign with its stats, read in the caller's transaction.
pub fn view(t: &mut crate::db::TenantDb<'_>, row: CampaignRow) -> Result<Campaign, AppError> {
    if row.status == "draft" {
        return Ok(Campaign::of(row, Stats::default(), None));
    }
    let stats = t.campaign_stats(&row.id)?;
    let error = t.run(&row.id)?.and_then(|r| r.error);
    Ok(Campaign::of(row, stats, error))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignPage {
    pub data: Vec<Campaign>,
    pub next_cursor: Option<String>,
}

/// The fields of a draft; in a PATCH, a field that is absent is unchanged and `null`
/// clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CampaignInput {
    /// 1-200 characters (required to create).
    pub name: Option<String>,
    pub email_id: Option<String>,
    pub segment_id: Option<String>,
    /// At most 200 characters.
    pub from_name: Option<String>,
    pub from_email: Option<String>,
    pub reply_to: Option<String>,
    /// When `send` should start it (RFC 3339, in the future); null: at once.
    pub send_at: Option<DateTime<Utc>>,
}

const FIELDS: &[&str] = &["name", "email_id", "segment_id", "from_name", "from_email", "reply_to", "send_at"];

fn text(v: &Value, field: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.chars().count() <= max => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::String(_) => {
            errors.push(FieldError::new(field, format!("must be at most {max} characters")));
            None
        }
        _ => {
            errors.push(FieldError::new(field, "must be a string or null"));
            None
        }
    }
}

fn address(v: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = text(v, field, 254, errors)?;
    match crate::domain::EmailAddress::parse(&s) {
        // ASCII only: a relay without SMTPUTF8 would refuse every message of the campaign.
        Ok(_) if s.is_ascii() && !s.contains(['<', '>', '"', ',', '\r', '\n']) => Some(s),
        _ => {
            errors.push(FieldError::new(field, "must be an email address"));
            None
        }
    }
}

fn uuid_ref(v: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = text(v, field, 64, errors)?;
    if uuid::Uuid::parse_str(&s).is_err() {
        errors.push(FieldError::new(field, "must be an id"));
        return None;
    }
    Some(s)
}

/// Applies a JSON object of draft fields to `row`; checks the ids exist in this portal.
fn apply(
    t: &mut crate::db::TenantDb<'_>,
    row: &mut CampaignRow,
    body: &Map<String, Value>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for key in body.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "is not a campaign field"));
        }
    }
    if let Some(v) = body.get("name") {
        let before = errors.len();
        match text(v, "name", 200, &mut errors) {
            Some(n) => row.name = n,
            // The type or the length was already reported.
            None if errors.len() > before => {}
            None => errors.push(FieldError::new("name", "is required")),
        }
    }
    if let Some(v) = body.get("email_id") {
        row.email_id = uuid_ref(v, "email_id", &mut errors);
        if let Some(id) = &row.email_id {
            if !t.email_exists(id)? {
                errors.push(FieldError::new("email_id", "no such email in this portal"));
            }
        }
    }
    if let Some(v) = body.get("segment_id") {
        row.segment_id = uuid_ref(v, "segment_id", &mut errors);
        if let Some(id) = &row.segment_id {
            if t.segment_filter_groups(id)?.is_none() {
                errors.push(FieldError::new("segment_id", "no such segment in this portal"));
            }
        }
    }
    if let Some(v) = body.get("from_name") {
        row.from_name = text(v, "from_name", 200, &mut errors).unwrap_or_default();
        // Control characters, and the bidirectional overrides that can disguise a sender.
        let disguising = |c: char| {
            c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
        };
        if row.from_name.chars().any(disguising) {
            errors.push(FieldError::new("from_name", "must not contain control or direction-override characters"));
        }
    }
    if let Some(v) = body.get("from_email") {
        row.from_email = address(v, "from_email", &mut errors);
    }
    if let Some(v) = body.get("reply_to") {
        row.reply_to = address(v, "reply_to", &mut errors);
    }
    if let Some(v) = body.get("send_at") {
        row.send_at = match v {
            Value::Null => None,
            Value::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(at) if at.naive_utc() > now + chrono::Duration::days(366) => {
                    errors.push(FieldError::new("send_at", "must be within a year"));
                    None
                }
                Ok(at) if at.naive_utc() > now => Some(at.naive_utc()),
                Ok(_) => {
                    errors.push(FieldError::new("send_at", "must be in the future"));
                    None
                }
                Err(_) => {
                    errors.push(FieldError::new("send_at", "must be an RFC 3339 date-time or null"));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new("send_at", "must be an RFC 3339 date-time or null"));
                None
            }
        };
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    row.updated_at = now;
    Ok(())
}

fn campaign_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw).map(|_| raw.to_string()).map_err(|_| AppError::not_found("campaign"))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct CampaignQuery {
    /// Only campaigns in this status.
    pub status: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])), params(CampaignQuery),
    responses((status = 200, body = CampaignPage),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<CampaignQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, q.into_inner()).await?))
}

/// One page of campaigns, newest first (the web app's list too).
pub async fn page_of(state: &AppState, p: &Principal, q: CampaignQuery) -> Result<CampaignPage, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    let mut errors = Vec::new();
    if let Some(s) = &q.status {
        if !crate::campaigns::STATUSES.contains(&s.as_str()) {
            errors.push(FieldError::new("status", format!("must be one of {}", crate::campaigns::STATUSES.join(", "))));
        }
    }
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let (limit, status) = (page.limit, q.status);
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.campaigns_page(status.as_deref(), after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode_cursor(&r.id));
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(view(t, r)?);
            }
            Ok((out, next))
        })
        .await?;
    Ok(CampaignPage { data, next_cursor })
}

fn object(body: Value) -> Result<Map<String, Value>, AppError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(AppError::validation("body", "must be a JSON object")),
    }
}

/// Creates a draft.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])), request_body = CampaignInput,
    responses((status = 201, body = Campaign),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(state: web::Data<AppState>, p: Principal, body: Json<Value>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(create_draft(&state, &p, body.0).await?))
}

/// Creates a draft from a JSON object of its fields (the web app's form too).
pub async fn create_draft(state: &AppState, p: &Principal, body: Value) -> Result<Campaign, AppError> {
    p.require(state, "campaigns", Access::Write).await?;
    let body = object(body)?;
    if !body.contains_key("name") {
        return Err(AppError::validation("name", "is required"));
    }
    let now = state.clock.now().naive_utc();
    let created_by = p.user().ok().map(|u| u.user_id.to_string());
    let entry = p.entry("campaign.created");
    let tenant = p.tenant_id.to_string();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let mut row = CampaignRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant,
                name: String::new(),
                email_id: None,
                segment_id: None,
                from_name: String::new(),
                from_email: None,
                reply_to: None,
                send_at: None,
                status: "draft".into(),
                created_by,
                created_at: now,
                updated_at: now,
                started_at: None,
                completed_at: None,
            };
            apply(t, &mut row, &body, now)?;
            t.insert_campaign(&row)?;
            t.audit(entry.target("campaign", &row.id).details(serde_json::json!({"name": row.name})), now.and_utc())?;
            view(t, row)
        })
        .await
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = Campaign), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(get_campaign(&state, &p, &id).await?))
}

/// A campaign with its exact stats (the web app's campaign page too).
pub async fn get_campaign(state: &AppState, p: &Principal, id: &str) -> Result<Campaign, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    let id = campaign_id(id)?;
    state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let row = t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            view(t, row)
        })
        .await
}

/// Edits a draft (409 once it left draft).
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id")), request_body = CampaignInput,
    responses((status = 200, body = Campaign), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<Value>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(update_draft(&state, &p, &id, body.0).await?))
}

/// Edits a draft from a JSON object of the fields to change (the web app's form too).
pub async fn update_draft(state: &AppState, p: &Principal, id: &str, body: Value) -> Result<Campaign, AppError> {
    p.require(state, "campaigns", Access::Write).await?;
    let id = campaign_id(id)?;
    let body = object(body)?;
    let now = state.clock.now().naive_utc();
    let entry = p.entry("campaign.updated");
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let mut row = t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            if row.status != "draft" {
                return Err(not_draft(&row.status));
            }
            apply(t, &mut row, &body, now)?;
            if !t.save_draft(&row)? {
                return Err(not_draft("changed"));
            }
            let fields: Vec<&String> = body.keys().collect();
            t.audit(entry.target("campaign", &row.id).details(serde_json::json!({"fields": fields})), now.and_utc())?;
            view(t, row)
        })
        .await
}

pub fn not_draft(status: &str) -> AppError {
    AppError::Conflict {
        code: "campaign_not_draft",
        detail: format!("only drafts can be edited; this campaign is {status}"),
    }
}

/// Deletes a draft. A campaign that was ever sent is kept: the unsubscribe links of its
/// messages must keep working (RFC 8058, CAN-SPAM's 30 days), and they name it.
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`campaign_active` while scheduled, sending or paused; `campaign_sent` after)", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, "campaigns", Access::Write).await?;
    let id = campaign_id(&id)?;
    let now = state.clock.now();
    let entry = p.entry("campaign.deleted");
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let row = t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            if ["scheduled", "sending", "paused"].contains(&row.status.as_str()) {
                return Err(AppError::Conflict {
                    code: "campaign_active",
                    detail: format!("a {} campaign cannot be deleted; cancel it first", row.status),
                });
            }
            if row.status != "draft" {
                return Err(AppError::Conflict {
                    code: "campaign_sent",
                    detail: "a campaign that was sent is kept, so the unsubscribe links in its messages keep working"
                        .into(),
                });
            }
            t.delete_campaign(&id)?;
            t.audit(
                entry.target("campaign", &id).details(serde_json::json!({"name": row.name, "status": row.status})),
                now,
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
