//! A portal's people. Everyone in the portal may list them; owners and admins invite
//! people (who join by accepting), change roles and remove people. Only an owner grants or
//! takes away the owner role, and the last owner can be neither demoted nor removed.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::invitations::InvitationView;
use super::principal::Principal;
use super::AppState;
use crate::db::tenants::MembershipRow;
use crate::db::users::UserRow;
use crate::domain::{EmailAddress, Role, UserId};
use crate::error::{AppError, FieldError};
use crate::identity::access::{self, Reason, Revocation};
use crate::identity::{display_name, invitations, parse_password};

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
    /// Initial password for a person new to Organizeo (the policy applies); ignored when the
    /// email already has an account. Either way the person joins only by accepting.
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
    Ok(HttpResponse::Ok().json(MemberList { data: members(&state, &p).await? }))
}

/// The portal's people (people only, not keys; the web app names assignees with it).
pub async fn members(state: &AppState, p: &Principal) -> Result<Vec<Member>, AppError> {
    p.user()?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.members()?)).await?;
    Ok(rows.into_iter().map(|(u, m)| Member::of(u, m)).collect())
}

/// Invite a person: the answer is the same whether the email has an account or not, and
/// nobody joins without accepting (`POST /api/v1/me/invitations/{id}/accept`, or
/// `invitation_id` at sign-in). With `password`, an email without an account gets one
/// with that initial password (it is ignored, and never revealed, when the email has
/// one). Inviting a pending email again refreshes its invitation.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    security(("bearer" = [])),
    request_body = NewMember,
    responses(
        (status = 202, description = "Invited (pending the person's acceptance)", body = InvitationView),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add(state: web::Data<AppState>, p: Principal, body: Json<NewMember>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Accepted().json(invite(&state, &p, body.0).await?))
}

/// Invites a person (owner or admin; only an owner invites an owner); the web app's
/// people page too.
pub async fn invite(state: &AppState, p: &Principal, body: NewMember) -> Result<InvitationView, AppError> {
    let me = p.manager()?.clone();
    let mut errors = Vec::new();
    let name = display_name("name", &body.name, &mut errors);
    let email = EmailAddress::parse(&body.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let role = parse_role(&body.role, &mut errors);
    let password = match (&email, body.password.as_deref()) {
        (Some(email), Some(raw)) => parse_password("password", raw, &[email.as_str(), &name], &mut errors),
        _ => None,
    };
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    if role == Role::Owner && me.role != Role::Owner {
        return Err(owners_only());
    }
    let invite = invitations::Invite { email, name, role, password };
    let audit = p.entry("user.invited");
    let row = invitations::invite(&state.db, p.tenant_id.clone(), me.user_id, invite, audit, state.clock.now()).await?;
    Ok(InvitationView::from(&row))
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
    Ok(HttpResponse::Ok().json(change_role(&state, &p, &path.into_inner(), body.0).await?))
}

/// Changes a person's role by the owner rules (the web app's people page too).
pub async fn change_role(state: &AppState, p: &Principal, id: &str, patch: MemberPatch) -> Result<Member, AppError> {
    let me = p.manager()?.clone();
    let target = UserId::parse(id).ok_or_else(|| AppError::not_found("user"))?;
    let mut errors = Vec::new();
    let role = patch.role.map(|r| parse_role(&r, &mut errors));
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
    Ok(member)
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
    remove_member(&state, &p, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a person from the portal by the owner rules (the web app's people page too).
pub async fn remove_member(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    let me = p.manager()?.clone();
    let target = UserId::parse(id).ok_or_else(|| AppError::not_found("user"))?;
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
        .await
}
