//! `POST /{plural}/batch`: up to 100 items, each applied in its own savepoint with its own
//! result; the ones that succeed commit together.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::change_actor;
use crate::crm::item::{self, Applied, ItemError, Mode, Unaddressed};
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::principal::{Access, Principal};
use crate::http::AppState;

/// `POST /{plural}/batch`: up to 100 items, each with its own result.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct BatchRequest {
    /// create, update (items carry `id`) or upsert (contacts only, matched by `email`).
    pub action: String,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    pub index: usize,
    /// 201 created, 200 updated, or the 4xx the item alone would have had.
    pub status: u16,
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
    /// The problem (as problem+json would carry it) when the item failed.
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchItemResult>,
    pub created: usize,
    pub updated: usize,
    pub failed: usize,
}

pub const BATCH_MAX: usize = 100;

/// The answer an item would have had as a single request.
pub(super) fn item_problem(object: Object, e: ItemError) -> AppError {
    match e {
        ItemError::Unaddressed(Unaddressed::IdMissing) => AppError::validation("id", "is required to update"),
        ItemError::Unaddressed(Unaddressed::IdMalformed | Unaddressed::NoSuchRecord) => {
            AppError::not_found(object.name())
        }
        ItemError::Unaddressed(Unaddressed::EmailMissing) => AppError::validation("email", "is required to upsert"),
        ItemError::Unaddressed(Unaddressed::EmailInvalid(m)) => AppError::validation("email", m),
        ItemError::Failed(e) => e,
    }
}

pub async fn batch_records(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    body: BatchRequest,
) -> Result<HttpResponse, AppError> {
    p.require(&state, object.plural(), Access::Write).await?;
    let mode = match body.action.as_str() {
        "upsert" if object != Object::Contact => {
            return Err(AppError::validation("action", "upsert matches contacts by email; use create or update"))
        }
        action => {
            Mode::parse(action).ok_or_else(|| AppError::validation("action", "must be create, update or upsert"))?
        }
    };
    if body.items.is_empty() || body.items.len() > BATCH_MAX {
        return Err(AppError::validation("items", format!("needs 1-{BATCH_MAX} items")));
    }
    let actor = change_actor(&p);
    let now = state.clock.now();
    let items = body.items;
    let results = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            let mut results = Vec::with_capacity(items.len());
            for (index, body) in items.iter().enumerate() {
                let outcome = t.savepoint(|t| item::apply(t, object, mode, body, &defs, &actor, now));
                results.push(match outcome.map_err(|e| item_problem(object, e)) {
                    Ok(Applied::Created(record)) => {
                        BatchItemResult { index, status: 201, record: Some(record), error: None }
                    }
                    Ok(Applied::Updated(record)) => {
                        BatchItemResult { index, status: 200, record: Some(record), error: None }
                    }
                    // A server-side failure fails the whole batch; input errors fail their item.
                    Err(e @ AppError::Internal(_)) | Err(e @ AppError::Unavailable { .. }) => return Err(e),
                    Err(e) => {
                        let problem = serde_json::to_value(e.to_problem()).map_err(AppError::internal)?;
                        BatchItemResult {
                            index,
                            status: problem.get("status").and_then(serde_json::Value::as_u64).unwrap_or(422) as u16,
                            record: None,
                            error: Some(problem),
                        }
                    }
                });
            }
            Ok(results)
        })
        .await?;
    let created = results.iter().filter(|r| r.status == 201).count();
    let updated = results.iter().filter(|r| r.status == 200).count();
    let failed = results.len() - created - updated;
    Ok(HttpResponse::Ok().json(BatchResponse { results, created, updated, failed }))
}
