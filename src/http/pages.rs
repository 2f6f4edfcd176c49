//! The few pages the binary serves itself, compiled in from `templates/` and `static/` so a
//! single file is the whole deployment (no CDN, no files to lose).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::AppState;

const INDEX: &str = include_str!("../../templates/index.html");
const STYLESHEET: &str = include_str!("../../static/organizeo.css");
const DASHBOARD: &str = include_str!("../../templates/dashboard.html");
const DASHBOARD_JS: &str = include_str!("../../static/dashboard.js");
const WIDGET_JS: &str = include_str!("../../static/widget.js");

/// The dashboard also runs its own script and talks to this origin (REST and websocket).
const APP_CSP: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Pages may load their own stylesheet, nothing else, and may not be framed.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'";

/// The landing page: where the web app, the API, the spec and the health endpoints are. A
/// browser with a web app session goes on to `/app/`.
#[utoipa::path(get, path = "/", tag = "operations",
    responses(
        (status = 200, description = "Landing page", content_type = "text/html"),
        (status = 303, description = "A browser signed in to the web app goes to /app/"),
    ))]
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if crate::web::cookies::get(&req, &state.web, crate::web::cookies::Name::Session).is_some() {
        return crate::web::render::see_other("/app/");
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .body(INDEX)
}

/// The shared stylesheet.
#[utoipa::path(get, path = "/static/organizeo.css", tag = "operations",
    responses((status = 200, description = "Stylesheet", content_type = "text/css")))]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// The live dashboard: sign in, then counters and an activity feed that follow the portal
/// over the real-time websocket and recover after a dropped connection.
#[utoipa::path(get, path = "/dashboard", tag = "operations",
    responses((status = 200, description = "Live dashboard page", content_type = "text/html")))]
pub async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, APP_CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(DASHBOARD)
}

/// The dashboard's script.
#[utoipa::path(get, path = "/static/dashboard.js", tag = "operations",
    responses((status = 200, description = "Dashboard script", content_type = "text/javascript")))]
pub async fn dashboard_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DASHBOARD_JS)
}

/// The in-app widget (embedded by portals in their own product, so it may be loaded from
/// any origin; it talks to the inbox API, which answers only the portal's allowed origins).
#[utoipa::path(get, path = "/static/widget.js", tag = "operations",
    responses((status = 200, description = "The in-app widget script", content_type = "text/javascript")))]
pub async fn widget_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"))
        .body(WIDGET_JS)
}
