//! Custom values: tenant-wide `{key, value}` merge values usable in templates
//! (`{{ custom_values.<key> }}`), with the trash like records.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page, PageQuery};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::custom_values::CustomValueRow;
use crate::domain::CustomValueId;
use crate::error::{AppError, FieldError};

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomValue {
    pub id: String,
    pub key: String,
    pub value: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CustomValueRow> for CustomValue {
    fn from(r: &CustomValueRow) -> Self {
        Self {
            id: r.id.clone(),
            key: r.value_key.clone(),
            value: r.value.clone(),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomValuePage {
    pub data: Vec<CustomValue>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CustomValueInput {
    /// `[a-z][a-z0-9_]*`, at most 64 characters.
    pub key: Option<String>,
    /// At most 10,000 characters.
    pub value: Option<String>,
}

fn value_key(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let key = raw.trim().to_string();
    if !crate::crm::objects::is_valid_key(&key) {
        errors.push(FieldError::new("key", "must match [a-z][a-z0-9_]* (at most 64 characters)"));
    }
    key
}

fn value_text(raw: &str, errors: &mut Vec<FieldError>) -> String {
    if raw.chars().count() > 10_000 {
        errors.push(FieldError::new("value", "must be at most 10,000 characters"));
    }
    raw.to_string()
}

#[utoipa::path(get, path = "/api/v1/custom-values", tag = "custom-values", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = CustomValuePage)))]
pub async fn list(state: web::Data<AppState>, p: Principal, page: Page) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, page).await?))
}

/// A page of the portal's custom values (anyone who reads); the web app's list too.
pub async fn page_of(state: &AppState, p: &Principal, page: Page) -> Result<CustomValuePage, AppError> {
    p.require(state, "custom_values", Access::Read).await?;
    let mut errors = Vec::new();
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.custom_values(false, after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode_cursor(&r.id));
            Ok((rows.iter().map(CustomValue::from).collect(), next))
        })
        .await?;
    Ok(CustomValuePage { data, next_cursor })
}

#[utoipa::path(post, path = "/api/v1/custom-values", tag = "custom-values", security(("bearer" = [])),
    request_body = CustomValueInput,
    responses((status = 201, body = CustomValue), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CustomValueInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(define(&state, &p, body.0).await?))
}

/// Creates a custom value (owner or admin, or `custom_values:write`); the web app's too.
pub async fn define(state: &AppState, p: &Principal, b: CustomValueInput) -> Result<CustomValue, AppError> {
    p.manager_or_scope(state, "custom_values", Access::Write).await?;
    let mut errors = Vec::new();
    let key = value_key(b.key.as_deref().unwrap_or_default(), &mut errors);
    let value = value_text(b.value.as_deref().unwrap_or_default(), &mut errors);
    if b.value.is_none() {
        errors.push(FieldError::new("value", "is required"));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now().naive_utc();
    let row = CustomValueRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: p.tenant_id.to_string(),
        value_key: key,
        value,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        purge_at: None,
    };
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            if tdb.live_custom_value_keyed(&row.value_key)?.is_some() {
                return Err(AppError::conflict(format!("the key {} is taken", row.value_key)));
            }
            tdb.insert_custom_value(&row)?;
            Ok(row)
        })
        .await?;
    Ok(CustomValue::from(&row))
}

#[utoipa::path(get, path = "/api/v1/custom-values/{id}", tag = "custom-values", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom value id")),
    responses((status = 200, body = CustomValue), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(read_value(&state, &p, &id.into_inner()).await?))
}

/// One live custom value of this portal; the web app's edit form too.
pub async fn read_value(state: &AppState, p: &Principal, id: &str) -> Result<CustomValue, AppError> {
    p.require(state, "custom_values", Access::Read).await?;
    let id = CustomValueId::parse(id).ok_or_else(|| AppError::not_found("custom value"))?;
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| t.custom_value(&id, false)?.ok_or_else(|| AppError::not_found("custom value")))
        .await?;
    Ok(CustomValue::from(&row))
}

#[utoipa::path(patch, path = "/api/v1/custom-values/{id}", tag = "custom-values", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom value id")), request_body = CustomValueInput,
    responses((status = 200, body = CustomValue), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<CustomValueInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(change(&state, &p, &id.into_inner(), body.0).await?))
}

/// Changes a custom value's key or value (owner or admin, or `custom_values:write`); the
/// web app's edit form too.
pub async fn change(state: &AppState, p: &Principal, id: &str, b: CustomValueInput) -> Result<CustomValue, AppError> {
    p.manager_or_scope(state, "custom_values", Access::Write).await?;
    let id = CustomValueId::parse(id).ok_or_else(|| AppError::not_found("custom value"))?;
    let now = state.clock.now().naive_utc();
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.custom_value(&id, false)?.ok_or_else(|| AppError::not_found("custom value"))?;
            let mut errors = Vec::new();
            if let Some(k) = &b.key {
                row.value_key = value_key(k, &mut errors);
            }
            if let Some(v) = &b.value {
                row.value = value_text(v, &mut errors);
            }
            if !errors.is_empty() {
                return Err(AppError::invalid(errors));
            }
            if let Some(other) = tdb.live_custom_value_keyed(&row.value_key)? {
                if other.id != row.id {
                    return Err(AppError::conflict(format!("the key {} is taken", row.value_key)));
                }
            }
            row.updated_at = now;
            tdb.save_custom_value(&row)?;
            Ok(row)
        })
        .await?;
    Ok(CustomValue::from(&row))
}

#[utoipa::path(delete, path = "/api/v1/custom-values/{id}", tag = "custom-values", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom value id")),
    responses((status = 204, description = "In the trash"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    trash_value(&state, &p, &id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves a custom value to the trash (owner or admin, or `custom_values:write`); the web
/// app's too.
pub async fn trash_value(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    p.manager_or_scope(state, "custom_values", Access::Write).await?;
    let id = CustomValueId::parse(id).ok_or_else(|| AppError::not_found("custom value"))?;
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.custom_value(&id, false)?.ok_or_else(|| AppError::not_found("custom value"))?;
            row.deleted_at = Some(now.naive_utc());
            row.purge_at = Some((now + crate::crm::records::trash_retention()).naive_utc());
            tdb.save_custom_value(&row)?;
            Ok(())
        })
        .await
}
