//! `Idempotency-Key` on POST: the first answer (status, body) to a key is stored and
//! replayed for retries, so a retried create creates nothing new. Keys are scoped by the
//! caller's credential and kept 24 hours.
//!
//! - The caller is authenticated first: a request whose bearer does not resolve runs
//!   without idempotency (and gets its 401); nothing is stored for it.
//! - A retry while the first request still runs gets 409 `idempotency_in_progress`; the
//!   same key with a different request gets 422 `idempotency_key_reused`.
//! - The first request holds the key under a 2-minute lease. Its writes mark the key in
//!   the same transaction (`db::idempotency::WriteMark`). If the server dies mid-request,
//!   a retry after the lease takes the key over and runs again when nothing committed, and
//!   gets 409 `idempotency_outcome_unknown` (stored, so every retry hears the same) when the
//!   change was saved but its answer was lost.
//! - Answers of 500 and above are not kept (the retry runs again) unless a change committed.
//! - The body is hashed as it streams; past 1 MiB it is spooled to a temporary file, so an
//!   import upload with a key (up to 50 MB) works and costs no extra memory.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use super::extract::bearer_token;
use super::AppState;
use crate::db::idempotency::{Claim, StoredAnswer, WriteMark, IDEMPOTENT_WRITE};
use crate::error::{AppError, FieldError};
use crate::security::tokens;

pub const HEADER: &str = "idempotency-key";
/// The largest upload an idempotent POST may carry: an import's file and its form.
const MAX_UPLOAD: usize = super::imports::MAX_IMPORT_BYTES + 1024 * 1024;
/// Bodies up to this size are held in memory while hashed; larger ones go to a
/// temporary file, so an idempotent upload costs no more memory than one without a key.
const IN_MEMORY: usize = 1024 * 1024;
pub const REPLAYED: &str = "idempotent-replayed";

/// Hashes a request body. For a multipart upload the boundary is left out wherever it
/// occurs: clients pick a new random boundary for every send (python-requests, browsers),
/// so the same form sent again must hash the same.
pub struct BodyHasher {
    hash: Sha256,
    /// `--` + the boundary, or empty for other bodies.
    cut: Vec<u8>,
    /// The last bytes of the body seen so far that may start a boundary (not hashed yet).
    tail: Vec<u8>,
}

impl BodyHasher {
    pub fn new(hash: Sha256, boundary: Option<&str>) -> Self {
        let cut = boundary.map(|b| [b"--".as_slice(), b.as_bytes()].concat()).unwrap_or_default();
        Self { hash, cut, tail: Vec::new() }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        if self.cut.is_empty() {
            return self.hash.update(chunk);
        }
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(chunk);
        let n = self.cut.len();
        let (mut start, mut at) = (0, 0);
        while let Some(pos) = buf.get(at..).and_then(|rest| rest.windows(n).position(|w| w == self.cut.as_slice())) {
            self.hash.update(buf.get(start..at + pos).unwrap_or_default());
            at += pos + n;
            start = at;
        }
        let keep = start.max(buf.len().saturating_sub(n - 1));
        self.hash.update(buf.get(start..keep).unwrap_or_default());
        self.tail = buf.get(keep..).unwrap_or_default().to_vec();
    }

    pub fn finish(mut self) -> String {
        let tail = std::mem::take(&mut self.tail);
        self.hash.update(&tail);
        self.hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The boundary parameter of a multipart Content-Type.
fn boundary_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"')).filter(|b| !b.is_empty())
    })
}

