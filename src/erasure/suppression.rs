//! Suppression by hash: an erased person's address is kept only as
//! `HMAC-SHA-256(key, tenant id ‖ "\n" ‖ lower-cased address)`, so it can be recognised (and
//! never mailed again) without being stored. The key is a random 32-byte platform secret
//! (`platform_secrets.suppression`), created on first use and sealed with the keyring, so
//! key rotation re-seals it and hashes stay comparable across rotations.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{Db, Platform};
use crate::domain::TenantId;
use crate::error::AppError;
use crate::security::crypto::{platform_secret_context, Keyring};

pub const SECRET_NAME: &str = "suppression";

/// The HMAC key, read (or created once) from the platform secrets.
pub fn key(p: &mut Platform<'_>, keyring: &Keyring, now: DateTime<Utc>) -> Result<Vec<u8>, AppError> {
    let context = platform_secret_context(SECRET_NAME);
    if p.platform_secret(SECRET_NAME)?.is_none() {
        let mut fresh = [0u8; 32];
        getrandom::getrandom(&mut fresh).map_err(|e| AppError::internal(anyhow::anyhow!("no randomness: {e}")))?;
        let sealed = keyring.encrypt(&fresh, context.as_bytes())?;
        p.add_platform_secret(SECRET_NAME, &sealed, now.naive_utc())?;
    }
    let stored = p
        .platform_secret(SECRET_NAME)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the suppression key was not stored")))?;
    keyring.decrypt(&stored, context.as_bytes()).map_err(AppError::internal)
}

/// The keyed hash of `email` in portal `tenant` (hex).
pub fn hash(key: &[u8], tenant: &TenantId, email: &str) -> Result<String, AppError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|e| AppError::internal(anyhow::anyhow!("suppression key: {e}")))?;
    mac.update(tenant.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(email.trim().to_lowercase().as_bytes());
    Ok(format!("{:x}", mac.finalize().into_bytes()))
}

/// Whether `email` was erased in portal `tenant` (so it must not be mailed). Campaign
/// sends ask this for every recipient.
pub async fn is_suppressed(db: &Db, keyring: &Keyring, tenant: &TenantId, email: &str) -> Result<bool, AppError> {
    // No key yet means nothing was ever erased: nothing is suppressed, and nothing is written.
    let Some(stored) = db.read(|p| Ok(p.platform_secret(SECRET_NAME)?)).await? else {
        return Ok(false);
    };
    let key = keyring.decrypt(&stored, platform_secret_context(SECRET_NAME).as_bytes()).map_err(AppError::internal)?;
    let (tenant_id, email) = (tenant.clone(), email.to_string());
    let digest = hash(&key, &tenant_id, &email)?;
    db.tenant(tenant_id).read(move |t| Ok(t.is_suppressed(&digest)?)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_per_portal_case_blind_and_keyed() {
        let (a, b) = (TenantId::from_db("a".into()), TenantId::from_db("b".into()));
        let h = hash(&[1; 32], &a, "Ann@Example.com").unwrap();
        assert_eq!(h, hash(&[1; 32], &a, " ann@example.com").unwrap());
        assert_ne!(h, hash(&[1; 32], &b, "ann@example.com").unwrap(), "per portal");
        assert_ne!(h, hash(&[2; 32], &a, "ann@example.com").unwrap(), "keyed");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("ann"));
    }
}
