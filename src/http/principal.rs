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

use super::extract::{bearer_token, client_info};
use super::middleware::RequestId;
use super::AppState;
use crate::db::audit::NewEntry;
use crate::db::events::ChangeActor;
use crate::domain::TenantId;
use crate::error::AppError;
use crate::identity::credentials;
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
    "campaigns",
    "inapp",
];

/// Scopes beyond `RESOURCE:read|write`, each for one high-risk action that `write` does
/// not include: `contacts:erase` (erasure on request).
pub const SPECIAL_SCOPES: &[&str] = &["contacts:erase"];

/// Routes a person may use while their portal requires 2FA they have not set up.
const ENROLMENT_ROUTES: &[&str] =
    &["/api/v1/me", "/api/v1/me/mfa/totp", "/api/v1/me/mfa/totp/confirm", "/api/v1/auth/logout"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Erasing a person for good: only the `RESOURCE:erase` scope grants it.
    Erase,
}

pub use crate::db::audit::RequestMeta;

/// The origin of a request (client address, user agent, request id).
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    let client = client_info(req);
    RequestMeta {
        ip: client.ip,
        user_agent: client.user_agent,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

impl FromRequest for RequestMeta {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(request_meta(req)))
    }
}

pub use crate::identity::credentials::{Actor, KeyActor, UserActor};

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub actor: Actor,
    pub meta: RequestMeta,
}

impl Principal {
    /// The person behind a sign-in token; private app keys and JITA grants are refused.
    pub fn user(&self) -> Result<&UserActor, AppError> {
        match &self.actor {
            Actor::User(u) => Ok(u),
            Actor::Key(_) => Err(AppError::Forbidden {
                code: "user_required",
                detail: "private app keys cannot use this endpoint; it needs a signed-in user".into(),
            }),
            Actor::Jita(_) => Err(jita_forbidden()),
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
            // A grant acts with an admin's reach; its high-risk routes were refused before
            // the handler ran (the route table's risk classes).
            Actor::Jita(_) => Ok(()),
            Actor::User(u) => {
                if access != Access::Read && !u.role.can_write() {
                    return Err(AppError::forbidden("viewers have read-only access"));
                }
                Ok(())
            }
            Actor::Key(k) => {
                if key_allows(&k.scopes, resource, access) {
                    return Ok(());
                }
                let level = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                    Access::Erase => "erase",
                };
                let needed = format!("{resource}:{level}");
                let entry = self
                    .entry("api_key.use_denied")
                    .target("api_key", &k.key_id)
                    .details(serde_json::json!({ "needed_scope": needed, "key_scopes": k.scopes }));
                let now = state.clock.now();
                state.db.tenant(self.tenant_id.clone()).write(move |t| Ok(t.audit(entry, now)?)).await?;
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
            Actor::Key(_) | Actor::Jita(_) => self.require(state, resource, access).await,
        }
    }

    /// Who this principal is, as events name a change's actor.
    pub fn change_actor(&self) -> ChangeActor {
        match &self.actor {
            Actor::User(u) => ChangeActor { kind: "user", id: Some(u.user_id.to_string()) },
            Actor::Key(k) => ChangeActor { kind: "api_key", id: Some(k.key_id.clone()) },
            Actor::Jita(j) => ChangeActor { kind: "jita_grant", id: Some(j.grant_id.clone()) },
        }
    }

    /// An audit entry for `action` by this principal, from this request.
    pub fn entry(&self, action: &'static str) -> NewEntry {
        let e = self.meta.entry(action);
        match &self.actor {
            Actor::User(u) => e.actor("user", &u.user_id),
            Actor::Key(k) => e.actor("api_key", &k.key_id),
            Actor::Jita(j) => e.actor("jita_grant", &j.grant_id),
        }
    }
}

/// The answer to a JITA grant on a route that is high-risk or unclassified.
pub fn jita_forbidden() -> AppError {
    AppError::Forbidden {
        code: "jita_forbidden",
        detail: "this action is not available under Portal JITA (high-risk or unclassified route)".into(),
    }
}

