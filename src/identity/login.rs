//! Sign-up and sign-in. A wrong password and an unknown email answer the same, in the same
//! time (an unknown email verifies against a dummy hash); the portal is chosen only after
//! the password is verified; with 2FA on, the password step yields a short challenge that
//! the second step spends once.

use chrono::{DateTime, Utc};

pub use super::choice::{choices, reopen_choice, seal_choice, Choice};
use super::invitations;
use super::second_factor::{check_and_spend, Factor};
use super::throttle::{self, Counter, MFA_SCOPE};
use crate::blocking;
use crate::db::audit::RequestMeta;
use crate::db::invitations::InvitationRow;
use crate::db::sessions::ClientInfo;
use crate::db::system;
use crate::db::tenants::{MembershipRow, TenantRow};
use crate::db::users::UserRow;
use crate::db::Db;
use crate::domain::{EmailAddress, TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::security::crypto::Keyring;
use crate::security::password_hash::{self, Verified as PasswordCheck};
use crate::security::tokens;

/// How long the second step of a sign-in may take, and how many codes it may try.
const MFA_CHALLENGE_MINUTES: i64 = 5;
pub const MFA_CHALLENGE_ATTEMPTS: i32 = 5;

const INVALID_CREDENTIALS: &str = "invalid email or password";

/// What sign-in needs besides the request.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub db: &'a Db,
    pub keyring: &'a Keyring,
    pub session_ttl: std::time::Duration,
    pub now: DateTime<Utc>,
}

/// A new session.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub tenant_id: TenantId,
    /// Open invitations to other portals, shown at sign-in.
    pub pending_invitations: usize,
}

/// The password step's outcome.
pub enum PasswordOutcome {
    Session(Session),
    /// 2FA is on: the challenge token for the second step, and when it expires.
    SecondFactor {
        mfa_token: String,
        expires_at: DateTime<Utc>,
    },
}

pub struct SignedUp {
    pub tenant: TenantRow,
    pub user: UserRow,
    pub session: Session,
}

/// Stores a hash of the normalised form of a password that matched a legacy hash.
async fn rehash(db: &Db, user: &UserRow, typed: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    let normalized = crate::domain::password::normalize(typed);
    let hash = blocking::cpu(move || password_hash::hash_normalized(&normalized)).await??;
    let id = UserId::from_db(user.id.clone());
    db.write(move |tx| Ok(tx.platform().set_password(&id, &hash, now.naive_utc())?)).await
}

fn email_taken() -> AppError {
    AppError::conflict("an account with this email already exists; sign in, then create another portal from it")
}

/// Creates a portal and its owner, and signs the owner in.
pub async fn sign_up(
    cx: Context<'_>,
    input: super::SignupInput,
    meta: RequestMeta,
    client: ClientInfo,
) -> Result<SignedUp, AppError> {
    let super::SignupInput { tenant_name, name, email, password } = input;
    let lookup = email.clone();
    if cx.db.read(move |p| Ok(p.user_by_email(&lookup)?.is_some())).await? {
        return Err(email_taken());
    }
    let hash = blocking::cpu(move || password_hash::hash(&password)).await??;
    let (now, ttl) = (cx.now, cx.session_ttl);
    cx.db
        .write(move |tx| {
            if tx.platform().user_by_email(&email)?.is_some() {
                return Err(email_taken());
            }
            let user = tx.platform().create_user(&email, &name, hash, now.naive_utc())?;
            let user_id = UserId::from_db(user.id.clone());
            let tenant = tx.create_tenant(&tenant_name, &user_id, now.naive_utc())?;
            let tenant_id = TenantId::from_db(tenant.id.clone());
            let mut t = tx.tenant(&tenant_id)?;
            let (token, expires_at) = super::sessions::open(&mut t, &user_id, &client, now, ttl)?;
            t.audit(
                meta.entry("tenant.created").actor("user", &user_id).details(serde_json::json!({"signup": true})),
                now,
            )?;
            Ok(SignedUp { tenant, user, session: Session { token, expires_at, tenant_id, pending_invitations: 0 } })
        })
        .await
}

fn tenant_required(portals: &[(TenantRow, MembershipRow)]) -> AppError {
    let list: Vec<serde_json::Value> =
        portals.iter().map(|(t, m)| serde_json::json!({"id": t.id, "name": t.name, "role": m.role})).collect();
    let mut extra = serde_json::Map::new();
    extra.insert("tenants".into(), serde_json::Value::Array(list));
    AppError::WithExtra {
        status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "tenant_required",
        detail: "this account belongs to several portals; repeat the request with tenant_id".into(),
        errors: vec![FieldError::new("tenant_id", "is required: choose one of `tenants`")],
        extra,
    }
}

