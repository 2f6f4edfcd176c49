//! The one source of "now" for rules that depend on time (token expiry, and later trash
//! purge, JITA expiry, throttling). Production uses the system clock; tests hold a
//! [`Clock::manual`] handle and move time instead of waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Offset added to the system time, in milliseconds; `None` for the plain system clock.
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { offset_ms: None }
    }

    /// A clock that starts at system time and moves forward only when told to.
    pub fn manual() -> Self {
        Self { offset_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.offset_ms {
            Some(off) => now + Duration::milliseconds(off.load(Ordering::SeqCst)),
            None => now,
        }
    }

    /// Moves a manual clock forward. On the system clock this does nothing.
    pub fn advance(&self, by: Duration) {
        if let Some(off) = &self.offset_ms {
            off.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }
    }
}
