//! The current portal's settings. Everyone in the portal reads them; owners and admins
//! change them.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::display_name;
use super::extract::{Auth, Json};
use super::AppState;
use crate::db::tenants::TenantRow;
use crate::db::TenantDb;
use crate::error::AppError;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettings {
    pub id: String,
    pub name: String,
    /// The agency portal this one belongs to, if any.
    pub parent_tenant_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TenantRow> for TenantSettings {
    fn from(t: TenantRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            parent_tenant_id: t.parent_tenant_id,
            created_at: t.created_at.and_utc(),
            updated_at: t.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TenantPatch {
    pub name: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant",
    security(("bearer" = [])),
    responses((status = 200, body = TenantSettings)))]
pub async fn get_tenant(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, AppError> {
    let tenant = state
        .db
        .run(move |conn| Ok(TenantDb::new(conn, auth.tenant_id).tenant()?))
        .await?;
    Ok(HttpResponse::Ok().json(TenantSettings::from(tenant)))
}

/// Change settings (owner or admin).
#[utoipa::path(patch, path = "/api/v1/tenant", tag = "tenant",
    security(("bearer" = [])),
    request_body = TenantPatch,
    responses(
        (status = 200, body = TenantSettings),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_tenant(
    state: web::Data<AppState>,
    auth: Auth,
    body: Json<TenantPatch>,
) -> Result<HttpResponse, AppError> {
    auth.require_manager()?;
    let mut errors = Vec::new();
    let name = body.0.name.map(|n| display_name("name", &n, &mut errors));
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now().naive_utc();
    let tenant = state
        .db
        .write(move |conn| {
            let mut tdb = TenantDb::new(conn, auth.tenant_id);
            match name {
                Some(name) => Ok(tdb.rename(&name, now)?),
                None => Ok(tdb.tenant()?),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(TenantSettings::from(tenant)))
}
