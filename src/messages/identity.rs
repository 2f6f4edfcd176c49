//! A portal's in-app identity: its public `app_id`, the origins allowed to call the inbox
//! API from a browser, and the identity secret (32 random bytes, shown once, sealed at
//! rest with the keyring under the context `inapp-secret:{app_id}`).
//!
//! The portal's own server vouches for an end user with
//! `user_hash = hex(HMAC-SHA256(identity_secret, user_id))`; [`verify_hash`] checks it in
//! constant time. The same `user_id` in two portals is two people: an end user is always
//! the pair (portal, user id).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::db::inapp::AppRow;
use crate::db::Db;
use crate::domain::TenantId;
use crate::error::{AppError, FieldError};
use crate::security::crypto::{inapp_secret_context, Keyring, Sealed};

/// Origins a portal may list.
pub const ORIGINS_MAX: usize = 50;

/// An end user whose `user_hash` checked out.
#[derive(Debug, Clone)]
pub struct EndUser {
    pub tenant: TenantId,
    pub app_id: String,
    pub user_id: String,
    pub allowed_origins: Vec<String>,
}

/// `hex(HMAC-SHA256(secret, user_id))`.
pub fn user_hash(secret: &[u8], user_id: &str) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(user_id.as_bytes());
    hex_lower(&mac.finalize().into_bytes())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` (hex, either case) is the HMAC of `user_id` under `secret`,
/// compared in constant time.
pub fn verify_hash(secret: &[u8], user_id: &str, presented: &str) -> bool {
    let expected = user_hash(secret, user_id);
    let presented = presented.trim().to_ascii_lowercase();
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Whether `user_id` is acceptable: 1-255 characters, no control characters.
pub fn valid_user_id(user_id: &str) -> bool {
    !user_id.is_empty() && user_id.chars().count() <= super::USER_ID_MAX && !user_id.chars().any(char::is_control)
}

/// Checks and normalises a list of origins (`scheme://host[:port]`, http or https).
pub fn parse_origins(raw: &[String]) -> Result<Vec<String>, AppError> {
    let mut errors = Vec::new();
    if raw.len() > ORIGINS_MAX {
        errors.push(FieldError::new("allowed_origins", format!("at most {ORIGINS_MAX} origins")));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        match url::Url::parse(o.trim()) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty() =>
            {
                let origin = u.origin().ascii_serialization();
                if !out.contains(&origin) {
                    out.push(origin);
                }
            }
            _ => errors.push(FieldError::new(
                format!("allowed_origins[{i}]"),
                "must be an origin like https://app.example.com (scheme, host and optional port only)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::invalid(errors))
    }
}

/// The portal's app row, created (with a fresh app id and no secret yet) on first use.
pub async fn settings(db: &Db, tenant: &TenantId, now: DateTime<Utc>) -> Result<AppRow, AppError> {
    let tid = tenant.as_str().to_string();
    db.read(move |p| {
        if let Some(row) = p.inapp_app_of_tenant(&tid)? {
            return Ok(row);
        }
        let row = AppRow {
            app_id: format!("app_{}", uuid::Uuid::new_v4().simple()),
            tenant_id: tid,
            allowed_origins: "[]".into(),
            secret: None,
            key_id: None,
            secret_last4: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        };
        Ok(p.ensure_inapp_app(&row)?)
    })
    .await
}

/// A fresh identity secret: 32 random bytes as 64 hex characters (the HMAC key is the
/// hex text itself, so every language computes the hash from the string it was given).
pub fn fresh_secret() -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).map_err(|e| AppError::internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(format!("ozis_{}", hex_lower(&raw)))
}

/// Seals `secret` for `app_id`.
pub fn seal(keyring: &Keyring, app_id: &str, secret: &str) -> Result<Sealed, AppError> {
    Ok(keyring.encrypt(secret.as_bytes(), inapp_secret_context(app_id).as_bytes())?)
}

pub fn origins_of(row: &AppRow) -> Vec<String> {
    serde_json::from_str(&row.allowed_origins).unwrap_or_default()
}

/// Resolves the end user of a request: the app must exist and have a secret, the user id
/// must be well formed and the hash must be its HMAC. Every failure is the same 401, so
/// nothing tells an unknown app from a wrong hash.
pub async fn resolve(
    db: &Db,
    keyring: &Keyring,
    app_id: Option<&str>,
    user_id: Option<&str>,
    hash: Option<&str>,
) -> Result<EndUser, AppError> {
    let refused =
        || AppError::unauthorized("missing or invalid X-Organizeo-App, X-Organizeo-User or X-Organizeo-User-Hash");
    let (Some(app_id), Some(user_id), Some(hash)) = (app_id, user_id, hash) else { return Err(refused()) };
    if !valid_user_id(user_id) || app_id.len() > 64 || hash.len() > 128 {
        return Err(refused());
    }
    let id = app_id.to_string();
    let Some(row) = db.read(move |p| Ok(p.inapp_app(&id)?)).await? else { return Err(refused()) };
    let (Some(blob), Some(key_id)) = (row.secret.clone(), row.key_id.clone()) else { return Err(refused()) };
    let secret = keyring
        .decrypt(&Sealed { key_id, blob }, inapp_secret_context(&row.app_id).as_bytes())
        .map_err(AppError::internal)?;
    if !verify_hash(&secret, user_id, hash) {
        return Err(refused());
    }
    Ok(EndUser {
        tenant: TenantId::from_db(row.tenant_id.clone()),
        allowed_origins: origins_of(&row),
        app_id: row.app_id,
        user_id: user_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_the_rfc_4231_vector_and_compares_in_either_case() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = user_hash(b"Jefe", "what do ya want for nothing?");
        assert_eq!(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_hash(b"Jefe", "what do ya want for nothing?", &h.to_uppercase()));
        assert!(!verify_hash(b"Jefe", "what do ya want for nothing!", &h));
        assert!(!verify_hash(b"Jefe", "what do ya want for nothing?", &h[..63]));
        assert!(!verify_hash(b"Jefe", "what do ya want for nothing?", ""));
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        let ok = parse_origins(&["https://App.Example.com".into(), "http://localhost:3000".into()]).unwrap();
        assert_eq!(ok, vec!["https://app.example.com".to_string(), "http://localhost:3000".to_string()]);
        assert!(parse_origins(&["javascript:alert(1)".into()]).is_err());
        assert!(parse_origins(&["https://a.example/path".into()]).is_err());
    }
}
