//! Per-tenant and per-token rate limits for the gateway, checked before the request body is read.
//!
//! One GCRA ("generic cell rate algorithm") bucket per key. The caller builds the key
//! (`"route\0tenant"`, `"route\0<token hash>"`) and passes the quota with every call, because a
//! route's requests-per-minute may come from a per-tenant secret and so differ from key to key,
//! and may change between two calls for the same key.
//!
//! Why not the `governor` crate: its keyed limiter fixes one quota for the whole store, and its
//! keyed store grows with every key it has seen until the caller prunes it. Here the quota travels
//! with each request, and the state lives in a `moka` cache whose size is fixed at construction,
//! so a client inventing keys cannot grow memory.
//!
//! # The algorithm
//!
//! For a quota of `per_minute` requests and a `burst`:
//! - the emission interval `T = 60 s / per_minute`, in whole nanoseconds rounded up (so the
//!   long-run rate never exceeds `per_minute`; the difference is under 1 ns per request);
//! - the tolerance `τ = T × (burst − 1)`;
//! - each key keeps one number, its theoretical arrival time `TAT` (nanoseconds since the Unix
//!   epoch; 0 for a key never seen, which behaves as "full bucket").
//!
//! A request at `now` is allowed when `max(TAT, now) − now ≤ τ`, and then
//! `TAT = max(TAT, now) + T`. Otherwise it is refused, `TAT` is unchanged, and the wait until
//! the next request would be allowed is exactly `max(TAT, now) − now − τ`. Starting fresh,
//! `burst` requests at one instant are allowed and the next one waits `T`; requests spaced `T`
//! apart are allowed forever.
//!
//! Arithmetic is integer nanoseconds: `T ≤ 60·10⁹` fits a `u64`, `τ` is computed in `u128` and
//! clamped to `u64::MAX` (a tolerance of 584 years), and a `TAT` that would pass `u64::MAX`
//! (the year 2554) refuses rather than wraps. A clock that goes backwards only makes
//! `max(TAT, now) − now` larger, so it refuses more, never less.
//!
//! # Memory, and why forgetting a key is safe
//!
//! Keys live in a `moka::sync::Cache` holding at most `capacity` of them. Each entry expires
//! when it has gone unread for `τ + T` of the slowest quota it was checked under, plus a
//! second's margin (the cache's clock and ours are read a few microseconds apart). An allowed
//! request at `now` leaves `TAT ≤ now + τ + T`, and a refused one leaves `TAT` alone, so by the
//! time an entry expires, `now ≥ TAT`: its bucket is full, exactly the state a fresh key starts
//! in. Forgetting it changes no decision.
//!
//! What can change decisions is pressure on the capacity:
//! - when the cache is full, moka's TinyLFU admission may decline to keep a key it has seen only
//!   once or twice, so until that key is admitted each of its requests starts from a full
//!   bucket;
//! - a key evicted to make room loses its state and starts full again.
//!
//! TinyLFU favours keys seen often, which are the ones a limit is busy with, and a flood of
//! one-off keys mostly fails admission instead of evicting them. Still, `capacity` should be
//! well above the number of keys live at once (each entry costs its key plus a few hundred bytes).
//! A real clock stepped backwards by `d` after a key's last request can let its entry expire up
//! to `d` before its bucket is full in wall-clock terms; that is accepted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;
use thiserror::Error as ThisError;

use crate::clock::SharedClock;

const MINUTE_NANOS: u64 = 60_000_000_000;

/// Added to every entry's idle lifetime to cover the gap between moka's timestamp of a read and
/// our clock's reading of `now` for the same request.
const EXPIRY_MARGIN_NANOS: u64 = 1_000_000_000;

/// How many requests a key may make: `per_minute` on average, up to `burst` at once.
///
/// Both must be at least 1; [`Quota::new`] checks that. The fields are public so callers can
/// build and match quotas directly; [`RateLimiter::check`] treats a 0 in either as 1 rather
/// than dividing by zero or refusing everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

/// Why a quota is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ThisError)]
pub enum QuotaError {
    #[error("a rate limit must allow at least 1 request per minute")]
    ZeroRate,
    #[error("a rate limit's burst must be at least 1")]
    ZeroBurst,
}

impl Quota {
    pub fn new(per_minute: u32, burst: u32) -> Result<Quota, QuotaError> {
        if per_minute == 0 {
            return Err(QuotaError::ZeroRate);
        }
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        Ok(Quota { per_minute, burst })
    }
}

/// How long until the refused request would have been allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub std::time::Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header: rounded up, so a client that waits that long
    /// is allowed, and at least 1, because `Retry-After: 0` invites an immediate retry.
    pub fn header_seconds(&self) -> u64 {
        let wait = self.0;
        let seconds = wait
            .as_secs()
            .saturating_add(u64::from(wait.subsec_nanos() > 0));
        seconds.max(1)
    }
}

/// A quota in the algorithm's terms, nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Params {
    /// `T`: the time one request uses up.
    interval: u64,
    /// `τ`: how far ahead of `now` the `TAT` may be before a request is refused.
    tolerance: u64,
}

