//! Resolving a presented credential: a sign-in token (`ozs_…`) is a person acting with their
//! role in one portal; a private app key (`ozk_…`) is an integration acting within its
//! scopes. Both are stored as SHA-256 digests and name their own portal, which is why the
//! lookup is one of `db::system`'s few cross-portal reads.

use chrono::{DateTime, Utc};

use crate::db::system::credentials::{Found, Lookup};
use crate::db::system::{self, System};
use crate::db::{Db, TenantDb};
use crate::domain::{ApiKeyId, Role, SessionId, TenantId, UserId};
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct UserActor {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
    pub mfa_enabled: bool,
    pub require_mfa: bool,
}

#[derive(Debug, Clone)]
pub struct KeyActor {
    pub key_id: String,
    pub scopes: Vec<String>,
}

/// A platform staff member inside this portal through a Portal JITA grant.
#[derive(Debug, Clone)]
pub struct JitaActor {
    pub grant_id: String,
    pub staff_id: String,
    pub staff_email: String,
    /// When the grant ends (its websockets close then).
    pub expires_at: DateTime<Utc>,
}

/// What kind of stored credential a digest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    Key,
    Jita,
}

#[derive(Debug, Clone)]
pub enum Actor {
    User(UserActor),
    Key(KeyActor),
    Jita(JitaActor),
}

/// A credential whose last use is more than a minute old.
pub enum Used {
    Session(SessionId),
    Key(ApiKeyId),
}

/// What a credential resolves to.
pub struct Resolved {
    pub tenant: TenantId,
    pub actor: Actor,
    /// Set when the last use (kept to the minute) should be recorded with [`record_use`].
    pub used: Option<Used>,
}

/// A redeemed websocket ticket: who it was issued to, and that credential's digest (the
/// session checks it again later).
pub struct Redeemed {
    pub tenant: TenantId,
    pub actor: Actor,
    pub digest: String,
    pub kind: Kind,
}

/// Resolves a stored credential digest (a sign-in token's, a key's or a JITA grant's).
/// Reads only.
/// Sessions and keys are one statement outside any transaction (one round trip before the
/// request's own work); JITA grants, rarer, are a system-scope read.
pub async fn resolve(db: &Db, digest: String, kind: Kind, now: DateTime<Utc>) -> Result<Resolved, AppError> {
    let what = match kind {
        Kind::Jita => return system::read(db, move |s| jita_with(s, &digest, now)).await,
        Kind::Session => Lookup::Session,
        Kind::Key => Lookup::Key,
    };
    let found = system::credentials::find(db, digest, what).await?;
    judge(found.ok_or_else(|| AppError::unauthorized("invalid token"))?, now)
}

fn resolve_with(s: &mut System<'_>, digest: &str, kind: Kind, now: DateTime<Utc>) -> Result<Resolved, AppError> {
    let found = match kind {
        Kind::Jita => return jita_with(s, digest, now),
        Kind::Key => s.key_by_hash(digest)?.map(Found::Key),
        Kind::Session => s.session_by_token(digest)?.map(Found::Session),
    };
    judge(found.ok_or_else(|| AppError::unauthorized("invalid token"))?, now)
}

/// What a stored session or key grants now: revoked or expired sessions are refused.
fn judge(found: Found, now: DateTime<Utc>) -> Result<Resolved, AppError> {
    let found = match found {
        Found::Key(key) => {
            let used = stale(key.last_used_at, now).then(|| Used::Key(ApiKeyId::from_db(key.id.clone())));
            let scopes = key.scope_list();
            return Ok(Resolved {
                tenant: TenantId::from_db(key.tenant_id),
                actor: Actor::Key(KeyActor { key_id: key.id, scopes }),
                used,
            });
        }
        Found::Session(found) => found,
    };
    if found.session.revoked_at.is_some() {
        return Err(AppError::unauthorized("this token has been revoked; sign in again"));
    }
    let expires_at = found.session.expires_at.and_utc();
    if expires_at <= now {
        return Err(AppError::unauthorized("this token has expired; sign in again"));
    }
    let session_id = SessionId::from_db(found.session.id.clone());
    let used = stale(Some(found.session.last_seen_at), now).then(|| Used::Session(session_id.clone()));
    Ok(Resolved {
        tenant: TenantId::from_db(found.session.tenant_id.clone()),
        actor: Actor::User(UserActor {
            user_id: UserId::from_db(found.session.user_id),
            role: found.membership.role(),
            session_id,
            expires_at,
            mfa_enabled: found.mfa_enabled,
            require_mfa: found.require_mfa,
        }),
        used,
    })
}

