//! Vault's user lockout for password-like logins (userpass users, AppRole role-ids).
//!
//! After `threshold` failed logins (5) the name is locked for `duration` (15 minutes): every
//! login is refused, the right password too, with the answer and the cost of a wrong
//! password, so a locked name cannot be told from a wrong guess. A failure older than
//! `counter_reset` (15 minutes) no longer counts; a successful login clears the count.
//!
//! The settings come with each request ([`LockoutConfig`], filled in by the core from the
//! mount's tune, the server's `user_lockout` block and Vault's defaults); this holds only the
//! state. Failure counts are in memory, per mount, and bounded: past [`MAX_TRACKED`] names the
//! stalest unlocked entry makes room, so spraying random names neither grows memory without
//! bound nor unlocks a locked name. Locks, as in Vault, are also written to the mount's own
//! (encrypted) storage under [`STATE_KEY`], so a restart does not unlock anyone; they are read
//! back on the first use after an unseal.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::clock::SharedClock;
pub use crate::logical::LockoutConfig;
use crate::logical::{Error, Storage};

/// The most names tracked at once per mount.
pub const MAX_TRACKED: usize = 100_000;

/// Where a mount keeps its locked names: one JSON object, name -> lock time (unix seconds).
/// One entry rather than one per name keeps the names out of storage keys.
pub const STATE_KEY: &str = "lockout/locked";

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: SystemTime,
    locked_at: Option<SystemTime>,
}

/// The failed logins of one mount.
pub struct Lockout {
    clock: SharedClock,
    names: Mutex<HashMap<String, Failures>>,
    /// Set once the stored locks have been read into `names`.
    loaded: tokio::sync::OnceCell<()>,
    /// Serialises writes of [`STATE_KEY`], so an older snapshot never overwrites a newer one.
    persist: tokio::sync::Mutex<()>,
}

