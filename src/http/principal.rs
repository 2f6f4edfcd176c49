//! Who is calling, and what they may do.
//!
//! A [`Principal`] is resolved from `Authorization: Bearer …`: a sign-in token (`ozs_…`)
//! is a person acting with their role in one portal; a private app key (`ozk_…`) is an
//! integration acting within its scopes. Rules:
//! - viewers read only; members read and write records; owners and admins also manage
//!   users, settings and keys ([`Principal::manager`]);
//! - a key acts only within its scopes and never manages users, keys, settings or 2FA
//!   ([`Principal::user`] refuses keys); a refused key use is audit-logged;
//! - when the portal requires 2FA, a person without it may only enrol, read `/me` and sign
//!   out: everything else is 403 `mfa_enrollment_required`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};

use super::extract::{bearer_token, client_info};
use super::middleware::RequestId;
use super::AppState;
use crate::db::audit::NewEntry;
use crate::db::{api_keys, sessions, TenantDb};
use crate::domain::{Role, SessionId, TenantId, UserId};
use crate::error::AppError;
use crate::security::tokens;

/// Every resource a key scope can name, as `resource:read` or `resource:write`
/// (write includes read).
pub const RESOURCES: &[&str] = &[
    "contacts",
    "companies",
    "deals",
    "tickets",
    "tasks",
    "notes",
    "pipelines",
    "tags",
    "custom_fields",
    "custom_values",
    "imports",
    "exports",
    "realtime",
    "audit_log",
];

/// Routes a person may use while their portal requires 2FA they have not set up.
const ENROLMENT_ROUTES: &[&str] =
    &["/api/v1/me", "/api/v1/me/mfa/totp", "/api/v1/me/mfa/totp/confirm", "/api/v1/auth/logout"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    pub fn of(req: &HttpRequest) -> Self {
        let client = client_info(req);
        Self {
            ip: client.ip,
            user_agent: client.user_agent,
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        }
    }

    /// An audit entry for `action` carrying this request's origin.
    pub fn entry(&self, action: &'static str) -> NewEntry {
        NewEntry::new(action).from_request(self.ip.clone(), self.user_agent.clone(), self.request_id.clone())
    }
}

impl FromRequest for RequestMeta {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self::of(req)))
    }
}

#[derive(Debug, Clone)]
pub struct UserActor {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
    pub mfa_enabled: bool,
    pub require_mfa: bool,
}

#[derive(Debug, Clone)]
pub struct KeyActor {
    pub key_id: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Actor {
    User(UserActor),
    Key(KeyActor),
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub actor: Actor,
    pub meta: RequestMeta,
}

impl Principal {
    /// The person behind a sign-in token; private app keys are refused.
    pub fn user(&self) -> Result<&UserActor, AppError> {
        match &self.actor {
            Actor::User(u) => Ok(u),
            Actor::Key(_) => Err(AppError::Forbidden {
                code: "user_required",
                detail: "private app keys cannot use this endpoint; it needs a signed-in user".into(),
            }),
        }
    }

    /// An owner or admin (never a key).
    pub fn manager(&self) -> Result<&UserActor, AppError> {
        let user = self.user()?;
        if user.role.can_manage() {
            Ok(user)
        } else {
            Err(AppError::forbidden("this needs the owner or admin role"))
        }
    }

    /// Checks access to a resource: roles for people, scopes for keys. A key refused for
    /// lack of scope is recorded in the audit log (`api_key.use_denied`).
    pub async fn require(&self, state: &AppState, resource: &'static str, access: Access) -> Result<(), AppError> {
        match &self.actor {
            Actor::User(u) => {
                if access == Access::Write && !u.role.can_write() {
                    return Err(AppError::forbidden("viewers have read-only access"));
                }
                Ok(())
            }
            Actor::Key(k) => {
                if key_allows(&k.scopes, resource, access) {
                    return Ok(());
                }
                let needed = format!("{resource}:{}", if access == Access::Read { "read" } else { "write" });
                let entry = self
                    .entry("api_key.use_denied")
                    .target("api_key", &k.key_id)
                    .details(serde_json::json!({ "needed_scope": needed, "key_scopes": k.scopes }));
                let tenant = self.tenant_id.clone();
                let now = state.clock.now();
                state.db.write(move |conn| Ok(TenantDb::new(conn, tenant).audit(entry, now)?)).await?;
                Err(AppError::Forbidden {
                    code: "insufficient_scope",
                    detail: format!("this private app key lacks the {needed} scope"),
                })
            }
        }
    }

    /// Owners and admins, or a key with `resource:<access>`: the rule for settings-like and
    /// high-risk actions (custom fields, pipelines, custom values, imports, exports, the
    /// audit log, deleting and restoring).
    pub async fn manager_or_scope(
        &self,
        state: &AppState,
        resource: &'static str,
        access: Access,
    ) -> Result<(), AppError> {
        match &self.actor {
            Actor::User(_) => self.manager().map(|_| ()),
            Actor::Key(_) => self.require(state, resource, access).await,
        }
    }

