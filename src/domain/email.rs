//! An email address as Organizeo stores it: trimmed, at most 254 characters, one `@` with a
//! non-empty local part and a dotted domain, compared case-insensitively (stored lower-case).

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required");
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be an email address like name@example.com");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if !domain_ok || !local_ok {
            return Err("must be an email address like name@example.com");
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn accepts_and_lowercases() {
        assert_eq!(EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a b@example.com",
            "ada@exa..mple.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
