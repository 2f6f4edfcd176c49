//! Validating one field value against its [`Kind`], producing what is stored (the JSON the
//! API returns) and what is indexed (lower-cased text, or a number) for search and sort.

use serde_json::Value;

use super::objects::Kind;
use crate::domain::money::{Money, MONEY_RULE};
use crate::domain::EmailAddress;

/// One indexed value of a field (multi-valued fields have several).
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub text: Option<String>,
    pub num: Option<f64>,
}

impl Indexed {
    fn text(s: &str) -> Self {
        Self { text: Some(s.to_lowercase()), num: None }
    }

    fn num(n: f64) -> Self {
        Self { text: None, num: Some(n) }
    }
}

/// A valid value: what to store and what to index. `Value::Null` clears the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub stored: Value,
    pub indexed: Vec<Indexed>,
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        _ => false,
    }
}

fn nonempty_str(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim()),
        Value::String(_) => Err("must not be empty (use null to clear)".into()),
        _ => Err("must be a string".into()),
    }
}

/// Checks `v` against `kind`. Null is accepted here; required-ness is the caller's rule.
pub fn check(kind: &Kind, v: &Value) -> Result<Checked, String> {
    if v.is_null() {
        return Ok(Checked { stored: Value::Null, indexed: Vec::new() });
    }
    // CSV cells come here without passing the JSON extractor's check.
    if has_nul(v) {
        return Err("must not contain the NUL character (U+0000)".into());
    }
    let single = |stored: Value, idx: Indexed| Checked { stored, indexed: vec![idx] };
    match kind {
        Kind::Text { max } => {
            let s = nonempty_str(v)?;
            if s.chars().count() > *max {
                return Err(format!("must be at most {max} characters"));
            }
            Ok(single(Value::String(s.to_string()), Indexed::text(s)))
        }
        Kind::Email => {
            let s = nonempty_str(v)?;
            let e = EmailAddress::parse(s).map_err(str::to_string)?;
            Ok(single(Value::String(e.as_str().to_string()), Indexed::text(e.as_str())))
        }
        Kind::Phone => {
            let s = nonempty_str(v)?;
            let digits = s.chars().filter(char::is_ascii_digit).count();
            let ok = s.len() <= 40
                && (3..=20).contains(&digits)
                && s.chars().all(|c| c.is_ascii_digit() || " +-().x".contains(c));
            if !ok {
                return Err("must be a phone number (digits, spaces, + - ( ) .)".into());
            }
            Ok(single(Value::String(s.to_string()), Indexed::text(s)))
        }
        Kind::Url => {
            let s = nonempty_str(v)?;
            let lower = s.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"))
                .ok_or("must be an http:// or https:// URL")?;
            if rest.is_empty() || s.len() > 2048 || s.chars().any(char::is_whitespace) {
                return Err("must be an http:// or https:// URL".into());
            }
            Ok(single(Value::String(s.to_string()), Indexed::text(s)))
        }
        Kind::Domain => {
            let s = nonempty_str(v)?.to_ascii_lowercase();
            let ok = s.len() <= 253
                && s.contains('.')
                && !s.starts_with('.')
                && !s.ends_with('.')
                && !s.contains("..")
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err("must be a domain such as acme.example (no scheme or path)".into());
            }
            Ok(single(Value::String(s.clone()), Indexed::text(&s)))
        }
        Kind::Number => {
            let n = v.as_f64().filter(|n| n.is_finite()).ok_or("must be a number")?;
            Ok(single(v.clone(), Indexed::num(n)))
        }
        Kind::Date => {
            let s = nonempty_str(v)?;
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD")?;
            let secs = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default();
            Ok(Checked {
                stored: Value::String(d.format("%Y-%m-%d").to_string()),
                indexed: vec![Indexed { text: Some(d.format("%Y-%m-%d").to_string()), num: Some(secs as f64) }],
            })
        }
        Kind::Boolean => {
            let b = v.as_bool().ok_or("must be true or false")?;
            Ok(single(Value::Bool(b), Indexed::num(if b { 1.0 } else { 0.0 })))
        }
        Kind::Select(options) => {
            let s = nonempty_str(v)?;
            if !options.iter().any(|o| o == s) {
                return Err(format!("must be one of: {}", options.join(", ")));
            }
            Ok(single(Value::String(s.to_string()), Indexed::text(s)))
        }
        Kind::MultiSelect(options) => {
            let items = v.as_array().ok_or("must be an array of options")?;
            let mut chosen: Vec<String> = Vec::new();
            for item in items {
                let s = item.as_str().ok_or("must be an array of options")?;
                if !options.iter().any(|o| o == s) {
                    return Err(format!("'{s}' is not one of: {}", options.join(", ")));
                }
                if !chosen.iter().any(|c| c == s) {
                    chosen.push(s.to_string());
                }
            }
            Ok(Checked {
                indexed: chosen.iter().map(|s| Indexed::text(s)).collect(),
                stored: Value::Array(chosen.into_iter().map(Value::String).collect()),
            })
        }
        Kind::Decimal => {
            let m = money(v)?;
            Ok(single(Value::String(m.as_str().to_string()), Indexed::text(&m.sort_key())))
        }
        Kind::Currency => {
            let s = nonempty_str(v)?.to_ascii_uppercase();
            if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err("must be a 3-letter ISO 4217 currency code such as EUR".into());
            }
            Ok(single(Value::String(s.clone()), Indexed::text(&s)))
        }
        Kind::DateTime => {
            let s = nonempty_str(v)?;
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| "must be an RFC 3339 date and time, e.g. 2026-11-26T15:00:00Z")?
                .with_timezone(&chrono::Utc);
            let text = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            Ok(Checked {
                indexed: vec![Indexed { text: Some(text.clone()), num: Some(t.timestamp() as f64) }],
                stored: Value::String(text),
            })
        }
        Kind::Member | Kind::Pipeline | Kind::Stage => {
            let id = v.as_str().and_then(|s| uuid::Uuid::parse_str(s.trim()).ok()).ok_or("must be an id")?.to_string();
            Ok(single(Value::String(id.clone()), Indexed::text(&id)))
        }
        Kind::Links(_) => {
            let items = v.as_array().ok_or("must be an array of record ids")?;
            let mut ids: Vec<String> = Vec::new();
            for item in items {
                let id = item
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                    .ok_or("must be an array of record ids")?
                    .to_string();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if ids.len() > 1000 {
                return Err("links at most 1000 records".into());
            }
            Ok(Checked {
                indexed: ids.iter().map(|s| Indexed::text(s)).collect(),
                stored: Value::Array(ids.into_iter().map(Value::String).collect()),
            })
        }
    }
}

