//! Exact money: a decimal amount with at most 15 digits before the point and 6 after, held
//! in millionths (`i128`), never a float. Its canonical text (no exponent, no `+`, no
//! leading zeros, the decimals as given) is what the API stores and returns; sums are
//! formatted with at least two decimals (`12500.50`).

use std::fmt;

/// The rule, as a client reads it in a 422.
pub const MONEY_RULE: &str = "must be a decimal amount such as 1250.50 (at most 15 digits before the point, 6 after)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    text: String,
    micros: i128,
}

impl Money {
    /// Parses `1250.5`, `-3`, `0007.10` (→ `7.10`); refuses exponents, `+`, a bare point,
    /// more than 15 integer or 6 fractional digits.
    pub fn parse(raw: &str) -> Result<Money, &'static str> {
        let raw = raw.trim();
        let (neg, body) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let ok = !int.is_empty()
            && int.len() <= 15
            && frac.len() <= 6
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(body.contains('.') && frac.is_empty());
        if !ok {
            return Err(MONEY_RULE);
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let zero = int == "0" && frac.bytes().all(|b| b == b'0');
        let sign = if neg && !zero { "-" } else { "" };
        let text = if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") };
        let whole: i128 = int.parse().map_err(|_| MONEY_RULE)?;
        let part: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().map_err(|_| MONEY_RULE)? };
        let micros = whole * 1_000_000 + part;
        Ok(Money { text, micros: if sign == "-" { -micros } else { micros } })
    }

    /// A sum or other computed amount, shown with at least two decimals.
    pub fn from_micros(micros: i128) -> Money {
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let frac = format!("{:06}", abs % 1_000_000);
        let frac = frac.trim_end_matches('0');
        let frac = format!("{frac:0<2}");
        Money { text: format!("{sign}{}.{frac}", abs / 1_000_000), micros }
    }

    /// The canonical text (what is stored and returned).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn micros(&self) -> i128 {
        self.micros
    }

    /// A fixed-width key whose text order is the amounts' numeric order, exactly: the
    /// millionths shifted by 10^21 (above any amount's magnitude), as 22 digits. The value
    /// index holds money this way, so searches and sorts compare amounts exactly.
    pub fn sort_key(&self) -> String {
        format!("{:022}", self.micros + 1_000_000_000_000_000_000_000)
    }

    /// The float nearest to the decimal, for nothing that must be exact.
    pub fn approx(&self) -> f64 {
        self.text.parse().unwrap_or(self.micros as f64 / 1_000_000.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_and_exact_millionths() {
        for (raw, text, micros) in [
            ("1250.10", "1250.10", 1_250_100_000),
            ("0007.5", "7.5", 7_500_000),
            ("-0.000", "0.000", 0),
            ("-3", "-3", -3_000_000),
            ("999999999999999.999999", "999999999999999.999999", 999_999_999_999_999_999_999),
        ] {
            let m = Money::parse(raw).unwrap();
            assert_eq!((m.as_str(), m.micros()), (text, micros), "{raw}");
        }
        for bad in ["", ".", "1.", ".5", "1e3", "+1", "1.1234567", "1234567890123456", "1,5", "--1"] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_keys_order_amounts_exactly() {
        let amounts = [
            "-999999999999999.999999",
            "-1",
            "-0.000001",
            "0",
            "0.000001",
            "999999999999.999998",
            "999999999999.999999",
            "1000000000000",
            "999999999999999.999999",
        ];
        let keys: Vec<String> = amounts.iter().map(|a| Money::parse(a).unwrap().sort_key()).collect();
        assert!(keys.iter().all(|k| k.len() == 22), "{keys:?}");
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "text order is numeric order");
        assert_ne!(keys[5], keys[6], "amounts a float cannot tell apart stay apart");
    }

    #[test]
    fn sums_show_at_least_two_decimals() {
        assert_eq!(Money::from_micros(12_500_500_000).as_str(), "12500.50");
        assert_eq!(Money::from_micros(300_000).as_str(), "0.30");
        assert_eq!(Money::from_micros(-1_234_567).as_str(), "-1.234567");
        assert_eq!(Money::from_micros(0).as_str(), "0.00");
    }
}
