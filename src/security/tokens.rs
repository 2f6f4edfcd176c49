//! Opaque bearer tokens: 256 random bits, base64url, with a prefix naming their kind so a
//! leaked token is recognisable (`ozs_` sign-in session, `ozk_` private app key, `ozm_`
//! pending second factor). Only the SHA-256 of a token is stored; it is shown once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const SESSION_PREFIX: &str = "ozs_";
pub const API_KEY_PREFIX: &str = "ozk_";
pub const MFA_PREFIX: &str = "ozm_";
/// A platform staff session; portal routes refuse it.
pub const STAFF_PREFIX: &str = "ozst_";
/// A staff sign-in step (TOTP enrolment or code).
pub const STAFF_CHALLENGE_PREFIX: &str = "ozsc_";
/// A Portal JITA grant: one portal, for a limited time.
pub const JITA_PREFIX: &str = "ozj_";

/// A new random token with the given prefix.
pub fn generate(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let a = generate(SESSION_PREFIX).unwrap();
        let b = generate(SESSION_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ozs_") && a.len() == 4 + 43, "{a}");
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
