//! Abuse by behaviour, per credential (or per IP address for requests without one), on
//! this node:
//!
//! - **probing**: more than `errors_per_minute` answers of 401, 403 or 404 within one
//!   minute (guessing ids, tokens or routes);
//! - **scraping**: more record reads in one minute than `read_factor` times the
//!   credential's usual rate and more than `read_floor`. The usual rate is an exponential
//!   moving average of its reads per minute (idle minutes count as zero), trusted once the
//!   credential has been seen for [`BASELINE_MINUTES`]: a new credential has no usual rate
//!   to exceed, so a first bulk sync is not an anomaly, while a long-lived key that suddenly
//!   reads at many times its habit is.
//!
//! Each anomaly is reported once per minute per key; the caller throttles harder, audits
//! and counts it. Time is a minute number (Unix seconds / 60), passed in.

use dashmap::DashMap;

/// Minutes a credential must have been seen before its usual rate counts.
pub const BASELINE_MINUTES: i64 = 10;
/// Weight of the newest minute in the usual rate.
const ALPHA: f64 = 0.2;
/// Keys idle this many minutes are forgotten.
const FORGET_AFTER: i64 = 120;

#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    Probing { errors: u32 },
    Scraping { reads: u32, usual: f64 },
}

impl Anomaly {
    pub fn kind(&self) -> &'static str {
        match self {
            Anomaly::Probing { .. } => "probing",
            Anomaly::Scraping { .. } => "scraping",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub errors_per_minute: u32,
    pub read_factor: u32,
    pub read_floor: u32,
}

#[derive(Debug, Default)]
struct Errors {
    minute: i64,
    count: u32,
    reported: bool,
}

#[derive(Debug)]
struct Reads {
    first_minute: i64,
    minute: i64,
    count: u32,
    usual: f64,
    reported_minute: i64,
}

pub struct Detector {
    thresholds: Thresholds,
    errors: DashMap<String, Errors>,
    reads: DashMap<String, Reads>,
}

impl Detector {
    pub fn new(thresholds: Thresholds) -> Self {
        Self { thresholds, errors: DashMap::new(), reads: DashMap::new() }
    }

    /// A 401, 403 or 404 answered to `key` in `minute`.
    pub fn error(&self, key: &str, minute: i64) -> Option<Anomaly> {
        let mut e = self.errors.entry(key.to_string()).or_default();
        if e.minute != minute {
            *e = Errors { minute, count: 0, reported: false };
        }
        e.count = e.count.saturating_add(1);
        if e.count > self.thresholds.errors_per_minute && !e.reported {
            e.reported = true;
            return Some(Anomaly::Probing { errors: e.count });
        }
        None
    }

    /// A record read by `key` in `minute`.
    pub fn read(&self, key: &str, minute: i64) -> Option<Anomaly> {
        let mut r = self.reads.entry(key.to_string()).or_insert_with(|| Reads {
            first_minute: minute,
            minute,
            count: 0,
            usual: 0.0,
            reported_minute: i64::MIN,
        });
        if r.minute < minute {
            // Fold the finished minute, then the idle ones (at most an hour of them: after
            // that the average is as good as zero anyway).
            r.usual = r.usual * (1.0 - ALPHA) + f64::from(r.count) * ALPHA;
            for _ in 1..(minute - r.minute).min(60) {
                r.usual *= 1.0 - ALPHA;
            }
            r.minute = minute;
            r.count = 0;
        }
        r.count = r.count.saturating_add(1);
        let trusted = minute - r.first_minute >= BASELINE_MINUTES;
        let t = self.thresholds;
        let ceiling = (f64::from(t.read_factor) * r.usual).max(f64::from(t.read_floor));
        if trusted && f64::from(r.count) > ceiling && r.reported_minute != minute {
            r.reported_minute = minute;
            return Some(Anomaly::Scraping { reads: r.count, usual: r.usual });
        }
        None
    }

    /// Forgets keys idle for two hours (bounded memory).
    pub fn forget_idle(&self, minute: i64) {
        self.errors.retain(|_, e| minute - e.minute < FORGET_AFTER);
        self.reads.retain(|_, r| minute - r.minute < FORGET_AFTER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        Detector::new(Thresholds { errors_per_minute: 5, read_factor: 10, read_floor: 50 })
    }

    #[test]
    fn many_errors_in_a_minute_are_probing_reported_once() {
        let d = detector();
        let found: Vec<_> = (0..12).filter_map(|_| d.error("k", 100)).collect();
        assert_eq!(found, [Anomaly::Probing { errors: 6 }]);
        assert!(d.error("k", 101).is_none(), "a new minute starts a new count");
        assert!((0..5).all(|_| d.error("other", 100).is_none()));
    }

    #[test]
    fn a_burst_far_above_the_habit_is_scraping() {
        let d = detector();
        // Twenty minutes of 10 reads a minute: the habit.
        for minute in 0..20 {
            for _ in 0..10 {
                assert!(d.read("k", minute).is_none());
            }
        }
        // The ceiling is 10 × the habit (just under 10 a minute, the average still warming).
        let found: Vec<_> = (0..150).filter_map(|_| d.read("k", 20)).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(found[0], Anomaly::Scraping { reads, usual } if reads > 90 && (9.0..10.0).contains(&usual)));
    }

    #[test]
    fn a_new_credential_has_no_habit_to_break() {
        let d = detector();
        assert!((0..10_000).all(|_| d.read("fresh", 5).is_none()));
    }

    #[test]
    fn an_idle_key_reading_above_the_floor_is_scraping() {
        let d = detector();
        d.read("k", 0);
        assert!((0..50).all(|_| d.read("k", 30).is_none()), "at the floor");
        assert!(d.read("k", 30).is_some(), "above the floor");
    }
}
