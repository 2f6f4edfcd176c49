//! Identity: sign up a portal, sign in (choosing a portal when the user has several),
//! sign out. Wrong password and unknown email answer the same, in the same time.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{client_info, Json};
use super::mfa::{check_and_spend, Factor, MFA_SCOPE};
use super::principal::{Principal, RequestMeta};
use super::AppState;
use crate::blocking;
use crate::db::sessions::ClientInfo;
use crate::db::{mfa, tenants, throttle, users, DbConnection, TenantDb};
use crate::domain::{EmailAddress, Password, Role, TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::security::throttle as policy;
use crate::security::{password_hash, tokens};

const ACCOUNT_SCOPE: &str = "login_account";
const IP_SCOPE: &str = "login_ip";
/// How long the second step of a sign-in may take, and how many codes it may try.
const MFA_CHALLENGE_MINUTES: i64 = 5;
const MFA_CHALLENGE_ATTEMPTS: i32 = 5;

const INVALID_CREDENTIALS: &str = "invalid email or password";

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SignupRequest {
    /// The new portal's name.
    #[schema(example = "Acme Marketing")]
    pub tenant_name: String,
    #[schema(example = "ada@acme.example")]
    pub email: String,
    /// At least 8 characters with upper, lower, digit and special; not a common breached one.
    #[schema(example = "Corr3ct-Horse!")]
    pub password: String,
    /// The owner's display name.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub tenant: TenantView,
    pub user: UserView,
    /// A bearer token for the new portal, shown once.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Required when the user belongs to several portals.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// The password was right and the account has 2FA: send a code to `POST /api/v1/auth/mfa`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use, valid 5 minutes, at most 5 codes.
    pub mfa_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Either a session or a 2FA challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    Mfa(MfaChallenge),
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct MfaLoginRequest {
    pub mfa_token: String,
    /// A 6-digit TOTP code, or an unused recovery code.
    pub code: String,
}

/// Trims a display name and checks it is present and at most 200 characters.
pub fn display_name(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_string();
    if name.is_empty() {
        errors.push(FieldError::new(field, "is required"));
    } else if name.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be at most 200 characters"));
    }
    name
}

/// Parses a password against the policy, adding one error per broken rule, named.
pub fn parse_password(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Password> {
    Password::parse(raw)
        .map_err(|broken| {
            errors.extend(broken.into_iter().map(|r| FieldError::new(field, r.message).with_rule(r.code)))
        })
        .ok()
}

fn parse_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<EmailAddress> {
    EmailAddress::parse(raw).map_err(|m| errors.push(FieldError::new("email", m))).ok()
}

/// Issues a session token for `user` in `tenant`.
fn open_session(
    conn: &mut DbConnection,
    state: &AppState,
    tenant: &TenantId,
    user: &UserId,
    client: &ClientInfo,
) -> Result<(String, DateTime<Utc>), AppError> {
    let token = tokens::generate(tokens::SESSION_PREFIX)?;
    let now = state.clock.now();
    let ttl = chrono::Duration::from_std(state.settings.session_ttl).map_err(AppError::internal)?;
    let expires_at = now + ttl;
    TenantDb::new(conn, tenant.clone()).create_session(
        user,
        tokens::digest(&token),
        now.naive_utc(),
        expires_at.naive_utc(),
        client,
    )?;
    Ok((token, expires_at))
}

/// Create a portal and its owner, and sign the owner in.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Portal and owner created", body = SignupResponse),
        (status = 409, description = "An account with this email exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule (each password rule is named)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let mut errors = Vec::new();
    let tenant_name = display_name("tenant_name", &body.tenant_name, &mut errors);
    let name = display_name("name", &body.name, &mut errors);
    let email = parse_email(&body.email, &mut errors);
    let password = parse_password("password", &body.password, &mut errors);
    let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };

    let lookup = email.clone();
    let taken = state.db.run(move |conn| Ok(users::find_by_email(conn, &lookup)?.is_some())).await?;
    if taken {
        return Err(email_taken());
    }
    let hash = blocking::cpu(move || password_hash::hash(&password)).await??;
    let client = client_info(&req);
    let st = state.clone();
    let (tenant, user, token, expires_at) = state
        .db
        .write(move |conn| {
            if users::find_by_email(conn, &email)?.is_some() {
                return Err(email_taken());
            }
            let now = st.clock.now().naive_utc();
            let user = users::create(conn, &email, &name, hash, now)?;
            let user_id = UserId::from_db(user.id.clone());
            let tenant = tenants::create(conn, &tenant_name, &user_id, now)?;
            let tenant_id = TenantId::from_db(tenant.id.clone());
            let (token, expires_at) = open_session(conn, &st, &tenant_id, &user_id, &client)?;
            TenantDb::new(conn, tenant_id).audit(
                meta.entry("tenant.created").actor("user", &user_id).details(serde_json::json!({"signup": true})),
                st.clock.now(),
            )?;
            Ok((tenant, user, token, expires_at))
        })
        .await?;
    tracing::info!(tenant_id = %tenant.id, user_id = %user.id, "portal signed up");
    Ok(HttpResponse::Created().json(SignupResponse {
        tenant: TenantView { id: tenant.id, name: tenant.name },
        user: UserView { id: user.id, email: user.email, name: user.name, role: Role::Owner },
        token,
        expires_at,
    }))
}

fn email_taken() -> AppError {
    AppError::conflict("an account with this email already exists; sign in, then create another portal from it")
}

fn tenant_required(portals: &[(tenants::TenantRow, tenants::MembershipRow)]) -> AppError {
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

/// Refuses with 429 and `Retry-After` while any of the `(scope, subject)` counters blocks.
pub async fn refuse_if_throttled(
    state: &AppState,
    keys: Vec<(&'static str, String)>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let wait = state
        .db
        .run(move |conn| {
            let mut longest = None;
            for (scope, subject) in &keys {
                let secs = policy::retry_after(throttle::load(conn, scope, subject)?, now);
                longest = longest.max(secs);
            }
            Ok(longest)
        })
        .await?;
    match wait {
        Some(secs) => Err(AppError::RateLimited {
            retry_after_secs: secs,
            detail: format!("too many failed attempts; try again in {secs} s"),
        }),
        None => Ok(()),
    }
}

/// Sign in. With several portals, `tenant_id` chooses one; without it the answer is a 422
/// `tenant_required` listing the portals (only after the password was verified). With 2FA
/// on, the answer is a challenge for `POST /api/v1/auth/mfa` instead of a token.
/// Repeated failures per account and per IP answer 429 with `Retry-After`, backing off.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in, or `{mfa_required, mfa_token}` when 2FA is on", body = LoginAnswer),
        (status = 401, description = "Wrong email or password (same answer for both)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, or `tenant_required` with a `tenants` list", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let mut errors = Vec::new();
    let email = parse_email(&body.email, &mut errors);
    if body.password.is_empty() {
        errors.push(FieldError::new("password", "is required"));
    }
    let wanted_tenant = match body.tenant_id.as_deref() {
        None => None,
        Some(raw) => match TenantId::parse(raw) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new("tenant_id", "must be a portal id"));
                None
            }
        },
    };
    let (Some(email), true) = (email, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    let now = state.clock.now();
    let account = email.as_str().to_string();
    let ip = meta.ip.clone().unwrap_or_else(|| "unknown".into());
    refuse_if_throttled(&state, vec![(ACCOUNT_SCOPE, account.clone()), (IP_SCOPE, ip.clone())], now).await?;

    let user = state.db.run(move |conn| Ok(users::find_by_email(conn, &email)?)).await?;
    let password = body.password;
    let known_user = user.as_ref().map(|u| UserId::from_db(u.id.clone()));
    let verified = match user {
        Some(user) => {
            let hash = user.password_hash.clone();
            blocking::cpu(move || password_hash::verify(&password, &hash)).await?.then_some(user)
        }
        None => {
            blocking::cpu(move || password_hash::verify_dummy(&password)).await?;
            None
        }
    };
    let Some(user) = verified else {
        let entry = meta.entry("auth.login.failed");
        state
            .db
            .write(move |conn| {
                throttle::record_failure(conn, &policy::ACCOUNT, ACCOUNT_SCOPE, &account, now)?;
                throttle::record_failure(conn, &policy::IP, IP_SCOPE, &ip, now)?;
                if let Some(uid) = known_user {
                    // Each portal of the person sees the attempt on its member's account.
                    for (t, _) in tenants::portals_of(conn, &uid)? {
                        let e = entry
                            .clone()
                            .actor("user", &uid)
                            .target("user", &uid)
                            .details(serde_json::json!({"reason": "wrong_password"}));
                        TenantDb::new(conn, TenantId::from_db(t.id)).audit(e, now)?;
                    }
                }
                Ok(())
            })
            .await?;
        return Err(AppError::unauthorized(INVALID_CREDENTIALS));
    };
    let user_id = UserId::from_db(user.id.clone());
    let mfa_on = user.mfa_enabled();
    let client = client_info(&req);
    let st = state.clone();
    let answer = state
        .db
        .write(move |conn| {
            let portals = tenants::portals_of(conn, &user_id)?;
            let tenant_id = match (wanted_tenant, portals.as_slice()) {
                (Some(wanted), _) => portals
                    .iter()
                    .find(|(t, _)| t.id == wanted.as_str())
                    .map(|_| wanted)
                    // Not a member: the same answer as a wrong password, so no portal oracle.
                    .ok_or_else(|| AppError::unauthorized(INVALID_CREDENTIALS))?,
                (None, [(only, _)]) => TenantId::from_db(only.id.clone()),
                (None, []) => {
                    return Err(AppError::Forbidden {
                        code: "no_tenant",
                        detail: "this account belongs to no portal".into(),
                    })
                }
                (None, many) => return Err(tenant_required(many)),
            };
            throttle::clear(conn, ACCOUNT_SCOPE, &account)?;
            if mfa_on {
                let token = tokens::generate(tokens::MFA_PREFIX)?;
                let expires_at = now + chrono::Duration::minutes(MFA_CHALLENGE_MINUTES);
                mfa::create_challenge(
                    conn,
                    &tenant_id,
                    &user_id,
                    tokens::digest(&token),
                    now.naive_utc(),
                    expires_at.naive_utc(),
                )?;
                return Ok(LoginAnswer::Mfa(MfaChallenge { mfa_required: true, mfa_token: token, expires_at }));
            }
            let (token, expires_at) = open_session(conn, &st, &tenant_id, &user_id, &client)?;
            let entry = meta
                .entry("auth.login.succeeded")
                .actor("user", &user_id)
                .details(serde_json::json!({"method": "password"}));
            TenantDb::new(conn, tenant_id.clone()).audit(entry, now)?;
            Ok(LoginAnswer::Session(LoginResponse { token, expires_at, tenant_id: tenant_id.to_string() }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The second step of a sign-in with 2FA: the challenge token and a TOTP or recovery code.
#[utoipa::path(post, path = "/api/v1/auth/mfa", tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Unknown, used or expired challenge, or a wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn mfa_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: Json<MfaLoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let now = state.clock.now();
    let hash = tokens::digest(body.mfa_token.trim());
    let challenge = state
        .db
        .run(move |conn| Ok(mfa::find_challenge(conn, &hash)?))
        .await?
        .filter(|c| c.used_at.is_none() && c.expires_at.and_utc() > now && c.attempts < MFA_CHALLENGE_ATTEMPTS)
        .ok_or_else(|| AppError::unauthorized("this sign-in step is unknown, used or expired; sign in again"))?;
    let user_id = UserId::from_db(challenge.user_id.clone());
    refuse_if_throttled(&state, vec![(MFA_SCOPE, user_id.to_string())], now).await?;

    let client = client_info(&req);
    let st = state.clone();
    let tenant_id = TenantId::from_db(challenge.tenant_id.clone());
    let code = body.code;
    let (challenge_id, failure_meta) = (challenge.id.clone(), meta.clone());
    let answer = state
        .db
        .write(move |conn| {
            let factor = check_and_spend(conn, &st.keyring, &user_id, &code, now, true)?;
            let Some(factor) = factor else {
                return Ok(None);
            };
            if !mfa::consume_challenge(conn, &challenge_id, now.naive_utc())? {
                return Err(AppError::unauthorized("this sign-in step was already used; sign in again"));
            }
            throttle::clear(conn, MFA_SCOPE, user_id.as_str())?;
            let (token, expires_at) = open_session(conn, &st, &tenant_id, &user_id, &client)?;
            let method = match factor {
                Factor::Totp => "password+totp",
                Factor::RecoveryCode => "password+recovery_code",
            };
            let remaining = mfa::remaining_recovery_codes(conn, &user_id)?;
            let mut tdb = TenantDb::new(conn, tenant_id.clone());
            if factor == Factor::RecoveryCode {
                let e = meta
                    .entry("auth.mfa.recovery_code_used")
                    .actor("user", &user_id)
                    .details(serde_json::json!({"remaining": remaining}));
                tdb.audit(e, now)?;
            }
            let e = meta
                .entry("auth.login.succeeded")
                .actor("user", &user_id)
                .details(serde_json::json!({"method": method}));
            tdb.audit(e, now)?;
            Ok(Some(LoginResponse { token, expires_at, tenant_id: tenant_id.to_string() }))
        })
        .await?;
    match answer {
        Some(session) => Ok(HttpResponse::Ok().json(session)),
        None => {
            let (cid, uid, tid) = (challenge.id, UserId::from_db(challenge.user_id), challenge.tenant_id);
            let entry = failure_meta
                .entry("auth.login.failed")
                .actor("user", &uid)
                .target("user", &uid)
                .details(serde_json::json!({"reason": "wrong_second_factor"}));
            state
                .db
                .write(move |conn| {
                    mfa::count_attempt(conn, &cid)?;
                    throttle::record_failure(conn, &policy::MFA, MFA_SCOPE, uid.as_str(), now)?;
                    TenantDb::new(conn, TenantId::from_db(tid)).audit(entry, now)?;
                    Ok(())
                })
                .await?;
            Err(AppError::unauthorized("the code is not valid"))
        }
    }
}

/// Sign out: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid token", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    let user = p.user()?.clone();
    let now = state.clock.now();
    let entry = p.entry("auth.logout").target("session", &user.session_id);
    state
        .db
        .write(move |conn| {
            let mut tdb = TenantDb::new(conn, p.tenant_id);
            tdb.revoke_session(&user.user_id, &user.session_id, now.naive_utc())?;
            tdb.audit(entry, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
