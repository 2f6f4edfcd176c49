//! Platform staff access (Portal JITA) as a portal's owners and admins see it: the portal's
//! rule, every grant with what was done under it, approving a pending grant and revoking
//! one. Everything is `http::staff_access` (`overview`, `approve_grant`, `revoke_grant`),
//! which refuse anyone but an owner or admin; the navigation shows the page to them only.

use actix_web::http::StatusCode;
use actix_web::web;
use serde_json::json;

use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::http::staff_access;

/// Grants in these states can still be revoked.
const REVOCABLE: &[&str] = &["pending_approval", "active"];

/// `/app/staff-access`.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let view = staff_access::overview(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let grants: Vec<_> = view
        .data
        .iter()
        .map(|g| {
            let status = g.grant.status.as_str();
            json!({"grant": &g.grant, "activity": &g.activity,
                "can_approve": status == "pending_approval", "can_revoke": REVOCABLE.contains(&status)})
        })
        .collect();
    let ctx = json!({"rule": view.staff_access, "grants": grants});
    render::page(StatusCode::OK, "engage/staff_access.html", v.frame("staff-access-title", "staff-access"), ctx)
        .map_err(|e| v.fail(e))
}

/// `POST /app/staff-access/{id}/approve`.
pub async fn approve(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    staff_access::approve_grant(&v.state, &m.principal, id.into_inner()).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/staff-access"))
}

/// `POST /app/staff-access/{id}/revoke`: the grant's token stops working at once.
pub async fn revoke(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    staff_access::revoke_grant(&v.state, &m.principal, id.into_inner()).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/staff-access"))
}
