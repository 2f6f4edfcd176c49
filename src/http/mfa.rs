//! Two-factor authentication (TOTP) for the signed-in person: enrol, confirm with a code
//! (which returns ten single-use recovery codes, once), disable with a current code.
//! The secret is sealed with AES-256-GCM under the configured keyring.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::db::{mfa, throttle, users, DbConnection, TenantDb};
use crate::domain::UserId;
use crate::error::AppError;
use crate::security::crypto::Keyring;
use crate::security::throttle as throttle_policy;
use crate::security::totp::TotpError;
use crate::security::{qr, recovery_codes, totp};

/// Throttle scope for second-factor attempts, keyed by user id.
pub const MFA_SCOPE: &str = "mfa";

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

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

/// Checks a TOTP or recovery code for `user` and spends it (the time step is claimed, the
/// recovery code marked used). `Ok(None)` means wrong, replayed or already used.
pub fn check_and_spend(
    conn: &mut DbConnection,
    keyring: &Keyring,
    user: &UserId,
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
    allow_recovery: bool,
) -> Result<Option<Factor>, AppError> {
    if allow_recovery && recovery_codes::looks_like_code(code) {
        let spent = mfa::use_recovery_code(conn, user, &recovery_codes::digest(code), now.naive_utc())?;
        return Ok(spent.then_some(Factor::RecoveryCode));
    }
    let Some(mfa::StoredTotp { sealed, last_step, .. }) = mfa::secret(conn, user)? else {
        return Ok(None);
    };
    let secret = keyring.decrypt(&sealed, totp_context(user).as_bytes()).map_err(AppError::internal)?;
    let unix = now.timestamp().max(0) as u64;
    match totp::verify(&secret, code, unix, last_step.map(|s| s.max(0) as u64)) {
        Ok(step) => Ok(mfa::claim_step(conn, user, step as i64)?.then_some(Factor::Totp)),
        Err(TotpError::Invalid | TotpError::Replayed) => Ok(None),
    }
}

/// Associated data binding a sealed TOTP secret to its owner.
fn totp_context(user: &UserId) -> String {
    format!("totp:{user}")
}

fn invalid_code() -> AppError {
    AppError::Validation {
        detail: "code: is not a valid current code".into(),
        errors: vec![crate::error::FieldError::new("code", "is not a valid current code")],
    }
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
    let user_id = p.user()?.user_id.clone();
    let secret = totp::new_secret()?;
    let sealed = state.keyring.encrypt(&secret, totp_context(&user_id).as_bytes())?;
    let now = state.clock.now().naive_utc();
    let uid = user_id.clone();
    let email = state
        .db
        .write(move |conn| {
            let user = users::find(conn, &uid)?.ok_or_else(|| AppError::unauthorized("invalid token"))?;
            if user.mfa_enabled() {
                return Err(AppError::Conflict {
                    code: "mfa_already_enabled",
                    detail: "two-factor authentication is already on; disable it before enrolling again".into(),
                });
            }
            mfa::set_pending_secret(conn, &uid, &sealed, now)?;
            Ok(user.email)
        })
        .await?;
    let (b32, url) = totp::provisioning(&secret, &state.settings.totp_issuer, &email)?;
    Ok(HttpResponse::Ok().json(TotpEnrolment { secret: b32, qr_svg: qr::svg(&url)?, otpauth_url: url }))
}

/// Confirm enrolment with a code from the app; turns 2FA on and returns recovery codes.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 409, description = "No pending enrolment, or 2FA already on", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, AppError> {
    let user_id = p.user()?.user_id.clone();
    let codes = recovery_codes::generate()?;
    let hashes: Vec<String> = codes.iter().map(|c| recovery_codes::digest(c)).collect();
    let code = body.0.code;
    let now = state.clock.now();
    let st = state.clone();
    let entry = p.entry("auth.mfa.enrolled").target("user", &user_id);
    let tenant = p.tenant_id.clone();
    state
        .db
        .write(move |conn| {
            let Some(mfa::StoredTotp { sealed, enabled, .. }) = mfa::secret(conn, &user_id)? else {
                return Err(AppError::Conflict {
                    code: "mfa_not_pending",
                    detail: "start enrolment with POST /api/v1/me/mfa/totp first".into(),
                });
            };
            if enabled {
                return Err(AppError::Conflict {
                    code: "mfa_already_enabled",
                    detail: "two-factor authentication is already on".into(),
                });
            }
            let secret = st.keyring.decrypt(&sealed, totp_context(&user_id).as_bytes()).map_err(AppError::internal)?;
            let unix = now.timestamp().max(0) as u64;
            let step = totp::verify(&secret, &code, unix, None).map_err(|_| invalid_code())?;
            if !mfa::enable(conn, &user_id, step as i64, &hashes, now.naive_utc())? {
                return Err(AppError::conflict("enrolment changed concurrently; start again"));
            }
            TenantDb::new(conn, tenant).audit(entry, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: codes }))
}

/// Turn 2FA off; needs a current code (or an unused recovery code). Refused while the
/// portal requires 2FA.
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 204, description = "2FA is off"),
        (status = 403, description = "The portal requires 2FA", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "2FA is not on", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, AppError> {
    let user = p.user()?.clone();
    if user.require_mfa {
        return Err(AppError::Forbidden {
            code: "mfa_required_by_portal",
            detail: "this portal requires two-factor authentication; it cannot be turned off".into(),
        });
    }
    let code = body.0.code;
    let now = state.clock.now();
    let subject = user.user_id.to_string();
    super::auth::refuse_if_throttled(&state, vec![(MFA_SCOPE, subject.clone())], now).await?;
    let st = state.clone();
    let entry = p.entry("auth.mfa.disabled").target("user", &user.user_id);
    let tenant = p.tenant_id.clone();
    let disabled = state
        .db
        .write(move |conn| {
            if !mfa::secret(conn, &user.user_id)?.is_some_and(|t| t.enabled) {
                return Err(AppError::Conflict {
                    code: "mfa_not_enabled",
                    detail: "two-factor authentication is not on".into(),
                });
            }
            if check_and_spend(conn, &st.keyring, &user.user_id, &code, now, true)?.is_none() {
                return Ok(false);
            }
            mfa::disable(conn, &user.user_id, now.naive_utc())?;
            throttle::clear(conn, MFA_SCOPE, user.user_id.as_str())?;
            TenantDb::new(conn, tenant).audit(entry, now)?;
            Ok(true)
        })
        .await?;
    if !disabled {
        // Counted outside the refused transaction so it sticks.
        state
            .db
            .write(move |conn| Ok(throttle::record_failure(conn, &throttle_policy::MFA, MFA_SCOPE, &subject, now)?))
            .await?;
        return Err(invalid_code());
    }
    Ok(HttpResponse::NoContent().finish())
}