/// What the password step is given.
pub struct PasswordLogin {
    pub email: EmailAddress,
    pub password: String,
    /// The portal to sign in to (required with several).
    pub tenant: Option<TenantId>,
    /// An open invitation to accept on the way: signs in to its portal.
    pub invitation: Option<String>,
}

fn invitation_required(invitations: &[(InvitationRow, TenantRow)]) -> AppError {
    let list: Vec<serde_json::Value> = invitations
        .iter()
        .map(|(i, t)| serde_json::json!({"id": i.id, "tenant": {"id": t.id, "name": t.name}, "role": i.role}))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert("invitations".into(), serde_json::Value::Array(list));
    AppError::WithExtra {
        status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "invitation_required",
        detail: "this account belongs to no portal yet but has invitations: repeat the request with \
                 invitation_id to accept one"
            .into(),
        errors: vec![FieldError::new("invitation_id", "is required: choose one of `invitations`")],
        extra,
    }
}

/// A person whose password was verified a moment ago: what the portal step needs. Made
/// only by [`verify_password`] and [`super::choice::reopen_choice`], so the portal step cannot be reached
/// without the password.
#[derive(Debug, Clone)]
pub struct Verified {
    pub(super) user_id: UserId,
    pub(super) email: String,
    pub(super) mfa_on: bool,
    /// Set when the person was verified by a sealed portal choice: its nonce's digest and
    /// expiry, spent by the [`enter`] that uses it (one portal choice per password).
    pub(super) step: Option<(String, chrono::NaiveDateTime)>,
}

impl Verified {
    /// Whether this person came through a sealed portal choice (spent when used).
    pub fn step(&self) -> Option<&str> {
        self.step.as_ref().map(|(d, _)| d.as_str())
    }

    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
}

/// The password step. With several portals, `tenant` chooses one; without it the answer
/// is a 422 `tenant_required` listing them (only after the password was verified). With
/// `invitation`, the person accepts it and signs in to its portal (after the second
/// factor, when 2FA is on). Repeated failures per account and per IP answer 429 with
/// `Retry-After`.
pub async fn with_password(
    cx: Context<'_>,
    login: PasswordLogin,
    meta: RequestMeta,
    client: ClientInfo,
) -> Result<PasswordOutcome, AppError> {
    let PasswordLogin { email, password, tenant: wanted, invitation } = login;
    let who = verify_password(&cx, email, password, &meta).await?;
    enter(&cx, &who, wanted, invitation, meta, client).await
}

/// Checks an email and password (throttled per account and per IP, failures audited in
/// the person's portals); a wrong password and an unknown email answer the same.
pub async fn verify_password(
    cx: &Context<'_>,
    email: EmailAddress,
    password: String,
    meta: &RequestMeta,
) -> Result<Verified, AppError> {
    let now = cx.now;
    let account = email.as_str().to_string();
    let ip = meta.ip.clone().unwrap_or_else(|| "unknown".into());
    let counters = vec![Counter::account(&account), Counter::ip(&ip)];
    throttle::reserve(cx.db, counters.clone(), now).await?;

    let user = cx.db.read(move |p| Ok(p.user_by_email(&email)?)).await?;
    let known_user = user.as_ref().map(|u| UserId::from_db(u.id.clone()));
    let verified = match user {
        Some(user) => {
            let hash = user.password_hash.clone();
            let typed = password.clone();
            match blocking::cpu(move || password_hash::check(&typed, &hash)).await? {
                PasswordCheck::No => None,
                PasswordCheck::Yes => Some(user),
                PasswordCheck::YesLegacy => {
                    // A hash made before passwords were normalised: replace it with one of
                    // the normalised form (best effort; the sign-in goes on either way).
                    if let Err(e) = rehash(cx.db, &user, &password, now).await {
                        tracing::warn!(error = %e, "could not upgrade a legacy password hash");
                    }
                    Some(user)
                }
            }
        }
        None => {
            blocking::cpu(move || password_hash::verify_dummy(&password)).await?;
            None
        }
    };
    let Some(user) = verified else {
        let entry = meta.entry("auth.login.failed");
        cx.db
            .write(move |tx| {
                // Both counters already took this attempt (reserved before the check).
                if let Some(uid) = known_user {
                    // Each portal of the person sees the attempt on its member's account.
                    for (t, _) in system::enter(tx)?.portals_of(&uid)? {
                        let e = entry
                            .clone()
                            .actor("user", &uid)
                            .target("user", &uid)
                            .details(serde_json::json!({"reason": "wrong_password"}));
                        tx.tenant(&TenantId::from_db(t.id))?.audit(e, now)?;
                    }
                }
                Ok(())
            })
            .await?;
        return Err(AppError::unauthorized(INVALID_CREDENTIALS));
    };
    // The password was right: the account's failures are forgotten, the IP's attempt given back.
    let [account_counter, ip_counter] =
        <[Counter; 2]>::try_from(counters).map_err(|_| AppError::internal(anyhow::anyhow!("counters")))?;
    throttle::succeeded(cx.db, vec![ip_counter], vec![account_counter], now).await?;
    Ok(Verified {
        user_id: UserId::from_db(user.id.clone()),
        mfa_on: user.mfa_enabled(),
        email: user.email,
        step: None,
    })
}

