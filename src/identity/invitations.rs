//! Joining a portal takes the person's consent. An owner or admin invites an email with a
//! role; the person accepts or declines from `/api/v1/me/invitations` (signed in to any
//! portal), or accepts while signing in (`invitation_id`). Adding someone answers the
//! same whether the email has an account or not, so the endpoint reveals nothing about
//! who uses Organizeo. An invitation is open for 7 days; inviting again refreshes it.
//!
//! ```text
//! pending ──accept──► accepted (membership created)
//!    ├─────decline──► declined
//!    ├─────revoke───► revoked (by the portal)
//!    └─────7 days───► expired (still `pending`, but no longer open)
//! ```

use chrono::{DateTime, Duration, Utc};

use crate::blocking;
use crate::db::audit::NewEntry;
use crate::db::invitations::InvitationRow;
use crate::db::tenants::TenantRow;
use crate::db::{system, Db, TenantTx};
use crate::domain::{EmailAddress, Password, Role, TenantId, UserId};
use crate::error::AppError;
use crate::security::password_hash;

/// How long an invitation stays open.
pub fn lifetime() -> Duration {
    Duration::days(7)
}

/// Who is invited, and how.
pub struct Invite {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    /// An initial password: creates the account when the email has none (ignored, and
    /// never revealed, when it has one).
    pub password: Option<Password>,
}

fn not_open() -> AppError {
    AppError::not_found("invitation")
}

/// Invites a person to `tenant` (one answer whether or not the email has an account).
pub async fn invite(
    db: &Db,
    tenant: TenantId,
    inviter: UserId,
    invite: Invite,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<InvitationRow, AppError> {
    // Hash whenever a password was given, so an existing account costs the same time.
    let hash = match invite.password {
        Some(password) => Some(blocking::cpu(move || password_hash::hash(&password)).await??),
        None => None,
    };
    let Invite { email, name, role, .. } = invite;
    db.write(move |tx| {
        let existing = tx.platform().user_by_email(&email)?;
        if let Some(user) = &existing {
            if tx.tenant(&tenant)?.membership(&UserId::from_db(user.id.clone()))?.is_some() {
                return Err(AppError::Conflict {
                    code: "already_member",
                    detail: "this person is already in the portal".into(),
                });
            }
        }
        if let (None, Some(hash)) = (&existing, hash) {
            tx.platform().create_user(&email, &name, hash, now.naive_utc())?;
        }
        let mut t = tx.tenant(&tenant)?;
        let row =
            t.invite(email.as_str(), role, Some(inviter.as_str()), now.naive_utc(), (now + lifetime()).naive_utc())?;
        t.audit(
            audit.target("invitation", &row.id).details(serde_json::json!({"email": row.email, "role": role})),
            now,
        )?;
        Ok(row)
    })
    .await
}

/// The open invitations addressed to `email`, with their portals.
pub async fn mine(db: &Db, email: String, now: DateTime<Utc>) -> Result<Vec<(InvitationRow, TenantRow)>, AppError> {
    system::read(db, move |s| Ok(s.invitations_for(&email, now.naive_utc())?)).await
}

/// The open invitation `id` addressed to `email`, if any.
pub(crate) fn open_for(
    s: &mut system::System<'_>,
    id: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<InvitationRow, AppError> {
    s.invitations_for(email, now.naive_utc())?.into_iter().map(|(i, _)| i).find(|i| i.id == id).ok_or_else(not_open)
}

/// Accepts inside a transaction already scoped to the invitation's portal: the answer is a
/// compare-and-set (one accept wins), and the person becomes a member with its role.
pub(crate) fn accept_in(
    t: &mut TenantTx<'_>,
    invitation: &InvitationRow,
    user: &UserId,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<Role, AppError> {
    if !t.answer_invitation(&invitation.id, "accepted", now.naive_utc())? {
        return Err(not_open());
    }
    let role = invitation.role();
    if t.membership(user)?.is_none() {
        t.add_member(user, role, now.naive_utc())?;
    }
    t.audit(
        audit.actor("user", user).target("invitation", &invitation.id).details(serde_json::json!({"role": role})),
        now,
    )?;
    Ok(role)
}

/// The signed-in person accepts invitation `id` (addressed to their email): they join its
/// portal with its role.
pub async fn accept(
    db: &Db,
    user: UserId,
    email: String,
    id: String,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(TenantId, Role), AppError> {
    db.write(move |tx| {
        let invitation = open_for(&mut system::enter(tx)?, &id, &email, now)?;
        let tenant = TenantId::from_db(invitation.tenant_id.clone());
        let role = accept_in(&mut tx.tenant(&tenant)?, &invitation, &user, audit, now)?;
        Ok((tenant, role))
    })
    .await
}

/// The signed-in person declines invitation `id` (addressed to their email).
pub async fn decline(
    db: &Db,
    user: UserId,
    email: String,
    id: String,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db.write(move |tx| {
        let invitation = open_for(&mut system::enter(tx)?, &id, &email, now)?;
        let mut t = tx.tenant(&TenantId::from_db(invitation.tenant_id.clone()))?;
        if !t.answer_invitation(&invitation.id, "declined", now.naive_utc())? {
            return Err(not_open());
        }
        t.audit(audit.actor("user", &user).target("invitation", &invitation.id), now)?;
        Ok(())
    })
    .await
}

/// The portal takes back a pending invitation.
pub async fn revoke(
    db: &Db,
    tenant: TenantId,
    id: String,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db.tenant(tenant)
        .write(move |t| {
            let invitation = t.invitation(&id)?.ok_or_else(not_open)?;
            if !invitation.is_open(now.naive_utc()) || !t.answer_invitation(&id, "revoked", now.naive_utc())? {
                return Err(not_open());
            }
            t.audit(audit.target("invitation", &id).details(serde_json::json!({"email": invitation.email})), now)?;
            Ok(())
        })
        .await
}