/// Reads the request body once, hashing it, and gives it back as a payload for the
/// handler: from memory when small, from an unnamed temporary file when large.
async fn spool(mut payload: Payload, hasher: &mut BodyHasher, limit: usize) -> Result<Payload, AppError> {
    use futures_util::StreamExt;
    use std::io::Write;
    let bad = |e: actix_web::error::PayloadError| AppError::BadRequest { code: "bad_request", detail: e.to_string() };
    let mut held = web::BytesMut::new();
    let mut file: Option<std::fs::File> = None;
    let mut size = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(bad)?;
        size += chunk.len();
        if size > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        hasher.update(&chunk);
        held.extend_from_slice(&chunk);
        if held.len() >= IN_MEMORY {
            let spill = held.split().freeze();
            let target = match file.take() {
                Some(f) => f,
                None => {
                    web::block(tempfile::tempfile).await.map_err(AppError::internal)?.map_err(AppError::internal)?
                }
            };
            file = Some(
                web::block(move || {
                    let mut f = target;
                    f.write_all(&spill).map(|()| f)
                })
                .await
                .map_err(AppError::internal)?
                .map_err(AppError::internal)?,
            );
        }
    }
    let Some(mut f) = file else {
        return Ok(Payload::from(held.freeze()));
    };
    let rest = held.freeze();
    let f = web::block(move || {
        use std::io::{Seek, SeekFrom};
        f.write_all(&rest)?;
        f.seek(SeekFrom::Start(0))?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    let stream = futures_util::stream::unfold(Some(f), |file| async move {
        let mut f = file?;
        let read = web::block(move || {
            use std::io::Read;
            let mut buf = vec![0u8; 64 * 1024];
            let n = f.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((f, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((f, buf))) => Some((Ok(web::Bytes::from(buf)), Some(f))),
            Ok(Err(e)) => Some((Err(actix_web::error::PayloadError::Io(e)), None)),
            Err(_) => Some((Err(actix_web::error::PayloadError::Io(std::io::Error::other("spooled body"))), None)),
        }
    });
    // Fused: the multipart reader may poll again after the end.
    Ok(Payload::Stream { payload: Box::pin(stream.fuse()) })
}

fn refuse(req: ServiceRequest, err: AppError) -> ServiceResponse<BoxBody> {
    let resp = err.error_response();
    req.into_response(resp)
}

fn reused() -> AppError {
    AppError::Validation {
        detail: "this Idempotency-Key was used for a different request".into(),
        errors: vec![
            FieldError::new("Idempotency-Key", "was used for a different request").with_rule("idempotency_key_reused")
        ],
    }
}

fn in_progress() -> AppError {
    AppError::Conflict {
        code: "idempotency_in_progress",
        detail: "a request with this Idempotency-Key is still running; retry shortly".into(),
    }
}

fn outcome_unknown() -> AppError {
    AppError::Conflict {
        code: "idempotency_outcome_unknown",
        detail: "the first request with this Idempotency-Key saved its change, but the server stopped before \
                 answering; look the result up instead of retrying"
            .into(),
    }
}

fn replay(stored: StoredAnswer) -> HttpResponse {
    let code = stored.status.and_then(|s| StatusCode::from_u16(s as u16).ok()).unwrap_or(StatusCode::CONFLICT);
    let mut resp = HttpResponse::build(code);
    if let Some(ct) = stored.content_type {
        resp.insert_header((header::CONTENT_TYPE, ct));
    }
    resp.insert_header((REPLAYED, "true"));
    resp.body(stored.body.unwrap_or_default())
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
    // Authenticate before anything is stored: a forged bearer writes nothing here. (The
    // rate-limit middleware has usually resolved the credential already.)
    let known = req.extensions().get::<super::principal::Authenticated>().cloned();
    if known.is_none() {
        let Ok(who) = super::principal::authenticate(&state, &token).await else {
            return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
        };
        req.extensions_mut().insert(who);
    }
    let scope = tokens::digest(&token);
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    // Only uploads may be large; everything else is held to the JSON body limit here too.
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let upload = content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data");
    let limit = if upload { MAX_UPLOAD } else { state.settings.max_body_bytes };
    let mut hasher = BodyHasher::new(hasher, if upload { boundary_of(&content_type) } else { None });
    let payload = match spool(req.take_payload(), &mut hasher, limit).await {
        Ok(p) => p,
        Err(e) => return Ok(refuse(req, e)),
    };
    let request_hash = hasher.finish();
    req.set_payload(payload);

    let now = state.clock.now().naive_utc();
    let (s, k, h) = (scope.clone(), key.clone(), request_hash.clone());
    let claim = state.db.write(move |tx| Ok(tx.claim_idempotency_key(&s, &k, &h, now)?)).await;
    match claim {
        Err(e) => return Ok(refuse(req, e)),
        Ok(Claim::Answered(stored)) if stored.request_hash != request_hash => return Ok(refuse(req, reused())),
        Ok(Claim::Answered(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Claim::Running { request_hash: h } | Claim::OutcomeUnknown { request_hash: h }) if h != request_hash => {
            return Ok(refuse(req, reused()))
        }
        Ok(Claim::Running { .. }) => return Ok(refuse(req, in_progress())),
        Ok(Claim::OutcomeUnknown { .. }) => {
            let answer = outcome_unknown();
            let body = serde_json::to_string(&answer.to_problem()).unwrap_or_default();
            let (s, k) = (scope.clone(), key.clone());
            let stored = state
                .db
                .write(move |tx| {
                    Ok(tx.platform().complete_idempotency_key(&s, &k, 409, Some("application/problem+json"), &body)?)
                })
                .await;
            if let Err(e) = stored {
                tracing::error!(error = %e, "could not record the lost outcome of an idempotent request");
            }
            return Ok(refuse(req, answer));
        }
        Ok(Claim::Run) => {}
    }

    let mark = WriteMark { scope: scope.clone(), key: key.clone(), at: now };
    let res = IDEMPOTENT_WRITE.scope(mark, next.call(req)).await?;
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
            if status.is_server_error() && p.release_idempotency_key(&scope, &key)? {
                return Ok(());
            }
            p.complete_idempotency_key(&scope, &key, i32::from(status.as_u16()), content_type.as_deref(), &text)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(body: &[u8], boundary: &str, chunk: usize) -> String {
        let mut h = BodyHasher::new(Sha256::new(), Some(boundary));
        for c in body.chunks(chunk) {
            h.update(c);
        }
        h.finish()
    }

    #[test]
    fn a_form_hashes_the_same_whatever_its_boundary_and_chunking() {
        let form =
            |b: &str| format!("--{b}\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncontact\r\n--{b}--\r\n");
        let a = hash(form("aaaa1111").as_bytes(), "aaaa1111", 1000);
        for chunk in [1, 3, 7, 64] {
            assert_eq!(hash(form("zz9").as_bytes(), "zz9", chunk), a, "chunk {chunk}");
            assert_eq!(hash(form("aaaa1111").as_bytes(), "aaaa1111", chunk), a, "chunk {chunk}");
        }
        let other = form("aaaa1111").replace("contact", "company");
        assert_ne!(hash(other.as_bytes(), "aaaa1111", 5), a, "the content still counts");
        assert_eq!(boundary_of("multipart/form-data; boundary=\"x y\""), Some("x y"));
        assert_eq!(boundary_of("multipart/form-data; charset=utf-8; Boundary=abc"), Some("abc"));
        assert_eq!(boundary_of("multipart/form-data"), None);
    }
}
