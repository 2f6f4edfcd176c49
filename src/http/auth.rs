//! Sign up a portal, sign in (choosing a portal when the user has several), sign out. The
//! rules are `identity::login`'s; these handlers parse and answer.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{client_info, Json};
use super::principal::{Principal, RequestMeta};
use super::AppState;
use crate::domain::{Role, TenantId};
use crate::error::{AppError, FieldError};
use crate::identity::login::{self, PasswordOutcome};
use crate::identity::sessions;
use crate::identity::{parse_email, parse_signup};

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
    /// Accept this open invitation (see `GET /api/v1/me/invitations`) and sign in to its
    /// portal; an account that belongs to no portal yet is told its invitations
    /// (422 `invitation_required`).
    pub invitation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub tenant_id: String,
    /// Open invitations to other portals (`GET /api/v1/me/invitations`).
    pub pending_invitations: usize,
}

impl From<login::Session> for LoginResponse {
    fn from(s: login::Session) -> Self {
        Self {
            token: s.token,
            expires_at: s.expires_at,
            tenant_id: s.tenant_id.to_string(),
            pending_invitations: s.pending_invitations,
        }
    }
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

/// Create a portal and its owner, and sign the owner in.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Portal and owner created", body = SignupResponse),
        (status = 409, description = "An account with this email exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule (each password rule is named)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let input = parse_signup(&body.tenant_name, &body.name, &body.email, &body.password)?;
    let signed_up = login::sign_up(state.login_context(), input, meta, client_info(&req)).await?;
    let (tenant, user, session) = (signed_up.tenant, signed_up.user, signed_up.session);
    tracing::info!(tenant_id = %tenant.id, user_id = %user.id, "portal signed up");
    Ok(HttpResponse::Created().json(SignupResponse {
        tenant: TenantView { id: tenant.id, name: tenant.name },
        user: UserView { id: user.id, email: user.email, name: user.name, role: Role::Owner },
        token: session.token,
        expires_at: session.expires_at,
    }))
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
        (status = 403, description = "`no_tenant`: the account belongs to no portal any more", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, or `tenant_required` with a `tenants` list", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
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
    let attempt =
        login::PasswordLogin { email, password: body.password, tenant: wanted_tenant, invitation: body.invitation_id };
    let outcome = login::with_password(state.login_context(), attempt, meta, client_info(&req)).await?;
    let answer = match outcome {
        PasswordOutcome::Session(s) => LoginAnswer::Session(s.into()),
        PasswordOutcome::SecondFactor { mfa_token, expires_at } => {
            LoginAnswer::Mfa(MfaChallenge { mfa_required: true, mfa_token, expires_at })
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// The second step of a sign-in with 2FA: the challenge token and a TOTP or recovery code.
#[utoipa::path(post, path = "/api/v1/auth/mfa", tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Unknown, used or expired challenge, or a wrong code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn mfa_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: Json<MfaLoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let s =
        login::with_second_factor(state.login_context(), &body.mfa_token, body.code, meta, client_info(&req)).await?;
    Ok(HttpResponse::Ok().json(LoginResponse::from(s)))
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
    let entry = p.entry("auth.logout").target("session", &user.session_id);
    sessions::sign_out(&state.db, p.tenant_id.clone(), &user, p.change_actor(), entry, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
