//! Invitations: the portal's pending ones (owners and admins list and revoke them), and the
//! signed-in person's own, from any portal (accept, decline). The rules are
//! `identity::invitations`'.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::principal::Principal;
use super::AppState;
use crate::db::invitations::InvitationRow;
use crate::db::tenants::TenantRow;
use crate::domain::Role;
use crate::error::AppError;
use crate::identity::invitations;

/// An invitation as its portal sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// `pending` until the person answers.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&InvitationRow> for InvitationView {
    fn from(r: &InvitationRow) -> Self {
        Self {
            id: r.id.clone(),
            email: r.email.clone(),
            role: r.role(),
            status: r.status.clone(),
            created_at: r.created_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub data: Vec<InvitationView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitingPortal {
    pub id: String,
    pub name: String,
}

/// An invitation as the invited person sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyInvitation {
    pub id: String,
    pub tenant: InvitingPortal,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl MyInvitation {
    fn of(i: &InvitationRow, t: &TenantRow) -> Self {
        Self {
            id: i.id.clone(),
            tenant: InvitingPortal { id: t.id.clone(), name: t.name.clone() },
            role: i.role(),
            created_at: i.created_at.and_utc(),
            expires_at: i.expires_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyInvitationList {
    pub data: Vec<MyInvitation>,
}

/// What accepting gives: the portal joined, and the role there.
#[derive(Debug, Serialize, ToSchema)]
pub struct Joined {
    pub tenant_id: String,
    pub role: Role,
}

/// The portal's open invitations, newest first (owners and admins).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = InvitationList),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(InvitationList { data: pending(&state, &p).await? }))
}

/// The portal's open invitations (owners and admins); the web app's people page too.
pub async fn pending(state: &AppState, p: &Principal) -> Result<Vec<InvitationView>, AppError> {
    p.manager()?;
    let now = state.clock.now().naive_utc();
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.pending_invitations(now)?)).await?;
    Ok(rows.iter().map(InvitationView::from).collect())
}

/// Take back an open invitation (owners and admins).
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses((status = 204, description = "Revoked"),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No open invitation with this id here", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    take_back(&state, &p, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes an open invitation (owners and admins); the web app's people page too.
pub async fn take_back(state: &AppState, p: &Principal, id: String) -> Result<(), AppError> {
    p.manager()?;
    let audit = p.entry("user.invitation_revoked");
    invitations::revoke(&state.db, p.tenant_id.clone(), id, audit, state.clock.now()).await
}

async fn my_email(state: &AppState, p: &Principal) -> Result<String, AppError> {
    let uid = p.user()?.user_id.clone();
    let user = state.db.read(move |pl| pl.user(&uid)?.ok_or_else(|| AppError::unauthorized("invalid token"))).await?;
    Ok(user.email)
}

/// The open invitations addressed to me, from any portal.
#[utoipa::path(get, path = "/api/v1/me/invitations", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MyInvitationList)))]
pub async fn mine(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    let email = my_email(&state, &p).await?;
    let rows = invitations::mine(&state.db, email, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(MyInvitationList { data: rows.iter().map(|(i, t)| MyInvitation::of(i, t)).collect() }))
}

/// Accept an invitation: I join its portal with its role (sign in there with its
/// `tenant_id`).
#[utoipa::path(post, path = "/api/v1/me/invitations/{id}/accept", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses((status = 200, body = Joined),
        (status = 404, description = "No open invitation to me with this id", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn accept(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let email = my_email(&state, &p).await?;
    let user = p.user()?.user_id.clone();
    let audit = p.meta.entry("user.invitation_accepted");
    let (tenant, role) = invitations::accept(&state.db, user, email, id.into_inner(), audit, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(Joined { tenant_id: tenant.to_string(), role }))
}

/// Decline an invitation.
#[utoipa::path(post, path = "/api/v1/me/invitations/{id}/decline", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses((status = 204, description = "Declined"),
        (status = 404, description = "No open invitation to me with this id", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn decline(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let email = my_email(&state, &p).await?;
    let user = p.user()?.user_id.clone();
    let audit = p.meta.entry("user.invitation_declined");
    invitations::decline(&state.db, user, email, id.into_inner(), audit, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
