//! Value parsers for settings: text in (from the environment or the file), a typed value or
//! a message out. The message never echoes a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{DatabaseUrl, LogFormat, Mode, RateLimit, Secret};

pub type Parsed<T> = Result<T, String>;

pub fn listen(v: &str) -> Parsed<SocketAddr> {
    v.trim().parse().map_err(|_| format!("'{v}' is not an address:port such as 127.0.0.1:8080"))
}

pub fn mode(v: &str) -> Parsed<Mode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "development" | "dev" => Ok(Mode::Development),
        "production" | "prod" => Ok(Mode::Production),
        _ => Err(format!("'{v}' is not development or production")),
    }
}

pub fn log_format(v: &str) -> Parsed<LogFormat> {
    match v.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("'{v}' is not text or json")),
    }
}

pub fn boolean(v: &str) -> Parsed<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{v}' is not true or false")),
    }
}

/// A whole number in `min..=max`.
pub fn int(v: &str, min: i64, max: i64) -> Parsed<i64> {
    let n: i64 = v.trim().parse().map_err(|_| format!("'{v}' is not a whole number"))?;
    if n < min || n > max {
        return Err(format!("{n} is outside {min}..={max}"));
    }
    Ok(n)
}

pub fn count(v: &str, min: i64, max: i64) -> Parsed<usize> {
    int(v, min, max).map(|n| n as usize)
}

pub fn seconds(v: &str, min: i64, max: i64) -> Parsed<Duration> {
    int(v, min, max).map(|n| Duration::from_secs(n as u64))
}

pub fn minutes(v: &str, min: i64, max: i64) -> Parsed<Duration> {
    int(v, min, max).map(|n| Duration::from_secs(n as u64 * 60))
}

pub fn text(v: &str) -> Parsed<String> {
    Ok(v.to_string())
}

pub fn path(v: &str) -> Parsed<PathBuf> {
    Ok(PathBuf::from(v))
}

/// Empty means unset.
pub fn optional_path(v: &str) -> Parsed<Option<PathBuf>> {
    Ok((!v.trim().is_empty()).then(|| PathBuf::from(v)))
}

pub fn database_url(v: &str) -> Parsed<DatabaseUrl> {
    DatabaseUrl::parse(v.trim())
}

/// An encryption key, validated without ever echoing it back.
pub fn key(v: &str) -> Parsed<Secret> {
    crate::security::crypto::parse_key(v)?;
    Ok(Secret::new(v.trim()))
}

pub fn optional_key(v: &str) -> Parsed<Option<Secret>> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    key(v).map(Some)
}

/// Comma-separated keys.
pub fn keys(v: &str) -> Parsed<Vec<Secret>> {
    v.split(',').filter(|k| !k.trim().is_empty()).map(key).collect()
}

pub fn issuer(v: &str) -> Parsed<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 64 || v.contains(':') {
        return Err("must be 1-64 characters without ':'".into());
    }
    Ok(v.to_string())
}

/// `redis://` only (this build has no TLS client for Redis); the value may hold a password,
/// so it is kept as a [`Secret`] and never echoed in the error.
pub fn redis_url(v: &str) -> Parsed<Option<Secret>> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    match redis::parse_redis_url(v) {
        Some(url) if url.scheme() == "redis" => Ok(Some(Secret::new(v))),
        _ => Err("must be a redis://HOST:PORT URL (rediss:// is not supported)".into()),
    }
}

/// The machine's cores: the default number of HTTP workers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A token bucket `RATE:BURST` (requests per second, sustained : at once), or `off`.
pub fn rate_limit(v: &str) -> Parsed<Option<RateLimit>> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = || "must be RATE:BURST (requests per second, sustained and at once, 1-1000000) or off".to_string();
    let (rate, burst) = v.split_once(':').ok_or_else(bad)?;
    let n = |t: &str| t.trim().parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(bad);
    let (rate, burst) = (n(rate)?, n(burst)?);
    if burst < rate {
        return Err("BURST must be at least RATE".into());
    }
    Ok(Some(RateLimit { rate, burst }))
}

/// Comma-separated IP addresses (IPv4 or IPv6).
pub fn ip_list(v: &str) -> Parsed<Vec<std::net::IpAddr>> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("{s:?} is not an IP address")))
        .collect()
}

pub fn smtp_url(v: &str) -> Parsed<Option<Secret>> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    crate::email::smtp::parse_url(v.trim(), 1)?;
    Ok(Some(Secret::new(v.trim().to_string())))
}

pub fn public_url(v: &str) -> Parsed<String> {
    let v = v.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty()
        || rest.contains(char::is_whitespace)
        || rest.contains(['?', '#', '"', '\'', '<', '>', '&', '\\'])
    {
        return Err("must be a base URL like https://app.example.com".into());
    }
    Ok(v.to_string())
}
