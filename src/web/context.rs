//! Who is looking at a page: the [`Visitor`] extractor resolves the session cookie with the
//! API's own credential machinery (`http::principal::authenticate`, so an expired,
//! revoked or removed session is refused exactly as a bearer token would be) into a
//! [`Member`] holding the same [`Principal`] the API's handlers get, and picks the page's
//! language.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::json;

use super::cookies::{self, Name};
use super::i18n::{self, Lang};
use super::render::WebError;
use super::{csrf, Config};
use crate::domain::{Role, TenantId};
use crate::error::AppError;
use crate::http::principal::{authenticate, request_meta, Authenticated, Principal};
use crate::http::AppState;
use crate::identity::credentials::{Actor, UserActor};
use crate::security::tokens;

/// A portal's look: its name, and its accent colour and logo when it has them.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    pub accent: Option<String>,
    pub logo: Option<String>,
}

impl Branding {
    /// Reads the portal's `branding` JSON (`{"accent_color": "#1c7ed6", "logo_url":
    /// "https://…"}`), keeping only values that are safe where they go: a hex colour in a
    /// stylesheet, an https (or same-origin path) URL in an `<img src>`.
    pub fn parse(raw: Option<&str>) -> Branding {
        let Some(v) = raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()) else {
            return Branding::default();
        };
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::trim).map(str::to_string);
        let accent = text("accent_color")
            .filter(|c| c.len() == 4 || c.len() == 7)
            .filter(|c| c.starts_with('#') && c.chars().skip(1).all(|ch| ch.is_ascii_hexdigit()));
        let logo = text("logo_url").filter(|u| {
            (u.starts_with("https://") || (u.starts_with('/') && !u.starts_with("//")))
                && u.len() <= 2000
                && !u.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
        });
        Branding { accent, logo }
    }
}

/// A signed-in person in their portal.
pub struct Member {
    pub principal: Principal,
    pub user: UserActor,
    pub name: String,
    pub email: String,
    pub portal: String,
    pub branding: Branding,
}

impl Member {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn tenant(&self) -> &TenantId {
        &self.principal.tenant_id
    }
}

pub struct Visitor {
    pub state: web::Data<AppState>,
    pub req: HttpRequest,
    pub lang: Lang,
    member: Option<Member>,
    /// Signed in to a portal that requires 2FA they have not set up.
    needs_mfa: bool,
}

