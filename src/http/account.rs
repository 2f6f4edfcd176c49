//! The signed-in person's own account: change password, list and revoke sessions.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::domain::SessionId;
use crate::error::AppError;
use crate::identity;
use crate::identity::access::{self, Reason, Revocation};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub data: Vec<SessionView>,
}

/// Change the password. Needs the current one; every other session of the person, in
/// every portal, is signed out.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 422, description = "Wrong current password, or the new one breaks a rule", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    change_own_password(&state, &p, body.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the signed-in person's password (the current one is checked, throttled and
/// audited by `identity::password::change`); the web app's account page too.
pub async fn change_own_password(state: &AppState, p: &Principal, body: PasswordChange) -> Result<(), AppError> {
    let me = p.user()?.clone();
    let entry = p.entry("user.password_changed").target("user", &me.user_id);
    let failure = p.entry("user.password_change_failed").target("user", &me.user_id);
    let tenant = p.tenant_id.clone();
    let audit = identity::password::ChangeAudit { changed: entry, failed: failure };
    identity::password::change(
        &state.db,
        tenant,
        me,
        body.current_password,
        body.new_password,
        audit,
        state.clock.now(),
    )
    .await
}

/// My live sessions in this portal.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
pub async fn list_sessions(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(SessionList { data: sessions(&state, &p).await? }))
}

/// The signed-in person's live sessions in this portal (the web app's account page too).
pub async fn sessions(state: &AppState, p: &Principal) -> Result<Vec<SessionView>, AppError> {
    let me = p.user()?.clone();
    let now = state.clock.now().naive_utc();
    let uid = me.user_id.clone();
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.live_sessions(&uid, now)?)).await?;
    let data = rows
        .into_iter()
        .map(|s| SessionView {
            current: s.id == me.session_id.as_str(),
            id: s.id,
            created_at: s.created_at.and_utc(),
            last_seen_at: s.last_seen_at.and_utc(),
            expires_at: s.expires_at.and_utc(),
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(data)
}

/// Sign one of my sessions out (another device, say).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live session of mine", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_session(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    revoke(&state, &p, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Signs one of the person's own sessions out (the web app's account page too).
pub async fn revoke(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    let me = p.user()?.clone();
    let id = SessionId::parse(id).ok_or_else(|| AppError::not_found("session"))?;
    let now = state.clock.now();
    let entry = p.entry("session.revoked").target("session", &id);
    let actor = p.change_actor();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            if !t.revoke_session(&me.user_id, &id, now.naive_utc())? {
                return Err(AppError::not_found("session"));
            }
            access::announce(t, Revocation::sessions(std::slice::from_ref(&id), Reason::SessionRevoked), &actor, now);
            t.audit(entry, now)?;
            Ok(())
        })
        .await
}
