//! Form bodies (`application/x-www-form-urlencoded`) and the field errors shown beside
//! each input. A body that does not parse is a 400 page, never a 500.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde::de::DeserializeOwned;

use super::i18n::Lang;
use super::render::WebError;
use crate::error::{AppError, FieldError};

/// Parses a form body into `T` (unknown fields, such as `csrf`, are ignored). A value
/// holding U+0000 is refused here (400), as `http::extract` refuses it in JSON: it never
/// reaches the database.
pub fn parse<T: DeserializeOwned>(lang: Lang, body: &Bytes) -> Result<T, WebError> {
    let bad = || WebError::status(lang, StatusCode::BAD_REQUEST);
    // serde_urlencoded turns bytes that are not UTF-8 into U+FFFD; a form must not store
    // "a\u{fffd}b@x.example" when it was sent something else, so such a body is refused.
    let utf8 = body.split(|b| *b == b'&').all(|pair| {
        let plus_as_space: Vec<u8> = pair.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        percent_encoding::percent_decode(&plus_as_space).decode_utf8().is_ok()
    });
    if !utf8 {
        return Err(bad());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| bad())?;
    if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(bad());
    }
    serde_urlencoded::from_bytes(body).map_err(|_| bad())
}

/// Field errors by field name, each field's messages in order, for the templates
/// (`errors.email`); messages not tied to a form field go under `_form`.
/// Messages are in the page's language where [`api_text`](super::api_text) knows them.
pub fn by_field(lang: Lang, errors: &[FieldError], fields: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in errors {
        let key = if fields.contains(&e.field.as_str()) { e.field.clone() } else { "_form".to_string() };
        let text = super::api_text::message(lang, &e.message);
        let message = if key == "_form" { format!("{}: {text}", e.field) } else { text };
        out.entry(key).or_default().push(message);
    }
    out
}

/// What a failed form write shows: 422 with field errors, 409 as an error on
/// `conflict_field`; anything else is an error page.
pub enum Refused {
    Form { status: StatusCode, errors: BTreeMap<String, Vec<String>> },
    Page(WebError),
}

pub fn refused(lang: Lang, e: AppError, fields: &[&str], conflict_field: &str) -> Refused {
    match e {
        AppError::Validation { errors, .. } => {
            Refused::Form { status: StatusCode::UNPROCESSABLE_ENTITY, errors: by_field(lang, &errors, fields) }
        }
        AppError::WithExtra { status, ref errors, .. } if status == StatusCode::UNPROCESSABLE_ENTITY => {
            Refused::Form { status, errors: by_field(lang, errors, fields) }
        }
        e if is_conflict(&e) => {
            let detail = super::api_text::message(lang, &e.to_problem().detail);
            Refused::Form {
                status: StatusCode::CONFLICT,
                errors: BTreeMap::from([(conflict_field.to_string(), vec![detail])]),
            }
        }
        other => Refused::Page(WebError::from_app(lang, other)),
    }
}

fn is_conflict(e: &AppError) -> bool {
    use actix_web::ResponseError;
    e.status_code() == StatusCode::CONFLICT
}

/// A form value: trimmed, `None` when empty.
pub fn value(raw: &Option<String>) -> Option<String> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}