/// The language of a request before any database read: the language cookie, else
/// `Accept-Language`, else English.
pub fn anonymous_lang(req: &HttpRequest, config: &Config) -> Lang {
    cookies::get(req, config, Name::Lang)
        .and_then(|c| Lang::parse(&c))
        .or_else(|| {
            req.headers().get("accept-language").and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::En)
}

impl Visitor {
    pub fn config(&self) -> &Config {
        &self.state.web
    }

    /// The signed-in person, or a redirect to the sign-in page. In a portal that requires
    /// 2FA, a person without it is sent to set it up (a page) or refused (anything else),
    /// as the API refuses all but enrolment.
    pub fn member(&self) -> Result<&Member, WebError> {
        if self.needs_mfa {
            if self.req.method() == actix_web::http::Method::GET {
                return Err(WebError::Redirect("/app/account".into()));
            }
            return Err(WebError::Page {
                lang: self.lang,
                status: StatusCode::FORBIDDEN,
                detail: Some(i18n::t(self.lang, "error-mfa-enrolment", &[])),
            });
        }
        let m = self.member.as_ref().ok_or_else(|| WebError::Redirect("/app/login".into()))?;
        if let Some(feature) = super::features::gate_for_page(self.req.path()) {
            if !self.state.realtime.flags().enabled(feature, m.tenant().as_str()) {
                return Err(WebError::from_app(self.lang, crate::error::AppError::feature_not_enabled(feature)));
            }
        }
        Ok(m)
    }

    /// The signed-in person, also before a required 2FA enrolment: only for the pages the
    /// API allows then (the account page, enrolling, signing out).
    pub fn enrolling_member(&self) -> Result<&Member, WebError> {
        self.member.as_ref().ok_or_else(|| WebError::Redirect("/app/login".into()))
    }

    /// Whether this person must set up 2FA before anything else.
    pub fn needs_mfa(&self) -> bool {
        self.needs_mfa
    }

    /// The signed-in person even before a required 2FA enrolment (to sign out).
    pub fn session_member(&self) -> Option<&Member> {
        self.member.as_ref()
    }

    pub fn signed_in(&self) -> bool {
        self.member.is_some()
    }

    /// An application error as this visitor's error page.
    pub fn fail(&self, e: AppError) -> WebError {
        WebError::from_app(self.lang, e)
    }

    /// What the layout needs: language, CSRF token, title, the active navigation entry,
    /// the person and their portal's branding.
    pub fn frame(&self, title_id: &str, nav: &str) -> serde_json::Value {
        let member = self.member.as_ref().filter(|_| !self.needs_mfa).map(|m| {
            json!({
                "name": m.name,
                "email": m.email,
                "role": m.user.role,
                "can_write": m.user.role.can_write(),
                "portal": m.portal,
                "logo": m.branding.logo,
                "accent": m.branding.accent.is_some(),
                "hidden_nav": super::features::hidden_nav(&self.state.realtime.flags(), m.tenant().as_str()),
            })
        });
        let path = self.req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        json!({
            "lang": self.lang.code(),
            "csrf": csrf::token(&self.req, self.config()),
            "title": i18n::t(self.lang, title_id, &[]),
            "nav": nav,
            "member": member,
            "langs": Lang::ALL.iter().map(|l| json!({"code": l.code(), "current": *l == self.lang})).collect::<Vec<_>>(),
            "next": path,
        })
    }
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, WebError>>>>;

impl FromRequest for Visitor {
    type Error = WebError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(WebError::status(Lang::En, StatusCode::INTERNAL_SERVER_ERROR));
            };
            let fallback = anonymous_lang(&req, &state.web);
            let token = cookies::get(&req, &state.web, Name::Session).filter(|t| t.starts_with(tokens::SESSION_PREFIX));
            let mut visitor =
                Visitor { state: state.clone(), req: req.clone(), lang: fallback, member: None, needs_mfa: false };
            let Some(token) = token else { return Ok(visitor) };
            let user = match authenticate(&state, &token).await {
                Ok(Authenticated { tenant, actor: Actor::User(user) }) => Some((tenant, user)),
                // Expired, revoked or removed: a visitor again (pages send them to sign in).
                Ok(_) | Err(AppError::Unauthorized { .. }) => None,
                Err(e) => return Err(WebError::from_app(fallback, e)),
            };
            let Some((tenant, user)) = user else { return Ok(visitor) };
            let uid = user.user_id.clone();
            let person =
                state.db.read(move |p| Ok(p.user(&uid)?)).await.map_err(|e| WebError::from_app(fallback, e))?;
            let portal = state
                .db
                .tenant(tenant.clone())
                .read(|t| Ok(t.tenant()?))
                .await
                .map_err(|e| WebError::from_app(fallback, e))?;
            let Some(person) = person else { return Ok(visitor) };
            if let Some(saved) = person.locale.as_deref().and_then(Lang::parse) {
                visitor.lang = saved;
            }
            visitor.needs_mfa = user.require_mfa && !user.mfa_enabled;
            let principal = Principal { tenant_id: tenant, actor: Actor::User(user.clone()), meta: request_meta(&req) };
            visitor.member = Some(Member {
                principal,
                user,
                name: person.name,
                email: person.email,
                portal: portal.name,
                branding: Branding::parse(portal.branding.as_deref()),
            });
            Ok(visitor)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branding_keeps_only_safe_values() {
        let b = Branding::parse(Some(r##"{"accent_color":"#1c7ed6","logo_url":"https://cdn.example/logo.png"}"##));
        assert_eq!(b.accent.as_deref(), Some("#1c7ed6"));
        assert_eq!(b.logo.as_deref(), Some("https://cdn.example/logo.png"));
        let hostile =
            Branding::parse(Some(r##"{"accent_color":"red;}body{display:none","logo_url":"javascript:alert(1)"}"##));
        assert!(hostile.accent.is_none() && hostile.logo.is_none());
        assert!(Branding::parse(Some(r#"{"logo_url":"//evil.example/x.png"}"#)).logo.is_none());
        assert!(Branding::parse(Some("not json")).accent.is_none());
        assert!(Branding::parse(None).logo.is_none());
    }
}
