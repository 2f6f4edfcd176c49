//! Brute-force throttles on every secret we verify: which counters each check takes, taken
//! **before** the check (a reservation counted as a failure up front, atomically), so
//! parallel guesses can never all be evaluated before the first failure is recorded. A
//! success gives its reservation back. The policy itself (thresholds, back-off) is pure
//! code in `security::throttle`.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::error::AppError;
use crate::security::throttle::{self as policy, Policy};

/// Password attempts per account (by lower-cased email).
pub const ACCOUNT_SCOPE: &str = "login_account";
/// Password attempts per client IP.
pub const IP_SCOPE: &str = "login_ip";
/// Second-factor attempts per person (by user id).
pub const MFA_SCOPE: &str = "mfa";
/// Current-password checks when changing a password, per person (by user id): a stolen
/// session must not become an unlimited password oracle.
pub const PASSWORD_CHANGE_SCOPE: &str = "password_change";

/// Staff sign-in: password attempts per staff account, per IP, and second-factor attempts
/// (their own counters: a portal's traffic never locks out the operator's staff, nor the
/// reverse).
pub const STAFF_ACCOUNT_SCOPE: &str = "staff_login_account";
pub const STAFF_IP_SCOPE: &str = "staff_login_ip";
pub const STAFF_MFA_SCOPE: &str = "staff_mfa";

/// A counter a check takes: its policy, scope and subject.
#[derive(Debug, Clone)]
pub struct Counter {
    pub policy: &'static Policy,
    pub scope: &'static str,
    pub subject: String,
}

impl Counter {
    pub fn account(email: &str) -> Self {
        Self { policy: &policy::ACCOUNT, scope: ACCOUNT_SCOPE, subject: email.to_string() }
    }

    pub fn ip(ip: &str) -> Self {
        Self { policy: &policy::IP, scope: IP_SCOPE, subject: ip.to_string() }
    }

    pub fn second_factor(user: &str) -> Self {
        Self { policy: &policy::MFA, scope: MFA_SCOPE, subject: user.to_string() }
    }

    pub fn staff_account(email: &str) -> Self {
        Self { policy: &policy::ACCOUNT, scope: STAFF_ACCOUNT_SCOPE, subject: email.to_string() }
    }

    pub fn staff_ip(ip: &str) -> Self {
        Self { policy: &policy::IP, scope: STAFF_IP_SCOPE, subject: ip.to_string() }
    }

    pub fn staff_second_factor(staff: &str) -> Self {
        Self { policy: &policy::MFA, scope: STAFF_MFA_SCOPE, subject: staff.to_string() }
    }

    pub fn password_change(user: &str) -> Self {
        Self { policy: &policy::ACCOUNT, scope: PASSWORD_CHANGE_SCOPE, subject: user.to_string() }
    }
}

fn too_many(secs: u64) -> AppError {
    AppError::RateLimited { retry_after_secs: secs, detail: format!("too many failed attempts; try again in {secs} s") }
}

/// Takes one attempt on every counter, in one transaction, or refuses with 429 and
/// `Retry-After` while any of them blocks (taking none).
pub async fn reserve(db: &Db, counters: Vec<Counter>, now: DateTime<Utc>) -> Result<(), AppError> {
    let taken = db
        .write(move |tx| {
            let refs: Vec<(&Policy, &str, &str)> =
                counters.iter().map(|c| (c.policy, c.scope, c.subject.as_str())).collect();
            Ok(tx.reserve_attempts(&refs, now)?)
        })
        .await?;
    taken.map(|_| ()).map_err(too_many)
}

/// The check succeeded: gives the reservations back (`forget` clears a counter entirely,
/// as a successful sign-in does for its account).
pub async fn succeeded(
    db: &Db,
    refund: Vec<Counter>,
    forget: Vec<Counter>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    db.write(move |tx| {
        for c in &refund {
            tx.refund_attempt(c.policy, c.scope, &c.subject, now)?;
        }
        for c in &forget {
            tx.platform().clear_throttle(c.scope, &c.subject)?;
        }
        Ok(())
    })
    .await
}
