//! Create, read, update and move to the trash: one record at a time. `create`, `get` and
//! `update` return the record as the API shows it; the web app (`crate::web`) calls them
//! too, so both share every access rule and check.

use actix_web::{web, HttpResponse};

use super::{change_actor, record_id};
use crate::crm::input;
use crate::crm::objects::Object;
use crate::crm::records;
use crate::error::AppError;
use crate::http::principal::{Access, Actor, Principal};
use crate::http::AppState;

pub async fn create_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    body: serde_json::Value,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(create(&state, &p, object, body).await?))
}

/// Creates a record (people who may write; keys with `<plural>:write`).
pub async fn create(
    state: &AppState,
    p: &Principal,
    object: Object,
    body: serde_json::Value,
) -> Result<serde_json::Value, AppError> {
    p.require(state, object.plural(), Access::Write).await?;
    let actor = change_actor(p);
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            let parsed = input::parse(object, &body, &defs, true).map_err(AppError::invalid)?;
            records::create(t, object, parsed, &defs, &actor, now)
        })
        .await
}

pub async fn get_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(get(&state, &p, object, &id).await?))
}

/// One live record of the principal's portal (another portal's id is not found).
pub async fn get(state: &AppState, p: &Principal, object: Object, id: &str) -> Result<serde_json::Value, AppError> {
    p.require(state, object.plural(), Access::Read).await?;
    let id = record_id(object, id)?;
    state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let defs = t.custom_fields(Some(object))?;
            records::get(t, object, &id, &defs)
        })
        .await
}

pub async fn update_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
    body: serde_json::Value,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(update(&state, &p, object, &id, body).await?))
}

/// Changes the fields `body` names (`null` clears); 404 before 422.
pub async fn update(
    state: &AppState,
    p: &Principal,
    object: Object,
    id: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, AppError> {
    p.require(state, object.plural(), Access::Write).await?;
    let id = record_id(object, id)?;
    let actor = change_actor(p);
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            // 404 before 422: another portal's id must not learn how its body would fare.
            t.record(object, &id, false)?.ok_or_else(|| AppError::not_found(object.name()))?;
            let parsed = input::parse(object, &body, &defs, false).map_err(AppError::invalid)?;
            records::update(t, object, &id, parsed, &defs, &actor, now)
        })
        .await
}

pub async fn delete_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
) -> Result<HttpResponse, AppError> {
    trash(&state, &p, object, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether a person with `role` may move records of `object` to the trash: writers may,
/// but contacts, companies, deals and tickets need an owner or admin.
pub fn may_trash(role: crate::domain::Role, object: Object) -> bool {
    role.can_write() && (!object.delete_needs_admin() || role.can_manage())
}

/// Moves a record to the trash (restorable for 30 days); the web app's delete calls it too.
pub async fn trash(state: &AppState, p: &Principal, object: Object, id: &str) -> Result<(), AppError> {
    p.require(state, object.plural(), Access::Write).await?;
    if let Actor::User(u) = &p.actor {
        if !may_trash(u.role, object) {
            return Err(AppError::forbidden(format!("deleting {} needs the owner or admin role", object.plural())));
        }
    }
    let id = record_id(object, id)?;
    let actor = change_actor(p);
    let now = state.clock.now();
    state.db.tenant(p.tenant_id.clone()).write(move |t| records::trash(t, object, &id, &actor, now)).await
}
