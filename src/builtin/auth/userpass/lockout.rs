//! Vault's user lockout for password-like logins (userpass users, AppRole role-ids).
//!
//! After `threshold` failed logins (5) the name is locked for `duration` (15 minutes): every
//! login is refused, the right password too, with the answer and the cost of a wrong
//! password, so a locked name cannot be told from a wrong guess. A failure older than
//! `counter_reset` (15 minutes) no longer counts; a successful login clears the count.
//!
//! The state is in memory, per mount, and bounded: past [`MAX_TRACKED`] names the stalest
//! unlocked entry makes room, so spraying random names neither grows memory without bound
//! nor unlocks a locked name.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use crate::clock::SharedClock;

/// The most names tracked at once per mount.
pub const MAX_TRACKED: usize = 100_000;

/// Vault's `user_lockout` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    pub threshold: u32,
    pub duration: Duration,
    pub counter_reset: Duration,
    pub disabled: bool,
}

impl Default for LockoutConfig {
    /// Vault's defaults: 5 failures, locked 15 minutes, the count reset after 15 minutes.
    fn default() -> Self {
        LockoutConfig {
            threshold: 5,
            duration: Duration::from_secs(15 * 60),
            counter_reset: Duration::from_secs(15 * 60),
            disabled: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: SystemTime,
    locked_at: Option<SystemTime>,
}

/// The failed logins of one mount.
pub struct Lockout {
    clock: SharedClock,
    config: Mutex<LockoutConfig>,
    names: Mutex<HashMap<String, Failures>>,
}

impl Lockout {
    pub fn new(clock: SharedClock) -> Self {
        Lockout {
            clock,
            config: Mutex::new(LockoutConfig::default()),
            names: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> LockoutConfig {
        *self.config.lock()
    }

    pub fn set_config(&self, config: LockoutConfig) {
        *self.config.lock() = config;
    }

    /// Whether `name` is locked now. Stale entries are dropped on the way.
    pub fn is_locked(&self, name: &str) -> bool {
        let config = self.config();
        if config.disabled {
            return false;
        }
        let now = self.clock.now();
        let mut names = self.names.lock();
        let Some(f) = names.get(name).copied() else {
            return false;
        };
        if stale(&f, &config, now) {
            names.remove(name);
            return false;
        }
        f.locked_at.is_some()
    }

    /// Counts a failed login of `name`; the one that reaches the threshold locks it.
    pub fn record_failure(&self, name: &str) {
        let config = self.config();
        if config.disabled {
            return;
        }
        let now = self.clock.now();
        let mut names = self.names.lock();
        if !names.contains_key(name) && names.len() >= MAX_TRACKED {
            make_room(&mut names, &config, now);
        }
        let f = names.entry(name.to_string()).or_insert(Failures {
            count: 0,
            last: now,
            locked_at: None,
        });
        if stale(f, &config, now) {
            *f = Failures {
                count: 0,
                last: now,
                locked_at: None,
            };
        }
        if f.locked_at.is_some() {
            // A try while locked neither extends nor shortens the lock.
            return;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count >= config.threshold.max(1) {
            f.locked_at = Some(now);
        }
    }

    /// A successful login clears the count.
    pub fn record_success(&self, name: &str) {
        self.names.lock().remove(name);
    }

    /// The names locked now, for `sys/locked-users`.
    pub fn locked(&self) -> Vec<String> {
        let config = self.config();
        let now = self.clock.now();
        let mut names: Vec<String> = self
            .names
            .lock()
            .iter()
            .filter(|(_, f)| f.locked_at.is_some() && !stale(f, &config, now))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Unlocks `name` (and clears its count); whether it was locked.
    pub fn unlock(&self, name: &str) -> bool {
        self.names
            .lock()
            .remove(name)
            .is_some_and(|f| f.locked_at.is_some())
    }
}

/// A lock ends after `duration`; an unlocked count after `counter_reset` since the last
/// failure. A clock that went backwards counts as no time passed.
fn stale(f: &Failures, config: &LockoutConfig, now: SystemTime) -> bool {
    match f.locked_at {
        Some(at) => now.duration_since(at).unwrap_or_default() >= config.duration,
        None => now.duration_since(f.last).unwrap_or_default() >= config.counter_reset,
    }
}

/// Drops every stale entry; if none was, the unlocked entry with the oldest failure.
fn make_room(names: &mut HashMap<String, Failures>, config: &LockoutConfig, now: SystemTime) {
    let before = names.len();
    names.retain(|_, f| !stale(f, config, now));
    if names.len() < before {
        return;
    }
    let oldest = names
        .iter()
        .filter(|(_, f)| f.locked_at.is_none())
        .min_by_key(|(_, f)| f.last)
        .map(|(n, _)| n.clone());
    if let Some(name) = oldest {
        names.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::ManualClock;

    fn setup() -> (Arc<ManualClock>, Lockout) {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        (clock.clone(), Lockout::new(clock))
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let (clock, l) = setup();
        for _ in 0..4 {
            l.record_failure("alice");
            assert!(!l.is_locked("alice"));
        }
        l.record_failure("alice");
        assert!(l.is_locked("alice"));
        assert!(!l.is_locked("bob"));
        assert_eq!(l.locked(), vec!["alice".to_string()]);
        clock.advance(Duration::from_secs(15 * 60 - 1));
        l.record_failure("alice");
        assert!(l.is_locked("alice"), "a try while locked must not unlock");
        clock.advance(Duration::from_secs(1));
        assert!(!l.is_locked("alice"));
        assert!(l.locked().is_empty());
        // After the lock, the count starts over.
        l.record_failure("alice");
        assert!(!l.is_locked("alice"));
    }

    #[test]
    fn the_count_resets_after_fifteen_minutes_and_on_success() {
        let (clock, l) = setup();
        for _ in 0..4 {
            l.record_failure("alice");
        }
        clock.advance(Duration::from_secs(15 * 60));
        l.record_failure("alice");
        assert!(!l.is_locked("alice"), "old failures still counted");
        for _ in 0..3 {
            l.record_failure("alice");
        }
        l.record_success("alice");
        l.record_failure("alice");
        assert!(!l.is_locked("alice"), "a success did not clear the count");
    }

    #[test]
    fn unlock_and_disable() {
        let (_clock, l) = setup();
        for _ in 0..5 {
            l.record_failure("alice");
        }
        assert!(l.unlock("alice"));
        assert!(!l.is_locked("alice"));
        assert!(!l.unlock("alice"));
        l.set_config(LockoutConfig {
            disabled: true,
            ..LockoutConfig::default()
        });
        for _ in 0..10 {
            l.record_failure("bob");
        }
        assert!(!l.is_locked("bob"));
    }

    #[test]
    fn spraying_names_is_bounded_and_keeps_locks() {
        let (_clock, l) = setup();
        for _ in 0..5 {
            l.record_failure("alice");
        }
        for i in 0..MAX_TRACKED + 10 {
            l.record_failure(&format!("spray{i}"));
        }
        assert!(l.names.lock().len() <= MAX_TRACKED);
        assert!(l.is_locked("alice"));
    }
}
