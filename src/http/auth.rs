//! Identity: sign up a portal, sign in (choosing a portal when the user has several),
//! sign out. Wrong password and unknown email answer the same, in the same time.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{client_info, Auth, Json};
use super::AppState;
use crate::blocking;
use crate::db::sessions::ClientInfo;
use crate::db::{tenants, users, DbConnection, TenantDb};
use crate::domain::{EmailAddress, Password, Role, TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::security::{password_hash, tokens};

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

fn parse_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<EmailAddress> {
    EmailAddress::parse(raw)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok()
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
    body: Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let mut errors = Vec::new();
    let tenant_name = display_name("tenant_name", &body.tenant_name, &mut errors);
    let name = display_name("name", &body.name, &mut errors);
    let email = parse_email(&body.email, &mut errors);
    let password = match Password::parse(&body.password) {
        Ok(p) => Some(p),
        Err(broken) => {
            errors.extend(
                broken
                    .into_iter()
                    .map(|r| FieldError::new("password", r.message).with_rule(r.code)),
            );
            None
        }
    };
    let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };

    let lookup = email.clone();
    let taken = state
        .db
        .run(move |conn| Ok(users::find_by_email(conn, &lookup)?.is_some()))
        .await?;
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
            Ok((tenant, user, token, expires_at))
        })
        .await?;
    tracing::info!(tenant_id = %tenant.id, user_id = %user.id, "portal signed up");
    Ok(HttpResponse::Created().json(SignupResponse {
        tenant: TenantView {
            id: tenant.id,
            name: tenant.name,
        },
        user: UserView {
            id: user.id,
            email: user.email,
            name: user.name,
            role: Role::Owner,
        },
        token,
        expires_at,
    }))
}

fn email_taken() -> AppError {
    AppError::conflict(
        "an account with this email already exists; sign in, then create another portal from it",
    )
}

/// Sign in. With several portals, `tenant_id` chooses one; without it the answer is a 422
/// `tenant_required` listing the portals (only after the password was verified).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong email or password (same answer for both)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, or `tenant_required` with a `tenants` list", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
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

    let user = state
        .db
        .run(move |conn| Ok(users::find_by_email(conn, &email)?))
        .await?;
    let password = body.password;
    let verified = match user {
        Some(user) => {
            let hash = user.password_hash.clone();
            blocking::cpu(move || password_hash::verify(&password, &hash))
                .await?
                .then_some(user)
        }
        None => {
            blocking::cpu(move || password_hash::verify_dummy(&password)).await?;
            None
        }
    };
    let user = verified.ok_or_else(|| AppError::unauthorized(INVALID_CREDENTIALS))?;
    let user_id = UserId::from_db(user.id);
    let client = client_info(&req);
    let st = state.clone();
    let (token, expires_at, tenant_id) = state
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
            let (token, expires_at) = open_session(conn, &st, &tenant_id, &user_id, &client)?;
            Ok((token, expires_at, tenant_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        expires_at,
        tenant_id: tenant_id.to_string(),
    }))
}

fn tenant_required(portals: &[(tenants::TenantRow, tenants::MembershipRow)]) -> AppError {
    let list: Vec<serde_json::Value> = portals
        .iter()
        .map(|(t, m)| serde_json::json!({"id": t.id, "name": t.name, "role": m.role}))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert("tenants".into(), serde_json::Value::Array(list));
    AppError::WithExtra {
        status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "tenant_required",
        detail: "this account belongs to several portals; repeat the request with tenant_id".into(),
        errors: vec![FieldError::new(
            "tenant_id",
            "is required: choose one of `tenants`",
        )],
        extra,
    }
}

/// Sign out: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid token", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, AppError> {
    let now = state.clock.now().naive_utc();
    state
        .db
        .write(move |conn| {
            Ok(TenantDb::new(conn, auth.tenant_id).revoke_session(&auth.session_id, now)?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
