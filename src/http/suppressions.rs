//! The suppression list (`/api/v1/suppressions`) and provider webhooks
//! (`/api/v1/email-events`): addresses that are never mailed again, because they
//! unsubscribed, hard-bounced, complained, or were added by hand. Reading needs
//! `campaigns:read`; every change needs the owner or admin role or `campaigns:write`, and
//! is audited (with the address masked: the audit log cannot forget). Erased people are not listed here (their addresses are not kept at all).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::Json;
use super::paging::{finish_page, Page};
use super::principal::{Access, Principal};
use super::AppState;
use crate::campaigns::mask_address;
use crate::db::email_suppressions::SuppressionRow;
use crate::error::{AppError, FieldError};

pub const REASONS: &[&str] = &["unsubscribed", "hard_bounce", "complaint", "manual"];

#[derive(Debug, Serialize, ToSchema)]
pub struct Suppression {
    pub email: String,
    /// unsubscribed, hard_bounce, complaint or manual.
    pub reason: String,
    /// The campaign that caused it, if one did.
    pub campaign_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<SuppressionRow> for Suppression {
    fn from(r: SuppressionRow) -> Self {
        Self { email: r.email, reason: r.reason, campaign_id: r.campaign_id, created_at: r.created_at.and_utc() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionPage {
    pub data: Vec<Suppression>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// Only this reason.
    pub reason: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

fn encode(email_lower: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("s1:{email_lower}"))
}

fn decode(raw: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("s1:").map(str::to_string)
}

/// The list, by address.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "campaigns", security(("bearer" = [])), params(SuppressionQuery),
    responses((status = 200, body = SuppressionPage), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<SuppressionQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, q.into_inner()).await?))
}

/// One page of the list, by address (the web app's list too).
pub async fn page_of(state: &AppState, p: &Principal, q: SuppressionQuery) -> Result<SuppressionPage, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    let mut errors = Vec::new();
    if let Some(r) = &q.reason {
        if !REASONS.contains(&r.as_str()) {
            errors.push(FieldError::new("reason", format!("must be one of {}", REASONS.join(", "))));
        }
    }
    let page = Page::parse(q.limit.as_deref(), None, &mut errors);
    let after = match q.after.as_deref() {
        None => None,
        Some(raw) => match decode(raw) {
            Some(a) => Some(a),
            None => {
                errors.push(FieldError::new("after", "is not a cursor from this list"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let (limit, reason) = (page.limit, q.reason);
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.suppressions_page(reason.as_deref(), after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode(&r.email_lower));
            Ok((rows.into_iter().map(Suppression::from).collect::<Vec<_>>(), next))
        })
        .await?;
    Ok(SuppressionPage { data, next_cursor })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionInput {
    pub email: String,
    /// Default `manual`.
    pub reason: Option<String>,
}

fn address(raw: &str, field: &str) -> Result<String, AppError> {
    let e = raw.trim();
    match crate::domain::EmailAddress::parse(e) {
        Ok(_) if e.chars().count() <= 254 && !e.contains(['<', '>', ',', '"']) => Ok(e.to_string()),
        _ => Err(AppError::validation(field, "must be an email address")),
    }
}

/// Adds an address (201; 200 with the existing entry when it is already listed).
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "campaigns", security(("bearer" = [])), request_body = SuppressionInput,
    responses((status = 201, body = Suppression), (status = 200, description = "Already listed", body = Suppression),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "campaigns", Access::Write).await?;
    let b: SuppressionInput = super::extract::shape(body.0)?;
    let (out, new) = suppress(&state, &p, b).await?;
    Ok(if new { HttpResponse::Created().json(out) } else { HttpResponse::Ok().json(out) })
}

/// Adds an address to the list; `true` when it was not listed yet (the web app's form too).
pub async fn suppress(state: &AppState, p: &Principal, b: SuppressionInput) -> Result<(Suppression, bool), AppError> {
    p.manager_or_scope(state, "campaigns", Access::Write).await?;
    let email = address(&b.email, "email")?;
    let reason = b.reason.unwrap_or_else(|| "manual".into());
    if !REASONS.contains(&reason.as_str()) {
        return Err(AppError::validation("reason", format!("must be one of {}", REASONS.join(", "))));
    }
    let now = state.clock.now();
    let entry = p.entry("suppression.added");
    let (row, new) = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let (row, new) = t.suppress_address(&email, &reason, None, now.naive_utc())?;
            if new {
                t.audit(entry.details(json!({"email": mask_address(&row.email), "reason": row.reason})), now)?;
            }
            Ok((row, new))
        })
        .await?;
    Ok((Suppression::from(row), new))
}

/// Removes an address: it may be mailed again.
#[utoipa::path(delete, path = "/api/v1/suppressions/{email}", tag = "campaigns", security(("bearer" = [])),
    params(("email" = String, Path, description = "The address (case does not matter)")),
    responses((status = 204, description = "Removed"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal,
    email: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    unsuppress(&state, &p, &email).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes an address from the list (the web app's remove button too).
pub async fn unsuppress(state: &AppState, p: &Principal, email: &str) -> Result<(), AppError> {
    p.manager_or_scope(state, "campaigns", Access::Write).await?;
    let lower = email.trim().to_lowercase();
    let now = state.clock.now();
    let entry = p.entry("suppression.removed");
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let row = t.suppression(&lower)?.ok_or_else(|| AppError::not_found("suppression"))?;
            t.unsuppress(&lower)?;
            t.audit(entry.details(json!({"email": mask_address(&row.email), "reason": row.reason})), now)?;
            Ok(())
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailEvent {
    pub email: String,
    /// `bounce` (a hard bounce) or `complaint` (marked as spam).
    #[serde(rename = "type")]
    pub kind: String,
    /// The `Message-ID` of the message it is about, if the provider gives it: the
    /// recipient's row is then marked bounced and the suppression names the campaign.
    pub message_id: Option<String>,
}

/// A provider's bounce or complaint webhook: the address joins the suppression list.
#[utoipa::path(post, path = "/api/v1/email-events", tag = "campaigns", security(("bearer" = [])), request_body = EmailEvent,
    responses((status = 200, description = "Recorded (idempotent)", body = Suppression),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn email_event(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "campaigns", Access::Write).await?;
    let b: EmailEvent = super::extract::shape(body.0)?;
    let email = address(&b.email, "email")?;
    let reason = match b.kind.as_str() {
        "bounce" => "hard_bounce",
        "complaint" => "complaint",
        _ => return Err(AppError::validation("type", "must be bounce or complaint")),
    };
    if b.message_id.as_ref().is_some_and(|m| m.len() > 998) {
        return Err(AppError::validation("message_id", "is too long"));
    }
    let now = state.clock.now();
    let entry = p.entry("suppression.email_event");
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let recipient = match &b.message_id {
                Some(m) => {
                    let m = m.trim();
                    let bracketed = if m.starts_with('<') { m.to_string() } else { format!("<{m}>") };
                    t.recipient_by_message_id(&bracketed)?.filter(|r| r.email_lower == email.to_lowercase())
                }
                None => None,
            };
            let campaign = recipient.as_ref().map(|r| r.campaign_id.clone());
            if let (Some(r), "hard_bounce") = (&recipient, reason) {
                t.mark_bounced(&r.campaign_id, &r.id, "bounced (provider webhook)")?;
            }
            let (row, new) = t.suppress_address(&email, reason, campaign.as_deref(), now.naive_utc())?;
            if new {
                t.audit(
                    entry
                        .details(json!({"email": mask_address(&row.email), "reason": reason, "campaign_id": campaign})),
                    now,
                )?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Suppression::from(row)))
}
