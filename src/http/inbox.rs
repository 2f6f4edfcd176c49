//! The end user's inbox (the widget's API). No bearer token: the identity comes from
//! `X-Organizeo-App`, `X-Organizeo-User` and `X-Organizeo-User-Hash`, checked by
//! [`EndUserReq`] (`messages::identity::resolve`: the HMAC, in constant time), which also
//! checks the browser's `Origin` against the portal's `allowed_origins`, the
//! `in_app_messages` feature flag and a per-end-user rate limit. [`cors`] answers
//! preflights and adds `Access-Control-Allow-Origin` only to answers for an allowed origin.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{encode_cursor, finish_page, Page};
use super::AppState;
use crate::db::inapp::{Change, Counts, Shelf};
use crate::db::realtime_tickets::Subject;
use crate::error::{AppError, FieldError};
use crate::messages::{identity, inbox};

/// The feature flag that gates the inbox (as it gates `/api/v1/inapp`).
pub const FEATURE: &str = "in_app_messages";
/// Requests per second per end user (sustained), and the burst above it.
pub const PER_USER_RATE: u32 = 10;
pub const PER_USER_BURST: u32 = 40;

/// An end user whose HMAC checked out, calling from an allowed origin (or none).
pub struct EndUserReq(pub identity::EndUser);

/// Marks a request whose `Origin` may read the answer.
#[derive(Clone)]
struct CorsOrigin(String);

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether `origin` is the server's own (same-origin requests carry `Origin` too).
fn same_origin(req: &HttpRequest, origin: &str) -> bool {
    let info = req.connection_info();
    origin == format!("{}://{}", info.scheme(), info.host())
}

impl FromRequest for EndUserReq {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
            let user = identity::resolve(
                &state.db,
                &state.keyring,
                header(&req, "x-organizeo-app"),
                header(&req, "x-organizeo-user"),
                header(&req, "x-organizeo-user-hash"),
            )
            .await?;
            if let Some(origin) = header(&req, "origin") {
                if !user.allowed_origins.iter().any(|o| o == origin) && !same_origin(&req, origin) {
                    return Err(AppError::Forbidden {
                        code: "origin_not_allowed",
                        detail: "this origin is not in the portal's allowed_origins".into(),
                    });
                }
                req.extensions_mut().insert(CorsOrigin(origin.to_string()));
            }
            if !state.realtime.flags().enabled(FEATURE, user.tenant.as_str()) {
                return Err(AppError::feature_not_enabled(FEATURE));
            }
            let key = format!("{}\n{}", user.tenant.as_str(), user.user_id);
            if let Err(not_until) = state.inbox_limits.check_key(&key) {
                use governor::clock::Clock as _;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                return Err(AppError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                    detail: "too many inbox requests for this end user; slow down".into(),
                });
            }
            Ok(EndUserReq(user))
        })
    }
}