/// Whether `scopes` grant `access` to `resource` (`x:write` includes `x:read`; `x:erase`
/// grants erasing only, and nothing else includes it).
pub fn key_allows(scopes: &[String], resource: &str, access: Access) -> bool {
    scopes.iter().any(|s| match s.split_once(':') {
        Some((r, level)) if r == resource => match access {
            Access::Read => level == "read" || level == "write",
            Access::Write => level == "write",
            Access::Erase => level == "erase",
        },
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
        let meta = request_meta(req);
        let pattern = req.match_pattern();
        let method = req.method().as_str().to_ascii_lowercase();
        // The idempotency middleware may have authenticated this request already.
        let known = req.extensions().get::<Authenticated>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))?;
            let Authenticated { tenant: tenant_id, actor } = match known {
                Some(who) => who,
                None => {
                    let token = token.ok_or_else(|| AppError::unauthorized("missing bearer token"))?;
                    authenticate(&state, &token).await?
                }
            };
            if let Actor::Jita(j) = &actor {
                let path = pattern.clone().unwrap_or_default();
                let allowed = super::risk_of(&method, &path) == Some(super::Risk::Standard);
                let now = state.clock.now();
                let use_ = crate::identity::jita::Use { refused: !allowed, method, path, meta: meta.clone() };
                let alert =
                    crate::identity::jita::record_use(&state.db, &tenant_id, j, use_, jita_limits(&state), now).await?;
                if let Some(reason) = alert {
                    state.guard.staff_risk_alert(reason);
                    return Err(AppError::unauthorized(
                        "this JITA grant was suspended by risk monitoring (staff.risk_alert)",
                    ));
                }
                if !allowed {
                    return Err(jita_forbidden());
                }
            }
            // Feature flags: a route of a feature that is off for this portal.
            if let Some(feature) = pattern.as_deref().and_then(crate::features::gate_for_route) {
                if !state.realtime.flags().enabled(feature, tenant_id.as_str()) {
                    return Err(AppError::feature_not_enabled(feature));
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

/// Risk-monitoring thresholds from the settings.
pub fn jita_limits(state: &AppState) -> crate::identity::jita::Limits {
    crate::identity::jita::Limits {
        max_portals_per_hour: state.settings.jita_max_portals_per_hour,
        max_refusals: state.settings.jita_max_refusals,
        max_requests_per_hour: state.settings.jita_max_requests_per_hour,
    }
}

/// A resolved bearer credential, kept in the request's extensions once resolved.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub tenant: TenantId,
    pub actor: Actor,
}

/// Resolves a bearer token (a sign-in token or a private app key) and records its use.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Authenticated, AppError> {
    if token.starts_with(tokens::STAFF_PREFIX) {
        return Err(AppError::unauthorized(
            "a staff token works only on /api/v1/staff routes; enter a portal with a JITA grant",
        ));
    }
    let hash = tokens::digest(token);
    let now = state.clock.now();
    if token.starts_with(tokens::JITA_PREFIX) {
        let credentials::Resolved { tenant, actor, .. } = credentials::resolve_jita(&state.db, hash, now).await?;
        return Ok(Authenticated { tenant, actor });
    }
    let kind =
        if token.starts_with(tokens::API_KEY_PREFIX) { credentials::Kind::Key } else { credentials::Kind::Session };
    let credentials::Resolved { tenant, actor, used } = credentials::resolve(&state.db, hash, kind, now).await?;
    if let Some(used) = used {
        // Best effort: activity tracking never fails a request.
        if let Err(e) = credentials::record_use(&state.db, tenant.clone(), used, now).await {
            tracing::warn!(error = %e, "could not record credential use");
        }
    }
    Ok(Authenticated { tenant, actor })
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
        assert!(!key_allows(&scopes, "contacts", Access::Erase), "write does not include erase");
        let erase = vec!["contacts:erase".to_string()];
        assert!(key_allows(&erase, "contacts", Access::Erase));
        assert!(!key_allows(&erase, "contacts", Access::Read) && !key_allows(&erase, "contacts", Access::Write));
    }
}
