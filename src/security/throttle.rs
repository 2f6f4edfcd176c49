//! Brute-force throttling policy: after `threshold` failures within `window`, attempts are
//! refused until `blocked_until`, which backs off exponentially (base × 2^(failures −
//! threshold), capped). Pure: the caller stores the state and passes the time, so the
//! rule is tested with a moved clock and survives restarts in the database.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

/// Password attempts against one account.
pub const ACCOUNT: Policy =
    Policy { threshold: 5, base: Duration::seconds(30), max: Duration::minutes(15), window: Duration::minutes(15) };

/// Password attempts from one IP address, across accounts (credential stuffing).
pub const IP: Policy =
    Policy { threshold: 20, base: Duration::seconds(30), max: Duration::minutes(15), window: Duration::minutes(15) };

/// Second-factor attempts against one account.
pub const MFA: Policy =
    Policy { threshold: 5, base: Duration::seconds(30), max: Duration::minutes(15), window: Duration::minutes(15) };

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub failures: u32,
    pub last_failure_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

impl Policy {
    /// The state after one more failure at `now`.
    pub fn after_failure(&self, previous: Option<State>, now: DateTime<Utc>) -> State {
        let failures = match previous {
            Some(p) if now - p.last_failure_at <= self.window => p.failures.saturating_add(1),
            _ => 1,
        };
        let blocked_until = (failures >= self.threshold).then(|| {
            let exponent = (failures - self.threshold).min(20);
            let delay = self.base * 2i32.pow(exponent);
            now + delay.min(self.max)
        });
        State { failures, last_failure_at: now, blocked_until }
    }
}

impl Policy {
    /// Takes an attempt before it is evaluated: refused (with the seconds to wait) while
    /// blocked, else counted as a failure up front, so parallel attempts can never all be
    /// evaluated before the first failure is recorded. A success gives it back
    /// ([`Policy::refund`]).
    pub fn reserve(&self, previous: Option<State>, now: DateTime<Utc>) -> Result<State, u64> {
        if let Some(secs) = retry_after(previous, now) {
            return Err(secs);
        }
        Ok(self.after_failure(previous, now))
    }

    /// Gives back an attempt that succeeded: one failure fewer, and no block unless the
    /// remaining failures still reach the threshold.
    pub fn refund(&self, reserved: State) -> State {
        let failures = reserved.failures.saturating_sub(1);
        let blocked_until = if failures >= self.threshold { reserved.blocked_until } else { None };
        State { failures, last_failure_at: reserved.last_failure_at, blocked_until }
    }
}

/// Whole seconds until attempts are allowed again, if they are blocked now.
pub fn retry_after(state: Option<State>, now: DateTime<Utc>) -> Option<u64> {
    let until = state?.blocked_until?;
    (until > now).then(|| ((until - now).num_milliseconds() as u64).div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_threshold_and_backs_off() {
        let t0 = Utc::now();
        let mut s = None;
        for i in 1..=4 {
            let next = ACCOUNT.after_failure(s, t0);
            assert_eq!(next.failures, i);
            assert_eq!(retry_after(Some(next), t0), None, "{i} failures are allowed");
            s = Some(next);
        }
        let fifth = ACCOUNT.after_failure(s, t0);
        assert_eq!(retry_after(Some(fifth), t0), Some(30));
        let sixth = ACCOUNT.after_failure(Some(fifth), t0 + Duration::seconds(31));
        assert_eq!(retry_after(Some(sixth), t0 + Duration::seconds(31)), Some(60));
        let mut s = sixth;
        for _ in 0..10 {
            s = ACCOUNT.after_failure(Some(s), s.last_failure_at + Duration::seconds(1));
        }
        assert_eq!(retry_after(Some(s), s.last_failure_at), Some(15 * 60), "capped");
    }

    #[test]
    fn reserving_counts_up_front_refuses_while_blocked_and_refunds_a_success() {
        let t0 = Utc::now();
        let mut s = None;
        for _ in 0..5 {
            s = Some(ACCOUNT.reserve(s, t0).expect("allowed"));
        }
        // The fifth reservation reached the threshold: everything after it waits.
        assert_eq!(ACCOUNT.reserve(s, t0), Err(30));
        let refunded = ACCOUNT.refund(s.expect("state"));
        assert_eq!((refunded.failures, refunded.blocked_until), (4, None));
        assert!(ACCOUNT.reserve(Some(refunded), t0).is_ok());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t0 = Utc::now();
        let s = ACCOUNT.after_failure(None, t0);
        let later = ACCOUNT.after_failure(Some(s), t0 + Duration::minutes(16));
        assert_eq!(later.failures, 1);
    }
}