/// The portal step after a verified password: the only portal, the requested one (not a
/// member → the same 401 as a wrong password), an invitation to accept, or 422
/// `tenant_required` / `invitation_required` listing the choices. With 2FA on, the answer
/// is a challenge for the second step.
pub async fn enter(
    cx: &Context<'_>,
    who: &Verified,
    wanted: Option<TenantId>,
    invitation: Option<String>,
    meta: RequestMeta,
    client: ClientInfo,
) -> Result<PasswordOutcome, AppError> {
    let (now, ttl) = (cx.now, cx.session_ttl);
    let (user_id, email_lower, mfa_on) = (who.user_id.clone(), who.email.clone(), who.mfa_on);
    let step = who.step.clone();
    cx.db
        .write(move |tx| {
            // A sealed portal choice opens one session (or one second-factor challenge):
            // spent here, in the transaction that opens it, so a failed choice can be
            // retried and a copied cookie cannot be replayed.
            if let Some((digest, expires_at)) = &step {
                if !tx.platform().spend_sign_in_step(digest, *expires_at, now.naive_utc())? {
                    return Err(AppError::unauthorized("this sign-in step was already used; sign in again"));
                }
            }
            let mut s = system::enter(tx)?;
            let portals = s.portals_of(&user_id)?;
            let open = s.invitations_for(&email_lower, now.naive_utc())?;
            let accepting = match &invitation {
                Some(id) => Some(open.iter().find(|(i, _)| &i.id == id).map(|(i, _)| i.clone()).ok_or_else(|| {
                    AppError::validation("invitation_id", "is not an open invitation for this account")
                })?),
                None => None,
            };
            let tenant_id = match (&accepting, wanted, portals.as_slice()) {
                (Some(i), _, _) => TenantId::from_db(i.tenant_id.clone()),
                (None, Some(wanted), _) => portals
                    .iter()
                    .find(|(t, _)| t.id == wanted.as_str())
                    .map(|_| wanted)
                    // Not a member: the same answer as a wrong password, so no portal oracle.
                    .ok_or_else(|| AppError::unauthorized(INVALID_CREDENTIALS))?,
                (None, None, [(only, _)]) => TenantId::from_db(only.id.clone()),
                (None, None, []) if !open.is_empty() => return Err(invitation_required(&open)),
                (None, None, []) => {
                    return Err(AppError::Forbidden {
                        code: "no_tenant",
                        detail: "this account belongs to no portal".into(),
                    })
                }
                (None, None, many) => return Err(tenant_required(many)),
            };
            let pending = open.len() - usize::from(accepting.is_some());
            let mut t = tx.tenant(&tenant_id)?;
            if mfa_on {
                let token = tokens::generate(tokens::MFA_PREFIX)?;
                let expires_at = now + chrono::Duration::minutes(MFA_CHALLENGE_MINUTES);
                let carried = accepting.as_ref().map(|i| i.id.as_str());
                t.create_challenge(&user_id, tokens::digest(&token), carried, now.naive_utc(), expires_at.naive_utc())?;
                return Ok(PasswordOutcome::SecondFactor { mfa_token: token, expires_at });
            }
            if let Some(i) = &accepting {
                invitations::accept_in(&mut t, i, &user_id, meta.entry("user.invitation_accepted"), now)?;
            }
            let (token, expires_at) = super::sessions::open(&mut t, &user_id, &client, now, ttl)?;
            let entry = meta
                .entry("auth.login.succeeded")
                .actor("user", &user_id)
                .details(serde_json::json!({"method": "password"}));
            t.audit(entry, now)?;
            Ok(PasswordOutcome::Session(Session { token, expires_at, tenant_id, pending_invitations: pending }))
        })
        .await
}

