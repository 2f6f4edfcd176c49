//! Features in the browser: every flag as this portal sees it (`http::features::features_of`),
//! and for owners and admins opting the portal in to a public beta or out of it
//! (`http::features::set_opt`, which refuses anyone else and anything but a public beta).

use actix_web::http::StatusCode;
use actix_web::web;
use serde_json::json;

use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::error::AppError;
use crate::http::features;

/// `/app/features`.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let list = features::features_of(&v.state, &m.principal);
    let ctx = json!({"features": list.data, "can_manage": m.role().can_manage()});
    render::page(StatusCode::OK, "engage/features.html", v.frame("features-title", "features"), ctx)
        .map_err(|e| v.fail(e))
}

async fn opt(v: Visitor, key: String, on: bool) -> Page {
    let m = v.member()?;
    features::set_opt(&v.state, &m.principal, key, on).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/features"))
}

/// `POST /app/features/{key}/opt-in`.
pub async fn opt_in(v: Visitor, key: web::Path<String>) -> Page {
    opt(v, key.into_inner(), true).await
}

/// `POST /app/features/{key}/opt-out`.
pub async fn opt_out(v: Visitor, key: web::Path<String>) -> Page {
    opt(v, key.into_inner(), false).await
}

/// Refuses a page of a capability that is off for this portal (403 `feature_not_enabled`),
/// as `http::principal` refuses the API's route `api_route` that the page stands for: the
/// flag is the one the registry gives for that route, never a copy.
pub fn gate(v: &Visitor, api_route: &str) -> Result<(), WebError> {
    let m = v.member()?;
    if let Some(feature) = crate::features::gate_for_route(api_route) {
        if !v.state.realtime.flags().enabled(feature, m.tenant().as_str()) {
            return Err(v.fail(AppError::feature_not_enabled(feature)));
        }
    }
    Ok(())
}
