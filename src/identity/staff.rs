//! Platform staff: accounts made on the command line, and sign-in with a password and a
//! **mandatory** TOTP second factor. The first sign-in yields an enrolment step (a secret
//! to scan, confirmed with a code, which also returns recovery codes); every later one a
//! code step. Only then is there an `ozst_` session, which portal routes refuse.
//! Throttled like portal sign-in (own counters), audited in the platform chain.

use chrono::{DateTime, Duration, Utc};

use super::throttle::{self, Counter, STAFF_MFA_SCOPE};
use crate::blocking;
use crate::db::audit::RequestMeta;
use crate::db::sessions::ClientInfo;
use crate::db::staff::{StaffChallengeRow, StaffRow, StaffSessionRow};
use crate::db::{Db, Platform};
use crate::domain::{EmailAddress, StaffRole};
use crate::error::{AppError, FieldError};
use crate::security::crypto::Keyring;
use crate::security::password_hash::{self, Verified};
use crate::security::totp::TotpError;
use crate::security::{recovery_codes, tokens, totp};

/// How long a sign-in step may take, and how many codes it may try.
const STEP_MINUTES: i64 = 10;
const STEP_ATTEMPTS: i32 = 5;
/// How long a staff session lasts (a working day; staff sign in again after).
pub const SESSION_HOURS: i64 = 8;

const INVALID_CREDENTIALS: &str = "invalid email or password";

fn totp_context(staff_id: &str) -> String {
    crate::security::crypto::staff_totp_context(staff_id)
}

/// A signed-in staff member, as staff routes see them.
#[derive(Debug, Clone)]
pub struct StaffPrincipal {
    pub staff_id: String,
    pub email: String,
    pub role: StaffRole,
    pub session_id: String,
}

/// The password step's outcome: always a second step.
pub enum PasswordOutcome {
    /// First sign-in: set up TOTP with this token.
    EnrollmentRequired {
        enrollment_token: String,
        expires_at: DateTime<Utc>,
    },
    MfaRequired {
        mfa_token: String,
        expires_at: DateTime<Utc>,
    },
}

