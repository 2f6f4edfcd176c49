//! The paging rule every list shares: `?limit=` (1-100, default 25) and `?after=` (the
//! `next_cursor` of the previous page), answered as `{data, next_cursor}` with
//! `next_cursor` null at the end. Lists fetch `limit + 1` rows and [`finish_page`] trims
//! the extra one, which says whether there is more.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{AppError, FieldError};

pub const DEFAULT_LIMIT: i64 = 25;
pub const MAX_LIMIT: i64 = 100;

/// The query parameters, for the OpenAPI document (and lists with no other parameters).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// A parsed page request: the limit, and the raw cursor (each list decodes its own kind).
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: i64,
    pub after: Option<String>,
}

impl Page {
    /// Parses both parameters, adding an error per bad one (so a list can report them
    /// together with its other parameters).
    pub fn parse(limit: Option<&str>, after: Option<&str>, errors: &mut Vec<FieldError>) -> Page {
        let limit = match limit.map(str::parse::<i64>) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                errors.push(FieldError::new("limit", "must be a whole number from 1 to 100"));
                DEFAULT_LIMIT
            }
        };
        Page { limit, after: after.filter(|a| !a.is_empty()).map(str::to_string) }
    }

    /// The cursor as a record or item id cursor ([`encode_cursor`]); a cursor from
    /// elsewhere is an error on `after`.
    pub fn after_id(&self, errors: &mut Vec<FieldError>) -> Option<String> {
        let raw = self.after.as_deref()?;
        let id = decode_cursor(raw);
        if id.is_none() {
            errors.push(FieldError::new("after", "is not a cursor from this list"));
        }
        id
    }

    /// The cursor as a sequence number (timelines and the audit log page by `seq`).
    pub fn after_seq(&self, errors: &mut Vec<FieldError>, message: &str) -> Option<i64> {
        let raw = self.after.as_deref()?;
        let seq = raw.parse::<i64>().ok().filter(|n| *n > 0);
        if seq.is_none() {
            errors.push(FieldError::new("after", message));
        }
        seq
    }
}

/// `Page` straight from the query string, for lists whose only parameters these are:
/// a bad value is a 422 naming it.
impl FromRequest for Page {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let q = match actix_web::web::Query::<PageQuery>::from_query(req.query_string()) {
            Ok(q) => q.into_inner(),
            Err(e) => {
                return ready(Err(AppError::BadRequest { code: "bad_request", detail: format!("query string: {e}") }))
            }
        };
        let mut errors = Vec::new();
        let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
        ready(if errors.is_empty() { Ok(page) } else { Err(AppError::invalid(errors)) })
    }
}

/// Trims a page fetched with `limit + 1` rows back to `limit`, and gives the cursor of its
/// last row when there was more.
pub fn finish_page<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(cursor_of) } else { None };
    (rows, next)
}

/// Opaque cursors: the position's id, base64url-encoded with a version tag.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

pub fn decode_cursor(raw: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix("v1:")?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}