impl Lockout {
    pub fn new(clock: SharedClock) -> Self {
        Lockout {
            clock,
            names: Mutex::new(HashMap::new()),
            loaded: tokio::sync::OnceCell::new(),
            persist: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the stored locks once. A storage error fails the login (closed), and is retried
    /// by the next one.
    async fn load(&self, storage: &dyn Storage) -> Result<(), Error> {
        self.loaded
            .get_or_try_init(|| async {
                let Some(raw) = storage.get(STATE_KEY).await? else {
                    return Ok(());
                };
                let stored: BTreeMap<String, u64> = serde_json::from_slice(&raw)
                    .map_err(|_| Error::internal("corrupt lockout state"))?;
                let mut names = self.names.lock();
                for (name, at) in stored {
                    let at = UNIX_EPOCH + Duration::from_secs(at);
                    names.entry(name).or_insert(Failures {
                        count: u32::MAX,
                        last: at,
                        locked_at: Some(at),
                    });
                }
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    /// Writes the names locked now under `config`.
    async fn save(&self, storage: &dyn Storage, config: &LockoutConfig) -> Result<(), Error> {
        let _order = self.persist.lock().await;
        let now = self.clock.now();
        let snapshot: BTreeMap<String, u64> = self
            .names
            .lock()
            .iter()
            .filter_map(|(n, f)| {
                let at = f.locked_at?;
                if stale(f, config, now) {
                    return None;
                }
                Some((n.clone(), at.duration_since(UNIX_EPOCH).ok()?.as_secs()))
            })
            .collect();
        if snapshot.is_empty() {
            return storage.delete(STATE_KEY).await;
        }
        let raw = serde_json::to_vec(&snapshot)
            .map_err(|_| Error::internal("cannot encode lockout state"))?;
        storage.put(STATE_KEY, raw).await
    }

    /// Whether `name` is locked now. Stale entries are dropped on the way.
    pub async fn is_locked(
        &self,
        storage: &dyn Storage,
        config: &LockoutConfig,
        name: &str,
    ) -> Result<bool, Error> {
        if config.disabled {
            return Ok(false);
        }
        self.load(storage).await?;
        let now = self.clock.now();
        let mut names = self.names.lock();
        let Some(f) = names.get(name).copied() else {
            return Ok(false);
        };
        if stale(&f, config, now) {
            names.remove(name);
            return Ok(false);
        }
        Ok(f.locked_at.is_some())
    }

    /// Counts a failed login of `name`; the one that reaches the threshold locks it, and the
    /// lock is stored before the answer goes out.
    pub async fn record_failure(
        &self,
        storage: &dyn Storage,
        config: &LockoutConfig,
        name: &str,
    ) -> Result<(), Error> {
        if config.disabled {
            return Ok(());
        }
        self.load(storage).await?;
        if self.count_failure(config, name) {
            self.save(storage, config).await?;
        }
        Ok(())
    }

    /// The in-memory half of [`Lockout::record_failure`]; whether this failure locked `name`.
    fn count_failure(&self, config: &LockoutConfig, name: &str) -> bool {
        let now = self.clock.now();
        let mut names = self.names.lock();
        if !names.contains_key(name) && names.len() >= MAX_TRACKED {
            make_room(&mut names, config, now);
        }
        let f = names.entry(name.to_string()).or_insert(Failures {
            count: 0,
            last: now,
            locked_at: None,
        });
        if stale(f, config, now) {
            *f = Failures {
                count: 0,
                last: now,
                locked_at: None,
            };
        }
        if f.locked_at.is_some() {
            // A try while locked neither extends nor shortens the lock.
            return false;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count >= config.threshold.max(1) {
            f.locked_at = Some(now);
            return true;
        }
        false
    }

    /// A successful login clears the count (a locked name never gets here).
    pub fn record_success(&self, name: &str) {
        self.names.lock().remove(name);
    }

    /// The names locked now, sorted, for `sys/locked-users`.
    pub async fn locked(
        &self,
        storage: &dyn Storage,
        config: &LockoutConfig,
    ) -> Result<Vec<String>, Error> {
        self.load(storage).await?;
        let now = self.clock.now();
        let mut names: Vec<String> = self
            .names
            .lock()
            .iter()
            .filter(|(_, f)| f.locked_at.is_some() && !stale(f, config, now))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Unlocks `name` (and clears its count), durably; whether it was locked.
    pub async fn unlock(
        &self,
        storage: &dyn Storage,
        config: &LockoutConfig,
        name: &str,
    ) -> Result<bool, Error> {
        self.load(storage).await?;
        let was = self
            .names
            .lock()
            .remove(name)
            .is_some_and(|f| f.locked_at.is_some());
        if was {
            self.save(storage, config).await?;
        }
        Ok(was)
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

    use super::*;
    use crate::clock::ManualClock;
    use crate::logical::InmemStorage;

    fn setup() -> (Arc<ManualClock>, Lockout, InmemStorage) {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        (clock.clone(), Lockout::new(clock), InmemStorage::new())
    }

    const D: LockoutConfig = LockoutConfig {
        threshold: 5,
        duration: Duration::from_secs(15 * 60),
        counter_reset: Duration::from_secs(15 * 60),
        disabled: false,
    };

    async fn fail(l: &Lockout, s: &InmemStorage, c: &LockoutConfig, name: &str) {
        l.record_failure(s, c, name).await.expect("record");
    }

    async fn locked(l: &Lockout, s: &InmemStorage, c: &LockoutConfig, name: &str) -> bool {
        l.is_locked(s, c, name).await.expect("is_locked")
    }

    #[tokio::test]
    async fn the_defaults_are_vaults() {
        assert_eq!(LockoutConfig::default(), D);
    }

    #[tokio::test]
    async fn five_failures_lock_for_fifteen_minutes() {
        let (clock, l, s) = setup();
        for _ in 0..4 {
            fail(&l, &s, &D, "alice").await;
            assert!(!locked(&l, &s, &D, "alice").await);
        }
        fail(&l, &s, &D, "alice").await;
        assert!(locked(&l, &s, &D, "alice").await);
        assert!(!locked(&l, &s, &D, "bob").await);
        assert_eq!(l.locked(&s, &D).await.unwrap(), vec!["alice".to_string()]);
        clock.advance(Duration::from_secs(15 * 60 - 1));
        fail(&l, &s, &D, "alice").await;
        assert!(
            locked(&l, &s, &D, "alice").await,
            "a try while locked must not unlock"
        );
        clock.advance(Duration::from_secs(1));
        assert!(!locked(&l, &s, &D, "alice").await);
        assert!(l.locked(&s, &D).await.unwrap().is_empty());
        // After the lock, the count starts over.
        fail(&l, &s, &D, "alice").await;
        assert!(!locked(&l, &s, &D, "alice").await);
    }

    #[tokio::test]
    async fn the_count_resets_after_fifteen_minutes_and_on_success() {
        let (clock, l, s) = setup();
        for _ in 0..4 {
            fail(&l, &s, &D, "alice").await;
        }
        clock.advance(Duration::from_secs(15 * 60));
        fail(&l, &s, &D, "alice").await;
        assert!(
            !locked(&l, &s, &D, "alice").await,
            "old failures still counted"
        );
        for _ in 0..3 {
            fail(&l, &s, &D, "alice").await;
        }
        l.record_success("alice");
        fail(&l, &s, &D, "alice").await;
        assert!(
            !locked(&l, &s, &D, "alice").await,
            "a success did not clear the count"
        );
    }

    #[tokio::test]
    async fn unlock_and_disable() {
        let (_clock, l, s) = setup();
        for _ in 0..5 {
            fail(&l, &s, &D, "alice").await;
        }
        assert!(l.unlock(&s, &D, "alice").await.unwrap());
        assert!(!locked(&l, &s, &D, "alice").await);
        assert!(!l.unlock(&s, &D, "alice").await.unwrap());
        let off = LockoutConfig {
            disabled: true,
            ..D
        };
        for _ in 0..10 {
            fail(&l, &s, &off, "bob").await;
        }
        assert!(!locked(&l, &s, &off, "bob").await);
        assert!(!locked(&l, &s, &D, "bob").await);
    }

    #[tokio::test]
    async fn the_settings_of_each_request_apply() {
        let (clock, l, s) = setup();
        let two = LockoutConfig {
            threshold: 2,
            duration: Duration::from_secs(60),
            counter_reset: Duration::from_secs(30),
            disabled: false,
        };
        fail(&l, &s, &two, "alice").await;
        clock.advance(Duration::from_secs(30));
        fail(&l, &s, &two, "alice").await;
        assert!(
            !locked(&l, &s, &two, "alice").await,
            "counter_reset ignored"
        );
        fail(&l, &s, &two, "alice").await;
        assert!(locked(&l, &s, &two, "alice").await, "threshold ignored");
        clock.advance(Duration::from_secs(60));
        assert!(!locked(&l, &s, &two, "alice").await, "duration ignored");
    }

    #[tokio::test]
    async fn locks_survive_a_new_instance_and_unlocks_too() {
        let (clock, l, s) = setup();
        for _ in 0..5 {
            fail(&l, &s, &D, "alice").await;
            fail(&l, &s, &D, "bob").await;
        }
        for _ in 0..4 {
            fail(&l, &s, &D, "carol").await;
        }
        let raw = s.get(STATE_KEY).await.unwrap().expect("stored");
        assert!(!String::from_utf8_lossy(&raw).contains("carol"));
        // A restart: the same storage, a fresh backend.
        let again = Lockout::new(clock.clone());
        assert!(locked(&again, &s, &D, "alice").await);
        assert_eq!(
            again.locked(&s, &D).await.unwrap(),
            vec!["alice".to_string(), "bob".to_string()]
        );
        assert!(!locked(&again, &s, &D, "carol").await);
        assert!(again.unlock(&s, &D, "alice").await.unwrap());
        let third = Lockout::new(clock.clone());
        assert_eq!(third.locked(&s, &D).await.unwrap(), vec!["bob".to_string()]);
        // The stored lock still ends on time.
        clock.advance(Duration::from_secs(15 * 60));
        assert!(!locked(&third, &s, &D, "bob").await);
        assert!(third.unlock(&s, &D, "nobody").await.is_ok());
    }

    #[tokio::test]
    async fn spraying_names_is_bounded_and_keeps_locks() {
        let (_clock, l, s) = setup();
        for _ in 0..5 {
            fail(&l, &s, &D, "alice").await;
        }
        for i in 0..MAX_TRACKED + 10 {
            l.count_failure(&D, &format!("spray{i}"));
        }
        assert!(l.names.lock().len() <= MAX_TRACKED);
        assert!(locked(&l, &s, &D, "alice").await);
    }
}
