//! TOTP (RFC 6238) with the parameters every authenticator app accepts: SHA-1, 6 digits,
//! 30-second steps, one step of skew either way, secrets of 160 bits.
//!
//! No I/O and no clock: callers pass the time. [`verify`] returns the time step that
//! matched so the caller can store it; a step at or before the last one used is refused
//! (replay guard), even inside the skew window.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
pub const SKEW_STEPS: u64 = 1;
pub const SECRET_BYTES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpError {
    /// Not the code of any step in the window.
    Invalid,
    /// The code of a step that was already used.
    Replayed,
}

/// A fresh 160-bit secret.
pub fn new_secret() -> anyhow::Result<Vec<u8>> {
    let mut secret = vec![0u8; SECRET_BYTES];
    getrandom::getrandom(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(secret)
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<TOTP> {
    // totp-rs refuses ':' in issuer and account; they only label the entry in the app.
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW_STEPS as u8,
        STEP_SECONDS,
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    )
    .map_err(|e| anyhow::anyhow!("invalid TOTP parameters: {e}"))
}

/// The code for a moment (used by tests and by nothing else in production).
pub fn code_at(secret: &[u8], unix_seconds: u64) -> anyhow::Result<String> {
    Ok(totp(secret, "x", "x")?.generate(unix_seconds))
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=…` plus the base32 secret for manual entry.
pub fn provisioning(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<(String, String)> {
    let t = totp(secret, issuer, account)?;
    Ok((t.get_secret_base32(), t.get_url()))
}

/// Checks `code` at `unix_seconds` against the steps now-1, now, now+1 that are newer than
/// `last_step`. Returns the matched step.
pub fn verify(secret: &[u8], code: &str, unix_seconds: u64, last_step: Option<u64>) -> Result<u64, TotpError> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Invalid);
    }
    let Ok(t) = totp(secret, "x", "x") else {
        return Err(TotpError::Invalid);
    };
    let now_step = unix_seconds / STEP_SECONDS;
    let mut replayed = false;
    for step in now_step.saturating_sub(SKEW_STEPS)..=now_step + SKEW_STEPS {
        let expected = t.generate(step * STEP_SECONDS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            if last_step.is_some_and(|last| step <= last) {
                replayed = true;
                continue;
            }
            return Ok(step);
        }
    }
    Err(if replayed { TotpError::Replayed } else { TotpError::Invalid })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    const VECTORS: &[(u64, &str)] = &[
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
        (2_000_000_000, "279037"),
        (20_000_000_000, "353130"),
    ];

    #[test]
    fn rfc_6238_known_answers() {
        for (t, code) in VECTORS {
            assert_eq!(code_at(RFC_SECRET, *t).unwrap(), *code, "t={t}");
            assert_eq!(verify(RFC_SECRET, code, *t, None), Ok(t / 30), "t={t}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let t = 1_234_567_890;
        let code = code_at(RFC_SECRET, t).unwrap();
        assert!(verify(RFC_SECRET, &code, t + 30, None).is_ok());
        assert!(verify(RFC_SECRET, &code, t - 30, None).is_ok());
        assert_eq!(verify(RFC_SECRET, &code, t + 61, None), Err(TotpError::Invalid));
        assert_eq!(verify(RFC_SECRET, &code, t - 61, None), Err(TotpError::Invalid));
    }

    #[test]
    fn a_used_step_is_never_accepted_again() {
        let t = 2_000_000_000;
        let code = code_at(RFC_SECRET, t).unwrap();
        let step = verify(RFC_SECRET, &code, t, None).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, t, Some(step)), Err(TotpError::Replayed));
        assert_eq!(verify(RFC_SECRET, &code, t + 30, Some(step)), Err(TotpError::Replayed));
        // An older code inside the window is refused too once a newer step was used.
        let older = code_at(RFC_SECRET, t - 30).unwrap();
        assert_eq!(verify(RFC_SECRET, &older, t, Some(step)), Err(TotpError::Replayed));
        let next = code_at(RFC_SECRET, t + 30).unwrap();
        assert_eq!(verify(RFC_SECRET, &next, t + 30, Some(step)), Ok(step + 1));
    }

    #[test]
    fn malformed_codes_are_invalid() {
        for bad in ["", "12345", "1234567", "abcdef", "12 34 5"] {
            assert_eq!(verify(RFC_SECRET, bad, 59, None), Err(TotpError::Invalid), "{bad}");
        }
        assert!(verify(RFC_SECRET, "287 082", 59, None).is_ok(), "spaces are forgiven");
    }

    #[test]
    fn provisioning_uri_names_issuer_and_account() {
        let (b32, url) = provisioning(RFC_SECRET, "Organizeo", "ada@acme.example").unwrap();
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(url.starts_with("otpauth://totp/Organizeo:ada%40acme.example?"), "{url}");
        assert!(url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{url}");
        assert!(url.contains("issuer=Organizeo"), "{url}");
        assert_eq!(new_secret().unwrap().len(), 20);
    }
}
