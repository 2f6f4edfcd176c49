//! argon2id password hashes with OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1), in PHC string format so parameters can be raised later
//! and old hashes still verify.
//!
//! Hashing is CPU-bound (~20-50 ms): callers run it off the async executor threads.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::password::normalize;
use crate::domain::Password;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &Password) -> anyhow::Result<String> {
    hash_normalized(password.expose())
}

/// Hashes a password already normalised (a legacy hash's upgrade: the old password is
/// kept as it was, not re-checked against today's policy).
pub fn hash_normalized(normalized: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(normalized.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

fn verify_exact(candidate: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(candidate.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// How a candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// It matched as typed but not in its normalised (NFKC) form: a hash made before
    /// passwords were normalised. Store a new hash of the normalised form.
    YesLegacy,
}

/// Checks `candidate` against `phc` in its normalised form (NFKC), and as typed when that
/// differs, for hashes made before normalisation. A malformed stored hash never matches.
pub fn check(candidate: &str, phc: &str) -> Verified {
    let normalized = normalize(candidate);
    if verify_exact(&normalized, phc) {
        return Verified::Yes;
    }
    if normalized != candidate && verify_exact(candidate, phc) {
        return Verified::YesLegacy;
    }
    Verified::No
}

/// True when `candidate` matches `phc` (see [`check`]).
pub fn verify(candidate: &str, phc: &str) -> bool {
    check(candidate, phc) != Verified::No
}

/// A hash of a random secret, verified against when the account does not exist, so an
/// unknown email costs the same time as a wrong password.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(b"organizeo-timing-equaliser", &salt).map(|h| h.to_string()).unwrap_or_default()
});

pub fn verify_dummy(candidate: &str) {
    let _ = verify_exact(&normalize(candidate), &DUMMY);
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

    #[test]
    fn composed_and_decomposed_input_verify_alike_and_legacy_hashes_still_match() {
        let composed = "Cr\u{e8}me-Br\u{fb}l\u{e9}e-Vlinder7";
        let decomposed = "Cre\u{300}me-Bru\u{302}le\u{301}e-Vlinder7";
        let h = hash(&Password::parse(decomposed).unwrap()).unwrap();
        assert_eq!(check(composed, &h), Verified::Yes);
        assert_eq!(check(decomposed, &h), Verified::Yes);
        // A hash made from the decomposed bytes before normalisation existed.
        let salt = SaltString::generate(&mut OsRng);
        let legacy = hasher().hash_password(decomposed.as_bytes(), &salt).unwrap().to_string();
        assert_eq!(check(decomposed, &legacy), Verified::YesLegacy);
        assert_eq!(check("Wrong-Vlinder7!", &legacy), Verified::No);
    }
}
