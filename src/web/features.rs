//! Features in the browser: every flag as this portal sees it (`http::features::features_of`),
//! and for owners and admins opting the portal in to a public beta or out of it
//! (`http::features::set_opt`, which refuses anyone else and anything but a public beta).

use actix_web::http::StatusCode;
use actix_web::web;
use serde_json::json;

use super::render::{self, see_other};
use super::{Page, Visitor};
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

/// The pages that stand for a gated API route: `/app/<prefix>…` is refused when the flag
/// of its route is off (checked by `Visitor::member`, so no page of a gated capability can
/// forget it), and the navigation hides its entry.
const GATED_PAGES: &[(&str, &str)] = &[
    ("/app/emails", "/api/v1/emails"),
    ("/app/segments", "/api/v1/segments"),
    ("/app/campaigns", "/api/v1/campaigns"),
    ("/app/suppressions", "/api/v1/suppressions"),
    ("/app/messages", "/api/v1/inapp"),
    ("/app/imports", "/api/v1/imports"),
    ("/app/exports", "/api/v1/exports"),
];

/// The flag that gates the page at `path`, if any.
pub fn gate_for_page(path: &str) -> Option<&'static str> {
    GATED_PAGES
        .iter()
        .find(|(page, _)| path == *page || path.strip_prefix(page).is_some_and(|rest| rest.starts_with('/')))
        .and_then(|(_, api)| crate::features::gate_for_route(api))
}

/// Whether the page at `path` is open to `tenant` (not gated, or its flag on): what a page
/// asks before it reads or links to another page's capability (the message form's
/// segments, a contact filter's "save as a segment"), so the gate has no side door.
pub fn page_on(flags: &crate::features::FlagTable, tenant: &str, path: &str) -> bool {
    gate_for_page(path).is_none_or(|f| flags.enabled(f, tenant))
}

/// The navigation entries (by `nav` name) of capabilities that are off for `tenant`.
pub fn hidden_nav(flags: &crate::features::FlagTable, tenant: &str) -> Vec<&'static str> {
    [("campaigns", "/app/campaigns"), ("messages", "/app/messages"), ("imports", "/app/imports")]
        .into_iter()
        .filter(|(_, page)| !page_on(flags, tenant, page))
        .map(|(nav, _)| nav)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gated_pages_follow_the_flag_of_their_api_route() {
        assert_eq!(gate_for_page("/app/campaigns/abc/recipients"), Some("campaigns"));
        assert_eq!(gate_for_page("/app/emails"), Some("campaigns"));
        assert_eq!(gate_for_page("/app/messages/new"), Some("in_app_messages"));
        assert_eq!(gate_for_page("/app/imports/x/errors.csv"), Some("csv_import_export"));
        assert_eq!(gate_for_page("/app/emailsx"), None);
        assert_eq!(gate_for_page("/app/contacts"), None);
        for (_, api) in GATED_PAGES {
            assert!(crate::features::gate_for_route(api).is_some(), "{api} has no flag");
        }
    }
}
