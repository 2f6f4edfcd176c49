//! The second factor (TOTP, RFC 6238) of a person: enrol, confirm with a code (which turns
//! 2FA on and yields ten single-use recovery codes, once), disable with a current code,
//! and the check-and-spend every sign-in uses. The secret is sealed with AES-256-GCM under
//! the keyring, bound to its owner by the associated data `totp:<user id>`.

use chrono::{DateTime, Utc};

use super::throttle::{self, Counter, MFA_SCOPE};
use crate::db::audit::NewEntry;
use crate::db::{mfa, Db, Platform};
use crate::domain::{TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::security::crypto::Keyring;
use crate::security::totp::TotpError;
use crate::security::{recovery_codes, totp};

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

/// Associated data binding a sealed TOTP secret to its owner.
fn totp_context(user: &UserId) -> String {
    crate::security::crypto::user_totp_context(user.as_str())
}

/// Checks a TOTP or recovery code for `user` and spends it (the time step is claimed, the
/// recovery code marked used). `Ok(None)` means wrong, replayed or already used.
pub fn check_and_spend(
    p: &mut Platform<'_>,
    keyring: &Keyring,
    user: &UserId,
    code: &str,
    now: DateTime<Utc>,
    allow_recovery: bool,
) -> Result<Option<Factor>, AppError> {
    if allow_recovery && recovery_codes::looks_like_code(code) {
        let spent = p.use_recovery_code(user, &recovery_codes::digest(code), now.naive_utc())?;
        return Ok(spent.then_some(Factor::RecoveryCode));
    }
    let Some(mfa::StoredTotp { sealed, last_step, .. }) = p.totp_secret(user)? else {
        return Ok(None);
    };
    let secret = keyring.decrypt(&sealed, totp_context(user).as_bytes()).map_err(AppError::internal)?;
    let unix = now.timestamp().max(0) as u64;
    match totp::verify(&secret, code, unix, last_step.map(|s| s.max(0) as u64)) {
        Ok(step) => Ok(p.claim_totp_step(user, step as i64)?.then_some(Factor::Totp)),
        Err(TotpError::Invalid | TotpError::Replayed) => Ok(None),
    }
}

fn invalid_code() -> AppError {
    AppError::Validation {
        detail: "code: is not a valid current code".into(),
        errors: vec![FieldError::new("code", "is not a valid current code")],
    }
}

/// A started enrolment: the secret and the account name to show in the app.
pub struct Enrolment {
    pub secret: Vec<u8>,
    pub email: String,
}

/// Starts enrolment: a new secret, stored sealed and pending. Nothing changes for sign-in
/// until it is confirmed with a code. 409 while 2FA is already on.
pub async fn enrol(db: &Db, keyring: &Keyring, user: UserId, now: DateTime<Utc>) -> Result<Enrolment, AppError> {
    let secret = totp::new_secret()?;
    let sealed = keyring.encrypt(&secret, totp_context(&user).as_bytes())?;
    let email = db
        .write(move |tx| {
            let mut p = tx.platform();
            let row = p.user(&user)?.ok_or_else(|| AppError::unauthorized("invalid token"))?;
            if row.mfa_enabled() {
                return Err(AppError::Conflict {
                    code: "mfa_already_enabled",
                    detail: "two-factor authentication is already on; disable it before enrolling again".into(),
                });
            }
            p.set_pending_secret(&user, &sealed, now.naive_utc())?;
            Ok(row.email)
        })
        .await?;
    Ok(Enrolment { secret, email })
}

/// Confirms enrolment with a code from the app: 2FA is on, and the returned recovery codes
/// are shown this once. `audit` is recorded in `tenant`.
pub async fn confirm(
    db: &Db,
    keyring: &Keyring,
    tenant: TenantId,
    user: UserId,
    code: String,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    let codes = recovery_codes::generate()?;
    let hashes: Vec<String> = codes.iter().map(|c| recovery_codes::digest(c)).collect();
    let keyring = keyring.clone();
    let pending = |t: Option<mfa::StoredTotp>| match t {
        None => Err(AppError::Conflict {
            code: "mfa_not_pending",
            detail: "start enrolment with POST /api/v1/me/mfa/totp first".into(),
        }),
        Some(t) if t.enabled => Err(AppError::Conflict {
            code: "mfa_already_enabled",
            detail: "two-factor authentication is already on".into(),
        }),
        Some(t) => Ok(t),
    };
    // Answers that need no code do not cost an attempt; every code checked does.
    let u = user.clone();
    pending(db.read(move |p| Ok(p.totp_secret(&u)?)).await?)?;
    throttle::reserve(db, vec![Counter::second_factor(user.as_str())], now).await?;
    let confirmed = db
        .write(move |tx| {
            let mut p = tx.platform();
            let mfa::StoredTotp { sealed, .. } = pending(p.totp_secret(&user)?)?;
            let secret = keyring.decrypt(&sealed, totp_context(&user).as_bytes()).map_err(AppError::internal)?;
            let unix = now.timestamp().max(0) as u64;
            let Ok(step) = totp::verify(&secret, &code, unix, None) else {
                return Ok(false);
            };
            if !p.enable_totp(&user, step as i64, &hashes, now.naive_utc())? {
                return Err(AppError::conflict("enrolment changed concurrently; start again"));
            }
            p.clear_throttle(MFA_SCOPE, user.as_str())?;
            tx.tenant(&tenant)?.audit(audit, now)?;
            Ok(true)
        })
        .await?;
    if !confirmed {
        // The attempt was counted when it was reserved.
        return Err(invalid_code());
    }
    Ok(codes)
}

/// Turns 2FA off with a current code or an unused recovery code; wrong codes count
/// against the person's second-factor throttle. The portal-wide requirement is the
/// caller's to check first.
pub async fn disable(
    db: &Db,
    keyring: &Keyring,
    tenant: TenantId,
    user: UserId,
    code: String,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    // 2FA that is not on is a 409 that costs no attempt; otherwise one attempt on the
    // person's second-factor counter is taken before the code is checked.
    let u = user.clone();
    if !db.read(move |p| Ok(p.totp_secret(&u)?)).await?.is_some_and(|t| t.enabled) {
        return Err(AppError::Conflict {
            code: "mfa_not_enabled",
            detail: "two-factor authentication is not on".into(),
        });
    }
    throttle::reserve(db, vec![Counter::second_factor(user.as_str())], now).await?;
    let keyring = keyring.clone();
    let disabled = db
        .write(move |tx| {
            // A portal that started requiring 2FA since the handler looked.
            if crate::db::system::enter(tx)?.portals_of(&user)?.iter().any(|(t, _)| t.require_mfa) {
                return Err(AppError::Forbidden {
                    code: "mfa_required_by_portal",
                    detail: "two-factor authentication cannot be turned off while a portal of yours requires it".into(),
                });
            }
            let mut p = tx.platform();
            if !p.totp_secret(&user)?.is_some_and(|t| t.enabled) {
                return Err(AppError::Conflict {
                    code: "mfa_not_enabled",
                    detail: "two-factor authentication is not on".into(),
                });
            }
            if check_and_spend(&mut p, &keyring, &user, &code, now, true)?.is_none() {
                return Ok(false);
            }
            p.disable_totp(&user, now.naive_utc())?;
            p.clear_throttle(MFA_SCOPE, user.as_str())?;
            tx.tenant(&tenant)?.audit(audit, now)?;
            Ok(true)
        })
        .await?;
    if !disabled {
        // The attempt was counted when it was reserved.
        return Err(invalid_code());
    }
    Ok(())
}