/// The second step: the challenge token and a TOTP or recovery code. A wrong code counts
/// against the challenge (at most 5) and the person's second-factor throttle.
pub async fn with_second_factor(
    cx: Context<'_>,
    mfa_token: &str,
    code: String,
    meta: RequestMeta,
    client: ClientInfo,
) -> Result<Session, AppError> {
    let (now, ttl) = (cx.now, cx.session_ttl);
    let hash = tokens::digest(mfa_token.trim());
    let challenge = system::read(cx.db, move |s| Ok(s.challenge_by_token(&hash)?))
        .await?
        .filter(|c| c.used_at.is_none() && c.expires_at.and_utc() > now && c.attempts < MFA_CHALLENGE_ATTEMPTS)
        .ok_or_else(|| AppError::unauthorized("this sign-in step is unknown, used or expired; sign in again"))?;
    let user_id = UserId::from_db(challenge.user_id.clone());
    let tenant_id = TenantId::from_db(challenge.tenant_id.clone());
    // Both limits are taken before the code is checked: one of the challenge's attempts,
    // and one on the person's second-factor counter.
    let (cid, tid, counter) = (challenge.id.clone(), tenant_id.clone(), Counter::second_factor(user_id.as_str()));
    let taken = cx
        .db
        .write(move |tx| {
            if !tx.tenant(&tid)?.reserve_challenge_attempt(&cid, MFA_CHALLENGE_ATTEMPTS, now.naive_utc())? {
                return Ok(Err(AppError::unauthorized("this sign-in step is unknown, used or expired; sign in again")));
            }
            Ok(tx
                .reserve_attempts(&[(counter.policy, counter.scope, counter.subject.as_str())], now)?
                .map(|_| ())
                .map_err(|secs| AppError::RateLimited {
                    retry_after_secs: secs,
                    detail: format!("too many failed attempts; try again in {secs} s"),
                }))
        })
        .await?;
    taken?;

    let keyring = cx.keyring.clone();
    let (challenge_id, failure_meta) = (challenge.id.clone(), meta.clone());
    let carried = challenge.invitation_id.clone();
    let (uid, tid) = (user_id.clone(), tenant_id.clone());
    let answer = cx
        .db
        .write(move |tx| {
            let mut p = tx.platform();
            let Some(factor) = check_and_spend(&mut p, &keyring, &uid, &code, now, true)? else {
                return Ok(None);
            };
            p.clear_throttle(MFA_SCOPE, uid.as_str())?;
            let remaining = p.remaining_recovery_codes(&uid)?;
            let email = p.user(&uid)?.map(|u| u.email).unwrap_or_default();
            // An invitation accepted while signing in: checked again, now that the person
            // has proven both factors.
            let accepting = match &carried {
                Some(id) => Some(invitations::open_for(&mut system::enter(tx)?, id, &email, now)?),
                None => None,
            };
            let mut t = tx.tenant(&tid)?;
            if !t.consume_challenge(&challenge_id, now.naive_utc())? {
                return Err(AppError::unauthorized("this sign-in step was already used; sign in again"));
            }
            if let Some(i) = &accepting {
                invitations::accept_in(&mut t, i, &uid, meta.entry("user.invitation_accepted"), now)?;
            }
            let (token, expires_at) = super::sessions::open(&mut t, &uid, &client, now, ttl)?;
            let method = match factor {
                Factor::Totp => "password+totp",
                Factor::RecoveryCode => "password+recovery_code",
            };
            if factor == Factor::RecoveryCode {
                let e = meta
                    .entry("auth.mfa.recovery_code_used")
                    .actor("user", &uid)
                    .details(serde_json::json!({"remaining": remaining}));
                t.audit(e, now)?;
            }
            let e =
                meta.entry("auth.login.succeeded").actor("user", &uid).details(serde_json::json!({"method": method}));
            t.audit(e, now)?;
            Ok(Some(Session { token, expires_at, tenant_id: tid, pending_invitations: 0 }))
        })
        .await?;
    match answer {
        Some(session) => Ok(session),
        None => {
            let entry = failure_meta
                .entry("auth.login.failed")
                .actor("user", &user_id)
                .target("user", &user_id)
                .details(serde_json::json!({"reason": "wrong_second_factor"}));
            cx.db
                .write(move |tx| {
                    // The attempt was counted on both limits before the check.
                    tx.tenant(&tenant_id)?.audit(entry, now)?;
                    Ok(())
                })
                .await?;
            Err(AppError::unauthorized("the code is not valid"))
        }
    }
}