    /// An audit entry for `action` by this principal, from this request.
    pub fn entry(&self, action: &'static str) -> NewEntry {
        let e = self.meta.entry(action);
        match &self.actor {
            Actor::User(u) => e.actor("user", &u.user_id),
            Actor::Key(k) => e.actor("api_key", &k.key_id),
        }
    }
}

/// Whether `scopes` grant `access` to `resource` (`x:write` includes `x:read`).
pub fn key_allows(scopes: &[String], resource: &str, access: Access) -> bool {
    scopes.iter().any(|s| match s.split_once(':') {
        Some((r, level)) if r == resource => level == "write" || (level == "read" && access == Access::Read),
        _ => false,
    })
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

impl FromRequest for Principal {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let meta = RequestMeta::of(req);
        let pattern = req.match_pattern();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))?;
            let token = token.ok_or_else(|| AppError::unauthorized("missing bearer token"))?;
            let hash = tokens::digest(&token);
            let now = state.clock.now();
            let is_key = token.starts_with(tokens::API_KEY_PREFIX);
            let (tenant_id, actor, used) =
                state.db.run(move |conn| resolve_credential(conn, &hash, is_key, now)).await?;
            if let Some(used) = used {
                // A write, so it takes its turn with the others (an ungated UPDATE starves
                // on SQLite while batch writes hold the lock). Best effort: activity
                // tracking never fails a request.
                let tenant = tenant_id.clone();
                if let Err(e) = state.db.write(move |conn| Ok(record_use(conn, tenant, &used, now)?)).await {
                    tracing::warn!(error = %e, "could not record credential use");
                }
            }
            if let Actor::User(u) = &actor {
                let allowed = pattern.as_deref().is_some_and(|p| ENROLMENT_ROUTES.contains(&p));
                if u.require_mfa && !u.mfa_enabled && !allowed {
                    return Err(AppError::Forbidden {
                        code: "mfa_enrollment_required",
                        detail: "this portal requires two-factor authentication: enrol at POST /api/v1/me/mfa/totp"
                            .into(),
                    });
                }
            }
            Ok(Principal { tenant_id, actor, meta })
        })
    }
}

/// Resolves a stored credential hash (a sign-in token's or a key's) as a bearer token
/// would be: the websocket upgrade uses it for the subject of a ticket.
/// Reads only; the third value says whether the credential's last use (kept to the
/// minute) should be recorded with [`record_use`].
pub fn resolve_credential(
    conn: &mut crate::db::DbConnection,
    hash: &str,
    is_key: bool,
    now: DateTime<Utc>,
) -> Result<(TenantId, Actor, Option<Used>), AppError> {
    if is_key {
        resolve_key(conn, hash, now)
    } else {
        resolve_session(conn, hash, now)
    }
}

/// A credential whose last use is more than a minute old.
pub enum Used {
    Session(SessionId),
    Key(String),
}

/// Records that a credential was used now (sessions: `last_seen_at`, keys: `last_used_at`).
pub fn record_use(
    conn: &mut crate::db::DbConnection,
    tenant_id: TenantId,
    used: &Used,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let mut tdb = TenantDb::new(conn, tenant_id);
    match used {
        Used::Session(id) => tdb.touch_session(id, now.naive_utc()),
        Used::Key(id) => tdb.touch_key(id, now.naive_utc()),
    }
}

fn stale(last: Option<chrono::NaiveDateTime>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|t| t < now.naive_utc() - chrono::Duration::seconds(60))
}

fn resolve_session(
    conn: &mut crate::db::DbConnection,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(TenantId, Actor, Option<Used>), AppError> {
    let found = sessions::find_by_token_hash(conn, hash)?.ok_or_else(|| AppError::unauthorized("invalid token"))?;
    if found.session.revoked_at.is_some() {
        return Err(AppError::unauthorized("this token has been revoked; sign in again"));
    }
    let expires_at = found.session.expires_at.and_utc();
    if expires_at <= now {
        return Err(AppError::unauthorized("this token has expired; sign in again"));
    }
    let tenant_id = TenantId::from_db(found.session.tenant_id.clone());
    let session_id = SessionId::from_db(found.session.id.clone());
    let used = stale(Some(found.session.last_seen_at), now).then(|| Used::Session(session_id.clone()));
    Ok((
        tenant_id,
        Actor::User(UserActor {
            user_id: UserId::from_db(found.session.user_id),
            role: found.membership.role(),
            session_id,
            expires_at,
            mfa_enabled: found.mfa_enabled,
            require_mfa: found.require_mfa,
        }),
        used,
    ))
}

fn resolve_key(
    conn: &mut crate::db::DbConnection,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(TenantId, Actor, Option<Used>), AppError> {
    let key = api_keys::find_by_hash(conn, hash)?.ok_or_else(|| AppError::unauthorized("invalid token"))?;
    let tenant_id = TenantId::from_db(key.tenant_id.clone());
    let used = stale(key.last_used_at, now).then(|| Used::Key(key.id.clone()));
    let scopes = key.scope_list();
    Ok((tenant_id, Actor::Key(KeyActor { key_id: key.id, scopes }), used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scope_includes_read_and_nothing_else() {
        let scopes = vec!["contacts:write".to_string(), "deals:read".to_string()];
        assert!(key_allows(&scopes, "contacts", Access::Read));
        assert!(key_allows(&scopes, "contacts", Access::Write));
        assert!(key_allows(&scopes, "deals", Access::Read));
        assert!(!key_allows(&scopes, "deals", Access::Write));
        assert!(!key_allows(&scopes, "companies", Access::Read));
        assert!(!key_allows(&["contacts".to_string()], "contacts", Access::Read));
    }
}
