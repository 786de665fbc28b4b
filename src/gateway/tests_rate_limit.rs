//! Tests of the GCRA limiter. Time comes from an injected clock, so nothing sleeps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use proptest::prelude::*;

use super::*;
use crate::clock::{Clock, ManualClock};

const MS: Duration = Duration::from_millis(1);

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn manual() -> (Arc<ManualClock>, RateLimiter) {
    let clock = Arc::new(ManualClock::new(start()));
    let limiter = RateLimiter::new(1000, clock.clone());
    (clock, limiter)
}

/// A clock a test can set anywhere, backwards included (`ManualClock` only moves forwards).
struct SetClock(Mutex<SystemTime>);

impl SetClock {
    fn set(&self, t: SystemTime) {
        *self.0.lock() = t;
    }
}

impl Clock for SetClock {
    fn now(&self) -> SystemTime {
        *self.0.lock()
    }
}

fn settable(at: SystemTime) -> (Arc<SetClock>, RateLimiter) {
    let clock = Arc::new(SetClock(Mutex::new(at)));
    let limiter = RateLimiter::new(1000, clock.clone());
    (clock, limiter)
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    Quota::new(per_minute, burst).unwrap()
}

fn refused(wait: Duration) -> Result<(), RetryAfter> {
    Err(RetryAfter(wait))
}

/// Checks `n` requests at the current instant and returns how many were allowed.
fn allowed(limiter: &RateLimiter, key: &str, q: Quota, n: usize) -> usize {
    (0..n).filter(|_| limiter.check(key, q).is_ok()).count()
}

#[test]
fn the_121st_request_at_one_instant_waits_one_interval() {
    let (clock, limiter) = manual();
    let q = quota(120, 120);
    for i in 0..120 {
        assert_eq!(limiter.check("r\0t", q), Ok(()), "request {}", i + 1);
    }
    let err = limiter.check("r\0t", q).unwrap_err();
    assert_eq!(err, RetryAfter(Duration::from_millis(500)));
    assert_eq!(err.header_seconds(), 1);

    // The wait is exact: a nanosecond early is still refused, and says so.
    clock.advance(Duration::from_nanos(499_999_999));
    assert_eq!(limiter.check("r\0t", q), refused(Duration::from_nanos(1)));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(limiter.check("r\0t", q), Ok(()));
    assert_eq!(
        limiter.check("r\0t", q),
        refused(Duration::from_millis(500))
    );
}

#[test]
fn the_header_rounds_up_to_whole_seconds_and_is_at_least_one() {
    let secs = |d: Duration| RetryAfter(d).header_seconds();
    assert_eq!(secs(Duration::ZERO), 1);
    assert_eq!(secs(Duration::from_nanos(1)), 1);
    assert_eq!(secs(Duration::from_secs(1)), 1);
    assert_eq!(secs(Duration::from_secs(1) + Duration::from_nanos(1)), 2);
    assert_eq!(secs(Duration::from_millis(59_500)), 60);
    assert_eq!(secs(Duration::from_secs(60)), 60);
    assert_eq!(secs(Duration::MAX), u64::MAX);
}

#[test]
fn the_retry_after_counts_down_with_the_clock() {
    let (clock, limiter) = manual();
    let q = quota(1, 1);
    assert_eq!(limiter.check("k", q), Ok(()));
    let err = limiter.check("k", q).unwrap_err();
    assert_eq!(err, RetryAfter(Duration::from_secs(60)));
    assert_eq!(err.header_seconds(), 60);

    clock.advance(Duration::from_millis(20_250));
    let err = limiter.check("k", q).unwrap_err();
    assert_eq!(err, RetryAfter(Duration::from_millis(39_750)));
    assert_eq!(err.header_seconds(), 40);
    // Refusals do not push the next allowed time back.
    clock.advance(Duration::from_millis(39_750));
    assert_eq!(limiter.check("k", q), Ok(()));
}

