//! Single-use recovery codes for when the authenticator is lost: ten per enrolment, each
//! 16 characters (about 79 bits) from an alphabet without look-alikes, shown once, stored
//! as SHA-256. Input is forgiving about case, spaces and dashes.

use crate::security::tokens;

pub const COUNT: usize = 10;
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten new codes, formatted `xxxx-xxxx-xxxx-xxxx`.
pub fn generate() -> anyhow::Result<Vec<String>> {
    (0..COUNT)
        .map(|_| {
            let mut raw = [0u8; 16];
            getrandom::getrandom(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            // 256 % 31 != 0: reject-free mapping has a tiny bias (< 1%), irrelevant at 79 bits.
            let chars: Vec<char> =
                raw.iter().filter_map(|b| ALPHABET.get(*b as usize % ALPHABET.len()).map(|c| *c as char)).collect();
            Ok(chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
        })
        .collect()
}

/// The canonical form of a typed code: lower-case, no separators.
pub fn normalize(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Whether the input looks like a recovery code (as opposed to a 6-digit TOTP code).
pub fn looks_like_code(input: &str) -> bool {
    normalize(input).len() == 16
}

/// What is stored for a code.
pub fn digest(code: &str) -> String {
    tokens::digest(&normalize(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_well_formed_codes() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 19, "{c}");
            assert!(looks_like_code(c));
        }
    }

    #[test]
    fn input_is_normalized() {
        assert_eq!(digest("ABCD-efgh-jkmn-pqrs"), digest("abcd efgh jkmn pqrs"));
        assert!(!looks_like_code("123456"));
    }
}
