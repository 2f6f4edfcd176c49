//! Reading this portal's audit log: owners and admins, or a key with `audit_log:read`.
//! There is no route that changes it.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{finish_page, Page};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::audit::{AuditFilter, AuditRow};
use crate::error::{AppError, FieldError};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An action, or a prefix of one: `auth.login` matches `auth.login.failed`.
    pub action: Option<String>,
    /// Entries by this actor (user or key id).
    pub actor_id: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// user, api_key, staff or system.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in this portal's chain, from 1.
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    pub target: Option<AuditTarget>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            occurred_at: r.occurred_at.and_utc(),
            actor: AuditActor { kind: r.actor_type, id: r.actor_id },
            action: r.action,
            target: r.target_type.map(|kind| AuditTarget { kind, id: r.target_id }),
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntry>,
    /// Pass as `after` for the next (older) page; null at the end.
    pub next_cursor: Option<String>,
}

fn parse_time(field: &str, raw: &Option<String>, errors: &mut Vec<FieldError>) -> Option<chrono::NaiveDateTime> {
    let raw = raw.as_deref()?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(t.with_timezone(&Utc).naive_utc()),
        Err(_) => {
            errors.push(FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-11-26T00:00:00Z"));
            None
        }
    }
}

/// The filter and page size a query asks for (the platform audit log reads the same way).
pub fn filter_of(q: AuditQuery) -> Result<(AuditFilter, i64), AppError> {
    let mut errors = Vec::new();
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let limit = page.limit;
    let before_seq = page.after_seq(&mut errors, "is not a cursor from this endpoint");
    let filter = AuditFilter {
        action: match q.action.filter(|a| !a.is_empty()) {
            Some(a) if a.chars().count() > 200 => {
                errors.push(FieldError::new("action", "must be at most 200 characters"));
                None
            }
            other => other,
        },
        actor_id: q.actor_id.filter(|a| !a.is_empty()),
        since: parse_time("since", &q.since, &mut errors),
        until: parse_time("until", &q.until, &mut errors),
        before_seq,
        limit: limit + 1,
    };
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    Ok((filter, limit))
}

/// Newest first, filterable by action, actor and time.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(entries(&state, &p, query.into_inner()).await?))
}

/// A page of the portal's audit log (owner or admin, or `audit_log:read`); the web app's
/// audit page too.
pub async fn entries(state: &AppState, p: &Principal, query: AuditQuery) -> Result<AuditPage, AppError> {
    p.manager_or_scope(state, "audit_log", Access::Read).await?;
    let (filter, limit) = filter_of(query)?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.audit_entries(&filter)?)).await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| r.seq.to_string());
    Ok(AuditPage { data: rows.into_iter().map(AuditEntry::from).collect(), next_cursor })
}
