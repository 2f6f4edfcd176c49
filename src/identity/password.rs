//! Changing one's password: the current one proves it is the person, the new one meets the
//! policy, and every other session of the person, in every portal, ends.

use chrono::{DateTime, Utc};

use super::access::{self, Reason, Revocation};
use super::credentials::UserActor;
use super::throttle::{self, Counter};
use crate::blocking;
use crate::db::audit::NewEntry;
use crate::db::events::ChangeActor;
use crate::db::{system, Db};
use crate::domain::{Password, TenantId};
use crate::error::AppError;
use crate::security::password_hash;

/// The audit entries of a password change: the change, and a wrong current password.
pub struct ChangeAudit {
    pub changed: NewEntry,
    pub failed: NewEntry,
}

/// Changes the signed-in person's password, keeping only their current session; `audit` is
/// recorded in `tenant` with the number of other sessions ended, `failure` for a wrong
/// current password.
pub async fn change(
    db: &Db,
    tenant: TenantId,
    me: UserActor,
    current: String,
    new: String,
    audit: ChangeAudit,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ChangeAudit { changed: audit, failed: failure } = audit;
    let (user, keep) = (me.user_id, me.session_id);
    let uid = user.clone();
    let row = db.read(move |p| p.user(&uid)?.ok_or_else(|| AppError::unauthorized("invalid token"))).await?;
    // The new password first: its rules cost nothing to check and take no attempt.
    let mut errors = Vec::new();
    let new: Password = super::parse_password("new_password", &new, &[&row.email, &row.name], &mut errors)
        .ok_or_else(|| AppError::invalid(errors))?;
    let stored = row.password_hash;
    // The current password is a secret checked like a sign-in: throttled per person, the
    // attempt taken before the check, and every failure audited.
    let counter = Counter::password_change(user.as_str());
    throttle::reserve(db, vec![counter.clone()], now).await?;
    if !blocking::cpu(move || password_hash::verify(&current, &stored)).await? {
        let entry = failure.details(serde_json::json!({"reason": "wrong_current_password"}));
        db.tenant(tenant).write(move |t| Ok(t.audit(entry, now)?)).await?;
        return Err(AppError::validation("current_password", "is not your current password"));
    }
    throttle::succeeded(db, Vec::new(), vec![counter], now).await?;
    let hash = blocking::cpu(move || password_hash::hash(&new)).await??;
    db.write(move |tx| {
        tx.platform().set_password(&user, &hash, now.naive_utc())?;
        let revoked = system::enter(tx)?.revoke_sessions_of_user(&user, &keep, now.naive_utc())?;
        let count: usize = revoked.iter().map(|(_, ids)| ids.len()).sum();
        let actor = ChangeActor { kind: "user", id: Some(user.to_string()) };
        for (portal, ids) in revoked {
            access::announce(
                &mut tx.tenant(&portal)?,
                Revocation::sessions(&ids, Reason::PasswordChanged),
                &actor,
                now,
            );
        }
        let entry = audit.details(serde_json::json!({"other_sessions_revoked": count}));
        tx.tenant(&tenant)?.audit(entry, now)?;
        Ok(())
    })
    .await
}
