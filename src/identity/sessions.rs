//! Sign-in sessions: an opaque token (`ozs_` + 256 random bits) whose SHA-256 is stored.

use chrono::{DateTime, Utc};

use crate::db::sessions::ClientInfo;
use crate::db::TenantDb;
use crate::domain::UserId;
use crate::error::AppError;
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
