//! The portal's people in the browser: everyone sees who is in the portal and with which
//! role; owners and admins invite people (who join by accepting), change roles and remove
//! people, see the open invitations and take one back. The rules are the API's
//! (`http::users::{members, invite, change_role, remove_member}`,
//! `http::invitations::{pending, take_back}`): only an owner grants or takes the owner role, and the last owner can
//! be neither demoted nor removed (409, shown on the page).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::domain::Role;
use crate::http::invitations;
use crate::http::users::{self, MemberPatch, NewMember};

type Errors = BTreeMap<String, Vec<String>>;

/// The roles a form offers, most powerful first (`role-<name>` in the catalogs).
pub const ROLES: &[Role] = &[Role::Owner, Role::Admin, Role::Member, Role::Viewer];

const INVITE_FIELDS: &[&str] = &["email", "name", "role", "password"];

async fn people_page(v: &Visitor, status: StatusCode, form: Value, errors: Errors) -> Page {
    let m = v.member()?;
    let people = users::members(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let me = m.user.user_id.to_string();
    // Open invitations are for owners and admins (the API's rule); others see none.
    let pending = if m.role().can_manage() {
        invitations::pending(&v.state, &m.principal).await.map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let ctx = json!({"people": people, "me": me, "roles": ROLES, "form": form, "errors": errors, "pending": pending,
        "can_manage": m.role().can_manage(), "invited": v.req.query_string() == "invited=1"});
    render::page(status, "people.html", v.frame("people-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `/app/people`: the portal's people; for owners and admins, the forms.
pub async fn list(v: Visitor) -> Page {
    people_page(&v, StatusCode::OK, json!({"role": "member"}), Errors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    email: String,
    name: String,
    role: String,
    password: String,
}

/// `POST /app/people`: invites a person (the API's `POST /api/v1/users`).
pub async fn invite(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal.manager().map_err(|e| v.fail(e))?;
    let form: InviteForm = forms::parse(v.lang, &body)?;
    let input = NewMember {
        email: form.email.clone(),
        name: form.name.clone(),
        role: form.role.clone(),
        password: forms::value(&Some(form.password.clone())),
    };
    match users::invite(&v.state, &m.principal, input).await {
        Ok(_) => Ok(see_other("/app/people?invited=1")),
        Err(e) => match forms::refused(v.lang, e, INVITE_FIELDS, "email") {
            Refused::Form { status, errors } => {
                // The password is never sent back into the page.
                let values = json!({"email": form.email, "name": form.name, "role": form.role});
                people_page(&v, status, values, errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

/// `POST /app/people/{id}/role`: changes a person's role (the API's `PATCH
/// /api/v1/users/{id}`); a refusal by the last-owner rule is shown on the list.
pub async fn change_role(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal.manager().map_err(|e| v.fail(e))?;
    let form: RoleForm = forms::parse(v.lang, &body)?;
    let patch = MemberPatch { role: Some(form.role) };
    match users::change_role(&v.state, &m.principal, &id, patch).await {
        Ok(_) => Ok(see_other("/app/people")),
        Err(e) => refused_on_list(&v, e).await,
    }
}

/// `POST /app/people/{id}/remove`: removes a person from the portal (the API's `DELETE
/// /api/v1/users/{id}`); their sessions here end.
pub async fn remove(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    m.principal.manager().map_err(|e| v.fail(e))?;
    match users::remove_member(&v.state, &m.principal, &id).await {
        Ok(()) if id.as_str() == m.user.user_id.as_str() => Ok(see_other("/app/login")),
        Ok(()) => Ok(see_other("/app/people")),
        Err(e) => refused_on_list(&v, e).await,
    }
}

async fn refused_on_list(v: &Visitor, e: crate::error::AppError) -> Page {
    match forms::refused(v.lang, e, &[], "_form") {
        Refused::Form { status, errors } => people_page(v, status, json!({"role": "member"}), errors).await,
        Refused::Page(p) => Err(p),
    }
}

/// `POST /app/people/invitations/{id}/revoke`: takes back an open invitation.
pub async fn revoke_invitation(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    invitations::take_back(&v.state, &m.principal, id.into_inner()).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/people"))
}
