//! Sign up, sign in and sign out in the browser, by the API's own use cases
//! (`identity::login`, `identity::sessions`):
//!
//! ```text
//! /app/login ──password ok──► one portal ──────────────► session cookie ─► /app/dashboard
//!      │                    ├ several, or invitations ─► /app/login/portal (by name) ─┐
//!      │                    └ 2FA on ──────────────────► /app/login/code ◄────────────┘ (2FA on)
//!      └ wrong → the same page, 401 (429 when throttled)
//! ```
//!
//! Between the steps the browser holds, in HttpOnly cookies, the sealed verified person
//! (`choice`, 5 minutes) or the challenge token (`mfa`, 5 minutes): the password is sent
//! once. Forgotten passwords are out of scope until invitations are mailed (the page says so).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{self, Name};
use super::forms::{self, Refused};
use super::i18n::{self, Arg};
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::domain::TenantId;
use crate::error::AppError;
use crate::http::extract::client_info;
use crate::http::principal::request_meta;
use crate::identity::login::{self, Context, PasswordOutcome, Verified};
use crate::identity::{parse_email, parse_signup, sessions};

/// How long the in-between cookies live (the challenge and the choice last 5 minutes).
const STEP_SECONDS: i64 = 300;

type Errors = BTreeMap<String, Vec<String>>;

fn one_error(message: String) -> Errors {
    BTreeMap::from([("_form".to_string(), vec![message])])
}

fn show(v: &Visitor, status: StatusCode, template: &str, title: &str, ctx: serde_json::Value) -> Page {
    render::page(status, template, v.frame(title, ""), ctx).map_err(|e| v.fail(e))
}

/// The answer once a session exists: its cookie, the step cookies gone, on to the app.
fn signed_in(v: &Visitor, session: &login::Session) -> HttpResponse {
    let config = v.config();
    let ttl = (session.expires_at - v.state.clock.now()).num_seconds();
    let mut res = see_other("/app/dashboard");
    let set = [
        cookies::make(config, Name::Session, session.token.clone(), Some(ttl)),
        cookies::removal(config, Name::Pre),
        cookies::removal(config, Name::Choice),
        cookies::removal(config, Name::Mfa),
    ];
    for c in set {
        let _ = res.add_cookie(&c);
    }
    res
}

/// Ends (revokes and audits as `auth.logout`) the session this browser is signed in with,
/// if any; `reason` goes in the entry's details.
async fn end_session(v: &Visitor, reason: Option<&str>) -> Result<(), AppError> {
    let Some(m) = v.session_member() else { return Ok(()) };
    let mut entry = m.principal.entry("auth.logout").target("session", &m.user.session_id);
    if let Some(reason) = reason {
        entry = entry.details(json!({ "reason": reason }));
    }
    let now = v.state.clock.now();
    sessions::sign_out(&v.state.db, m.tenant().clone(), &m.user, m.principal.change_actor(), entry, now).await
}

/// When a signed-in browser signs in again its cookie is about to be replaced: the session
/// it held is ended, so no session stays valid that no browser holds. Best effort (the new
/// sign-in is not refused for it).
async fn retire_previous(v: &Visitor) {
    if let Err(e) = end_session(v, Some("replaced by a new sign-in")).await {
        tracing::warn!(error = %e, "could not end the session a new sign-in replaced");
    }
}

fn throttled(v: &Visitor, e: &AppError) -> Option<String> {
    match e {
        AppError::RateLimited { retry_after_secs, .. } => {
            Some(i18n::t(v.lang, "error-rate-limited", &[("seconds", Arg::Number(*retry_after_secs as f64))]))
        }
        _ => None,
    }
}

// ---- sign up ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupForm {
    tenant_name: String,
    name: String,
    email: String,
    password: String,
}

fn show_signup(v: &Visitor, status: StatusCode, form: &SignupForm, errors: Errors) -> Page {
    let values = json!({"tenant_name": form.tenant_name, "name": form.name, "email": form.email});
    show(v, status, "signup.html", "signup-title", json!({"form": values, "errors": errors}))
}

pub async fn signup_form(v: Visitor) -> Page {
    if v.signed_in() {
        return Ok(see_other("/app/dashboard"));
    }
    show_signup(&v, StatusCode::OK, &SignupForm::default(), Errors::new())
}

