//! Custom field definitions: `{object, key, label, type, options, required}`. Values are
//! validated on every record write. Owners and admins (or a key with
//! `custom_fields:write`) change definitions; everyone reads them.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Json;
use super::principal::{Access, Principal};
use super::AppState;
use crate::crm::objects::{Object, CUSTOM_TYPES};
use crate::db::custom_fields::CustomFieldRow;
use crate::domain::CustomFieldId;
use crate::error::{AppError, FieldError};

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomField {
    pub id: String,
    /// contact, company, …
    pub object: String,
    pub key: String,
    pub label: String,
    /// text, number, date, boolean, select, multi_select, email, phone or url.
    #[serde(rename = "type")]
    pub field_type: String,
    pub options: Vec<String>,
    pub required: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CustomFieldRow> for CustomField {
    fn from(r: &CustomFieldRow) -> Self {
        Self {
            id: r.id.clone(),
            object: r.object.clone(),
            key: r.field_key.clone(),
            label: r.label.clone(),
            field_type: r.field_type.clone(),
            options: r.option_list(),
            required: r.required,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomFieldList {
    pub data: Vec<CustomField>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewCustomField {
    pub object: String,
    /// `[a-z][a-z0-9_]*`, at most 64 characters; fixed once created.
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
    /// The allowed values of select and multi_select fields.
    pub options: Vec<String>,
    pub required: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CustomFieldPatch {
    pub label: Option<String>,
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct CustomFieldQuery {
    /// Only the fields of this object.
    pub object: Option<String>,
}

fn check_label(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let label = raw.trim().to_string();
    if label.is_empty() || label.chars().count() > 255 {
        errors.push(FieldError::new("label", "is required, at most 255 characters"));
    }
    label
}

fn check_options(field_type: &str, options: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let is_select = matches!(field_type, "select" | "multi_select");
    let mut clean: Vec<String> = Vec::new();
    for o in options {
        let o = o.trim();
        if o.is_empty() || o.chars().count() > 255 {
            errors.push(FieldError::new("options", "each option must be 1-255 characters"));
            return clean;
        }
        if !clean.iter().any(|c| c == o) {
            clean.push(o.to_string());
        }
    }
    if is_select && clean.is_empty() {
        errors.push(FieldError::new("options", "select fields need at least one option"));
    }
    if !is_select && !clean.is_empty() {
        errors.push(FieldError::new("options", "only select and multi_select fields have options"));
    }
    if clean.len() > 1000 {
        errors.push(FieldError::new("options", "at most 1000 options"));
    }
    clean
}

#[utoipa::path(get, path = "/api/v1/custom-fields", tag = "custom-fields",
    security(("bearer" = [])), params(CustomFieldQuery),
    responses((status = 200, body = CustomFieldList),
        (status = 422, description = "`object` is not a CRM object", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<CustomFieldQuery>,
) -> Result<HttpResponse, AppError> {
    let data = definitions(&state, &p, q.into_inner().object.as_deref()).await?;
    Ok(HttpResponse::Ok().json(CustomFieldList { data }))
}

/// The live definitions, of one object (`contact`, `companies`, …) or of all; the web app's
/// record forms and settings read them too.
pub async fn definitions(state: &AppState, p: &Principal, object: Option<&str>) -> Result<Vec<CustomField>, AppError> {
    p.require(state, "custom_fields", Access::Read).await?;
    let object = match object.filter(|o| !o.is_empty()) {
        None => None,
        Some(o) => Some(Object::parse(o).ok_or_else(|| AppError::validation("object", "is not a CRM object"))?),
    };
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.custom_fields(object)?)).await?;
    Ok(rows.iter().map(CustomField::from).collect())
}

#[utoipa::path(post, path = "/api/v1/custom-fields", tag = "custom-fields",
    security(("bearer" = [])), request_body = NewCustomField,
    responses(
        (status = 201, body = CustomField),
        (status = 409, description = "The key is taken for this object", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<NewCustomField>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(define(&state, &p, body.0).await?))
}

/// Defines a custom field (owners and admins, or `custom_fields:write`; the web app too).
pub async fn define(state: &AppState, p: &Principal, b: NewCustomField) -> Result<CustomField, AppError> {
    p.manager_or_scope(state, "custom_fields", Access::Write).await?;
    let mut errors = Vec::new();
    let object = Object::parse(b.object.trim());
    if object.is_none() {
        errors.push(FieldError::new("object", "must be contact or company"));
    }
    let key = b.key.trim().to_string();
    if !crate::crm::objects::is_valid_key(&key) {
        errors.push(FieldError::new("key", "must match [a-z][a-z0-9_]* (at most 64 characters)"));
    }
    let label = check_label(&b.label, &mut errors);
    if !CUSTOM_TYPES.contains(&b.field_type.as_str()) {
        errors.push(FieldError::new("type", format!("must be one of {}", CUSTOM_TYPES.join(", "))));
    }
    let options = check_options(&b.field_type, &b.options, &mut errors);
    let (Some(object), true) = (object, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    let now = state.clock.now().naive_utc();
    let row = CustomFieldRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: p.tenant_id.to_string(),
        object: object.name().to_string(),
        field_key: key,
        label,
        field_type: b.field_type,
        options: serde_json::to_string(&options).map_err(AppError::internal)?,
        required: b.required,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        purge_at: None,
    };
    let created = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            if tdb.live_custom_field_by_key(object, &row.field_key)?.is_some() {
                return Err(AppError::Conflict {
                    code: "conflict",
                    detail: format!("{} already has a custom field with the key {}", object.plural(), row.field_key),
                });
            }
            tdb.insert_custom_field(&row)?;
            Ok(row)
        })
        .await?;
    Ok(CustomField::from(&created))
}

#[utoipa::path(get, path = "/api/v1/custom-fields/{id}", tag = "custom-fields",
    security(("bearer" = [])), params(("id" = String, Path, description = "Custom field id")),
    responses((status = 200, body = CustomField), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, "custom_fields", Access::Read).await?;
    let id = CustomFieldId::parse(&id.into_inner()).ok_or_else(|| AppError::not_found("custom field"))?;
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| t.custom_field(&id, false)?.ok_or_else(|| AppError::not_found("custom field")))
        .await?;
    Ok(HttpResponse::Ok().json(CustomField::from(&row)))
}

/// Change the label, the options (select types) or whether a value is required. The key,
/// type and object are fixed.
#[utoipa::path(patch, path = "/api/v1/custom-fields/{id}", tag = "custom-fields",
    security(("bearer" = [])), params(("id" = String, Path, description = "Custom field id")),
    request_body = CustomFieldPatch,
    responses((status = 200, body = CustomField),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<CustomFieldPatch>,
) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "custom_fields", Access::Write).await?;
    let id = CustomFieldId::parse(&id.into_inner()).ok_or_else(|| AppError::not_found("custom field"))?;
    let patch = body.0;
    let now = state.clock.now().naive_utc();
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.custom_field(&id, false)?.ok_or_else(|| AppError::not_found("custom field"))?;
            let mut errors = Vec::new();
            if let Some(label) = &patch.label {
                row.label = check_label(label, &mut errors);
            }
            if let Some(options) = &patch.options {
                let clean = check_options(&row.field_type, options, &mut errors);
                row.options = serde_json::to_string(&clean).map_err(AppError::internal)?;
            }
            if let Some(required) = patch.required {
                row.required = required;
            }
            if !errors.is_empty() {
                return Err(AppError::invalid(errors));
            }
            row.updated_at = now;
            tdb.update_custom_field(&row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(CustomField::from(&row)))
}

/// Moves the definition to the trash: its values are hidden, and come back on restore.
#[utoipa::path(delete, path = "/api/v1/custom-fields/{id}", tag = "custom-fields",
    security(("bearer" = [])), params(("id" = String, Path, description = "Custom field id")),
    responses((status = 204, description = "In the trash"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    trash_field(&state, &p, &id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves a definition to the trash (owners and admins, or the key scope; the web app too).
pub async fn trash_field(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    p.manager_or_scope(state, "custom_fields", Access::Write).await?;
    let id = CustomFieldId::parse(id).ok_or_else(|| AppError::not_found("custom field"))?;
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.custom_field(&id, false)?.ok_or_else(|| AppError::not_found("custom field"))?;
            row.deleted_at = Some(now.naive_utc());
            row.purge_at = Some((now + crate::crm::records::trash_retention()).naive_utc());
            tdb.update_custom_field(&row)?;
            Ok(())
        })
        .await
}
