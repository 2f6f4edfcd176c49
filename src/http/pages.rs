//! The few pages the binary serves itself, compiled in from `templates/` and `static/` so a
//! single file is the whole deployment (no CDN, no files to lose).

use actix_web::http::header;
use actix_web::HttpResponse;

const INDEX: &str = include_str!("../../templates/index.html");
const STYLESHEET: &str = include_str!("../../static/organizeo.css");

/// Pages may load their own stylesheet, nothing else, and may not be framed.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'";

/// The landing page: where the API, the spec and the health endpoints are.
#[utoipa::path(get, path = "/", tag = "operations",
    responses((status = 200, description = "Landing page", content_type = "text/html")))]
pub async fn index() -> HttpResponse {
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
