//! A password that satisfies Organizeo's fixed policy (not configurable, by design):
//! at least 8 characters with an upper-case letter, a lower-case letter, a digit and a
//! special character (anything that is not a letter or digit, space included, as OWASP
//! counts them), not on the shipped list of common breached passwords, and not easy to
//! guess by zxcvbn's estimate (score 3 of 4 at least: `Passw0rd!` passes the character
//! rules and fails this one). Long passphrases are welcome: up to 1024 characters, never
//! truncated.
//!
//! Passwords are normalised to Unicode NFKC before anything else (NIST SP 800-63B
//! 5.1.1.2), so the same password typed as composed (`é`) or decomposed (`e` + U+0301, as
//! macOS keyboards produce) characters is the same password.
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
pub const WEAK: PolicyViolation = rule(
    "weak",
    "is too easy to guess: avoid common words, names, dates, keyboard patterns and predictable substitutions \
     (a few unrelated words make a strong password)",
);

/// The lowest zxcvbn score accepted (0-4; 3 is "safely unguessable").
const MIN_SCORE: u8 = 3;

/// The form every password is checked, hashed and verified in.
pub fn normalize(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    raw.nfkc().collect()
}

pub struct Password(String);

impl Password {
    /// Checks every rule and reports all that fail, so the user fixes them in one go.
    pub fn parse(raw: &str) -> Result<Self, Vec<PolicyViolation>> {
        Self::parse_for(raw, &[])
    }

    /// Like [`Password::parse`], also refusing passwords built from the person's own
    /// details (`user_inputs`: their email, name, portal name).
    pub fn parse_for(raw: &str, user_inputs: &[&str]) -> Result<Self, Vec<PolicyViolation>> {
        let normalized = normalize(raw);
        let raw = normalized.as_str();
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
        // The estimate runs on passwords that pass the rules above (it is the costly one,
        // and a short or breached password is refused already).
        if broken.is_empty() && !guessable_ok(raw, user_inputs) {
            broken.push(WEAK);
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

fn guessable_ok(password: &str, user_inputs: &[&str]) -> bool {
    // zxcvbn's cost grows with length; past 100 characters a passphrase that met the rules
    // is strong by any estimate, so only its first 100 are scored.
    let scored: String = password.chars().take(100).collect();
    // The person's details, whole and word by word (`grace.hopper@navy.example` also
    // gives `grace`, `hopper`, `navy`), so a password built from them scores low.
    let mut inputs: Vec<&str> = user_inputs.iter().copied().filter(|s| !s.is_empty()).collect();
    for input in user_inputs {
        inputs.extend(input.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3));
    }
    u8::from(zxcvbn::zxcvbn(&scored, &inputs).score()) >= MIN_SCORE
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
        let long = format!("Aa1! {}", "correct horse battery staple orbit lantern ".repeat(5));
        assert_eq!(Password::parse(&long).unwrap().expose(), long);
        assert!(Password::parse(&"Aa1!".repeat(300)).is_err());
    }

    /// Patterns that meet every character rule and are still guessed in no time.
    #[test]
    fn guessable_passwords_are_refused_as_weak() {
        for weak in [
            "Passw0rd!",
            "Welcome1!",
            "Summer2024!",
            "Qwerty123!",
            "Abcd1234!",
            "Monkey123!",
            "Football1!",
            "Iloveyou2!",
            "Aa1!xxxxxxxxxxxx",
            "P@ssw0rd2024",
            "Changeme1!",
            "Welkom01!",
        ] {
            assert_eq!(codes(weak), vec!["weak"], "{weak}");
        }
        for strong in ["Corr3ct-Horse!Battery", "Tr1cky!Horse-Lantern", "Another-Long-Pass-42", "Vlinder&Gracht7Zomer"]
        {
            assert_eq!(codes(strong), Vec::<&str>::new(), "{strong}");
        }
    }

    /// NFD (macOS keyboards) and NFC forms of one password are the same password.
    #[test]
    fn composed_and_decomposed_forms_are_one_password() {
        let composed = "Cr\u{e8}me-Br\u{fb}l\u{e9}e-Vlinder7";
        let decomposed = "Cre\u{300}me-Bru\u{302}le\u{301}e-Vlinder7";
        assert_ne!(composed, decomposed);
        let a = Password::parse(composed).unwrap();
        let b = Password::parse(decomposed).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(normalize(decomposed), composed);
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("Tr1cky!Horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
