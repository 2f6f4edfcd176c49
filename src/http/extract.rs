//! Request extractors shared by every handler:
//! - [`Json`]: a JSON body with the size limit, 415 for non-JSON, 400 for malformed JSON,
//!   and 422 naming the field for a wrong type or a missing field;
//! - [`client_info`]: where a request came from, for sessions and the audit log.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::db::sessions::ClientInfo;
use crate::error::{AppError, FieldError};

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

/// A JSON request body.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.max_body_bytes).unwrap_or(1024 * 1024);
        let content_type = req.content_type().to_ascii_lowercase();
        // A missing Content-Type is read as JSON (curl -d sends form encoding by default,
        // and refusing that would only annoy); any other explicit type is refused.
        let is_json = content_type.is_empty()
            || content_type == "application/json"
            || (content_type.starts_with("application/") && content_type.ends_with("+json"));
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMediaType {
                    detail: format!("expected Content-Type: application/json, got {content_type}"),
                });
            }
            if declared_len.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| AppError::BadRequest {
                    code: "bad_request",
                    detail: format!("could not read the request body: {e}"),
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(Json)
        })
    }
}

/// Deserializes, telling apart broken JSON (400) from JSON of the wrong shape (422).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::BadRequest {
            code: "malformed_json",
            detail: "the request body is empty; expected a JSON object".into(),
        });
    }
    refuse_nul(body)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => shape_error(&path, &inner),
            _ => AppError::BadRequest {
                code: "malformed_json",
                detail: format!("the request body is not valid JSON: {inner}"),
            },
        }
    })?;
    de.end().map_err(|e| AppError::BadRequest {
        code: "malformed_json",
        detail: format!("unexpected data after the JSON value: {e}"),
    })?;
    Ok(value)
}

/// A body already read as JSON, given its shape: for handlers that check who is asking
/// before they say what is wrong with the body (a refused caller learns nothing of it).
pub fn shape<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        shape_error(&path, &err.into_inner())
    })
}

/// U+0000 can only reach a JSON string as the escape `\u0000`; PostgreSQL text cannot
/// hold it, so a body carrying one is refused whole, naming where, on every backend.
fn refuse_nul(body: &[u8]) -> Result<(), AppError> {
    let escaped = body.windows(6).any(|w| w.starts_with(b"\\u0000"));
    if !escaped {
        return Ok(());
    }
    // Broken JSON is reported by the real parse.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(()) };
    match nul_path(&value, String::new()) {
        Some(path) => Err(AppError::invalid(vec![FieldError::new(
            if path.is_empty() { "body".to_string() } else { path },
            "must not contain the NUL character (U+0000)",
        )])),
        None => Ok(()),
    }
}

/// Where a NUL sits in a JSON value, as `items[0].first_name`; a key holding one names
/// its object.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_path(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(path.clone());
            }
            nul_path(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") })
        }),
        _ => None,
    }
}

fn shape_error(path: &str, err: &serde_json::Error) -> AppError {
    // serde_json appends " at line L column C"; the field name says more to a client.
    let full = err.to_string();
    let message = full.split(" at line ").next().unwrap_or(&full).to_string();
    if let Some(missing) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        let field = if path == "." { missing.to_string() } else { format!("{path}.{missing}") };
        return AppError::invalid(vec![FieldError::new(field, "is required")]);
    }
    let field = if path == "." { "body".to_string() } else { path.to_string() };
    AppError::invalid(vec![FieldError::new(field, message)])
}

/// Where a request came from: the peer address, or, when the peer is one of the
/// configured `trusted_proxies`, the right-most `X-Forwarded-For` entry that is not a
/// trusted proxy (entries left of it were written by the client and prove nothing).
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let trusted = req.app_data::<actix_web::web::Data<super::AppState>>().map(|s| s.settings.trusted_proxies.clone());
    ClientInfo {
        ip: client_ip(req, trusted.as_deref().unwrap_or_default()).map(|ip| ip.to_string()),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    }
}

/// The client's address (see [`client_info`]).
pub fn client_ip(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer))
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: Option<u32>,
    }

    fn err_of(body: &str) -> AppError {
        parse_json::<Body>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn nul_characters_are_found_by_path() {
        assert!(refuse_nul(br#"{"a": "x\\u0000"}"#).is_ok(), "an escaped backslash is text");
        assert!(refuse_nul(br#"{"a": "x"}"#).is_ok());
        let v: serde_json::Value = serde_json::from_str(r#"{"a": [1, {"b": "\u0000"}]}"#).unwrap();
        assert_eq!(nul_path(&v, String::new()).as_deref(), Some("a[1].b"));
        let v: serde_json::Value = serde_json::from_str(r#"{"a": {"k\u0000": 1}}"#).unwrap();
        assert_eq!(nul_path(&v, String::new()).as_deref(), Some("a"));
        assert_eq!(err_of(r#"{"email": "\u0000"}"#).code(), "validation_failed");
    }

    #[test]
    fn broken_json_is_400_and_wrong_shape_is_422_naming_the_field() {
        assert_eq!(err_of("{\"email\":").code(), "malformed_json");
        assert_eq!(err_of("").code(), "malformed_json");
        assert_eq!(err_of("{\"email\":\"a\"} x").code(), "malformed_json");
        match err_of("{\"email\":5}") {
            AppError::Validation { errors, .. } => assert_eq!(errors[0].field, "email"),
            other => panic!("{other:?}"),
        }
        match err_of("{\"count\":1}") {
            AppError::Validation { errors, .. } => {
                assert_eq!((errors[0].field.as_str(), errors[0].message.as_str()), ("email", "is required"))
            }
            other => panic!("{other:?}"),
        }
        match err_of("\"text\"") {
            AppError::Validation { errors, .. } => assert_eq!(errors[0].field, "body"),
            other => panic!("{other:?}"),
        }
    }
}
