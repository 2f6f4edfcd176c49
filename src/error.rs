//! The application error: one enum, mapped once to RFC 9457 `application/problem+json`
//! with a stable snake_case `code`.
//!
//! Handlers return `Result<_, AppError>`. Causes of `Internal` errors are logged here, at the
//! edge, with the request id; they never reach the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field-level complaint inside a 422.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The rule that failed, where there is a named one (e.g. password rule `digit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), rule: None }
    }

    pub fn with_rule(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_string());
        self
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` style tags under organizeo's namespace).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`, `unauthorized`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for specific problems (for example `tenants` on `tenant_required`).
    /// The schema leaves additional members open rather than naming them here.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error answer that many operations share, documented once in the OpenAPI document's
/// `components.responses` under `name` and referenced from every operation that can give
/// it (`http::openapi` decides which). The codes listed are the `code`s it carries.
#[derive(Debug, Clone, Copy)]
pub struct SharedAnswer {
    pub status: u16,
    pub name: &'static str,
    pub description: &'static str,
    /// Response headers it always carries: `(name, description)`.
    pub headers: &'static [(&'static str, &'static str)],
}

/// Every shared error answer, by status.
pub const SHARED_ANSWERS: &[SharedAnswer] = &[
    SharedAnswer {
        status: 400,
        name: "BadRequest",
        description: "`malformed_json`: the body is not JSON; `bad_request`: the URL holds an encoded NUL \
            (`%00`), or the query string or a multipart body cannot be read",
        headers: &[],
    },
    SharedAnswer {
        status: 401,
        name: "Unauthorized",
        description: "`unauthorized`: no bearer token, or a forged, expired or revoked one",
        headers: &[("WWW-Authenticate", "`Bearer`")],
    },
    SharedAnswer {
        status: 403,
        name: "Forbidden",
        description: "`forbidden` (the role does not allow it), `insufficient_scope` (a private app key \
            without the scope), `user_required` (a key on a person's endpoint), `mfa_enrollment_required` \
            (the portal requires 2FA and this person has none yet)",
        headers: &[],
    },
    SharedAnswer {
        status: 404,
        name: "NotFound",
        description: "`not_found`: no such item in this portal (another portal's ids are not found too)",
        headers: &[],
    },
    SharedAnswer {
        status: 409,
        name: "Conflict",
        description: "`conflict` and more specific codes: the current state does not allow it; \
            `idempotency_in_progress`, `idempotency_outcome_unknown`: a retry with the same \
            `Idempotency-Key`",
        headers: &[],
    },
    SharedAnswer {
        status: 413,
        name: "PayloadTooLarge",
        description: "`payload_too_large`: the body is over the limit (`ORGANIZEO_MAX_BODY_BYTES`, 1 MiB by \
            default; 50 MB for CSV imports)",
        headers: &[],
    },
    SharedAnswer {
        status: 415,
        name: "UnsupportedMediaType",
        description: "`unsupported_media_type`: the body is not `application/json`",
        headers: &[],
    },
    SharedAnswer {
        status: 422,
        name: "Unprocessable",
        description: "`validation_failed`: fields or parameters break a rule, each named in `errors` \
            (`field`, `message`, `rule`)",
        headers: &[],
    },
    SharedAnswer {
        status: 429,
        name: "TooManyRequests",
        description: "`rate_limited`: too many requests from this address, credential or portal \
            (`ORGANIZEO_RATE_LIMIT_PER_*`), or too many failed attempts at a secret; retry after \
            `Retry-After` seconds",
        headers: &[
            ("Retry-After", "Seconds to wait before retrying"),
            ("RateLimit-Limit", "Requests the tightest bucket holds"),
            ("RateLimit-Remaining", "Requests left in it (0)"),
            ("RateLimit-Reset", "Seconds until it is full again"),
        ],
    },
    SharedAnswer {
        status: 503,
        name: "ServiceUnavailable",
        description: "`unavailable`: the database is unreachable or busy; retry after `Retry-After` seconds",
        headers: &[("Retry-After", "Seconds to wait before retrying")],
    },
];

