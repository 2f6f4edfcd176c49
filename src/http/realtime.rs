//! The real-time entry points: a short-lived ticket for an authenticated caller, and the
//! websocket upgrade that redeems it. The websocket itself (frames, topics, limits) lives
//! in `crate::realtime`; this file only decides who is connecting.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::principal::{key_allows, Access, Actor, Principal};
use super::AppState;
use crate::crm::objects::Object;
use crate::db::realtime_tickets::Subject;
use crate::domain::ApiKeyId;
use crate::error::AppError;
use crate::identity::credentials;
use crate::realtime::tenant::Audience;
use crate::realtime::{session, Credential, Viewer};
use crate::security::tokens;

/// Tickets are good for this long, once.
const TICKET_TTL_SECONDS: i64 = 30;

pub const TICKET_PREFIX: &str = "ozt_";

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketResponse {
    /// Single use; pass it as `?ticket=` to `GET /api/v1/realtime` within 30 seconds.
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
    /// The websocket path with the ticket, for convenience.
    pub url: String,
}

/// A websocket ticket for the caller: a signed-in person (any role) or a private app key
/// with the `realtime:read` scope.
#[utoipa::path(post, path = "/api/v1/realtime/ticket", tag = "realtime",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketResponse),
        (status = 401, description = "No valid token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A key without `realtime:read`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn ticket(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(issue(&state, &p).await?))
}

/// Issues a websocket ticket for `p` (the web app's dashboard asks through its session).
pub async fn issue(state: &AppState, p: &Principal) -> Result<TicketResponse, AppError> {
    p.require(state, "realtime", Access::Read).await?;
    let subject = match &p.actor {
        Actor::User(u) => Subject::Session(u.session_id.as_str().to_string()),
        Actor::Key(k) => Subject::ApiKey(k.key_id.clone()),
        Actor::Jita(j) => Subject::Jita(j.grant_id.clone()),
    };
    let ticket = tokens::generate(TICKET_PREFIX).map_err(AppError::internal)?;
    let expires_at = state.clock.now() + Duration::seconds(TICKET_TTL_SECONDS);
    let hash = tokens::digest(&ticket);
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| Ok(t.issue_ticket(&hash, &subject, expires_at.naive_utc())?))
        .await?;
    let url = format!("/api/v1/realtime?ticket={ticket}");
    Ok(TicketResponse { ticket, expires_at, url })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpgradeQuery {
    /// A ticket from `POST /api/v1/realtime/ticket`.
    pub ticket: Option<String>,
}

/// Upgrades to the real-time websocket. Frames are JSON: the client sends
/// `{"type":"subscribe","topic":"crm"|"dashboard"|"notifications"|"campaigns","since":seq?}` and
/// `{"type":"unsubscribe","topic":…}`; the server sends `event`, `snapshot`, `subscribed`,
/// `reset` and `error` frames. Close codes: 1003 binary frame, 1008 rate limited or
/// protocol error, 1009 frame too large, 4000 heartbeat timeout, 4008 slow consumer,
/// 4029 too many connections (see the README's real-time section).
#[utoipa::path(get, path = "/api/v1/realtime", tag = "realtime",
    params(UpgradeQuery),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, description = "Not a websocket handshake", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, used or expired ticket", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "2FA enrolment required, or the key lost `realtime:read`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<UpgradeQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // A plain GET must not burn the ticket: check the handshake first.
    if let Err(e) = actix_web_actors::ws::handshake(&req) {
        return Err(AppError::BadRequest {
            code: "websocket_required",
            detail: format!("not a websocket handshake: {e}"),
        });
    }
    let ticket = query.into_inner().ticket.ok_or_else(|| AppError::unauthorized("missing ticket"))?;
    let hash = tokens::digest(&ticket);
    let now = state.clock.now();
    let credentials::Redeemed { tenant: tenant_id, actor, digest, .. } =
        credentials::redeem_ticket(&state.db, hash, now).await?;
    let (subject, audience, credential) = match actor {
        Actor::User(u) => {
            if u.require_mfa && !u.mfa_enabled {
                return Err(AppError::Forbidden {
                    code: "mfa_enrollment_required",
                    detail: "this portal requires two-factor authentication".into(),
                });
            }
            let user = u.user_id.as_str().to_string();
            let credential = Credential::Session {
                id: u.session_id.clone(),
                user: u.user_id.clone(),
                expires_at: u.expires_at,
                mfa_enabled: u.mfa_enabled,
                digest,
            };
            (user.clone(), Audience { objects: None, user_id: Some(user), end_user: None }, credential)
        }
        Actor::Key(k) => {
            if !key_allows(&k.scopes, "realtime", Access::Read) {
                return Err(AppError::Forbidden {
                    code: "insufficient_scope",
                    detail: "this private app key lacks the realtime:read scope".into(),
                });
            }
            let mut objects: Vec<&'static str> = Object::ALL
                .into_iter()
                .filter(|o| key_allows(&k.scopes, o.plural(), Access::Read))
                .map(Object::name)
                .collect();
            // Email, segment and campaign events, for keys that may read campaigns: the
            // first two ride the crm topic, campaign events have their own.
            if key_allows(&k.scopes, super::emails::RESOURCE, Access::Read) {
                objects.extend([crate::content::EMAIL, crate::crm::segments::OBJECT, crate::campaigns::OBJECT]);
            }
            let credential = Credential::Key { id: ApiKeyId::from_db(k.key_id.clone()), digest };
            (
                format!("key:{}", k.key_id),
                Audience { objects: Some(objects), user_id: None, end_user: None },
                credential,
            )
        }
        Actor::Jita(j) => {
            // Staff see what an admin sees; every object, no personal notifications.
            let credential = Credential::Jita { grant: j.grant_id.clone(), expires_at: j.expires_at, digest };
            (format!("jita:{}", j.grant_id), Audience { objects: None, user_id: None, end_user: None }, credential)
        }
    };
    let viewer = Viewer { tenant: tenant_id, subject, audience, credential };
    session::start(state.realtime.clone(), viewer, &req, payload)
        .map_err(|e| AppError::BadRequest { code: "websocket_required", detail: e.to_string() })
}
