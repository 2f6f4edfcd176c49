//! A portal's people. Everyone in the portal may list them; owners and admins add people,
//! change roles and remove people. Only an owner grants or takes away the owner role, and
//! the last owner can be neither demoted nor removed.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::blocking;
use crate::db::tenants::MembershipRow;
use crate::db::users::UserRow;
use crate::domain::{EmailAddress, Role, UserId};
use crate::error::{AppError, FieldError};
use crate::identity::access::{self, Reason, Revocation};
use crate::identity::{display_name, parse_password};
use crate::security::password_hash;

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub mfa_enabled: bool,
    /// When the person joined this portal.
    pub created_at: DateTime<Utc>,
}

impl Member {
    fn of(user: UserRow, m: MembershipRow) -> Self {
        Self {
            role: m.role(),
            mfa_enabled: user.mfa_enabled(),
            id: user.id,
            email: user.email,
            name: user.name,
            created_at: m.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub data: Vec<Member>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewMember {
    pub email: String,
    pub name: String,
    /// owner, admin, member or viewer.
    pub role: String,
    /// Initial password for a person new to Organizeo; ignored (must be absent) when the
    /// email already has an account, which then simply joins this portal.
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct MemberPatch {
    pub role: Option<String>,
}

fn parse_role(raw: &str, errors: &mut Vec<FieldError>) -> Option<Role> {
    let role = Role::parse(raw.trim());
    if role.is_none() {
        errors.push(FieldError::new("role", "must be one of owner, admin, member, viewer"));
    }
    role
}

fn last_owner() -> AppError {
    AppError::Conflict {
        code: "last_owner",
        detail: "a portal keeps at least one owner; make someone else owner first".into(),
    }
}

fn owners_only() -> AppError {
    AppError::forbidden("only an owner can grant, change or remove the owner role")
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = MemberList)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    p.user()?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.members()?)).await?;
    Ok(HttpResponse::Ok().json(MemberList { data: rows.into_iter().map(|(u, m)| Member::of(u, m)).collect() }))
}

/// Add a person: a new account with an initial password, or an existing account joining.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    security(("bearer" = [])),
    request_body = NewMember,
    responses(
        (status = 201, body = Member),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add(state: web::Data<AppState>, p: Principal, body: Json<NewMember>) -> Result<HttpResponse, AppError> {
    let me = p.manager()?.clone();
    let body = body.0;
    let mut errors = Vec::new();
    let name = display_name("name", &body.name, &mut errors);
    let email = EmailAddress::parse(&body.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let role = parse_role(&body.role, &mut errors);
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    if role == Role::Owner && me.role != Role::Owner {
        return Err(owners_only());
    }
    let lookup = email.clone();
    let existing = state.db.read(move |p| Ok(p.user_by_email(&lookup)?)).await?;
    let new_hash = match (&existing, body.password) {
        (Some(_), Some(_)) => {
            return Err(AppError::validation(
                "password",
                "this email already has an account; omit the password and the person joins with their own",
            ))
        }
        (Some(_), None) => None,
        (None, None) => return Err(AppError::validation("password", "is required for a new account")),
        (None, Some(raw)) => {
            let mut errors = Vec::new();
            let password = parse_password("password", &raw, &[email.as_str(), &name], &mut errors)
                .ok_or_else(|| AppError::invalid(errors))?;
            Some(blocking::cpu(move || password_hash::hash(&password)).await??)
        }
    };
    let now = state.clock.now();
    let entry = p.entry("user.added");
    let member = state
        .db
        .write(move |tx| {
            let user = match (existing, new_hash) {
                (Some(user), _) => user,
                (None, Some(hash)) => tx.platform().create_user(&email, &name, hash, now.naive_utc())?,
                (None, None) => return Err(AppError::internal(anyhow::anyhow!("no password hash for a new account"))),
            };
            let uid = UserId::from_db(user.id.clone());
            let mut tdb = tx.tenant(&p.tenant_id)?;
            if tdb.membership(&uid)?.is_some() {
                return Err(AppError::Conflict {
                    code: "already_member",
                    detail: "this person is already in the portal".into(),
                });
            }
            tdb.add_member(&uid, role, now.naive_utc())?;
            tdb.audit(entry.target("user", &uid).details(serde_json::json!({"role": role, "email": user.email})), now)?;
            let (user, m) = tdb.member(&uid)?.ok_or_else(|| AppError::not_found("user"))?;
            Ok(Member::of(user, m))
        })
        .await?;
    Ok(HttpResponse::Created().json(member))
}

/// Change a person's role.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = MemberPatch,
    responses(
        (status = 200, body = Member),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    body: Json<MemberPatch>,
) -> Result<HttpResponse, AppError> {
    let me = p.manager()?.clone();
    let target = UserId::parse(&path.into_inner()).ok_or_else(|| AppError::not_found("user"))?;
    let mut errors = Vec::new();
    let role = body.0.role.map(|r| parse_role(&r, &mut errors));
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now();
    let entry = p.entry("user.role_changed").target("user", &target);
    let member = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            tdb.lock()?;
            let (user, m) = tdb.member(&target)?.ok_or_else(|| AppError::not_found("user"))?;
            let (from, Some(Some(to))) = (m.role(), role) else {
                return Ok(Member::of(user, m));
            };
            if from == to {
                return Ok(Member::of(user, m));
            }
            if (from == Role::Owner || to == Role::Owner) && me.role != Role::Owner {
                return Err(owners_only());
            }
            if from == Role::Owner && tdb.owner_count()? <= 1 {
                return Err(last_owner());
            }
            tdb.set_role(&target, to)?;
            tdb.audit(entry.details(serde_json::json!({"from": from, "to": to})), now)?;
            let (user, m) = tdb.member(&target)?.ok_or_else(|| AppError::not_found("user"))?;
            Ok(Member::of(user, m))
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// Remove a person from the portal (their account and other portals are untouched).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed; their sessions here are revoked"),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let me = p.manager()?.clone();
    let target = UserId::parse(&path.into_inner()).ok_or_else(|| AppError::not_found("user"))?;
    let now = state.clock.now();
    let actor = p.change_actor();
    let entry = p.entry("user.removed").target("user", &target);
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            tdb.lock()?;
            let (user, m) = tdb.member(&target)?.ok_or_else(|| AppError::not_found("user"))?;
            if m.role() == Role::Owner {
                if me.role != Role::Owner {
                    return Err(owners_only());
                }
                if tdb.owner_count()? <= 1 {
                    return Err(last_owner());
                }
            }
            tdb.remove_member(&target, now.naive_utc())?;
            access::announce(tdb, Revocation::user(&target, Reason::RemovedFromPortal), &actor, now);
            tdb.audit(entry.details(serde_json::json!({"role": m.role(), "email": user.email})), now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