pub struct StaffSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a staff member (the CLI's `staff add`). The password policy applies, with the
/// email as the person's own detail.
pub async fn add(db: &Db, email: &str, role: &str, password: &str, now: DateTime<Utc>) -> Result<StaffRow, AppError> {
    let mut errors = Vec::new();
    let email = super::parse_email(email, &mut errors);
    let role_parsed = StaffRole::parse(role);
    if role_parsed.is_none() {
        errors.push(FieldError::new("role", "must be support, engineer, security or release_manager"));
    }
    let inputs: Vec<&str> = email.as_ref().map(|e| vec![e.as_str()]).unwrap_or_default();
    let password = super::parse_password("password", password, &inputs, &mut errors);
    let (Some(email), Some(role), Some(password), true) = (email, role_parsed, password, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    let hash = blocking::cpu(move || password_hash::hash(&password)).await??;
    let row = StaffRow {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.as_str().to_string(),
        role: role.as_str().into(),
        password_hash: hash,
        status: "active".into(),
        totp_secret: None,
        totp_key_id: None,
        totp_enabled_at: None,
        totp_last_step: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    db.write(move |tx| {
        let mut p = tx.platform();
        if p.staff_by_email(&row.email)?.is_some() {
            return Err(AppError::conflict("a staff member with this email exists"));
        }
        p.insert_staff(&row)?;
        let entry = crate::db::audit::NewEntry::new("staff.created")
            .target("staff", &row.id)
            .details(serde_json::json!({"email": row.email, "role": row.role, "via": "cli"}));
        p.platform_audit(entry, now)?;
        Ok(row)
    })
    .await
}

/// Every staff member, by email (the CLI's `staff list`).
pub async fn list(db: &Db) -> Result<Vec<StaffRow>, AppError> {
    db.read(|p| Ok(p.list_staff()?)).await
}

/// Disables a staff member (the CLI's `staff disable`): their sessions end at once.
pub async fn disable(db: &Db, email: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    let email = EmailAddress::parse(email).map_err(|m| AppError::validation("email", m))?;
    db.write(move |tx| {
        let mut p = tx.platform();
        let id = p
            .set_staff_status(email.as_str(), "disabled", now.naive_utc())?
            .ok_or_else(|| AppError::not_found("staff member"))?;
        let entry = crate::db::audit::NewEntry::new("staff.disabled").target("staff", &id);
        p.platform_audit(entry, now)?;
        // Their grants end too, and the grants' websockets close.
        for (tenant, grant) in crate::db::system::enter(tx)?.open_grants_of(&id)? {
            super::jita::end_for_disabled(tx, &crate::domain::TenantId::from_db(tenant), &grant, now)?;
        }
        Ok(())
    })
    .await
}

fn new_step(staff: &StaffRow, kind: &str, now: DateTime<Utc>) -> Result<(String, StaffChallengeRow), AppError> {
    let token = tokens::generate(tokens::STAFF_CHALLENGE_PREFIX)?;
    let row = StaffChallengeRow {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: tokens::digest(&token),
        staff_id: staff.id.clone(),
        kind: kind.into(),
        created_at: now.naive_utc(),
        expires_at: (now + Duration::minutes(STEP_MINUTES)).naive_utc(),
        attempts: 0,
        used_at: None,
    };
    Ok((token, row))
}

/// The password step. Unknown emails, disabled accounts and wrong passwords answer the
/// same (401), in the same time.
pub async fn with_password(
    db: &Db,
    email: EmailAddress,
    password: String,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<PasswordOutcome, AppError> {
    let ip = meta.ip.clone().unwrap_or_else(|| "unknown".into());
    let counters = vec![Counter::staff_account(email.as_str()), Counter::staff_ip(&ip)];
    throttle::reserve(db, counters.clone(), now).await?;
    let lookup = email.as_str().to_string();
    let staff = db.read(move |p| Ok(p.staff_by_email(&lookup)?)).await?;
    let verified = match staff {
        Some(s) => {
            let (hash, typed) = (s.password_hash.clone(), password);
            let ok = !matches!(blocking::cpu(move || password_hash::check(&typed, &hash)).await?, Verified::No);
            (ok && s.is_active()).then_some(s)
        }
        None => {
            blocking::cpu(move || password_hash::verify_dummy(&password)).await?;
            None
        }
    };
    let Some(staff) = verified else {
        let entry = meta.entry("staff.login.failed").details(serde_json::json!({"email": email.as_str()}));
        db.write(move |tx| Ok(tx.platform().platform_audit(entry, now).map(|_| ())?)).await?;
        return Err(AppError::unauthorized(INVALID_CREDENTIALS));
    };
    let [account, ip_counter] =
        <[Counter; 2]>::try_from(counters).map_err(|_| AppError::internal(anyhow::anyhow!("counters")))?;
    throttle::succeeded(db, vec![ip_counter], vec![account], now).await?;
    let enrolled = staff.totp_enabled_at.is_some();
    let (token, row) = new_step(&staff, if enrolled { "mfa" } else { "enrollment" }, now)?;
    let expires_at = row.expires_at.and_utc();
    db.write(move |tx| Ok(tx.platform().insert_staff_challenge(&row)?)).await?;
    Ok(if enrolled {
        PasswordOutcome::MfaRequired { mfa_token: token, expires_at }
    } else {
        PasswordOutcome::EnrollmentRequired { enrollment_token: token, expires_at }
    })
}

fn step_gone() -> AppError {
    AppError::unauthorized("this sign-in step is unknown, used or expired; sign in again")
}

/// A live step of `kind` by its token.
async fn live_step(
    db: &Db,
    token: &str,
    kind: &'static str,
    now: DateTime<Utc>,
) -> Result<StaffChallengeRow, AppError> {
    let hash = tokens::digest(token.trim());
    db.read(move |p| Ok(p.staff_challenge_by_token(&hash)?))
        .await?
        .filter(|c| c.kind == kind && c.used_at.is_none() && c.expires_at.and_utc() > now && c.attempts < STEP_ATTEMPTS)
        .ok_or_else(step_gone)
}

/// A new TOTP secret for the enrolment step (each call replaces the last: scan the newest).
pub async fn enrol(
    db: &Db,
    keyring: &Keyring,
    enrollment_token: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<u8>, String), AppError> {
    let step = live_step(db, enrollment_token, "enrollment", now).await?;
    let secret = totp::new_secret()?;
    let sealed = keyring.encrypt(&secret, totp_context(&step.staff_id).as_bytes())?;
    let email = db
        .write(move |tx| {
            let mut p = tx.platform();
            let staff = p.staff_member(&step.staff_id)?.filter(StaffRow::is_active).ok_or_else(step_gone)?;
            if !p.set_staff_pending_secret(&staff.id, &sealed, now.naive_utc())? {
                return Err(step_gone());
            }
            Ok(staff.email)
        })
        .await?;
    Ok((secret, email))
}

/// Takes one attempt of the step and of the staff member's second-factor counter, before
/// the code is checked.
async fn reserve(db: &Db, step: &StaffChallengeRow, now: DateTime<Utc>) -> Result<(), AppError> {
    let (id, counter) = (step.id.clone(), Counter::staff_second_factor(&step.staff_id));
    db.write(move |tx| {
        if !tx.platform().reserve_staff_challenge_attempt(&id, STEP_ATTEMPTS, now.naive_utc())? {
            return Ok(Err(step_gone()));
        }
        Ok(tx.reserve_attempts(&[(counter.policy, counter.scope, counter.subject.as_str())], now)?.map(|_| ()).map_err(
            |secs| AppError::RateLimited {
                retry_after_secs: secs,
                detail: format!("too many failed attempts; try again in {secs} s"),
            },
        ))
    })
    .await?
}

fn open_session(
    p: &mut Platform<'_>,
    staff: &StaffRow,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<StaffSession, AppError> {
    let token = tokens::generate(tokens::STAFF_PREFIX)?;
    let expires_at = now + Duration::hours(SESSION_HOURS);
    p.insert_staff_session(&StaffSessionRow {
        id: uuid::Uuid::now_v7().to_string(),
        staff_id: staff.id.clone(),
        token_hash: tokens::digest(&token),
        created_at: now.naive_utc(),
        expires_at: expires_at.naive_utc(),
        revoked_at: None,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    })?;
    Ok(StaffSession { token, expires_at })
}

fn invalid_code() -> AppError {
    AppError::unauthorized("the code is not valid")
}

/// Confirms enrolment with a code: TOTP is on, recovery codes are returned (once), and the
/// staff member is signed in.
pub async fn confirm_enrolment(
    db: &Db,
    keyring: &Keyring,
    enrollment_token: &str,
    code: String,
    meta: RequestMeta,
    client: ClientInfo,
    now: DateTime<Utc>,
) -> Result<(StaffSession, Vec<String>), AppError> {
    let step = live_step(db, enrollment_token, "enrollment", now).await?;
    reserve(db, &step, now).await?;
    let codes = recovery_codes::generate()?;
    let hashes: Vec<String> = codes.iter().map(|c| recovery_codes::digest(c)).collect();
    let keyring = keyring.clone();
    let failure = meta.clone();
    let staff_id = step.staff_id.clone();
    let session = db
        .write(move |tx| {
            let mut p = tx.platform();
            let staff = p.staff_member(&step.staff_id)?.filter(StaffRow::is_active).ok_or_else(step_gone)?;
            let sealed = staff.sealed_secret().ok_or_else(|| {
                AppError::conflict("start enrolment with POST /api/v1/staff/mfa/totp first (no secret yet)")
            })?;
            let secret = keyring.decrypt(&sealed, totp_context(&staff.id).as_bytes()).map_err(AppError::internal)?;
            let Ok(used) = totp::verify(&secret, &code, now.timestamp().max(0) as u64, None) else {
                return Ok(None);
            };
            if !p.enable_staff_totp(&staff.id, used as i64, &hashes, now.naive_utc())? {
                return Err(step_gone());
            }
            if !p.consume_staff_challenge(&step.id, now.naive_utc())? {
                return Err(step_gone());
            }
            p.clear_throttle(STAFF_MFA_SCOPE, &staff.id)?;
            let session = open_session(&mut p, &staff, &client, now)?;
            p.platform_audit(meta.entry("staff.mfa.enrolled").actor("staff", &staff.id), now)?;
            let e = meta
                .entry("staff.login.succeeded")
                .actor("staff", &staff.id)
                .details(serde_json::json!({"method": "password+totp"}));
            p.platform_audit(e, now)?;
            Ok(Some(session))
        })
        .await?;
    match session {
        Some(s) => Ok((s, codes)),
        None => {
            let e = failure.entry("staff.login.failed").actor("staff", &staff_id).details(serde_json::json!({
                "reason": "wrong_second_factor", "step": "enrollment",
            }));
            db.write(move |tx| Ok(tx.platform().platform_audit(e, now).map(|_| ())?)).await?;
            Err(invalid_code())
        }
    }
}

/// The code step of a sign-in: a current TOTP code (never one already used: replay
/// guard) or an unused recovery code.
pub async fn with_second_factor(
    db: &Db,
    keyring: &Keyring,
    mfa_token: &str,
    code: String,
    meta: RequestMeta,
    client: ClientInfo,
    now: DateTime<Utc>,
) -> Result<StaffSession, AppError> {
    let step = live_step(db, mfa_token, "mfa", now).await?;
    reserve(db, &step, now).await?;
    let keyring = keyring.clone();
    let failure = meta.clone();
    let staff_id = step.staff_id.clone();
    let session = db
        .write(move |tx| {
            let mut p = tx.platform();
            let staff = p.staff_member(&step.staff_id)?.filter(StaffRow::is_active).ok_or_else(step_gone)?;
            let method = if recovery_codes::looks_like_code(&code) {
                if !p.use_staff_recovery_code(&staff.id, &recovery_codes::digest(&code), now.naive_utc())? {
                    return Ok(None);
                }
                "password+recovery_code"
            } else {
                let Some(sealed) = staff.sealed_secret() else { return Ok(None) };
                let secret =
                    keyring.decrypt(&sealed, totp_context(&staff.id).as_bytes()).map_err(AppError::internal)?;
                let last = staff.totp_last_step.map(|s| s.max(0) as u64);
                match totp::verify(&secret, &code, now.timestamp().max(0) as u64, last) {
                    Ok(used) if p.claim_staff_totp_step(&staff.id, used as i64)? => "password+totp",
                    Ok(_) | Err(TotpError::Invalid | TotpError::Replayed) => return Ok(None),
                }
            };
            if !p.consume_staff_challenge(&step.id, now.naive_utc())? {
                return Err(step_gone());
            }
            p.clear_throttle(STAFF_MFA_SCOPE, &staff.id)?;
            let session = open_session(&mut p, &staff, &client, now)?;
            let e = meta.entry("staff.login.succeeded").actor("staff", &staff.id).details(serde_json::json!({
                "method": method,
            }));
            p.platform_audit(e, now)?;
            Ok(Some(session))
        })
        .await?;
    match session {
        Some(s) => Ok(s),
        None => {
            let e = failure.entry("staff.login.failed").actor("staff", &staff_id).details(serde_json::json!({
                "reason": "wrong_second_factor",
            }));
            db.write(move |tx| Ok(tx.platform().platform_audit(e, now).map(|_| ())?)).await?;
            Err(invalid_code())
        }
    }
}

/// Resolves an `ozst_` token to its staff member; anything else, or a revoked, expired or
/// disabled one, is a 401.
pub async fn resolve(db: &Db, token: &str, now: DateTime<Utc>) -> Result<StaffPrincipal, AppError> {
    if !token.starts_with(tokens::STAFF_PREFIX) {
        return Err(AppError::unauthorized("a staff token (ozst_…) is required here"));
    }
    let hash = tokens::digest(token);
    let found = db.read(move |p| Ok(p.staff_session_by_token(&hash)?)).await?;
    let (session, staff) = found
        .filter(|(s, m)| s.revoked_at.is_none() && s.expires_at.and_utc() > now && m.is_active())
        .ok_or_else(|| AppError::unauthorized("invalid, expired or revoked staff token"))?;
    let role =
        StaffRole::parse(&staff.role).ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown staff role")))?;
    Ok(StaffPrincipal { staff_id: staff.id, email: staff.email, role, session_id: session.id })
}

/// Ends a staff session.
pub async fn logout(db: &Db, who: &StaffPrincipal, meta: RequestMeta, now: DateTime<Utc>) -> Result<(), AppError> {
    let (sid, staff_id) = (who.session_id.clone(), who.staff_id.clone());
    db.write(move |tx| {
        let mut p = tx.platform();
        p.revoke_staff_session(&sid, now.naive_utc())?;
        p.platform_audit(meta.entry("staff.logout").actor("staff", &staff_id), now)?;
        Ok(())
    })
    .await
}
