//! An injected clock, so TTLs and expiry are testable without sleeping.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when a test advances it.
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock()
    }
}

/// Formats a time as Vault does: Go's RFC3339Nano, UTC, with trailing zeros of the fraction
/// trimmed (`2026-11-25T13:29:21.41017803Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let full = chrono::DateTime::<chrono::Utc>::from(t)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    // `full` always ends in `.NNNNNNNNNZ`.
    let body = full
        .trim_end_matches('Z')
        .trim_end_matches('0')
        .trim_end_matches('.');
    format!("{body}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_trims_like_go() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_613_361, 410_178_030);
        assert_eq!(rfc3339(t), "2026-11-25T13:29:21.41017803Z");
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_613_361, 0);
        assert_eq!(rfc3339(t), "2026-11-25T13:29:21Z");
    }
}
