//! `POST /api/v1/contacts/{id}/erase`: erasure on request (see `crate::erasure` for what
//! is removed and what is kept). Owners and admins, or a key with `contacts:erase`; a
//! contact in the trash can be erased too; refused under Portal JITA.

use actix_web::{web, HttpResponse};

use super::principal::{Access, Principal};
use super::records::{change_actor, record_id};
use super::AppState;
use crate::crm::objects::Object;
use crate::error::AppError;

/// Removes a contact and every trace of the person (record, values, tags links, event
/// payloads, staged import rows, import errors, stored idempotent answers); keeps an audit
/// entry without personal data and a keyed hash of the address so it is never mailed again.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/erase", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The contact's id (live or in the trash)")),
    responses((status = 200, description = "Erased; counts of what was removed", body = crate::erasure::Erased)))]
pub async fn erase(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "contacts", Access::Erase).await?;
    let id = record_id(Object::Contact, &id)?;
    let erased = crate::erasure::erase_contact(
        &state.db,
        &state.keyring,
        p.tenant_id.clone(),
        id,
        change_actor(&p),
        p.entry("contact.erased"),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(erased))
}