#[test]
fn a_sustained_rate_is_allowed_indefinitely() {
    let (clock, limiter) = manual();
    // Burst 1 is the strictest case: every request must be exactly one interval after the last.
    let strict = quota(120, 1);
    // With a full burst, spending it all first leaves the rate still sustainable.
    let full = quota(120, 120);
    assert_eq!(allowed(&limiter, "full", full, 120), 120);
    clock.advance(Duration::from_millis(500));
    for step in 0..10_000 {
        assert_eq!(limiter.check("strict", strict), Ok(()), "step {step}");
        assert_eq!(limiter.check("full", full), Ok(()), "step {step}");
        // ... and nothing above it.
        assert!(limiter.check("strict", strict).is_err(), "step {step}");
        assert!(limiter.check("full", full).is_err(), "step {step}");
        clock.advance(Duration::from_millis(500));
    }
}

#[test]
fn a_rate_slightly_too_fast_is_refused_once_the_burst_is_used_up() {
    let (clock, limiter) = manual();
    // T = 500 ms and τ = 4.5 s. Requests every 499 ms gain 1 ms on the TAT each, so request k
    // (from 0) finds it k ms ahead: k = 4500 is the last allowed.
    let q = quota(120, 10);
    for k in 0..=4500 {
        assert_eq!(limiter.check("k", q), Ok(()), "request {k}");
        clock.advance(Duration::from_millis(499));
    }
    assert_eq!(limiter.check("k", q), refused(MS));
}

#[test]
fn a_burst_smaller_than_the_rate_caps_what_accumulates() {
    let (clock, limiter) = manual();
    // 600 a minute is one per 100 ms; at most 5 at once.
    let q = quota(600, 5);
    assert_eq!(allowed(&limiter, "k", q, 5), 5);
    assert_eq!(limiter.check("k", q), refused(100 * MS));
    clock.advance(100 * MS);
    assert_eq!(allowed(&limiter, "k", q, 3), 1);
    // A long idle refills the bucket to the burst, not beyond.
    clock.advance(Duration::from_secs(60));
    assert_eq!(allowed(&limiter, "k", q, 20), 5);
}

#[test]
fn keys_are_independent() {
    let (_clock, limiter) = manual();
    let q = quota(60, 3);
    assert_eq!(allowed(&limiter, "route\0a", q, 10), 3);
    assert_eq!(allowed(&limiter, "route\0b", q, 10), 3);
    assert_eq!(allowed(&limiter, "other\0a", quota(60, 7), 10), 7);
    assert_eq!(
        limiter.check("route\0a", q),
        refused(Duration::from_secs(1))
    );
}

#[test]
fn the_number_of_keys_kept_is_bounded() {
    let clock = Arc::new(ManualClock::new(start()));
    let limiter = RateLimiter::new(100, clock);
    let q = quota(60, 1);
    for i in 0..1000 {
        limiter.check(&format!("route\0{i}"), q).unwrap();
    }
    let kept = limiter.entry_count();
    assert!(kept <= 100, "kept {kept} keys");
    assert!(kept > 0);
}

