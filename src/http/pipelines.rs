//! Deal pipelines with ordered stages. Everyone reads them; owners and admins (or a key
//! with `pipelines:write`) change them. A pipeline or stage still used by deals cannot be
//! removed (409).

use std::collections::HashSet;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::pipelines::{PipelineRow, Stage};
use crate::domain::PipelineId;
use crate::error::{AppError, FieldError};

#[derive(Debug, Serialize, ToSchema)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    /// In order.
    pub stages: Vec<Stage>,
    pub display_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&PipelineRow> for Pipeline {
    fn from(r: &PipelineRow) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            stages: r.stage_list(),
            display_order: r.display_order,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineList {
    pub data: Vec<Pipeline>,
}

/// A stage as sent: keep `id` to keep a stage (and its deals), omit it for a new stage.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct StageInput {
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PipelineInput {
    pub name: Option<String>,
    /// The complete ordered list of stages.
    pub stages: Option<Vec<StageInput>>,
    pub display_order: Option<i32>,
}

fn check_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_string();
    if name.is_empty() || name.chars().count() > 255 {
        errors.push(FieldError::new("name", "is required, at most 255 characters"));
    }
    name
}

/// Validates the stage list; stages keep their ids when given (and only their own).
fn check_stages(input: &[StageInput], existing: &[Stage], errors: &mut Vec<FieldError>) -> Vec<Stage> {
    if input.is_empty() || input.len() > 100 {
        errors.push(FieldError::new("stages", "needs 1-100 stages"));
    }
    let mut out: Vec<Stage> = Vec::new();
    let mut names = HashSet::new();
    for (i, s) in input.iter().enumerate() {
        let name = s.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 255 {
            errors.push(FieldError::new(format!("stages[{i}].name"), "is required, at most 255 characters"));
        } else if !names.insert(name.to_lowercase()) {
            errors.push(FieldError::new(format!("stages[{i}].name"), "is used by another stage"));
        }
        let id = match &s.id {
            None => uuid::Uuid::now_v7().to_string(),
            Some(id) if existing.iter().any(|e| &e.id == id) && !out.iter().any(|o| &o.id == id) => id.clone(),
            Some(_) => {
                errors.push(FieldError::new(format!("stages[{i}].id"), "is not a stage of this pipeline"));
                String::new()
            }
        };
        out.push(Stage { id, name });
    }
    out
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", security(("bearer" = [])),
    responses((status = 200, body = PipelineList)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(PipelineList { data: all(&state, &p).await? }))
}

/// The portal's pipelines in order (the web app's board and deal forms read them too).
pub async fn all(state: &AppState, p: &Principal) -> Result<Vec<Pipeline>, AppError> {
    p.require(state, "pipelines", Access::Read).await?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.pipelines()?)).await?;
    Ok(rows.iter().map(Pipeline::from).collect())
}

#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", security(("bearer" = [])),
    request_body = PipelineInput,
    responses((status = 201, body = Pipeline),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<PipelineInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(define(&state, &p, body.0).await?))
}

/// Creates a pipeline (owners and admins, or `pipelines:write`); the web app's board calls
/// it too.
pub async fn define(state: &AppState, p: &Principal, b: PipelineInput) -> Result<Pipeline, AppError> {
    p.manager_or_scope(state, "pipelines", Access::Write).await?;
    let mut errors = Vec::new();
    let name = check_name(b.name.as_deref().unwrap_or_default(), &mut errors);
    let stages = check_stages(b.stages.as_deref().unwrap_or_default(), &[], &mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now().naive_utc();
    let row = PipelineRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: p.tenant_id.to_string(),
        name,
        stages: serde_json::to_string(&stages).map_err(AppError::internal)?,
        display_order: b.display_order.unwrap_or(0),
        created_at: now,
        updated_at: now,
    };
    let created = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            t.insert_pipeline(&row)?;
            Ok(row)
        })
        .await?;
    Ok(Pipeline::from(&created))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pipeline id")),
    responses((status = 200, body = Pipeline), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, "pipelines", Access::Read).await?;
    let id = PipelineId::parse(&id.into_inner()).ok_or_else(|| AppError::not_found("pipeline"))?;
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| t.pipeline(&id)?.ok_or_else(|| AppError::not_found("pipeline")))
        .await?;
    Ok(HttpResponse::Ok().json(Pipeline::from(&row)))
}

/// Rename, reorder, or replace the stage list (stages keep their deals when sent with their
/// `id`; removing a stage that deals use is a 409).
#[utoipa::path(patch, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pipeline id")), request_body = PipelineInput,
    responses((status = 200, body = Pipeline),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A removed stage is used by deals", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<PipelineInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(change(&state, &p, &id.into_inner(), body.0).await?))
}

/// Renames a pipeline or replaces its stages (owner or admin, or `pipelines:write`); the
/// web app's pipeline form too.
pub async fn change(state: &AppState, p: &Principal, id: &str, b: PipelineInput) -> Result<Pipeline, AppError> {
    p.manager_or_scope(state, "pipelines", Access::Write).await?;
    let id = PipelineId::parse(id).ok_or_else(|| AppError::not_found("pipeline"))?;
    let now = state.clock.now().naive_utc();
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.pipeline(&id)?.ok_or_else(|| AppError::not_found("pipeline"))?;
            let mut errors = Vec::new();
            if let Some(name) = &b.name {
                row.name = check_name(name, &mut errors);
            }
            if let Some(order) = b.display_order {
                row.display_order = order;
            }
            if let Some(input) = &b.stages {
                let existing = row.stage_list();
                let stages = check_stages(input, &existing, &mut errors);
                if errors.is_empty() {
                    let removed: Vec<String> = existing
                        .iter()
                        .filter(|e| !stages.iter().any(|s| s.id == e.id))
                        .map(|e| e.id.clone())
                        .collect();
                    if tdb.deals_using("stage_id", &removed)? > 0 {
                        return Err(AppError::conflict("deals are in a stage you removed; move them first"));
                    }
                }
                row.stages = serde_json::to_string(&stages).map_err(AppError::internal)?;
            }
            if !errors.is_empty() {
                return Err(AppError::invalid(errors));
            }
            row.updated_at = now;
            tdb.update_pipeline(&row)?;
            Ok(row)
        })
        .await?;
    Ok(Pipeline::from(&row))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pipeline id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Deals use it", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    remove(&state, &p, &id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a pipeline no deal uses (owner or admin, or `pipelines:write`); the web app's
/// too.
pub async fn remove(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    p.manager_or_scope(state, "pipelines", Access::Write).await?;
    let id = PipelineId::parse(id).ok_or_else(|| AppError::not_found("pipeline"))?;
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            tdb.pipeline(&id)?.ok_or_else(|| AppError::not_found("pipeline"))?;
            if tdb.deals_using("pipeline_id", &[id.to_string()])? > 0 {
                return Err(AppError::conflict("deals use this pipeline; move or delete them first"));
            }
            tdb.delete_pipeline(&id)?;
            Ok(())
        })
        .await
}