pub async fn signup(v: Visitor, body: Bytes) -> Page {
    let form: SignupForm = forms::parse(v.lang, &body)?;
    let done = match parse_signup(&form.tenant_name, &form.name, &form.email, &form.password) {
        Ok(input) => login::sign_up(v.state.login_context(), input, request_meta(&v.req), client_info(&v.req)).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(done) => {
            retire_previous(&v).await;
            Ok(signed_in(&v, &done.session))
        }
        Err(e) => match forms::refused(v.lang, e, &["tenant_name", "name", "email", "password"], "email") {
            Refused::Form { status, errors } => show_signup(&v, status, &form, errors),
            Refused::Page(p) => Err(p),
        },
    }
}

// ---- sign in: password ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
}

fn show_login(v: &Visitor, status: StatusCode, email: &str, errors: Errors) -> Page {
    show(v, status, "login.html", "login-title", json!({"email": email, "errors": errors}))
}

pub async fn login_form(v: Visitor) -> Page {
    if v.signed_in() {
        return Ok(see_other("/app/dashboard"));
    }
    show_login(&v, StatusCode::OK, "", Errors::new())
}

pub async fn login(v: Visitor, body: Bytes) -> Page {
    let form: LoginForm = forms::parse(v.lang, &body)?;
    let mut errors = Vec::new();
    let email = parse_email(&form.email, &mut errors);
    if form.password.is_empty() {
        errors.push(crate::error::FieldError::new("password", i18n::t(v.lang, "field-required", &[])));
    }
    let (Some(email), true) = (email, errors.is_empty()) else {
        let errors = forms::by_field(v.lang, &errors, &["email", "password"]);
        return show_login(&v, StatusCode::UNPROCESSABLE_ENTITY, &form.email, errors);
    };
    let cx = v.state.login_context();
    let meta = request_meta(&v.req);
    let who = match login::verify_password(&cx, email, form.password, &meta).await {
        Ok(who) => who,
        Err(AppError::Unauthorized { .. }) => {
            let errors = one_error(i18n::t(v.lang, "login-invalid", &[]));
            return show_login(&v, StatusCode::UNAUTHORIZED, &form.email, errors);
        }
        Err(e) => match throttled(&v, &e) {
            Some(message) => return show_login(&v, StatusCode::TOO_MANY_REQUESTS, &form.email, one_error(message)),
            None => return Err(v.fail(e)),
        },
    };
    let outcome = login::enter(&cx, &who, None, None, meta, client_info(&v.req)).await;
    if matches!(outcome, Ok(PasswordOutcome::Session(_))) {
        retire_previous(&v).await;
    }
    next_step(&v, &cx, &who, outcome)
}

/// Where a verified person goes after the portal step.
fn next_step(v: &Visitor, cx: &Context<'_>, who: &Verified, outcome: Result<PasswordOutcome, AppError>) -> Page {
    let config = v.config();
    match outcome {
        Ok(PasswordOutcome::Session(session)) => Ok(signed_in(v, &session)),
        Ok(PasswordOutcome::SecondFactor { mfa_token, .. }) => {
            let mut res = see_other("/app/login/code");
            let _ = res.add_cookie(&cookies::make(config, Name::Mfa, mfa_token, Some(STEP_SECONDS)));
            let _ = res.add_cookie(&cookies::removal(config, Name::Choice));
            Ok(res)
        }
        Err(e) if matches!(e.code(), "tenant_required" | "invitation_required") => {
            let sealed = login::seal_choice(cx, who).map_err(|e| v.fail(e))?;
            let mut res = see_other("/app/login/portal");
            let _ = res.add_cookie(&cookies::make(config, Name::Choice, sealed, Some(STEP_SECONDS)));
            Ok(res)
        }
        // A portal choice already spent (its cookie replayed) or a portal the person does
        // not belong to: back to the password, the step's cookie gone.
        Err(AppError::Unauthorized { .. }) if who.step().is_some() => {
            let mut res = see_other("/app/login");
            let _ = res.add_cookie(&cookies::removal(config, Name::Choice));
            Ok(res)
        }
        Err(e) if e.code() == "no_tenant" => Err(WebError::Page {
            lang: v.lang,
            status: StatusCode::FORBIDDEN,
            detail: Some(i18n::t(v.lang, "login-no-portal", &[])),
        }),
        Err(e) => Err(v.fail(e)),
    }
}