/// The shared answer for a status, if there is one.
pub fn shared_answer(status: u16) -> Option<&'static SharedAnswer> {
    SHARED_ANSWERS.iter().find(|a| a.status == status)
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{detail}")]
    Validation { detail: String, errors: Vec<FieldError> },
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("authentication required")]
    Unauthorized { detail: String },
    #[error("forbidden: {detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("not found")]
    NotFound { detail: String },
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("conflict: {detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType { detail: String },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64, detail: String },
    #[error("service unavailable: {detail}")]
    Unavailable { detail: String },
    /// A 4xx/5xx with extra problem members, for answers that carry data (e.g. tenant choice).
    #[error("{detail}")]
    WithExtra {
        status: StatusCode,
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation { detail: format!("{field}: {message}"), errors: vec![FieldError::new(field, message)] }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self::Validation { detail, errors }
    }

    /// 403 `feature_not_enabled`, naming the feature flag that is off for the portal.
    pub fn feature_not_enabled(feature: &str) -> Self {
        let mut extra = serde_json::Map::new();
        extra.insert("feature".into(), serde_json::Value::String(feature.to_string()));
        Self::WithExtra {
            status: StatusCode::FORBIDDEN,
            code: "feature_not_enabled",
            detail: format!("the feature {feature} is not enabled for this portal"),
            errors: Vec::new(),
            extra,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound { detail: format!("{what} not found") }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized { detail: detail.into() }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden { code: "forbidden", detail: detail.into() }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict { code: "conflict", detail: detail.into() }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { code, .. } => code,
            Self::NotFound { .. } => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::Unavailable { .. } => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::WithExtra { code, .. } => code,
            Self::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation { detail, .. }
            | Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail }
            | Self::Forbidden { detail, .. }
            | Self::NotFound { detail }
            | Self::Conflict { detail, .. }
            | Self::UnsupportedMediaType { detail }
            | Self::Unavailable { detail }
            | Self::RateLimited { detail, .. }
            | Self::WithExtra { detail, .. } => detail.clone(),
            Self::MethodNotAllowed { allow } => format!("this resource answers only {allow}"),
            Self::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            Self::Internal(_) => "an unexpected error occurred; it has been logged".into(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let (errors, extra) = match self {
            Self::Validation { errors, .. } => (errors.clone(), None),
            Self::WithExtra { errors, extra, .. } => (errors.clone(), Some(extra.clone())),
            _ => (Vec::new(), None),
        };
        Problem {
            type_: problem_type(self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().to_string(),
            errors,
            extra,
        }
    }
}

/// The `type` URI of a problem: stable, and documented per code in the README.
pub fn problem_type(code: &str) -> String {
    format!("https://organizeo.dev/problems/{}", code.replace('_', "-"))
}

/// Builds a problem+json response for a bare status (used for errors actix raises itself).
pub fn problem_for_status(status: StatusCode) -> Problem {
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal_error",
        _ => "bad_request",
    };
    let detail = match status.as_u16() {
        404 => "no such route or resource".to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    Problem {
        type_: problem_type(code),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        code: code.to_string(),
        errors: Vec::new(),
        extra: None,
    }
}

pub fn problem_response(status: StatusCode, problem: &Problem) -> HttpResponse {
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{\"code\":\"internal_error\"}".to_vec());
    HttpResponse::build(status).insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))).body(body)
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::WithExtra { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let mut resp = problem_response(self.status_code(), &self.to_problem());
        match self {
            Self::Unauthorized { .. } => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            Self::RateLimited { retry_after_secs, .. } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable { .. } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        resp
    }
}

/// Database errors become internal errors, except the constraint violations a handler did
/// not anticipate, which are conflicts (a race lost to a concurrent writer, never a 500).
impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::not_found("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::info!(constraint = info.constraint_name(), "unique violation");
                AppError::conflict("a record with the same unique value already exists")
            }
            // Contention, not a fault: SQLite's write lock outwaited the busy timeout, or
            // PostgreSQL aborted a transaction to keep it serialisable. The client may retry.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                tracing::warn!(message = info.message(), "serialization failure");
                AppError::Unavailable { detail: "the database is busy; retry the request".into() }
            }
            Error::DatabaseError(_, info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy")
                    || info.message().contains("deadlock detected") =>
            {
                tracing::warn!(message = info.message(), "database busy");
                AppError::Unavailable { detail: "the database is busy; retry the request".into() }
            }
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::AppError;

    #[test]
    fn contention_is_a_503_to_retry_not_a_500() {
        let locked = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("database is locked".to_string()));
        assert_eq!(AppError::from(locked).code(), "unavailable");
        let serial =
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, Box::new("could not serialize".to_string()));
        assert_eq!(AppError::from(serial).code(), "unavailable");
        let deadlock = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("deadlock detected".to_string()));
        assert_eq!(AppError::from(deadlock).code(), "unavailable");
        let other = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("syntax error".to_string()));
        assert_eq!(AppError::from(other).code(), "internal_error");
        let dup = Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new("dup".to_string()));
        assert_eq!(AppError::from(dup).code(), "conflict");
    }
}
