//! The list of common breached passwords shipped inside the binary (about 40,000 entries,
//! lower-cased, in `common_passwords.txt`). It is the union of two permissively licensed
//! lists, both drawn from real breach corpora:
//! - the 30,000 most frequent passwords of zxcvbn (Dropbox, MIT; via the `zxcvbn` crate,
//!   frequency list built from Xato's 10 million password corpus), and
//! - Django's `CommonPasswordValidator` list of 20,000 (BSD-3-Clause; compiled by Royce
//!   Williams from breach data).
//!
//! Matching is case-insensitive and exact: `Password1!` is refused because `password1!` is
//! on the list.

use std::collections::HashSet;
use std::sync::LazyLock;

static LIST: &str = include_str!("common_passwords.txt");

static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| LIST.lines().filter(|l| !l.is_empty()).collect());

pub fn contains(password: &str) -> bool {
    SET.contains(password.to_lowercase().as_str())
}

/// How many entries the shipped list holds (reported by tests and docs).
pub fn len() -> usize {
    SET.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn list_is_tens_of_thousands_and_case_insensitive() {
        assert!(super::len() > 30_000, "{}", super::len());
        assert!(super::contains("PASSWORD"));
        assert!(super::contains("qwerty123"));
        assert!(!super::contains("Z8#kq!Lw3vRt"));
    }
}
