//! Cross-cutting HTTP behaviour applied to every route:
//! - [`observe`]: request id (`X-Request-Id`, taken from the client when sane, else new),
//!   a tracing span per request, one log line per answer, Prometheus metrics;
//! - [`problem_errors`]: any error answer not already `application/problem+json` (actix's
//!   own 404/405/413…) is rewritten as one, so clients parse a single error shape;
//! - [`security_headers`]: nosniff, no framing, no referrer, no caching of API answers, and
//!   HSTS when serving TLS.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use super::AppState;
use crate::error::{problem_for_status, problem_response, PROBLEM_JSON};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, for handlers and logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_string())
}

/// A URL whose path or query carries `%00` is refused before routing: PostgreSQL text
/// cannot hold U+0000, and no identifier or search of ours contains one. The web app's
/// pages (`/app…`) answer with the 400 page in the visitor's language, the rest with a
/// problem document.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let uri = req.uri();
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        if uri.path().starts_with("/app") {
            if let Some(state) = req.app_data::<web::Data<AppState>>() {
                let lang = crate::web::context::anonymous_lang(req.request(), &state.web);
                return Err(crate::web::render::WebError::status(lang, actix_web::http::StatusCode::BAD_REQUEST).into());
            }
        }
        return Err(crate::error::AppError::BadRequest {
            code: "bad_request",
            detail: "the URL contains an encoded NUL character (%00)".into(),
        }
        .into());
    }
    next.call(req).await
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let request_id =
        req.headers().get(&REQUEST_ID).and_then(sane_request_id).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());
    let started = Instant::now();
    span.in_scope(|| tracing::debug!("started"));

    let mut res = next.call(req).instrument(span.clone()).await?;

    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    if let Some(state) = state {
        state.metrics.observe_request(&method, &route, status, elapsed.as_secs_f64());
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    span.in_scope(|| {
        tracing::info!(status, route = %route, latency_ms = elapsed.as_secs_f64() * 1000.0, "answered");
    });
    Ok(res)
}

pub fn problem_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite_as_problem)
}

fn rewrite_as_problem<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problems pass as they are; so do the few error pages meant for a person in a browser
    // (a dead unsubscribe link), which a handler writes as HTML on purpose.
    let already = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()) || v.as_bytes().starts_with(b"text/html"));
    if already {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut fresh = problem_response(status, &problem_for_status(status));
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let res: ServiceResponse<EitherBody<B>> = ServiceResponse::new(req, fresh).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

pub fn security_headers(tls: bool) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"));
    if tls {
        headers = headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains"));
    }
    headers
}
