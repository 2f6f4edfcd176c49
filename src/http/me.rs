//! The signed-in user: who am I, which portals do I belong to, create another portal.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantView;
use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::domain::{Role, TenantId};
use crate::error::AppError;
use crate::identity::{self, display_name};

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeSession {
    pub id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: MeUser,
    pub tenant: TenantView,
    /// The role in this portal.
    pub role: Role,
    pub mfa_enabled: bool,
    /// The portal requires 2FA.
    pub mfa_required: bool,
    /// True while this person must enrol in 2FA before doing anything else here.
    pub mfa_enrollment_required: bool,
    pub session: MeSession,
    /// Open invitations to portals (`GET /api/v1/me/invitations`).
    pub pending_invitations: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyTenant {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyTenants {
    pub data: Vec<MyTenant>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateTenantRequest {
    #[schema(example = "Acme — EMEA")]
    pub name: String,
}

/// The signed-in user, the portal the token acts in, and the role there.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "No valid token", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    let auth = p.user()?.clone();
    let (uid, tid) = (auth.user_id.clone(), p.tenant_id.clone());
    let user = state.db.read(move |p| p.user(&uid)?.ok_or_else(|| AppError::unauthorized("invalid token"))).await?;
    let tenant = state.db.tenant(tid).read(|t| Ok(t.tenant()?)).await?;
    let mfa_enabled = user.mfa_enabled();
    let pending_invitations =
        identity::invitations::mine(&state.db, user.email.clone(), state.clock.now()).await?.len();
    Ok(HttpResponse::Ok().json(MeResponse {
        user: MeUser { id: user.id, email: user.email, name: user.name },
        tenant: TenantView { id: tenant.id, name: tenant.name },
        role: auth.role,
        mfa_enabled,
        mfa_required: tenant.require_mfa,
        mfa_enrollment_required: tenant.require_mfa && !mfa_enabled,
        session: MeSession { id: auth.session_id.to_string(), expires_at: auth.expires_at },
        pending_invitations,
    }))
}

/// Every portal the signed-in user belongs to, with the role in each.
#[utoipa::path(get, path = "/api/v1/me/tenants", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = MyTenants)))]
pub async fn list_tenants(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    let auth = p.user()?.clone();
    let portals = identity::portals_of(&state.db, auth.user_id).await?;
    let data = portals
        .into_iter()
        .map(|(t, m)| MyTenant { role: m.role(), id: t.id, name: t.name, created_at: t.created_at.and_utc() })
        .collect();
    Ok(HttpResponse::Ok().json(MyTenants { data }))
}

/// Create another portal owned by the signed-in user (sign in with its `tenant_id` to use it).
#[utoipa::path(post, path = "/api/v1/me/tenants", tag = "auth",
    security(("bearer" = [])),
    request_body = CreateTenantRequest,
    responses(
        (status = 201, body = MyTenant),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_tenant(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CreateTenantRequest>,
) -> Result<HttpResponse, AppError> {
    let auth = p.user()?.clone();
    let mut errors = Vec::new();
    let name = display_name("name", &body.0.name, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now().naive_utc();
    let entry = p.entry("tenant.created");
    let clock = state.clock.clone();
    let tenant = state
        .db
        .write(move |tx| {
            let tenant = tx.create_tenant(&name, &auth.user_id, now)?;
            tx.tenant(&TenantId::from_db(tenant.id.clone()))?.audit(entry, clock.now())?;
            Ok(tenant)
        })
        .await?;
    Ok(HttpResponse::Created().json(MyTenant {
        id: tenant.id,
        name: tenant.name,
        role: Role::Owner,
        created_at: tenant.created_at.and_utc(),
    }))
}
