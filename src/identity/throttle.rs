//! Stored brute-force throttles: which counters a use case consults, and the refusal.
//! The policy itself (thresholds, back-off) is pure code in `security::throttle`.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::error::AppError;

/// Password attempts per account (by lower-cased email).
pub const ACCOUNT_SCOPE: &str = "login_account";
/// Password attempts per client IP.
pub const IP_SCOPE: &str = "login_ip";
/// Second-factor attempts per person (by user id).
pub const MFA_SCOPE: &str = "mfa";

/// Refuses with 429 and `Retry-After` while any of the `(scope, subject)` counters blocks.
pub async fn refuse_if_throttled(
    db: &Db,
    keys: Vec<(&'static str, String)>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let wait = db
        .read(move |p| {
            let mut longest = None;
            for (scope, subject) in &keys {
                let secs = crate::security::throttle::retry_after(p.throttle_state(scope, subject)?, now);
                longest = longest.max(secs);
            }
            Ok(longest)
        })
        .await?;
    match wait {
        Some(secs) => Err(AppError::RateLimited {
            retry_after_secs: secs,
            detail: format!("too many failed attempts; try again in {secs} s"),
        }),
        None => Ok(()),
    }
}