/// Resolves a JITA grant token (`ozj_…`): live (approved, not ended, not past its end by
/// the clock) and its staff member still active, or 401.
pub async fn resolve_jita(db: &Db, digest: String, now: DateTime<Utc>) -> Result<Resolved, AppError> {
    resolve(db, digest, Kind::Jita, now).await
}

fn jita_with(s: &mut System<'_>, digest: &str, now: DateTime<Utc>) -> Result<Resolved, AppError> {
    let (grant, staff_email) = s.jita_by_token(digest)?.ok_or_else(|| AppError::unauthorized("invalid token"))?;
    let at = now.naive_utc();
    match grant.status_at(at) {
        "active" => {}
        "pending_approval" => {
            return Err(AppError::Forbidden {
                code: "jita_pending_approval",
                detail: "this grant waits for the portal's owner or admin to approve it".into(),
            })
        }
        other => return Err(AppError::unauthorized(format!("this JITA grant is {other}"))),
    }
    let expires_at = grant.expires_at.unwrap_or(at).and_utc();
    Ok(Resolved {
        tenant: TenantId::from_db(grant.tenant_id),
        actor: Actor::Jita(JitaActor { grant_id: grant.id, staff_id: grant.staff_id, staff_email, expires_at }),
        used: None,
    })
}

fn touch(t: &mut TenantDb<'_>, used: &Used, now: DateTime<Utc>) -> diesel::QueryResult<()> {
    match used {
        Used::Session(id) => t.touch_session(id, now.naive_utc()),
        Used::Key(id) => t.touch_key(id, now.naive_utc()),
    }
}

/// Records that a credential was used now (sessions: `last_seen_at`, keys: `last_used_at`).
/// A write, so on SQLite it takes its turn with the others (an ungated UPDATE starves
/// while batch writes hold the lock).
pub async fn record_use(db: &Db, tenant: TenantId, used: Used, now: DateTime<Utc>) -> Result<(), AppError> {
    db.tenant(tenant).write(move |t| Ok(touch(t, &used, now)?)).await
}

/// Redeems a single-use websocket ticket and resolves the credential it was issued to, in
/// one transaction: revocations since the ticket was issued apply, and a ticket whose
/// credential no longer resolves is not spent. Unknown, used or expired → 401.
pub async fn redeem_ticket(db: &Db, ticket_digest: String, now: DateTime<Utc>) -> Result<Redeemed, AppError> {
    db.write(move |tx| {
        let mut s = system::enter(tx)?;
        let (credential, kind) = s
            .redeem_ticket(&ticket_digest, now.naive_utc())?
            .ok_or_else(|| AppError::unauthorized("unknown, used or expired ticket"))?;
        let resolved = resolve_with(&mut s, &credential, kind, now)?;
        if let Some(used) = &resolved.used {
            let mut t = tx.tenant(&resolved.tenant)?;
            touch(&mut t, used, now)?;
        }
        Ok(Redeemed { tenant: resolved.tenant, actor: resolved.actor, digest: credential, kind })
    })
    .await
}

/// Redeems an end user's inbox websocket ticket: `(portal, end-user id)`.
pub async fn redeem_end_user_ticket(
    db: &Db,
    ticket_digest: String,
    now: DateTime<Utc>,
) -> Result<(TenantId, String), AppError> {
    db.write(move |tx| {
        let (tenant, user) = system::enter(tx)?
            .redeem_end_user_ticket(&ticket_digest, now.naive_utc())?
            .ok_or_else(|| AppError::unauthorized("unknown, used or expired ticket"))?;
        Ok((TenantId::from_db(tenant), user))
    })
    .await
}

fn stale(last: Option<chrono::NaiveDateTime>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|t| t < now.naive_utc() - chrono::Duration::seconds(60))
}
