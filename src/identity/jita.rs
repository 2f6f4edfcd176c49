//! Portal JITA: how a platform staff member enters one customer portal. A grant names the
//! portal, a reason and a ticket, and lasts at most 24 hours (judged by the injected
//! clock). The portal decides (`tenants.staff_access`): `allowed` makes the grant active at
//! once, `approval_required` waits for an owner or admin, `denied` refuses it. Every grant,
//! approval, revocation and every request made under a grant is in the portal's audit log
//! (actor `jita_grant`, the grant id) and grants also in the platform's. Risk monitoring
//! suspends a grant and raises `staff.risk_alert` when a staff member asks for more
//! portals in an hour than allowed, collects refusals, or makes far more requests than
//! support work needs.

use chrono::{DateTime, Duration, Utc};

use crate::db::audit::RequestMeta;
use crate::db::events::ChangeActor;
use crate::db::jita::JitaRow;
use crate::db::system;
use crate::db::Db;
use crate::domain::{TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::identity::access::{self, Reason, Revocation};
use crate::identity::credentials::JitaActor;
use crate::identity::staff::StaffPrincipal;
use crate::notifications::{self, Notice};
use crate::security::tokens;

/// The longest grant, in minutes (24 hours).
pub const MAX_MINUTES: i64 = 1440;

/// Risk-monitoring thresholds (settings `ORGANIZEO_JITA_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_portals_per_hour: u32,
    pub max_refusals: u32,
    pub max_requests_per_hour: u32,
}

/// What a staff member asks for.
pub struct Request {
    pub tenant_id: String,
    pub reason: String,
    pub ticket_ref: String,
    pub duration_minutes: i64,
}

/// A created grant: the row and its token (shown once).
pub struct Granted {
    pub row: JitaRow,
    pub token: String,
}

fn validate(req: &Request) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        errors.push(FieldError::new("reason", "must say why, in 1 to 1000 characters"));
    }
    let ticket = req.ticket_ref.trim();
    if ticket.is_empty() || ticket.chars().count() > 200 {
        errors.push(FieldError::new("ticket_ref", "must name the support ticket, in 1 to 200 characters"));
    }
    if !(1..=MAX_MINUTES).contains(&req.duration_minutes) {
        errors.push(FieldError::new("duration_minutes", "must be between 1 and 1440 (24 hours)"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(errors))
    }
}

enum Outcome {
    Granted(Box<Granted>),
    Denied,
    RiskAlert,
}