/// The end-user inbox's CORS: a preflight (which names no app: browsers send header
/// names, not values) is answered for any origin some portal allows; an actual answer
/// carries `Access-Control-Allow-Origin` only when [`EndUserReq`] found the origin in that
/// portal's list. No credentials (cookies) are ever allowed.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.path().starts_with("/api/v1/inbox") {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let origin = req.headers().get("origin").and_then(|v| v.to_str().ok()).map(str::to_string);
    if req.method() == Method::OPTIONS {
        if let (Some(origin), Some(state)) = (origin, req.app_data::<web::Data<AppState>>().cloned()) {
            let o = origin.clone();
            let known = state.db.read(move |p| Ok(p.inapp_origin_known(&o)?)).await.unwrap_or(false);
            let mut res = HttpResponse::NoContent();
            res.insert_header(("Vary", "Origin"));
            if known {
                res.insert_header(("Access-Control-Allow-Origin", origin))
                    .insert_header(("Access-Control-Allow-Methods", "GET, POST"))
                    .insert_header((
                        "Access-Control-Allow-Headers",
                        "Content-Type, X-Organizeo-App, X-Organizeo-User, X-Organizeo-User-Hash",
                    ))
                    .insert_header(("Access-Control-Max-Age", "600"));
            }
            return Ok(req.into_response(res.finish()));
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let allowed = res.request().extensions().get::<CorsOrigin>().cloned();
    let headers = res.headers_mut();
    headers.insert(HeaderName::from_static("vary"), HeaderValue::from_static("Origin"));
    if let Some(CorsOrigin(o)) = allowed {
        if let Ok(v) = HeaderValue::from_str(&o) {
            headers.insert(HeaderName::from_static("access-control-allow-origin"), v);
            headers.insert(
                HeaderName::from_static("access-control-expose-headers"),
                HeaderValue::from_static("Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"),
            );
        }
    }
    Ok(res)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItem {
    pub id: String,
    pub message_id: String,
    /// Plain text: render it as text, never as HTML.
    pub title: String,
    pub body: String,
    /// http or https only.
    pub action_url: Option<String>,
    pub category: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub seen_at: Option<chrono::DateTime<chrono::Utc>>,
    pub read_at: Option<chrono::DateTime<chrono::Utc>>,
    pub archived_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    #[schema(value_type = Vec<InboxItem>)]
    pub data: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxCounts {
    /// Not read and not archived.
    pub unread: i64,
    /// Not seen and not archived.
    pub unseen: i64,
    /// Not archived.
    pub total: i64,
}

impl From<Counts> for InboxCounts {
    fn from(c: Counts) -> Self {
        Self { unread: c.unread, unseen: c.unseen, total: c.total }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `all` (default: everything not archived), `unread`, `read`, or `archived`.
    pub status: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The end user's items, newest first.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "inbox", params(InboxQuery),
    responses((status = 200, body = InboxPage)))]
pub async fn list(
    state: web::Data<AppState>,
    u: EndUserReq,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let mut errors = Vec::new();
    let shelf = match q.status.as_deref() {
        None | Some("all") => Shelf::All,
        Some("unread") => Shelf::Unread,
        Some("read") => Shelf::Read,
        Some("archived") => Shelf::Archived,
        Some(_) => {
            errors.push(FieldError::new("status", "must be unread, read, archived or all"));
            Shelf::All
        }
    };
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let (limit, user) = (page.limit, u.0.user_id);
    expire(&state, &u.0.tenant, &user).await?;
    let rows = state
        .db
        .tenant(u.0.tenant)
        .read(move |t| Ok(t.inapp_inbox(&user, shelf, after.as_deref(), limit + 1)?))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |(i, _)| encode_cursor(&i.id));
    let data = rows.iter().map(|(i, m)| crate::messages::item_view(i, m)).collect();
    Ok(HttpResponse::Ok().json(InboxPage { data, next_cursor }))
}

/// Messages past their `expires_at` leave the user's inbox (archived, counted out) before
/// it is read: one indexed read when nothing expired, a write only when something did.
async fn expire(state: &AppState, tenant: &crate::domain::TenantId, user: &str) -> Result<(), AppError> {
    let now = state.clock.now();
    let who = user.to_string();
    let due = state
        .db
        .tenant(tenant.clone())
        .read(move |t| Ok(!t.expired_inapp_items(&who, now.naive_utc(), 1)?.is_empty()))
        .await?;
    if due {
        let who = user.to_string();
        state.db.tenant(tenant.clone()).write(move |t| crate::messages::inbox::expire_due(t, &who, now)).await?;
    }
    Ok(())
}

/// Exact counts for the bell (a counter row kept in step with every change).
#[utoipa::path(get, path = "/api/v1/inbox/counts", tag = "inbox",
    responses((status = 200, body = InboxCounts)))]
pub async fn counts(state: web::Data<AppState>, u: EndUserReq) -> Result<HttpResponse, AppError> {
    let user = u.0.user_id;
    expire(&state, &u.0.tenant, &user).await?;
    let c = state.db.tenant(u.0.tenant).read(move |t| Ok(t.inapp_counts(&user)?)).await?;
    Ok(HttpResponse::Ok().json(InboxCounts::from(c)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemChanged {
    #[schema(value_type = InboxItem)]
    pub item: serde_json::Value,
    pub counts: InboxCounts,
}

async fn change_one(state: &AppState, u: EndUserReq, id: String, change: Change) -> Result<HttpResponse, AppError> {
    let (now, user) = (state.clock.now(), u.0.user_id);
    let (item, counts) =
        state.db.tenant(u.0.tenant).write(move |t| inbox::change_one(t, &user, &id, change, now)).await?;
    Ok(HttpResponse::Ok().json(ItemChanged { item, counts: counts.into() }))
}

macro_rules! item_route {
    ($name:ident, $path:literal, $change:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "inbox",
            params(("id" = String, Path, description = "Inbox item id")),
            responses((status = 200, description = "The item and the counts after the change", body = ItemChanged)))]
        pub async fn $name(state: web::Data<AppState>, u: EndUserReq, id: web::Path<String>) -> Result<HttpResponse, AppError> {
            change_one(&state, u, id.into_inner(), $change).await
        }
    };
}

item_route!(seen, "/api/v1/inbox/{id}/seen", Change::Seen, "Marks one item seen.");
item_route!(read, "/api/v1/inbox/{id}/read", Change::Read, "Marks one item read (and seen).");
item_route!(unread, "/api/v1/inbox/{id}/unread", Change::Unread, "Marks one item unread again.");
item_route!(archive, "/api/v1/inbox/{id}/archive", Change::Archive, "Archives one item (and marks it read).");
item_route!(unarchive, "/api/v1/inbox/{id}/unarchive", Change::Unarchive, "Brings an archived item back.");

#[derive(Debug, Serialize, ToSchema)]
pub struct AllChanged {
    /// Items changed.
    pub changed: usize,
    pub counts: InboxCounts,
}

async fn change_all(state: &AppState, u: EndUserReq, change: Change) -> Result<HttpResponse, AppError> {
    let (now, user) = (state.clock.now(), u.0.user_id);
    let (changed, counts) =
        state.db.tenant(u.0.tenant).write(move |t| inbox::change_all(t, &user, change, now)).await?;
    Ok(HttpResponse::Ok().json(AllChanged { changed, counts: counts.into() }))
}

/// Marks every item read.
#[utoipa::path(post, path = "/api/v1/inbox/read-all", tag = "inbox",
    responses((status = 200, body = AllChanged)))]
