//! Private app keys for integrations: created, rotated and deleted by owners and admins
//! (never by a key). The key is shown once; only its SHA-256 is kept.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::{Principal, RESOURCES, SPECIAL_SCOPES};
use super::AppState;
use crate::db::api_keys::ApiKeyRow;
use crate::domain::ApiKeyId;
use crate::error::{AppError, FieldError};
use crate::identity::access::{self, Reason, Revocation};
use crate::security::tokens;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewApiKey {
    #[schema(example = "Warehouse sync")]
    pub name: String,
    /// `resource:read` or `resource:write` (write includes read). Resources: contacts,
    /// companies, deals, tickets, tasks, notes, pipelines, tags, custom_fields,
    /// custom_values, imports, exports, realtime, audit_log, campaigns.
    #[schema(example = json!(["contacts:read", "deals:write"]))]
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(k: ApiKeyRow) -> Self {
        Self {
            scopes: k.scope_list(),
            id: k.id,
            name: k.name,
            prefix: k.display_prefix,
            created_at: k.created_at.and_utc(),
            rotated_at: k.rotated_at.map(|t| t.and_utc()),
            last_used_at: k.last_used_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The key itself, shown this once: `ozk_…`.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedApiKey {
    pub id: String,
    /// The new key, shown this once; the old one no longer works.
    pub key: String,
}

fn display_prefix(key: &str) -> String {
    key.chars().take(tokens::API_KEY_PREFIX.len() + 6).collect()
}

/// Validates and normalises a scope list (sorted, without duplicates).
pub fn parse_scopes(raw: &[String]) -> Result<Vec<String>, AppError> {
    if raw.is_empty() {
        return Err(AppError::validation("scopes", "at least one scope is required"));
    }
    let mut errors = Vec::new();
    let mut scopes = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let ok = SPECIAL_SCOPES.contains(&s.as_str())
            || s.split_once(':').is_some_and(|(r, level)| RESOURCES.contains(&r) && matches!(level, "read" | "write"));
        if ok {
            scopes.push(s.clone());
        } else {
            errors.push(FieldError::new(
                format!("scopes[{i}]"),
                format!("'{s}' is not a scope; use RESOURCE:read, RESOURCE:write or contacts:erase"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(ApiKeyList { data: keys(&state, &p).await? }))
}

/// The portal's keys (owner or admin); the web app's keys page too.
pub async fn keys(state: &AppState, p: &Principal) -> Result<Vec<ApiKeyView>, AppError> {
    p.manager()?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.list_keys()?)).await?;
    Ok(rows.into_iter().map(ApiKeyView::from).collect())
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(state: web::Data<AppState>, p: Principal, body: Json<NewApiKey>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(issue(&state, &p, body.0).await?))
}

/// Creates a key (owner or admin): the answer holds the key, the only time it exists in
/// the clear. The web app's keys page too.
pub async fn issue(state: &AppState, p: &Principal, body: NewApiKey) -> Result<CreatedApiKey, AppError> {
    let me = p.manager()?.clone();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation("name", "is required, at most 100 characters"));
    }
    let scopes = parse_scopes(&body.scopes)?;
    let key = tokens::generate(tokens::API_KEY_PREFIX)?;
    let now = state.clock.now();
    let row = ApiKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: String::new(),
        name,
        display_prefix: display_prefix(&key),
        key_hash: tokens::digest(&key),
        scopes: serde_json::to_string(&scopes).map_err(AppError::internal)?,
        created_by: Some(me.user_id.to_string()),
        created_at: now.naive_utc(),
        rotated_at: None,
        last_used_at: None,
    };
    let entry = p
        .entry("api_key.created")
        .target("api_key", &row.id)
        .details(serde_json::json!({"name": row.name, "scopes": scopes}));
    let created = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let created = tdb.create_key(row)?;
            tdb.audit(entry, now)?;
            Ok(created)
        })
        .await?;
    Ok(CreatedApiKey { scopes: created.scope_list(), id: created.id, name: created.name, key })
}

/// A new secret for the key; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/rotate", tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, body = RotatedApiKey),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(rotate_key(&state, &p, &path.into_inner()).await?))
}

/// A new secret for a key (owner or admin); the web app's keys page too.
pub async fn rotate_key(state: &AppState, p: &Principal, id: &str) -> Result<RotatedApiKey, AppError> {
    p.manager()?;
    let id = ApiKeyId::parse(id).ok_or_else(|| AppError::not_found("api key"))?;
    let key = tokens::generate(tokens::API_KEY_PREFIX)?;
    let (hash, prefix) = (tokens::digest(&key), display_prefix(&key));
    let now = state.clock.now();
    let entry = p.entry("api_key.rotated").target("api_key", &id);
    let actor = p.change_actor();
    let key_id = id.clone();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            if !tdb.rotate_key(&key_id, &hash, &prefix, now.naive_utc())? {
                return Err(AppError::not_found("api key"));
            }
            tdb.audit(entry, now)?;
            access::announce(tdb, Revocation::key(&key_id, Reason::KeyRotated), &actor, now);
            Ok(())
        })
        .await?;
    Ok(RotatedApiKey { id: id.to_string(), key })
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted; the key stops working at once"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    delete_key(&state, &p, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a key (owner or admin); it stops working at once. The web app's keys page too.
pub async fn delete_key(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    p.manager()?;
    let id = ApiKeyId::parse(id).ok_or_else(|| AppError::not_found("api key"))?;
    let now = state.clock.now();
    let entry = p.entry("api_key.deleted").target("api_key", &id);
    let actor = p.change_actor();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let key = tdb.find_key(&id)?.ok_or_else(|| AppError::not_found("api key"))?;
            tdb.delete_key(&id)?;
            tdb.audit(entry.details(serde_json::json!({"name": key.name})), now)?;
            access::announce(tdb, Revocation::key(&id, Reason::KeyDeleted), &actor, now);
            Ok(())
        })
        .await
}