#[test]
fn concurrent_requests_on_one_key_admit_exactly_the_burst() {
    let clock = Arc::new(ManualClock::new(start()));
    let limiter = RateLimiter::new(1000, clock);
    let q = quota(1, 500);
    let total: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| s.spawn(|| allowed(&limiter, "hot", q, 200)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(total, 500);
    assert!(limiter.check("hot", q).is_err());
}

#[test]
fn a_clock_going_backwards_grants_nothing_extra() {
    let (clock, limiter) = settable(start());
    let q = quota(60, 3);
    assert_eq!(allowed(&limiter, "k", q, 3), 3);
    assert_eq!(limiter.check("k", q), refused(Duration::from_secs(1)));
    clock.set(start() - Duration::from_secs(10));
    assert_eq!(limiter.check("k", q), refused(Duration::from_secs(11)));
    clock.set(start());
    assert_eq!(limiter.check("k", q), refused(Duration::from_secs(1)));
    clock.set(start() + Duration::from_secs(1));
    assert_eq!(allowed(&limiter, "k", q, 3), 1);

    // Times outside what a u64 of nanoseconds since 1970 holds neither panic nor allow more.
    clock.set(SystemTime::UNIX_EPOCH - Duration::from_secs(1_000));
    assert!(limiter.check("k", q).is_err());
    assert_eq!(allowed(&limiter, "before 1970", q, 5), 3);
    clock.set(SystemTime::UNIX_EPOCH + Duration::from_secs(600 * 366 * 86_400));
    assert!(limiter.check("k", q).is_err());
    assert!(limiter.check("after 2554", q).is_err());
}

#[test]
fn the_extremes_do_not_overflow() {
    let (clock, limiter) = manual();

    // One a minute with a burst of a million: τ is 6·10¹⁶ ns, about 1.9 years.
    let slow = quota(1, 1_000_000);
    assert_eq!(allowed(&limiter, "slow", slow, 1_000_000), 1_000_000);
    assert_eq!(
        limiter.check("slow", slow),
        refused(Duration::from_secs(60))
    );

    // A million a minute: one per 60 µs.
    let fast = quota(1_000_000, 1);
    assert_eq!(limiter.check("fast", fast), Ok(()));
    clock.advance(Duration::from_nanos(59_999));
    assert_eq!(
        limiter.check("fast", fast),
        refused(Duration::from_nanos(1))
    );
    clock.advance(Duration::from_nanos(1));
    assert_eq!(limiter.check("fast", fast), Ok(()));

    // The largest quotas a u32 allows.
    assert_eq!(
        Params::of(quota(1, 1_000_000)),
        Params {
            interval: 60_000_000_000,
            tolerance: 60_000_000_000 * 999_999
        }
    );
    let widest = Params::of(quota(1, u32::MAX));
    assert_eq!(widest.tolerance, u64::MAX);
    assert_eq!(widest.refill(), u64::MAX);
    // 60 s / 4294967295 is 13.97 ns: rounded up so the rate is never exceeded.
    assert_eq!(Params::of(quota(u32::MAX, u32::MAX)).interval, 14);
    assert_eq!(allowed(&limiter, "widest", quota(1, u32::MAX), 1000), 1000);
    assert_eq!(allowed(&limiter, "tightest", quota(u32::MAX, 1), 1000), 1);

    // A TAT at the end of time refuses instead of wrapping.
    assert_eq!(decide(u64::MAX - 5, u64::MAX - 10, widest), Err(u64::MAX));
    assert_eq!(decide(0, u64::MAX, Params::of(quota(1, 1))), Err(u64::MAX));
}

#[test]
fn a_quota_needs_a_rate_and_a_burst() {
    assert_eq!(Quota::new(0, 1), Err(QuotaError::ZeroRate));
    assert_eq!(Quota::new(1, 0), Err(QuotaError::ZeroBurst));
    assert_eq!(
        Quota::new(7, 3),
        Ok(Quota {
            per_minute: 7,
            burst: 3
        })
    );
    // Built by hand with zeros, a quota is read as 1 and 1 instead of panicking.
    let (_clock, limiter) = manual();
    let zero = Quota {
        per_minute: 0,
        burst: 0,
    };
    assert_eq!(limiter.check("k", zero), Ok(()));
    assert_eq!(limiter.check("k", zero), refused(Duration::from_secs(60)));
}

#[test]
fn an_entry_lives_as_long_as_its_slowest_quota_takes_to_refill() {
    let (_clock, limiter) = manual();
    let margin = Duration::from_nanos(EXPIRY_MARGIN_NANOS);
    let lifetime = |key: &str| limiter.slots.get(key).unwrap().idle_lifetime();

    limiter.check("k", quota(120, 120)).unwrap();
    assert_eq!(lifetime("k"), Duration::from_secs(60) + margin);
    limiter.check("k", quota(60, 3)).unwrap();
    assert_eq!(lifetime("k"), Duration::from_secs(60) + margin);
    limiter.check("k", quota(1, 5)).unwrap();
    assert_eq!(lifetime("k"), Duration::from_secs(300) + margin);
    // A faster quota later does not shorten it: the TAT may still be far ahead.
    // (refused: the TAT is a minute ahead, far past this quota's tolerance)
    assert!(limiter.check("k", quota(600, 1)).is_err());
    assert_eq!(lifetime("k"), Duration::from_secs(300) + margin);

    // The lifetime moka uses is the slot's.
    let slot = limiter.slots.get("k").unwrap();
    let now = Instant::now();
    let key = "k".to_string();
    let expected = Some(Duration::from_secs(300) + margin);
    assert_eq!(UntilFull.expire_after_create(&key, &slot, now), expected);
    assert_eq!(
        UntilFull.expire_after_read(&key, &slot, now, None, now),
        expected
    );
    assert_eq!(
        UntilFull.expire_after_update(&key, &slot, now, None),
        expected
    );
}

/// The reference: GCRA in its other textbook form ("the new TAT may be at most `T × burst`
/// ahead"), in u128 so nothing is clamped.
#[derive(Default)]
struct Model {
    tat: HashMap<usize, u128>,
}

impl Model {
    fn check(&mut self, key: usize, q: Quota, now: u128) -> Result<(), u128> {
        let per_minute = u128::from(q.per_minute);
        let interval = 60_000_000_000u128.div_ceil(per_minute);
        let limit = interval * u128::from(q.burst);
        let tat = self.tat.get(&key).copied().unwrap_or(0);
        let new_tat = tat.max(now) + interval;
        if new_tat - now > limit {
            return Err(new_tat - now - limit);
        }
        self.tat.insert(key, new_tat);
        Ok(())
    }
}

const QUOTAS: [Quota; 6] = [
    Quota {
        per_minute: 120,
        burst: 120,
    },
    Quota {
        per_minute: 600,
        burst: 5,
    },
    Quota {
        per_minute: 1,
        burst: 3,
    },
    Quota {
        per_minute: 7,
        burst: 2,
    },
    Quota {
        per_minute: 1_000_000,
        burst: 1,
    },
    Quota {
        per_minute: 60,
        burst: 1,
    },
];

/// A step: which key, which quota, and how far the clock moves first (negative is backwards).
fn step() -> impl Strategy<Value = (usize, usize, i64)> {
    let advance = prop_oneof![
        3 => Just(0i64),
        3 => 0i64..2_000_000_000,
        2 => 0i64..120_000_000_000,
        1 => -3_000_000_000i64..0,
        1 => 0i64..100_000,
    ];
    (0..4usize, 0..QUOTAS.len(), advance)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every decision and every wait matches the reference, over random keys, quotas
    /// (changing between requests for one key too) and clock moves, backwards included; and an
    /// allowed request never leaves the TAT further ahead than the entry's lifetime covers.
    #[test]
    fn matches_a_reference_gcra(
        steps in prop::collection::vec(step(), 1..300),
        fixed_quota_per_key in any::<bool>(),
    ) {
        let base = 1_800_000_000_000_000_000i64;
        let mut now = base;
        let (clock, limiter) = settable(SystemTime::UNIX_EPOCH);
        let mut model = Model::default();
        for (key, quota_index, advance) in steps {
            now += advance;
            let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(now).unwrap());
            clock.set(at);
            let q = QUOTAS[if fixed_quota_per_key { key % QUOTAS.len() } else { quota_index }];
            let name = format!("route\0{key}");

            let got = limiter.check(&name, q);
            let want = model.check(key, q, u128::try_from(now).unwrap());
            let want = want
                .map_err(|wait| RetryAfter(Duration::from_nanos(u64::try_from(wait).unwrap())));
            prop_assert_eq!(got, want);

            let slot = limiter.slots.get(name.as_str()).unwrap();
            let tat = slot.tat.load(Ordering::Relaxed);
            let refill = slot.refill.load(Ordering::Relaxed);
            if got.is_ok() {
                prop_assert!(tat <= u64::try_from(now).unwrap() + refill);
            }
        }
    }
}