/// Parses an exact decimal from a JSON number or string (see [`Money`]).
pub fn money(v: &Value) -> Result<Money, String> {
    let raw = match v {
        Value::String(s) => s.clone(),
        // serde_json prints a parsed number back in its shortest exact form for these sizes.
        Value::Number(n) => n.to_string(),
        _ => return Err(MONEY_RULE.into()),
    };
    Money::parse(&raw).map_err(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(kind: Kind, v: Value) -> Value {
        check(&kind, &v).unwrap().stored
    }

    fn bad(kind: Kind, v: Value) {
        assert!(check(&kind, &v).is_err(), "{kind:?} accepted {v}");
    }

    #[test]
    fn each_kind_validates() {
        assert_eq!(ok(Kind::Email, json!(" Ada@Acme.Example ")), json!("ada@acme.example"));
        bad(Kind::Email, json!("nope"));
        bad(Kind::Email, json!(5));
        assert_eq!(ok(Kind::Phone, json!("+1 (555) 010-2030")), json!("+1 (555) 010-2030"));
        bad(Kind::Phone, json!("call me"));
        ok(Kind::Url, json!("https://acme.example/x"));
        bad(Kind::Url, json!("javascript:alert(1)"));
        assert_eq!(ok(Kind::Domain, json!("Acme.Example")), json!("acme.example"));
        bad(Kind::Domain, json!("https://acme.example"));
        ok(Kind::Number, json!(12.5));
        bad(Kind::Number, json!("12"));
        assert_eq!(ok(Kind::Date, json!("2026-11-26")), json!("2026-11-26"));
        bad(Kind::Date, json!("26/11/2026"));
        ok(Kind::Boolean, json!(true));
        bad(Kind::Boolean, json!("yes"));
        let opts = vec!["a".to_string(), "b".to_string()];
        ok(Kind::Select(opts.clone()), json!("a"));
        bad(Kind::Select(opts.clone()), json!("c"));
        assert_eq!(ok(Kind::MultiSelect(opts.clone()), json!(["b", "a", "b"])), json!(["b", "a"]));
        bad(Kind::MultiSelect(opts), json!(["a", "z"]));
        bad(Kind::Text { max: 3 }, json!("abcd"));
        bad(Kind::Text { max: 3 }, json!("  "));
        assert_eq!(ok(Kind::Text { max: 3 }, Value::Null), Value::Null);
    }

    #[test]
    fn money_is_exact_text() {
        assert_eq!(ok(Kind::Decimal, json!("0012500.50")), json!("12500.50"));
        assert_eq!(ok(Kind::Decimal, json!(0.1)), json!("0.1"));
        assert_eq!(ok(Kind::Decimal, json!("-0.00")), json!("0.00"));
        assert_eq!(ok(Kind::Decimal, json!("999999999999999.999999")), json!("999999999999999.999999"));
        for bad in
            [json!("1e5"), json!("12."), json!("abc"), json!("1.1234567"), json!(true), json!("1000000000000000")]
        {
            bad_(Kind::Decimal, bad);
        }
        assert_eq!(ok(Kind::Currency, json!("eur")), json!("EUR"));
        bad_(Kind::Currency, json!("EURO"));
        assert_eq!(ok(Kind::DateTime, json!("2026-11-26T16:00:00+01:00")), json!("2026-11-26T15:00:00Z"));
        bad_(Kind::DateTime, json!("tomorrow"));
    }

    fn bad_(kind: Kind, v: Value) {
        assert!(check(&kind, &v).is_err(), "{kind:?} accepted {v}");
    }
}
