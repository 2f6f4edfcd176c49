//! My account in the browser: two-factor authentication (enrol with the QR code from the
//! API's own enrolment, confirm with a code, the recovery codes shown once) and the
//! person's sessions with revoke. In a portal that requires 2FA, a person without it may
//! reach only these pages and sign out, as the API allows only enrolment then
//! (`Visitor::enrolling_member`). The rules are `http::mfa::{start, finish}` and
//! `http::account::{sessions, revoke}`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{self, Name};
use super::forms::{self, Refused};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::error::AppError;
use crate::http::account::PasswordChange;
use crate::http::{account, mfa};

type Errors = std::collections::BTreeMap<String, Vec<String>>;

/// `/app/account`: 2FA status and, once it is settled, the sessions.
pub async fn show(v: Visitor) -> Page {
    let notice = match v.req.query_string() {
        "password=changed" => Some("password-changed"),
        "mfa=off" => Some("mfa-turned-off"),
        _ => None,
    };
    account_page(&v, StatusCode::OK, Errors::new(), notice).await
}

/// The account page with the password and 2FA forms' errors (`current_password`,
/// `new_password`, `code`) and a notice after a change.
async fn account_page(v: &Visitor, status: StatusCode, errors: Errors, notice: Option<&str>) -> Page {
    let m = v.enrolling_member()?;
    let sessions = if v.needs_mfa() {
        Vec::new()
    } else {
        account::sessions(&v.state, &m.principal).await.map_err(|e| v.fail(e))?
    };
    let ctx = json!({
        "me": {"name": m.name, "email": m.email, "mfa_enabled": m.user.mfa_enabled},
        "needs_mfa": v.needs_mfa(),
        "sessions": sessions,
        "errors": errors,
        "notice": notice,
    });
    render::page(status, "account.html", v.frame("account-title", "settings"), ctx).map_err(|e| v.fail(e))
}

fn enrol_page(v: &Visitor, status: StatusCode, enrolment: Option<&mfa::TotpEnrolment>, error: Option<String>) -> Page {
    let qr = enrolment
        .map(|e| format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(&e.qr_svg)));
    let ctx = json!({"qr": qr, "secret": enrolment.map(|e| e.secret.clone()), "error": error,
        "needs_mfa": v.needs_mfa()});
    render::page(status, "account_2fa.html", v.frame("mfa-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `POST /app/account/2fa`: a new secret as a QR code (an image, so the page's CSP holds)
/// and as text, and the form for the first code.
pub async fn enrol(v: Visitor) -> Page {
    let m = v.enrolling_member()?;
    let enrolment = mfa::start(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    enrol_page(&v, StatusCode::OK, Some(&enrolment), None)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// `POST /app/account/2fa/confirm`: 2FA is on; the recovery codes, this once.
pub async fn confirm(v: Visitor, body: Bytes) -> Page {
    let m = v.enrolling_member()?;
    let form: CodeForm = forms::parse(v.lang, &body)?;
    match mfa::finish(&v.state, &m.principal, form.code.trim().to_string()).await {
        Ok(codes) => {
            let ctx = json!({"codes": codes});
            render::page(StatusCode::OK, "account_codes.html", v.frame("mfa-codes-title", "settings"), ctx)
                .map_err(|e| v.fail(e))
        }
        Err(AppError::Validation { .. }) => {
            let error = super::i18n::t(v.lang, "code-invalid", &[]);
            enrol_page(&v, StatusCode::UNPROCESSABLE_ENTITY, None, Some(error))
        }
        Err(e) => Err(v.fail(e)),
    }
}

/// `POST /app/account/sessions/{id}/revoke`: signs that session out; revoking this one
/// signs out here too.
pub async fn revoke(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let id = id.into_inner();
    account::revoke(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    if m.user.session_id.as_str() == id {
        let mut res = see_other("/app/login");
        let _ = res.add_cookie(&cookies::removal(v.config(), Name::Session));
        return Ok(res);
    }
    Ok(see_other("/app/account"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// `POST /app/account/password`: the API's password change (the current password checked
/// and throttled, the policy applied, every other session ended); this session stays.
pub async fn change_password(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: PasswordForm = forms::parse(v.lang, &body)?;
    let change = PasswordChange { current_password: form.current_password, new_password: form.new_password };
    match account::change_own_password(&v.state, &m.principal, change).await {
        Ok(()) => Ok(see_other("/app/account?password=changed")),
        Err(e) => match forms::refused(v.lang, e, &["current_password", "new_password"], "current_password") {
            Refused::Form { status, errors } => account_page(&v, status, errors, None).await,
            Refused::Page(p) => Err(p),
        },
    }
}

/// `POST /app/account/2fa/disable`: 2FA off with a current code or an unused recovery
/// code (the API's `DELETE /api/v1/me/mfa/totp`); refused while a portal of the person
/// requires it, which the page says beside the form.
pub async fn disable(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: CodeForm = forms::parse(v.lang, &body)?;
    match mfa::turn_off(&v.state, &m.principal, form.code.trim().to_string()).await {
        Ok(()) => Ok(see_other("/app/account?mfa=off")),
        Err(AppError::Forbidden { code: "mfa_required_by_portal", detail }) => {
            let errors = Errors::from([("code".to_string(), vec![detail])]);
            account_page(&v, StatusCode::FORBIDDEN, errors, None).await
        }
        Err(e) => match forms::refused(v.lang, e, &["code"], "code") {
            Refused::Form { status, errors } => account_page(&v, status, errors, None).await,
            Refused::Page(p) => Err(p),
        },
    }
}
