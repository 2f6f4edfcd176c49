//! Cross-site request forgery, refused before any web handler runs ([`guard`] wraps the
//! whole `/app` scope). A state-changing request (anything but GET/HEAD/OPTIONS) needs:
//! 1. a same-origin browser context: `Sec-Fetch-Site`, when sent, is `same-origin` or
//!    `none`, and `Origin`, when sent, is this server's origin (or the public URL's);
//! 2. the session's CSRF token, in the `X-CSRF-Token` header (scripts) or the form field
//!    `csrf` (urlencoded forms), or, for a file upload (`multipart/form-data`, whose body
//!    is streamed to the handler unread), the `csrf` query parameter of the form's
//!    action; compared in constant time.
//!
//! The token is derived from the secret the browser holds in an HttpOnly cookie: the
//! session token once signed in, else a random pre-session secret (so the sign-in and
//! sign-up forms are protected too, against login CSRF). A page from another site can
//! neither read that cookie nor the token in our pages, so it cannot produce the token.
//! Missing or wrong → a 403 page; nothing is changed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpMessage, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cookies::{self, Name};
use super::render::WebError;
use super::{Config, HEADER_CSRF};
use crate::http::AppState;
use crate::security::tokens;

/// Form bodies read to find the token: larger ones are refused (forms are small).
const FORM_LIMIT: usize = 256 * 1024;

/// A pre-session secret made for this request (no cookie yet); the response sets it.
#[derive(Clone)]
struct NewSecret(String);

/// The CSRF token of a secret.
fn derive(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"organizeo-csrf-v1:");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The secret the token of this request derives from: the session cookie, else the
/// pre-session cookie, else one made for this (safe) request.
fn secret(req: &HttpRequest, config: &Config) -> Option<String> {
    cookies::get(req, config, Name::Session)
        .or_else(|| cookies::get(req, config, Name::Pre))
        .or_else(|| req.extensions().get::<NewSecret>().map(|s| s.0.clone()))
}

/// The CSRF token forms and scripts of this page must send back.
pub fn token(req: &HttpRequest, config: &Config) -> String {
    secret(req, config).map(|s| derive(&s)).unwrap_or_default()
}

fn origin_ok(req: &HttpRequest, config: &Config) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site.as_str(), "same-origin" | "none") {
            return false;
        }
    }
    match header("origin") {
        None => true,
        Some(origin) => {
            // The Host the request was sent to, not `connection_info()`: that believes
            // `Forwarded` / `X-Forwarded-Host` from anyone. Behind a proxy the public
            // URL's origin is the one that matches.
            let scheme = if config.tls { "https" } else { "http" };
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()));
            host.is_some_and(|h| origin == format!("{scheme}://{h}")) || origin == config.public_origin
        }
    }
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn is_multipart(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The middleware: see the module comment.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("application state missing"));
    };
    let config = &state.web;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        let fresh = if secret(req.request(), config).is_none() {
            let value = tokens::generate("").map_err(actix_web::error::ErrorInternalServerError)?;
            req.extensions_mut().insert(NewSecret(value.clone()));
            Some(value)
        } else {
            None
        };
        let mut res = next.call(req).await?;
        if let Some(value) = fresh {
            let _ = res.response_mut().add_cookie(&cookies::make(config, Name::Pre, value, None));
        }
        return Ok(res);
    }
    let lang = super::context::anonymous_lang(req.request(), config);
    if !origin_ok(req.request(), config) {
        return Err(WebError::csrf(lang).into());
    }
    let expected = match secret(req.request(), config) {
        Some(s) => derive(&s),
        None => return Err(WebError::csrf(lang).into()),
    };
    let sent = match req.headers().get(HEADER_CSRF).and_then(|v| v.to_str().ok()) {
        Some(v) => Some(v.to_string()),
        None if is_form(&req) => {
            let mut payload = req.take_payload();
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > FORM_LIMIT {
                    return Err(WebError::status(lang, actix_web::http::StatusCode::PAYLOAD_TOO_LARGE).into());
                }
                body.extend_from_slice(&chunk);
            }
            let body: Bytes = body.freeze();
            let found = form_field(&body, "csrf");
            req.set_payload(actix_web::dev::Payload::from(body));
            found
        }
        None if is_multipart(&req) => form_field(req.query_string().as_bytes(), "csrf"),
        None => None,
    };
    let matches = sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return Err(WebError::csrf(lang).into());
    }
    next.call(req).await
}

/// One field of an urlencoded body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_secret_and_are_stable() {
        assert_eq!(derive("a"), derive("a"));
        assert_ne!(derive("a"), derive("b"));
        assert_eq!(form_field(b"x=1&csrf=abc%2B&y=2", "csrf").as_deref(), Some("abc+"));
        assert_eq!(form_field(b"x=1", "csrf"), None);
    }
}