/// A staff member asks to enter a portal. Unknown portal → 404; a portal that denies
/// staff access → 403 `staff_access_denied`; one portal too many within the hour → the
/// grant is recorded as suspended, `staff.risk_alert` raised, and 403 `staff_risk_alert`.
pub async fn request(
    db: &Db,
    who: &StaffPrincipal,
    req: Request,
    meta: RequestMeta,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Granted, AppError> {
    if !who.role.may_request_jita() {
        return Err(AppError::forbidden(format!("the {} role does not enter portals", who.role)));
    }
    validate(&req)?;
    let tenant = TenantId::parse(req.tenant_id.trim()).ok_or_else(|| AppError::not_found("portal"))?;
    let token = tokens::generate(tokens::JITA_PREFIX).map_err(AppError::internal)?;
    let (staff_id, staff_email) = (who.staff_id.clone(), who.email.clone());
    let outcome = db
        .write(move |tx| {
            let at = now.naive_utc();
            let recent = system::enter(tx)?.portals_entered_by(&staff_id, at - Duration::hours(1))?;
            let mut t = tx.tenant(&tenant)?;
            let portal = match t.tenant() {
                Ok(p) => p,
                Err(diesel::result::Error::NotFound) => return Err(AppError::not_found("portal")),
                Err(e) => return Err(e.into()),
            };
            let already =
                t.list_jita(1000)?.iter().any(|g| g.staff_id == staff_id && g.created_at >= at - Duration::hours(1));
            let too_many = !already && recent >= i64::from(limits.max_portals_per_hour);
            let status = match (portal.staff_access.as_str(), too_many) {
                ("denied", _) => {
                    let e = meta
                        .entry("jita.refused")
                        .actor("staff", &staff_id)
                        .details(serde_json::json!({"reason": "staff_access_denied", "staff_email": staff_email}));
                    t.audit(e, now)?;
                    return Ok(Outcome::Denied);
                }
                (_, true) => "suspended",
                ("allowed", _) => "active",
                _ => "pending_approval",
            };
            let row = JitaRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant.to_string(),
                staff_id: staff_id.clone(),
                reason: req.reason.trim().to_string(),
                ticket_ref: req.ticket_ref.trim().to_string(),
                duration_minutes: req.duration_minutes as i32,
                status: status.into(),
                token_hash: tokens::digest(&token),
                created_at: at,
                approved_at: (status == "active").then_some(at),
                approved_by: (status == "active").then(|| "staff_access:allowed".to_string()),
                expires_at: (status == "active").then(|| at + Duration::minutes(req.duration_minutes)),
                ended_at: (status == "suspended").then_some(at),
                ended_by: (status == "suspended").then(|| "risk_monitor".to_string()),
                requests: 0,
                refusals: 0,
            };
            t.insert_jita(&row)?;
            let (title, body) = match status {
                "active" => (
                    "Staff access started",
                    format!(
                        "{staff_email} entered this portal until {} for: {}",
                        row.expires_at.map(|e| e.and_utc().to_rfc3339()).unwrap_or_default(),
                        row.reason
                    ),
                ),
                "pending_approval" => (
                    "Staff access requested",
                    format!(
                        "{staff_email} asks to enter this portal for {} minutes: {}",
                        row.duration_minutes, row.reason
                    ),
                ),
                _ => ("Staff access refused", format!("{staff_email}'s request was suspended by risk monitoring")),
            };
            tell_managers(&mut t, title, &body, &row.id, status, now)?;
            let details = serde_json::json!({
                "staff_email": staff_email, "reason": row.reason, "ticket_ref": row.ticket_ref,
                "duration_minutes": row.duration_minutes, "status": row.status,
            });
            let requested = meta.entry("jita.requested").actor("staff", &staff_id).target("jita_grant", &row.id);
            t.audit(requested.clone().details(details.clone()), now)?;
            let mut alert = None;
            if too_many {
                let d = serde_json::json!({
                    "reason": "many_portals", "portals_in_hour": recent + 1, "staff_email": staff_email,
                });
                let e = meta.entry("staff.risk_alert").actor("staff", &staff_id).target("jita_grant", &row.id);
                t.audit(e.clone().details(d.clone()), now)?;
                alert = Some(e.details(d));
            }
            let mut p = tx.platform();
            let mut pd = details;
            put(&mut pd, "tenant_id", serde_json::json!(row.tenant_id));
            p.platform_audit(requested.details(pd), now)?;
            if let Some(e) = alert {
                p.platform_audit(e, now)?;
                return Ok(Outcome::RiskAlert);
            }
            Ok(Outcome::Granted(Box::new(Granted { row, token })))
        })
        .await?;
    match outcome {
        Outcome::Granted(g) => Ok(*g),
        Outcome::Denied => Err(AppError::Forbidden {
            code: "staff_access_denied",
            detail: "this portal does not allow platform staff access".into(),
        }),
        Outcome::RiskAlert => Err(AppError::Forbidden {
            code: "staff_risk_alert",
            detail: "too many portals entered within an hour: the grant is suspended and security is alerted".into(),
        }),
    }
}

/// One request under a grant: what it was and whether the route table refused it.
pub struct Use {
    pub refused: bool,
    pub method: String,
    pub path: String,
    pub meta: RequestMeta,
}

