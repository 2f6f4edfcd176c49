//! Numbers, money and dates as each language writes them: `1,250.10` and `€1,250.10` in
//! English, `1.250,10` and `1.250,10 €` in Dutch; `12 Mar 2026` / `12 mrt 2026`. Amounts are
//! the API's exact decimal strings, never floats, so nothing is rounded on the way.
//! Times are shown in UTC (people have no saved time zone yet).

use chrono::{DateTime, Datelike, Utc};

use super::i18n::Lang;

fn separators(lang: Lang) -> (char, char) {
    match lang {
        Lang::En => (',', '.'),
        Lang::Nl => ('.', ','),
    }
}

fn group(digits: &str, sep: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// An exact decimal (`"-1250.1"`) with `decimals` fraction digits (padded or cut, never
/// rounded through a float); `None` when it is not a plain decimal number.
pub fn decimal(lang: Lang, raw: &str, decimals: Option<usize>) -> Option<String> {
    let raw = raw.trim();
    let (negative, unsigned) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut frac = frac.to_string();
    if let Some(n) = decimals {
        frac.truncate(n);
        while frac.len() < n {
            frac.push('0');
        }
    }
    let (thousands, point) = separators(lang);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&group(int, thousands));
    if !frac.is_empty() {
        out.push(point);
        out.push_str(&frac);
    }
    Some(out)
}

/// A whole number with the language's digit grouping.
pub fn integer(lang: Lang, n: i64) -> String {
    decimal(lang, &n.to_string(), None).unwrap_or_else(|| n.to_string())
}

fn currency_symbol(code: &str) -> Option<&'static str> {
    match code {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        _ => None,
    }
}

fn minor_units(code: &str) -> usize {
    match code {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// An amount in a currency: `€1,250.10` / `1.250,10 €`; a currency without a symbol here
/// is written by its code (`CHF 1,250.10` / `1.250,10 CHF`). Not a number: shown as given.
pub fn money(lang: Lang, amount: &str, currency: &str) -> String {
    let code = currency.trim().to_ascii_uppercase();
    let Some(number) = decimal(lang, amount, Some(minor_units(&code))) else {
        return format!("{amount} {currency}").trim().to_string();
    };
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest.to_string()),
        None => ("", number),
    };
    match (lang, currency_symbol(&code)) {
        (Lang::En, Some(symbol)) => format!("{negative}{symbol}{number}"),
        (Lang::En, None) if !code.is_empty() => format!("{negative}{code} {number}"),
        (Lang::Nl, Some(symbol)) => format!("{negative}{number} {symbol}"),
        (Lang::Nl, None) if !code.is_empty() => format!("{negative}{number} {code}"),
        _ => format!("{negative}{number}"),
    }
}

const MONTHS_EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_NL: [&str; 12] = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];

/// A day: `12 Mar 2026` / `12 mrt 2026`.
pub fn date(lang: Lang, t: DateTime<Utc>) -> String {
    let months = match lang {
        Lang::En => &MONTHS_EN,
        Lang::Nl => &MONTHS_NL,
    };
    let month = months.get(t.month0() as usize).copied().unwrap_or("");
    format!("{} {month} {}", t.day(), t.year())
}

/// A moment: `12 Mar 2026, 14:05` / `12 mrt 2026 14:05` (UTC).
pub fn datetime(lang: Lang, t: DateTime<Utc>) -> String {
    let time = t.format("%H:%M");
    match lang {
        Lang::En => format!("{}, {time}", date(lang, t)),
        Lang::Nl => format!("{} {time}", date(lang, t)),
    }
}

/// An RFC 3339 timestamp (as the API writes them) as [`datetime`]; other text unchanged.
pub fn datetime_text(lang: Lang, raw: &str) -> String {
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => datetime(lang, t.with_timezone(&Utc)),
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn money_is_written_as_each_language_writes_it() {
        assert_eq!(money(Lang::Nl, "1250.10", "EUR"), "1.250,10 €");
        assert_eq!(money(Lang::En, "1250.10", "EUR"), "€1,250.10");
        assert_eq!(money(Lang::En, "1250.1", "USD"), "$1,250.10");
        assert_eq!(money(Lang::Nl, "-1234567.5", "CHF"), "-1.234.567,50 CHF");
        assert_eq!(money(Lang::En, "1000", "JPY"), "JPY 1,000");
        assert_eq!(money(Lang::En, "0.5", "eur"), "€0.50");
        assert_eq!(money(Lang::En, "abc", "EUR"), "abc EUR");
    }

    #[test]
    fn numbers_and_dates_follow_the_language() {
        assert_eq!(integer(Lang::Nl, 1_250_000), "1.250.000");
        assert_eq!(integer(Lang::En, -999), "-999");
        assert_eq!(integer(Lang::En, 1000), "1,000");
        assert_eq!(decimal(Lang::Nl, "0012.3", None).as_deref(), Some("12,3"));
        assert_eq!(decimal(Lang::En, "1e5", None), None);
        let t = Utc.with_ymd_and_hms(2026, 3, 12, 14, 5, 0).unwrap();
        assert_eq!(date(Lang::En, t), "12 Mar 2026");
        assert_eq!(datetime(Lang::Nl, t), "12 mrt 2026 14:05");
        assert_eq!(datetime_text(Lang::En, "2026-03-12T14:05:00Z"), "12 Mar 2026, 14:05");
        assert_eq!(datetime_text(Lang::En, "soon"), "soon");
    }
}
