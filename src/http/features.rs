//! Feature flags: what a portal has (`/api/v1/features`, opt-in for public betas) and how
//! release managers roll them out (`/api/v1/staff/flags`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::staff::Staff;
use super::AppState;
use crate::domain::StaffRole;
use crate::error::AppError;
use crate::features::manage::{self, Change};
use crate::features::{self, Flag, Stage};

#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureView {
    pub key: String,
    pub name: String,
    pub description: String,
    pub stage: Stage,
    /// On for this portal now.
    pub enabled: bool,
    /// A public beta this portal may opt in to (or out of).
    pub can_opt_in: bool,
}

impl FeatureView {
    fn of(f: &Flag, tenant: &str) -> Self {
        Self {
            key: f.key.clone(),
            name: f.name.clone(),
            description: f.description.clone(),
            stage: f.stage,
            enabled: f.enabled_for(tenant),
            can_opt_in: f.stage == Stage::PublicBeta && !f.listed.contains(tenant),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureList {
    pub data: Vec<FeatureView>,
}

/// The portal's features: every flag, its stage, and whether it is on here.
#[utoipa::path(get, path = "/api/v1/features", tag = "features", security(("bearer" = [])),
    responses((status = 200, body = FeatureList)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(features_of(&state, &p)))
}

/// Every flag as this portal sees it (the web app's features page too).
pub fn features_of(state: &AppState, p: &Principal) -> FeatureList {
    let table = state.realtime.flags();
    let data = table.flags.values().map(|f| FeatureView::of(f, p.tenant_id.as_str())).collect();
    FeatureList { data }
}

/// Opts the portal in to (`on`) or out of a public beta: owners and admins only.
pub async fn set_opt(state: &AppState, p: &Principal, key: String, on: bool) -> Result<FeatureView, AppError> {
    let by = p.manager()?.user_id.clone();
    let tenant = p.tenant_id.clone();
    let flag = manage::opt(&state.db, tenant.clone(), by, key, on, p.meta.clone(), state.clock.now()).await?;
    state.realtime.flags_changed().await?;
    Ok(FeatureView::of(&flag, tenant.as_str()))
}

async fn opt(state: web::Data<AppState>, p: Principal, key: String, on: bool) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(set_opt(&state, &p, key, on).await?))
}

/// Opt this portal in to a public beta (owners and admins).
#[utoipa::path(post, path = "/api/v1/features/{key}/opt-in", tag = "features", security(("bearer" = [])),
    params(("key" = String, Path, description = "Feature key")),
    responses((status = 200, body = FeatureView),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_public_beta`: only public betas take opt-ins", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn opt_in(
    state: web::Data<AppState>,
    p: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    opt(state, p, key.into_inner(), true).await
}

/// Opt this portal out of a public beta (owners and admins).
#[utoipa::path(post, path = "/api/v1/features/{key}/opt-out", tag = "features", security(("bearer" = [])),
    params(("key" = String, Path, description = "Feature key")),
    responses((status = 200, body = FeatureView),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_public_beta`: only public betas take opt-ins", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn opt_out(
    state: web::Data<AppState>,
    p: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    opt(state, p, key.into_inner(), false).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    pub key: String,
    pub name: String,
    pub description: String,
    pub stage: Stage,
    /// The private beta's portals.
    pub tenants: Vec<String>,
    /// How many portals opted in to the public beta.
    pub opted_in: usize,
    /// What the server gates with it (routes by path prefix, websocket topics); empty for
    /// flags only clients read.
    pub routes: Vec<String>,
    pub topics: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<Flag> for FlagView {
    fn from(f: Flag) -> Self {
        let gate = features::FEATURES.iter().find(|g| g.key == f.key);
        let mut tenants: Vec<String> = f.listed.into_iter().collect();
        tenants.sort();
        Self {
            routes: gate.map(|g| g.routes.iter().map(|s| s.to_string()).collect()).unwrap_or_default(),
            topics: gate.map(|g| g.topics.iter().map(|s| s.to_string()).collect()).unwrap_or_default(),
            key: f.key,
            name: f.name,
            description: f.description,
            stage: f.stage,
            tenants,
            opted_in: f.opted_in.len(),
            updated_at: f.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagList {
    pub data: Vec<FlagView>,
}

/// Every flag (any staff role).
#[utoipa::path(get, path = "/api/v1/staff/flags", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = FlagList)))]
pub async fn staff_list(state: web::Data<AppState>, _s: Staff) -> Result<HttpResponse, AppError> {
    let table = state.db.read(|p| Ok(p.flag_table()?)).await?;
    Ok(HttpResponse::Ok().json(FlagList { data: table.flags.into_values().map(FlagView::from).collect() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlag {
    /// 2-64 characters: lower-case letters, digits and `_`, starting with a letter.
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// Default `off`.
    pub stage: Option<Stage>,
}

/// Adds a flag that clients read (release managers).
#[utoipa::path(post, path = "/api/v1/staff/flags", tag = "staff", security(("bearer" = [])),
    request_body = NewFlag,
    responses((status = 201, body = FlagView),
        (status = 403, description = "Not a release manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn staff_create(state: web::Data<AppState>, s: Staff, body: Json<NewFlag>) -> Result<HttpResponse, AppError> {
    s.require(StaffRole::ReleaseManager)?;
    let b = body.0;
    let now = state.clock.now();
    let new =
        manage::NewFlag { key: b.key, name: b.name, description: b.description, stage: b.stage.unwrap_or(Stage::Off) };
    let flag = manage::create(&state.db, &s.who, new, s.meta, now).await?;
    state.realtime.flags_changed().await?;
    Ok(HttpResponse::Created().json(FlagView::from(flag)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlagPatch {
    pub stage: Option<Stage>,
    /// The private beta's portal ids (replaces the list).
    pub tenants: Option<Vec<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Delivered to the notification inbox of every person of every affected portal
    /// (those where the flag turns on or off, and with `public_beta` every portal).
    pub announcement: Option<Announcement>,
}

/// Changes a flag's stage or portals (release managers); applied at once on every node.
#[utoipa::path(patch, path = "/api/v1/staff/flags/{key}", tag = "staff", security(("bearer" = [])),
    params(("key" = String, Path, description = "Flag key")),
    request_body = FlagPatch,
    responses((status = 200, body = FlagView),
        (status = 403, description = "Not a release manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such flag", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown portal ids, or text out of bounds", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn staff_patch(
    state: web::Data<AppState>,
    s: Staff,
    key: web::Path<String>,
    body: Json<FlagPatch>,
) -> Result<HttpResponse, AppError> {
    s.require(StaffRole::ReleaseManager)?;
    let b = body.0;
    let change = Change {
        stage: b.stage,
        tenants: b.tenants,
        name: b.name,
        description: b.description,
        announcement: b.announcement.map(|a| (a.title, a.body)),
    };
    let flag = manage::change(&state.db, &s.who, key.into_inner(), change, s.meta, state.clock.now()).await?;
    state.realtime.flags_changed().await?;
    Ok(HttpResponse::Ok().json(FlagView::from(flag)))
}
