//! Two-factor authentication (TOTP) for the signed-in person: enrol, confirm with a code
//! (which returns ten single-use recovery codes, once), disable with a current code. The
//! rules are `identity::second_factor`'s.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::error::AppError;
use crate::identity::second_factor;
use crate::security::{qr, totp};

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32 secret, for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/…` URI (what the QR code encodes).
    pub otpauth_url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CodeRequest {
    /// A 6-digit code from the authenticator app (or, where accepted, a recovery code).
    #[schema(example = "123456")]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// Start enrolment: a new secret, its `otpauth://` URI and a QR code. Nothing changes for
/// sign-in until the enrolment is confirmed with a code.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TotpEnrolment),
        (status = 409, description = "2FA is already on (disable it first)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn enrol(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(start(&state, &p).await?))
}

/// Starts the signed-in person's enrolment (the web app's account page calls it too).
pub async fn start(state: &AppState, p: &Principal) -> Result<TotpEnrolment, AppError> {
    let user_id = p.user()?.user_id.clone();
    let enrolment = second_factor::enrol(&state.db, &state.keyring, user_id, state.clock.now()).await?;
    let (secret, email) = (enrolment.secret, enrolment.email);
    let (b32, url) = totp::provisioning(&secret, &state.settings.totp_issuer, &email)?;
    Ok(TotpEnrolment { secret: b32, qr_svg: qr::svg(&url)?, otpauth_url: url })
}

/// Confirm enrolment with a code from the app; turns 2FA on and returns recovery codes.
/// Wrong codes count against the person's second-factor throttle (429 with Retry-After).
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 409, description = "No pending enrolment, or 2FA already on", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: finish(&state, &p, body.0.code).await? }))
}

/// Confirms the enrolment with a code; returns the recovery codes (the web app too).
pub async fn finish(state: &AppState, p: &Principal, code: String) -> Result<Vec<String>, AppError> {
    let user_id = p.user()?.user_id.clone();
    let entry = p.entry("auth.mfa.enrolled").target("user", &user_id);
    second_factor::confirm(&state.db, &state.keyring, p.tenant_id.clone(), user_id, code, entry, state.clock.now())
        .await
}

/// Turn 2FA off; needs a current code (or an unused recovery code). Refused while any
/// portal the person belongs to requires 2FA.
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 204, description = "2FA is off"),
        (status = 403, description = "`mfa_required_by_portal`: a portal of the person requires 2FA", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "2FA is not on", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, AppError> {
    turn_off(&state, &p, body.0.code).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turns the signed-in person's 2FA off with a current code or an unused recovery code,
/// unless a portal of theirs requires it; the web app's account page too.
pub async fn turn_off(state: &AppState, p: &Principal, code: String) -> Result<(), AppError> {
    let user = p.user()?.clone();
    // 2FA is the person's, not the portal's: it stays on while any of their portals
    // requires it (turning it off from another portal left live sessions there without
    // it). Checked again inside the change's transaction.
    let requiring: Vec<String> = crate::identity::portals_of(&state.db, user.user_id.clone())
        .await?
        .into_iter()
        .filter(|(t, _)| t.require_mfa)
        .map(|(t, _)| t.name)
        .collect();
    if user.require_mfa || !requiring.is_empty() {
        return Err(AppError::Forbidden {
            code: "mfa_required_by_portal",
            detail: format!(
                "two-factor authentication cannot be turned off while a portal of yours requires it ({})",
                requiring.join(", ")
            ),
        });
    }
    let entry = p.entry("auth.mfa.disabled").target("user", &user.user_id);
    second_factor::disable(&state.db, &state.keyring, p.tenant_id.clone(), user.user_id, code, entry, state.clock.now())
        .await
}
