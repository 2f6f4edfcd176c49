//! Create, read, update and move to the trash: one record at a time.

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
    p.require(&state, object.plural(), Access::Write).await?;
    let actor = change_actor(&p);
    let now = state.clock.now();
    let record = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            let parsed = input::parse(object, &body, &defs, true).map_err(AppError::invalid)?;
            records::create(t, object, parsed, &defs, &actor, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(record))
}

pub async fn get_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
) -> Result<HttpResponse, AppError> {
    p.require(&state, object.plural(), Access::Read).await?;
    let id = record_id(object, &id)?;
    let record = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let defs = t.custom_fields(Some(object))?;
            records::get(t, object, &id, &defs)
        })
        .await?;
    Ok(HttpResponse::Ok().json(record))
}

pub async fn update_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
    body: serde_json::Value,
) -> Result<HttpResponse, AppError> {
    p.require(&state, object.plural(), Access::Write).await?;
    let id = record_id(object, &id)?;
    let actor = change_actor(&p);
    let now = state.clock.now();
    let record = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            // 404 before 422: another portal's id must not learn how its body would fare.
            t.record(object, &id, false)?.ok_or_else(|| AppError::not_found(object.name()))?;
            let parsed = input::parse(object, &body, &defs, false).map_err(AppError::invalid)?;
            records::update(t, object, &id, parsed, &defs, &actor, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(record))
}

pub async fn delete_record(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
) -> Result<HttpResponse, AppError> {
    p.require(&state, object.plural(), Access::Write).await?;
    if let Actor::User(u) = &p.actor {
        if object.delete_needs_admin() && !u.role.can_manage() {
            return Err(AppError::forbidden(format!("deleting {} needs the owner or admin role", object.plural())));
        }
    }
    let id = record_id(object, &id)?;
    let actor = change_actor(&p);
    let now = state.clock.now();
    state.db.tenant(p.tenant_id.clone()).write(move |t| records::trash(t, object, &id, &actor, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}