pub async fn read_all(state: web::Data<AppState>, u: EndUserReq) -> Result<HttpResponse, AppError> {
    change_all(&state, u, Change::Read).await
}

/// Archives every item.
#[utoipa::path(post, path = "/api/v1/inbox/archive-all", tag = "inbox",
    responses((status = 200, body = AllChanged)))]
pub async fn archive_all(state: web::Data<AppState>, u: EndUserReq) -> Result<HttpResponse, AppError> {
    change_all(&state, u, Change::Archive).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxTicket {
    /// Single use, 30 seconds: `GET /api/v1/inbox/ws?ticket=…`.
    pub ticket: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub url: String,
}

/// A websocket ticket for this end user.
#[utoipa::path(post, path = "/api/v1/inbox/ticket", tag = "inbox",
    responses((status = 200, body = InboxTicket)))]
pub async fn ticket(state: web::Data<AppState>, u: EndUserReq) -> Result<HttpResponse, AppError> {
    let ticket = crate::security::tokens::generate("ozit_").map_err(AppError::internal)?;
    let expires_at = state.clock.now() + chrono::Duration::seconds(30);
    let (hash, subject) = (crate::security::tokens::digest(&ticket), Subject::EndUser(u.0.user_id));
    state.db.tenant(u.0.tenant).write(move |t| Ok(t.issue_ticket(&hash, &subject, expires_at.naive_utc())?)).await?;
    let url = format!("/api/v1/inbox/ws?ticket={ticket}");
    Ok(HttpResponse::Ok().json(InboxTicket { ticket, expires_at, url }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// A ticket from `POST /api/v1/inbox/ticket`.
    pub ticket: Option<String>,
    /// Resume after this `seq` (the last one the client saw).
    pub since: Option<i64>,
}

/// The end user's live inbox: `{"type":"message","seq","data":{item}}`,
/// `{"type":"changed","seq","data":{action, ids, all, at}}` and
/// `{"type":"counts","seq","data":{unread, unseen, total}}` after every change, from any
/// tab or node. The client may send `{"type":"ping"}` and
/// `{"type":"subscribe","topic":"inbox","since":seq}`; frames over 4 KiB close with 1009.
#[utoipa::path(get, path = "/api/v1/inbox/ws", tag = "inbox", params(WsQuery),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, description = "Not a websocket handshake", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, used or expired ticket", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Origin not allowed, or in-app messages are off", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<WsQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    if let Err(e) = actix_web_actors::ws::handshake(&req) {
        return Err(AppError::BadRequest {
            code: "websocket_required",
            detail: format!("not a websocket handshake: {e}"),
        });
    }
    let q = query.into_inner();
    let ticket = q.ticket.ok_or_else(|| AppError::unauthorized("missing ticket"))?;
    let (tenant, user) = crate::identity::credentials::redeem_end_user_ticket(
        &state.db,
        crate::security::tokens::digest(&ticket),
        state.clock.now(),
    )
    .await?;
    // Browsers do not apply CORS to websockets: check the origin here.
    if let Some(origin) = header(&req, "origin") {
        let tid = tenant.as_str().to_string();
        let app = state.db.read(move |p| Ok(p.inapp_app_of_tenant(&tid)?)).await?;
        let allowed = app.map(|a| identity::origins_of(&a)).unwrap_or_default();
        if !allowed.iter().any(|o| o == origin) && !same_origin(&req, origin) {
            return Err(AppError::Forbidden {
                code: "origin_not_allowed",
                detail: "this origin is not in the portal's allowed_origins".into(),
            });
        }
    }
    if !state.realtime.flags().enabled(FEATURE, tenant.as_str()) {
        return Err(AppError::feature_not_enabled(FEATURE));
    }
    crate::realtime::end_user_session(state.realtime.clone(), tenant, user, q.since, &req, payload)
        .map_err(|e| AppError::BadRequest { code: "websocket_required", detail: e.to_string() })
}