impl Params {
    fn of(quota: Quota) -> Params {
        let per_minute = u64::from(quota.per_minute.max(1));
        let interval = MINUTE_NANOS.div_ceil(per_minute);
        let tolerance = u128::from(interval) * u128::from(quota.burst.max(1) - 1);
        Params {
            interval,
            tolerance: u64::try_from(tolerance).unwrap_or(u64::MAX),
        }
    }

    /// The longest an allowed request can leave the `TAT` ahead of its `now`: after that long
    /// without requests, the bucket is full.
    fn refill(self) -> u64 {
        self.tolerance.saturating_add(self.interval)
    }
}

/// The GCRA decision for one request at `now` against a key's `tat`: the new `TAT` if allowed,
/// or the nanoseconds to wait if not.
fn decide(tat: u64, now: u64, params: Params) -> Result<u64, u64> {
    let start = tat.max(now);
    let ahead = start - now;
    if ahead > params.tolerance {
        return Err(ahead - params.tolerance);
    }
    // Only past the year 2554, or after centuries' worth of requests under a tolerance of
    // centuries: refuse, as there is no later time to move the TAT to.
    start.checked_add(params.interval).ok_or(u64::MAX)
}

fn nanos_since_epoch(t: SystemTime) -> u64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => u64::try_from(since.as_nanos()).unwrap_or(u64::MAX),
        // Before 1970: every such time is "0", which can only make decisions stricter.
        Err(_) => 0,
    }
}

/// One key's state.
struct Slot {
    /// The theoretical arrival time, nanoseconds since the Unix epoch.
    tat: AtomicU64,
    /// The largest [`Params::refill`] of the quotas this key was checked under, which is how
    /// long the entry must stay unread before forgetting it is safe.
    refill: AtomicU64,
}

impl Slot {
    fn new(refill: u64) -> Slot {
        Slot {
            tat: AtomicU64::new(0),
            refill: AtomicU64::new(refill),
        }
    }

    /// One request, atomically: concurrent requests for the key each see the TAT the previous
    /// one left. Relaxed ordering is enough because the TAT is the only shared datum and all
    /// read-modify-writes of one atomic are totally ordered.
    fn admit(&self, now: u64, params: Params) -> Result<(), u64> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = decide(tat, now, params)?;
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    fn idle_lifetime(&self) -> Duration {
        Duration::from_nanos(
            self.refill
                .load(Ordering::Relaxed)
                .saturating_add(EXPIRY_MARGIN_NANOS),
        )
    }
}

/// Each entry expires once unread for as long as its bucket takes to refill (see the module
/// documentation); moka restarts that countdown on every read.
struct UntilFull;

impl Expiry<String, Arc<Slot>> for UntilFull {
    fn expire_after_create(&self, _: &String, slot: &Arc<Slot>, _: Instant) -> Option<Duration> {
        Some(slot.idle_lifetime())
    }

    fn expire_after_read(
        &self,
        _: &String,
        slot: &Arc<Slot>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(slot.idle_lifetime())
    }

    fn expire_after_update(
        &self,
        _: &String,
        slot: &Arc<Slot>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.idle_lifetime())
    }
}

/// A bounded, shared GCRA limiter. Keys are strings the caller builds (e.g. `"route\0tenant"` or
/// `"route\0<token hash>"`); quotas are per call because a route's rate may be read per tenant.
///
/// Cloning is cheap and the clones share their state.
#[derive(Clone)]
pub struct RateLimiter {
    slots: Cache<String, Arc<Slot>>,
    clock: SharedClock,
}

impl RateLimiter {
    /// Keeps at most `capacity` keys (0 is taken as 1). A key forgotten because it went idle
    /// starts again with a full bucket, which is the state it had reached anyway; a key evicted
    /// for room does too, which is why `capacity` should exceed the keys live at once. The
    /// module documentation has the details.
    pub fn new(capacity: u64, clock: SharedClock) -> Self {
        RateLimiter {
            slots: Cache::builder()
                .max_capacity(capacity.max(1))
                .expire_after(UntilFull)
                .build(),
            clock,
        }
    }

    /// One request for `key` under `quota`: `Ok(())` if allowed, or how long until the next
    /// request for the key would be.
    pub fn check(&self, key: &str, quota: Quota) -> Result<(), RetryAfter> {
        let params = Params::of(quota);
        let refill = params.refill();
        let slot = self
            .slots
            .get_with_by_ref(key, || Arc::new(Slot::new(refill)));
        if slot.refill.fetch_max(refill, Ordering::Relaxed) < refill {
            // This quota refills more slowly than any this key was checked under, and moka set
            // the entry's lifetime from the old value when it was read above: read it again so
            // the lifetime covers what this request may add to the TAT.
            let _ = self.slots.get(key);
        }
        // Read after the cache lookup, so the entry's lifetime starts no later than `now`.
        let now = nanos_since_epoch(self.clock.now());
        slot.admit(now, params)
            .map_err(|wait| RetryAfter(Duration::from_nanos(wait)))
    }

    /// How many keys are kept, once moka's pending evictions have run (for metrics and tests).
    pub fn entry_count(&self) -> u64 {
        self.slots.run_pending_tasks();
        self.slots.entry_count()
    }
}

/// Shows only the size: the keys may name tenants or hold token hashes.
impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("keys", &self.slots.entry_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "tests_rate_limit.rs"]
mod tests;
