//! A portal's view of platform staff access (Portal JITA): its rule, every grant with what
//! was done under it, approval of pending grants and revocation. Owners and admins only
//! (never a key, never a grant itself: these routes have no JITA risk class).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::AuditEntry;
use super::principal::Principal;
use super::tenant::StaffAccess;
use super::AppState;
use crate::db::audit::AuditFilter;
use crate::db::jita::JitaRow;
use crate::error::AppError;
use crate::identity::jita;

/// How many of a grant's newest audit entries a listing shows.
const ACTIVITY: i64 = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    pub id: String,
    pub staff_id: String,
    pub staff_email: Option<String>,
    pub reason: String,
    pub ticket_ref: String,
    pub duration_minutes: i32,
    /// pending_approval, active, expired, revoked or suspended (by risk monitoring).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    /// A user id, or `staff_access:allowed` when the portal's rule made it active at once.
    pub approved_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// A user id, or `risk_monitor`.
    pub ended_by: Option<String>,
    /// Requests made under the grant, and how many of them the route table refused.
    pub requests: i64,
    pub refusals: i64,
}

impl Grant {
    pub fn of(r: JitaRow, email: Option<String>, now: DateTime<Utc>) -> Self {
        Self {
            status: r.status_at(now.naive_utc()).to_string(),
            id: r.id,
            staff_id: r.staff_id,
            staff_email: email,
            reason: r.reason,
            ticket_ref: r.ticket_ref,
            duration_minutes: r.duration_minutes,
            created_at: r.created_at.and_utc(),
            approved_at: r.approved_at.map(|t| t.and_utc()),
            approved_by: r.approved_by,
            expires_at: r.expires_at.map(|t| t.and_utc()),
            ended_at: r.ended_at.map(|t| t.and_utc()),
            ended_by: r.ended_by,
            requests: r.requests,
            refusals: r.refusals,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantWithActivity {
    #[serde(flatten)]
    pub grant: Grant,
    /// The newest 50 audit entries made under this grant, newest first.
    pub activity: Vec<AuditEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffAccessView {
    /// The portal's rule (change it with `PATCH /api/v1/tenant {staff_access}`).
    pub staff_access: StaffAccess,
    /// Every grant, newest first (at most 200).
    pub data: Vec<GrantWithActivity>,
}

async fn emails(state: &AppState, ids: Vec<String>) -> Result<Vec<Option<String>>, AppError> {
    state
        .db
        .read(move |p| {
            ids.iter().map(|id| Ok(p.staff_member(id)?.map(|s| s.email))).collect::<Result<Vec<_>, AppError>>()
        })
        .await
}

/// The portal's staff-access rule and its grants, each with what was done under it.
#[utoipa::path(get, path = "/api/v1/staff-access", tag = "staff-access", security(("bearer" = [])),
    responses((status = 200, body = StaffAccessView),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(overview(&state, &p).await?))
}

/// The rule and every grant with its activity: owners and admins only.
pub async fn overview(state: &AppState, p: &Principal) -> Result<StaffAccessView, AppError> {
    p.manager()?;
    let (tenant, rows) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let tenant = t.tenant()?;
            let mut out = Vec::new();
            for g in t.list_jita(200)? {
                let filter = AuditFilter { actor_id: Some(g.id.clone()), limit: ACTIVITY, ..AuditFilter::default() };
                let activity = t.audit_entries(&filter)?;
                out.push((g, activity));
            }
            Ok((tenant, out))
        })
        .await?;
    let emails = emails(state, rows.iter().map(|(g, _)| g.staff_id.clone()).collect()).await?;
    let now = state.clock.now();
    let data = rows
        .into_iter()
        .zip(emails)
        .map(|((g, activity), email)| GrantWithActivity {
            grant: Grant::of(g, email, now),
            activity: activity.into_iter().map(AuditEntry::from).collect(),
        })
        .collect();
    Ok(StaffAccessView { staff_access: StaffAccess::parse(&tenant.staff_access), data })
}

/// Approves a pending grant: it runs from now for its duration.
#[utoipa::path(post, path = "/api/v1/staff-access/{id}/approve", tag = "staff-access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 200, body = Grant),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such grant in this portal", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant is not pending approval", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn approve(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(approve_grant(&state, &p, id.into_inner()).await?))
}

/// Approves a pending grant: owners and admins only.
pub async fn approve_grant(state: &AppState, p: &Principal, id: String) -> Result<Grant, AppError> {
    let user = p.manager()?.user_id.clone();
    let now = state.clock.now();
    let row = jita::approve(&state.db, p.tenant_id.clone(), id, user, p.meta.clone(), now).await?;
    let email = emails(state, vec![row.staff_id.clone()]).await?.pop().flatten();
    Ok(Grant::of(row, email, now))
}

/// Revokes a grant at once (pending or active): its token stops working.
#[utoipa::path(delete, path = "/api/v1/staff-access/{id}", tag = "staff-access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such grant in this portal", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant has already ended", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    revoke_grant(&state, &p, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a pending or active grant at once: owners and admins only.
pub async fn revoke_grant(state: &AppState, p: &Principal, id: String) -> Result<(), AppError> {
    let user = p.manager()?.user_id.clone();
    jita::revoke(&state.db, p.tenant_id.clone(), id, user, p.meta.clone(), state.clock.now()).await?;
    Ok(())
}
