//! `Idempotency-Key` on POST: the first answer (status, body) to a key is stored and
//! replayed for retries, so a retried create creates nothing new. Keys are scoped by the
//! caller's credential and kept 24 hours. A retry while the first request still runs gets
//! 409 `idempotency_in_progress`; the same key with a different request gets 422
//! `idempotency_key_reused`. Answers of 500 and above are not kept (the retry runs again).

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use super::extract::bearer_token;
use super::AppState;
use crate::error::AppError;
use crate::security::tokens;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

fn refuse(req: ServiceRequest, err: AppError) -> ServiceResponse<BoxBody> {
    let resp = err.error_response();
    req.into_response(resp)
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_string));
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let key = match key {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k,
        _ => {
            let err = AppError::validation("Idempotency-Key", "must be 1-255 visible ASCII characters");
            return Ok(refuse(req, err));
        }
    };
    // Unauthenticated POSTs (sign-up, sign-in) have no caller to scope a key to.
    let (Some(token), Some(state)) = (bearer_token(req.request()), req.app_data::<web::Data<AppState>>().cloned())
    else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let scope = tokens::digest(&token);
    let bytes = req.extract::<web::Bytes>().await?;
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    req.set_payload(Payload::from(bytes));

    let now = state.clock.now();
    let (s, k, h) = (scope.clone(), key.clone(), request_hash.clone());
    let first = state
        .db
        .write(move |tx| {
            let mut p = tx.platform();
            if let Some(stored) = p.idempotent_answer(&s, &k)? {
                return Ok(Err(stored));
            }
            Ok(Ok(p.claim_idempotency_key(&s, &k, &h, now.naive_utc())?))
        })
        .await;
    match first {
        Err(e) => return Ok(refuse(req, e)),
        Ok(Err(stored)) => {
            if stored.request_hash != request_hash {
                let err = AppError::Validation {
                    detail: "this Idempotency-Key was used for a different request".into(),
                    errors: vec![crate::error::FieldError::new("Idempotency-Key", "was used for a different request")
                        .with_rule("idempotency_key_reused")],
                };
                return Ok(refuse(req, err));
            }
            let Some(status) = stored.status else {
                let err = AppError::Conflict {
                    code: "idempotency_in_progress",
                    detail: "a request with this Idempotency-Key is still running; retry shortly".into(),
                };
                return Ok(refuse(req, err));
            };
            let code = actix_web::http::StatusCode::from_u16(status as u16)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = HttpResponse::build(code);
            if let Some(ct) = stored.content_type {
                resp.insert_header((header::CONTENT_TYPE, ct));
            }
            resp.insert_header((REPLAYED, "true"));
            let resp = resp.body(stored.body.unwrap_or_default());
            return Ok(req.into_response(resp));
        }
        Ok(Ok(false)) => {
            let err = AppError::Conflict {
                code: "idempotency_in_progress",
                detail: "a request with this Idempotency-Key is still running; retry shortly".into(),
            };
            return Ok(refuse(req, err));
        }
        Ok(Ok(true)) => {}
    }

    let res = next.call(req).await?;
    let status = res.status();
    let (http_req, resp) = res.into_parts();
    let headers = resp.headers().clone();
    let body =
        body::to_bytes(resp.into_body()).await.map_err(|_| AppError::internal(anyhow::anyhow!("response body")))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = String::from_utf8_lossy(&body).to_string();
    let stored = state
        .db
        .write(move |tx| {
            let mut p = tx.platform();
            if status.is_server_error() {
                p.release_idempotency_key(&scope, &key)?;
            } else {
                p.complete_idempotency_key(&scope, &key, i32::from(status.as_u16()), content_type.as_deref(), &text)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not record the idempotent answer");
    }
    let mut rebuilt = HttpResponse::build(status);
    for (name, value) in headers.iter() {
        rebuilt.append_header((name.clone(), value.clone()));
    }
    Ok(ServiceResponse::new(http_req, rebuilt.body(body)))
}
