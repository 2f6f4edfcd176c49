//! Sign-in sessions: an opaque token (`ozs_` + 256 random bits) whose SHA-256 is stored.

use chrono::{DateTime, Utc};

use crate::db::audit::NewEntry;
use crate::db::events::ChangeActor;
use crate::db::sessions::ClientInfo;
use crate::db::{Db, TenantDb};
use crate::domain::{TenantId, UserId};
use crate::error::AppError;
use crate::identity::access::{self, Reason, Revocation};
use crate::identity::credentials::UserActor;
use crate::security::tokens;

/// Issues a session token for `user` in the handle's portal, valid for `ttl` from `now`.
pub fn open(
    t: &mut TenantDb<'_>,
    user: &UserId,
    client: &ClientInfo,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<(String, DateTime<Utc>), AppError> {
    let token = tokens::generate(tokens::SESSION_PREFIX)?;
    let expires_at = now + chrono::Duration::from_std(ttl).map_err(AppError::internal)?;
    t.create_session(user, tokens::digest(&token), now.naive_utc(), expires_at.naive_utc(), client)?;
    Ok((token, expires_at))
}

/// Signs a session out: it stops working at once, its live connections are told
/// (`access.revoked`), and the audit log records `entry`.
pub async fn sign_out(
    db: &Db,
    tenant: TenantId,
    user: &UserActor,
    actor: ChangeActor,
    entry: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (user_id, session_id) = (user.user_id.clone(), user.session_id.clone());
    db.tenant(tenant)
        .write(move |t| {
            t.revoke_session(&user_id, &session_id, now.naive_utc())?;
            access::announce(
                t,
                Revocation::sessions(std::slice::from_ref(&session_id), Reason::SignedOut),
                &actor,
                now,
            );
            t.audit(entry, now)?;
            Ok(())
        })
        .await
}