/// Records a request made under a grant (audited with the grant id) and applies risk
/// monitoring. Returns the alert's reason when this request suspended the grant.
pub async fn record_use(
    db: &Db,
    tenant: &TenantId,
    grant: &JitaActor,
    u: Use,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, AppError> {
    let (tenant, grant_id, staff_id) = (tenant.clone(), grant.grant_id.clone(), grant.staff_id.clone());
    let staff_email = grant.staff_email.clone();
    db.write(move |tx| {
        let at = now.naive_utc();
        let mut t = tx.tenant(&tenant)?;
        let Some(row) = t.jita(&grant_id)? else {
            return Err(AppError::unauthorized("invalid token"));
        };
        if !row.is_live(at) {
            return Err(AppError::unauthorized(format!("this JITA grant is {}", row.status_at(at))));
        }
        let (requests, refusals) = t.count_jita_use(&grant_id, u.refused)?;
        let action = if u.refused { "jita.refused" } else { "jita.request" };
        let details =
            serde_json::json!({"method": u.method.to_ascii_uppercase(), "route": u.path, "staff_id": staff_id});
        t.audit(u.meta.entry(action).actor("jita_grant", &grant_id).details(details), now)?;
        // Hours of the grant's life so far, at least one.
        let hours = row.approved_at.map_or(1, |a| ((at - a).num_minutes() / 60) + 1);
        let reason = if refusals >= i64::from(limits.max_refusals) {
            Some(("refusals", serde_json::json!({"refusals": refusals})))
        } else if requests > i64::from(limits.max_requests_per_hour) * hours {
            Some(("volume", serde_json::json!({"requests": requests, "hours": hours})))
        } else {
            None
        };
        let Some((reason, mut d)) = reason else { return Ok(None) };
        t.end_jita(&grant_id, "suspended", "risk_monitor", at)?;
        let monitor = ChangeActor { kind: "system", id: None };
        access::announce(&mut t, Revocation::grant(&grant_id, Reason::GrantSuspended), &monitor, now);
        tell_managers(
            &mut t,
            "Staff access suspended",
            &format!("Risk monitoring suspended {staff_email}'s access ({reason})."),
            &grant_id,
            "suspended",
            now,
        )?;
        put(&mut d, "reason", serde_json::json!(reason));
        put(&mut d, "staff_email", serde_json::json!(staff_email));
        let e = u.meta.entry("staff.risk_alert").actor("staff", &staff_id).target("jita_grant", &grant_id);
        t.audit(e.clone().details(d.clone()), now)?;
        put(&mut d, "tenant_id", serde_json::json!(tenant.to_string()));
        tx.platform().platform_audit(e.details(d), now)?;
        Ok(Some(reason))
    })
    .await
}

/// An owner or admin approves a pending grant: it runs from now for its duration.
pub async fn approve(
    db: &Db,
    tenant: TenantId,
    id: String,
    by: UserId,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<JitaRow, AppError> {
    db.write(move |tx| {
        let at = now.naive_utc();
        let mut t = tx.tenant(&tenant)?;
        let row = t.jita(&id)?.ok_or_else(|| AppError::not_found("grant"))?;
        if !t.approve_jita(&id, by.as_str(), at)? {
            return Err(AppError::conflict(format!("this grant is {}, not pending approval", row.status_at(at))));
        }
        let row = t.jita(&id)?.ok_or_else(|| AppError::not_found("grant"))?;
        tell_managers(&mut t, "Staff access approved", "A staff access request was approved.", &id, "active", now)?;
        let e = meta.entry("jita.approved").actor("user", &by).target("jita_grant", &id);
        let d = serde_json::json!({"staff_id": row.staff_id, "expires_at": row.expires_at.map(|x| x.and_utc())});
        t.audit(e.clone().details(d.clone()), now)?;
        let mut pd = d;
        put(&mut pd, "tenant_id", serde_json::json!(tenant.to_string()));
        tx.platform().platform_audit(e.details(pd), now)?;
        Ok(row)
    })
    .await
}

/// An owner or admin revokes a grant (pending or active): its token stops at once.
pub async fn revoke(
    db: &Db,
    tenant: TenantId,
    id: String,
    by: UserId,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db.write(move |tx| {
        let at = now.naive_utc();
        let mut t = tx.tenant(&tenant)?;
        let row = t.jita(&id)?.ok_or_else(|| AppError::not_found("grant"))?;
        if !t.end_jita(&id, "revoked", by.as_str(), at)? {
            return Err(AppError::conflict(format!("this grant has already ended ({})", row.status_at(at))));
        }
        // Its websockets close when this commits, on every node.
        let owner = ChangeActor { kind: "user", id: Some(by.to_string()) };
        access::announce(&mut t, Revocation::grant(&id, Reason::GrantRevoked), &owner, now);
        tell_managers(
            &mut t,
            "Staff access revoked",
            "A staff member's access to this portal was revoked.",
            &id,
            "revoked",
            now,
        )?;
        let e = meta.entry("jita.revoked").actor("user", &by).target("jita_grant", &id);
        let d = serde_json::json!({"staff_id": row.staff_id});
        t.audit(e.clone().details(d.clone()), now)?;
        let mut pd = d;
        put(&mut pd, "tenant_id", serde_json::json!(tenant.to_string()));
        tx.platform().platform_audit(e.details(pd), now)?;
        Ok(())
    })
    .await
}

/// Adds `key` to a JSON object (details are always objects here).
fn put(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = v.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// Ends a grant whose staff member was disabled (inside that transaction).
pub fn end_for_disabled(
    tx: &mut crate::db::Tx<'_>,
    tenant: &TenantId,
    grant: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut t = tx.tenant(tenant)?;
    if t.end_jita(grant, "revoked", "staff_disabled", now.naive_utc())? {
        let system = ChangeActor { kind: "system", id: None };
        access::announce(&mut t, Revocation::grant(grant, Reason::GrantRevoked), &system, now);
        t.audit(
            crate::db::audit::NewEntry::new("jita.revoked")
                .target("jita_grant", grant)
                .details(serde_json::json!({"reason": "staff_disabled"})),
            now,
        )?;
        tell_managers(
            &mut t,
            "Staff access ended",
            "A staff member's access to this portal ended: their account was disabled.",
            grant,
            "revoked",
            now,
        )?;
    }
    Ok(())
}

/// Tells the portal's owners and admins about a grant (inbox + the notifications topic).
fn tell_managers(
    t: &mut crate::db::TenantTx<'_>,
    title: &str,
    body: &str,
    grant: &str,
    status: &str,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let people = notifications::managers(t)?;
    let notice = Notice {
        kind: "staff_access",
        title: title.to_string(),
        body: body.to_string(),
        data: serde_json::json!({"grant_id": grant, "status": status}),
    };
    notifications::deliver(t, &people, &notice, now)
}