// ---- sign in: the portal, by name ----

/// Back to the password, the portal step's cookie gone (forged, expired or spent).
fn back_to_password(v: &Visitor) -> HttpResponse {
    let mut res = see_other("/app/login");
    let _ = res.add_cookie(&cookies::removal(v.config(), Name::Choice));
    res
}

async fn chosen(v: &Visitor, cx: &Context<'_>) -> Option<Verified> {
    let sealed = cookies::get(&v.req, v.config(), Name::Choice)?;
    login::reopen_choice(cx, &sealed).await.ok()
}

pub async fn portal_form(v: Visitor) -> Page {
    let cx = v.state.login_context();
    let Some(who) = chosen(&v, &cx).await else { return Ok(back_to_password(&v)) };
    let choices = login::choices(&cx, &who).await.map_err(|e| v.fail(e))?;
    let list: Vec<serde_json::Value> = choices
        .iter()
        .map(|c| {
            let value = match &c.invitation_id {
                Some(i) => format!("i:{i}"),
                None => format!("t:{}", c.tenant_id),
            };
            json!({"value": value, "name": c.tenant_name, "role": c.role, "invited": c.invitation_id.is_some()})
        })
        .collect();
    show(&v, StatusCode::OK, "portal.html", "portal-title", json!({"choices": list}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PortalForm {
    choice: String,
}

pub async fn portal(v: Visitor, body: Bytes) -> Page {
    let form: PortalForm = forms::parse(v.lang, &body)?;
    let cx = v.state.login_context();
    let Some(who) = chosen(&v, &cx).await else { return Ok(back_to_password(&v)) };
    let (tenant, invitation) = match form.choice.split_once(':') {
        Some(("t", id)) => match TenantId::parse(id) {
            Some(t) => (Some(t), None),
            None => return Err(WebError::status(v.lang, StatusCode::BAD_REQUEST)),
        },
        Some(("i", id)) if !id.is_empty() => (None, Some(id.to_string())),
        _ => return Err(WebError::status(v.lang, StatusCode::BAD_REQUEST)),
    };
    let outcome = login::enter(&cx, &who, tenant, invitation, request_meta(&v.req), client_info(&v.req)).await;
    if matches!(outcome, Ok(PasswordOutcome::Session(_))) {
        retire_previous(&v).await;
    }
    next_step(&v, &cx, &who, outcome)
}

// ---- sign in: the second factor ----

fn show_code(v: &Visitor, status: StatusCode, errors: Errors) -> Page {
    show(v, status, "code.html", "code-title", json!({"errors": errors}))
}

pub async fn code_form(v: Visitor) -> Page {
    if cookies::get(&v.req, v.config(), Name::Mfa).is_none() {
        return Ok(see_other("/app/login"));
    }
    show_code(&v, StatusCode::OK, Errors::new())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

pub async fn code(v: Visitor, body: Bytes) -> Page {
    let form: CodeForm = forms::parse(v.lang, &body)?;
    let Some(token) = cookies::get(&v.req, v.config(), Name::Mfa) else { return Ok(see_other("/app/login")) };
    let cx = v.state.login_context();
    match login::with_second_factor(cx, &token, form.code, request_meta(&v.req), client_info(&v.req)).await {
        Ok(session) => {
            retire_previous(&v).await;
            Ok(signed_in(&v, &session))
        }
        Err(AppError::Unauthorized { .. }) => {
            show_code(&v, StatusCode::UNAUTHORIZED, one_error(i18n::t(v.lang, "code-invalid", &[])))
        }
        Err(e) => match throttled(&v, &e) {
            Some(message) => show_code(&v, StatusCode::TOO_MANY_REQUESTS, one_error(message)),
            None => Err(v.fail(e)),
        },
    }
}

// ---- sign out ----

pub async fn logout(v: Visitor) -> Page {
    end_session(&v, None).await.map_err(|e| v.fail(e))?;
    let mut res = see_other("/app/login");
    let _ = res.add_cookie(&cookies::removal(v.config(), Name::Session));
    Ok(res)
}
