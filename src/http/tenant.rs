//! The current portal's settings. Everyone in the portal reads them; owners and admins
//! change them.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::principal::Principal;
use super::AppState;
use crate::db::tenants::TenantRow;
use crate::error::AppError;
use crate::identity::access::{self, Revocation};
use crate::identity::display_name;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettings {
    pub id: String,
    pub name: String,
    /// The agency portal this one belongs to, if any.
    pub parent_tenant_id: Option<String>,
    /// Everyone must use two-factor authentication in this portal.
    pub require_mfa: bool,
    /// How platform staff may enter this portal (Portal JITA): `allowed` (a grant is active
    /// at once), `approval_required` (the default: an owner or admin approves each grant in
    /// `/api/v1/staff-access`), or `denied`.
    pub staff_access: StaffAccess,
    /// Campaign messages per second this portal sends at most (1-100,000; default 20).
    pub sending_rate_per_second: i32,
    /// Whether campaign opens and clicks are tracked (the open pixel and rewritten links).
    pub email_tracking: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TenantSettings {
    fn of(t: TenantRow, email: crate::db::campaigns::EmailSettings) -> Self {
        Self {
            sending_rate_per_second: email.sending_rate_per_second,
            email_tracking: email.tracking,
            id: t.id,
            name: t.name,
            parent_tenant_id: t.parent_tenant_id,
            require_mfa: t.require_mfa,
            staff_access: StaffAccess::parse(&t.staff_access),
            created_at: t.created_at.and_utc(),
            updated_at: t.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub require_mfa: Option<bool>,
    pub staff_access: Option<StaffAccess>,
    /// 1-100,000: a ceiling the portal sets for its own sends; the node's SMTP pool and
    /// the relay decide how fast a send actually goes below it.
    pub sending_rate_per_second: Option<i64>,
    pub email_tracking: Option<bool>,
}

/// A portal's rule for platform staff (Portal JITA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffAccess {
    Allowed,
    ApprovalRequired,
    Denied,
}

impl StaffAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ApprovalRequired => "approval_required",
            Self::Denied => "denied",
        }
    }

    /// The stored value (a CHECK constraint holds it to the three; anything else reads as
    /// the strictest).
    pub fn parse(raw: &str) -> Self {
        match raw {
            "allowed" => Self::Allowed,
            "approval_required" => Self::ApprovalRequired,
            _ => Self::Denied,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant",
    security(("bearer" = [])),
    responses((status = 200, body = TenantSettings)))]
pub async fn get_tenant(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(settings(&state, &p).await?))
}

/// The portal's settings (people, and staff inside through a JITA grant; never keys). The
/// web app's portal settings page reads them too.
pub async fn settings(state: &AppState, p: &Principal) -> Result<TenantSettings, AppError> {
    if !matches!(p.actor, super::principal::Actor::Jita(_)) {
        p.user()?;
    }
    let (tenant, email) =
        state.db.tenant(p.tenant_id.clone()).read(move |t| Ok((t.tenant()?, t.email_settings()?))).await?;
    Ok(TenantSettings::of(tenant, email))
}

/// Change settings (owner or admin).
#[utoipa::path(patch, path = "/api/v1/tenant", tag = "tenant",
    security(("bearer" = [])),
    request_body = TenantPatch,
    responses(
        (status = 200, body = TenantSettings),
        (status = 403, description = "Not an owner or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_tenant(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<TenantPatch>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(change(&state, &p, body.0).await?))
}

/// The highest `sending_rate_per_second` a portal may set (messages per second). A node
/// with a fast relay sends well over 10,000 a second; the cap only stops a typo from
/// meaning "unthrottled".
pub const MAX_SENDING_RATE: i64 = 100_000;

/// Changes the portal's settings (owner or admin); the web app's settings form too.
pub async fn change(state: &AppState, p: &Principal, patch: TenantPatch) -> Result<TenantSettings, AppError> {
    p.manager()?;
    let mut errors = Vec::new();
    let name = patch.name.map(|n| display_name("name", &n, &mut errors));
    if patch.sending_rate_per_second.is_some_and(|r| !(1..=MAX_SENDING_RATE).contains(&r)) {
        errors.push(crate::error::FieldError::new("sending_rate_per_second", "must be from 1 to 100,000"));
    }
    let (rate, tracking) = (patch.sending_rate_per_second.map(|r| r as i32), patch.email_tracking);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let now = state.clock.now();
    let entry = p.entry("tenant.settings_changed");
    let actor = p.change_actor();
    let require_mfa = patch.require_mfa;
    let staff_access = patch.staff_access.map(StaffAccess::as_str);
    let tenant = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let before = tdb.tenant()?;
            let after = tdb.update_settings(name.as_deref(), require_mfa, staff_access, now.naive_utc())?;
            let mut changes = serde_json::Map::new();
            if before.name != after.name {
                changes.insert("name".into(), serde_json::json!({"from": before.name, "to": after.name}));
            }
            if before.require_mfa != after.require_mfa {
                changes.insert(
                    "require_mfa".into(),
                    serde_json::json!({"from": before.require_mfa, "to": after.require_mfa}),
                );
            }
            let email_before = tdb.email_settings()?;
            let email_after = crate::db::campaigns::EmailSettings {
                sending_rate_per_second: rate.unwrap_or(email_before.sending_rate_per_second),
                tracking: tracking.unwrap_or(email_before.tracking),
            };
            if email_after != email_before {
                tdb.set_email_settings(email_after, now.naive_utc())?;
                changes.insert(
                    "email".into(),
                    serde_json::json!({"from": {"sending_rate_per_second": email_before.sending_rate_per_second, "email_tracking": email_before.tracking},
                        "to": {"sending_rate_per_second": email_after.sending_rate_per_second, "email_tracking": email_after.tracking}}),
                );
            }
            if before.staff_access != after.staff_access {
                changes.insert(
                    "staff_access".into(),
                    serde_json::json!({"from": before.staff_access, "to": after.staff_access}),
                );
            }
            if !changes.is_empty() {
                tdb.audit(entry.target("tenant", &after.id).details(changes.into()), now)?;
            }
            if after.require_mfa && !before.require_mfa {
                access::announce(tdb, Revocation::users_without_mfa(), &actor, now);
            }
            Ok((after, email_after))
        })
        .await?;
    Ok(TenantSettings::of(tenant.0, tenant.1))
}
