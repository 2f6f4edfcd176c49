//! A campaign's recipients: who it went (or goes) to, with each one's status, attempts,
//! `Message-ID` and engagement, in the order they were queued.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::campaigns::CampaignQuery;
use super::paging::{encode_cursor, finish_page, Page};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::campaign_recipients::RecipientRow;
use crate::error::{AppError, FieldError};

fn campaign_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw).map(|_| raw.to_string()).map_err(|_| AppError::not_found("campaign"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recipient {
    pub contact_id: Option<String>,
    pub email: String,
    /// queued, sent, failed, bounced or suppressed.
    pub status: String,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub message_id: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
}

impl From<RecipientRow> for Recipient {
    fn from(r: RecipientRow) -> Self {
        Self {
            contact_id: r.contact_id,
            email: r.email,
            status: r.status,
            attempts: r.attempts,
            sent_at: r.sent_at.map(|t| t.and_utc()),
            error: r.error,
            message_id: r.message_id,
            opened_at: r.opened_at.map(|t| t.and_utc()),
            clicked_at: r.clicked_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientPage {
    pub data: Vec<Recipient>,
    pub next_cursor: Option<String>,
}

/// The campaign's recipients in the order they were queued, optionally of one status.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/recipients", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id"), CampaignQuery),
    responses((status = 200, body = RecipientPage), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn recipients(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    q: web::Query<CampaignQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(recipients_of(&state, &p, &id, q.into_inner()).await?))
}

/// A recipient's statuses.
pub const STATUSES: &[&str] = &["queued", "sent", "failed", "bounced", "suppressed"];

/// One page of the campaign's recipients, of one status or all (the web app's list too).
pub async fn recipients_of(
    state: &AppState,
    p: &Principal,
    id: &str,
    q: CampaignQuery,
) -> Result<RecipientPage, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    // Recipients are contacts' addresses: a key needs contacts:read as well.
    p.require(state, "contacts", Access::Read).await?;
    let id = campaign_id(id)?;
    let mut errors = Vec::new();
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            errors.push(FieldError::new("status", format!("must be one of {}", STATUSES.join(", "))));
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
            t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            let rows = t.recipients_page(&id, status.as_deref(), after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode_cursor(&r.id));
            Ok((rows.into_iter().map(Recipient::from).collect::<Vec<_>>(), next))
        })
        .await?;
    Ok(RecipientPage { data, next_cursor })
}
