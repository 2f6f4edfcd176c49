//! A password that satisfies Organizeo's fixed policy (not configurable, by design):
//! at least 8 characters with an upper-case letter, a lower-case letter, a digit and a
//! special character (anything that is not a letter or digit, space included, as OWASP
//! counts them), and not on the shipped list of common breached passwords.
//! Long passphrases are welcome: up to 1024 characters, never truncated.
//!
//! The value never prints: `Debug` shows `Password(***)`.

use std::fmt;

use super::common_passwords;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 1024;

/// One broken rule; `code` is stable, `message` is what the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    pub code: &'static str,
    pub message: &'static str,
}

const fn rule(code: &'static str, message: &'static str) -> PolicyViolation {
    PolicyViolation { code, message }
}

pub const TOO_SHORT: PolicyViolation = rule("min_length", "must be at least 8 characters long");
pub const TOO_LONG: PolicyViolation = rule("max_length", "must be at most 1024 characters long");
pub const NO_UPPER: PolicyViolation = rule("uppercase", "must contain an upper-case letter");
pub const NO_LOWER: PolicyViolation = rule("lowercase", "must contain a lower-case letter");
pub const NO_DIGIT: PolicyViolation = rule("digit", "must contain a digit");
pub const NO_SPECIAL: PolicyViolation = rule("special", "must contain a special character (not a letter or digit)");
pub const BREACHED: PolicyViolation = rule("breached", "is on the list of common breached passwords; choose another");

pub struct Password(String);

impl Password {
    /// Checks every rule and reports all that fail, so the user fixes them in one go.
    pub fn parse(raw: &str) -> Result<Self, Vec<PolicyViolation>> {
        let mut broken = Vec::new();
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            broken.push(TOO_SHORT);
        }
        if chars > MAX_CHARS {
            broken.push(TOO_LONG);
        }
        if !raw.chars().any(char::is_uppercase) {
            broken.push(NO_UPPER);
        }
        if !raw.chars().any(char::is_lowercase) {
            broken.push(NO_LOWER);
        }
        if !raw.chars().any(|c| c.is_ascii_digit() || c.is_numeric()) {
            broken.push(NO_DIGIT);
        }
        if !raw.chars().any(|c| !c.is_alphanumeric()) {
            broken.push(NO_SPECIAL);
        }
        if common_passwords::contains(raw) {
            broken.push(BREACHED);
        }
        if broken.is_empty() {
            Ok(Self(raw.to_string()))
        } else {
            Err(broken)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(raw: &str) -> Vec<&'static str> {
        match Password::parse(raw) {
            Ok(_) => vec![],
            Err(v) => v.into_iter().map(|r| r.code).collect(),
        }
    }

    #[test]
    fn each_rule_is_named() {
        assert_eq!(codes("Ab1!"), vec!["min_length"]);
        assert_eq!(codes("abcdefg1!"), vec!["uppercase"]);
        assert_eq!(codes("ABCDEFG1!"), vec!["lowercase"]);
        assert_eq!(codes("Abcdefgh!"), vec!["digit"]);
        assert_eq!(codes("Zebrafinch42"), vec!["special"]);
        assert_eq!(codes("P@ssw0rd"), vec!["breached"]);
        assert_eq!(codes("Password1!"), vec!["breached"]);
    }

    #[test]
    fn long_passphrases_are_kept_whole() {
        let long = format!("Aa1!{}", "x".repeat(200));
        assert_eq!(Password::parse(&long).unwrap().expose().len(), 204);
        assert!(Password::parse(&"Aa1!".repeat(300)).is_err());
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("Tr1cky!Horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
