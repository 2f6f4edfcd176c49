//! argon2id password hashes with OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1), in PHC string format so parameters can be raised later
//! and old hashes still verify.
//!
//! Hashing is CPU-bound (~20-50 ms): callers run it off the async executor threads.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

/// True when `candidate` matches `phc`. A malformed stored hash never matches.
pub fn verify(candidate: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(candidate.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random secret, verified against when the account does not exist, so an
/// unknown email costs the same time as a wrong password.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(b"organizeo-timing-equaliser", &salt).map(|h| h.to_string()).unwrap_or_default()
});

pub fn verify_dummy(candidate: &str) {
    let _ = verify(candidate, &DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let p = Password::parse("Tr1cky!Horse").unwrap();
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Tr1cky!Horse", &h));
        assert!(!verify("tr1cky!Horse", &h));
        assert!(!verify("Tr1cky!Horse", "not a hash"));
    }
}
