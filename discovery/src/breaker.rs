//! Circuit breakers, per service and per instance, per core.
//!
//! A breaker counts outcomes in a sliding window and, when the error rate is
//! high over enough samples, opens: calls fail fast (or, per instance, the
//! balancer skips the instance) for a cool-down, after which it lets single
//! probes through (half-open); enough probe successes close it, a failure
//! reopens it.
//!
//! Defaults, from Kitex and the breaker it uses:
//! error rate 0.5 over at least 200 samples (`pkg/circuitbreak/cbsuite.go`,
//! `defaultCBConfig`); a 10 s window of 100 buckets of 100 ms, a 5 s
//! cool-down, one probe per 200 ms when half-open, and 2 probe successes to
//! close (bytedance/gopkg `cloud/circuitbreaker/circuitbreaker.go` and
//! `breaker.go` defaults). Timeouts count as errors, as there.
//!
//! Counters are per core (`&mut self`, no atomics): each core decides from
//! its own traffic, so a core's breaker needs its own 200 samples. Time goes
//! in as `Instant`; the engine passes its loop's coarse clock.

use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Change, Error, Result};

/// Options of a [`Breaker`]. See the module docs for where the defaults come
/// from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerOptions {
    /// Error rate (failures + timeouts over all) at which it opens. 0.5.
    pub error_rate: f64,
    /// Samples in the window needed before it may open. 200.
    pub min_samples: u64,
    /// Length of the sliding window. 10 s.
    pub window: Duration,
    /// Buckets the window is cut into. 100.
    pub buckets: u32,
    /// Time open before the first probe. 5 s.
    pub cool_down: Duration,
    /// Time between probes while half-open. 200 ms.
    pub probe_interval: Duration,
    /// Consecutive probe successes that close it. 2.
    pub half_open_successes: u32,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            error_rate: 0.5,
            min_samples: 200,
            window: Duration::from_secs(10),
            buckets: 100,
            cool_down: Duration::from_secs(5),
            probe_interval: Duration::from_millis(200),
            half_open_successes: 2,
        }
    }
}

impl BreakerOptions {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(Error::InvalidConfig("breaker error_rate must be in 0..=1"));
        }
        if self.buckets == 0 || self.window < Duration::from_nanos(u64::from(self.buckets)) {
            return Err(Error::InvalidConfig(
                "breaker needs buckets > 0 and a window >= buckets ns",
            ));
        }
        Ok(())
    }
}

/// How a call ended, as far as a breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded (business errors count as success).
    Success,
    /// It failed (connection, protocol, remote framework error).
    Failure,
    /// It timed out.
    Timeout,
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// Single probes pass, one per probe interval.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    ok: u32,
    /// Failures and timeouts.
    err: u32,
    /// Timeouts (also counted in `err`).
    timeouts: u32,
}

/// The sliding window: a ring of buckets stamped with their epoch and
/// running totals, so recording and reading are O(1) amortized.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    bucket_ns: u64,
    buckets: Vec<Bucket>,
    epoch: u64,
    ok: u64,
    err: u64,
    timeouts: u64,
}

impl Window {
    fn new(options: &BreakerOptions, now: Instant) -> Self {
        Window {
            origin: now,
            bucket_ns: (options.window.as_nanos() / u128::from(options.buckets)).max(1) as u64,
            buckets: vec![Bucket::default(); options.buckets as usize],
            epoch: 0,
            ok: 0,
            err: 0,
            timeouts: 0,
        }
    }

    fn advance(&mut self, now: Instant) -> usize {
        let e = now.saturating_duration_since(self.origin).as_nanos() as u64 / self.bucket_ns;
        let n = self.buckets.len() as u64;
        if e > self.epoch {
            let steps = (e - self.epoch).min(n);
            for k in 1..=steps {
                let b = &mut self.buckets[((self.epoch + k) % n) as usize];
                self.ok -= u64::from(b.ok);
                self.err -= u64::from(b.err);
                self.timeouts -= u64::from(b.timeouts);
                *b = Bucket::default();
            }
            self.epoch = e;
        }
        (self.epoch % n) as usize
    }

    fn record(&mut self, now: Instant, outcome: Outcome) {
        let i = self.advance(now);
        let b = &mut self.buckets[i];
        match outcome {
            Outcome::Success => {
                b.ok += 1;
                self.ok += 1;
            }
            Outcome::Failure | Outcome::Timeout => {
                b.err += 1;
                self.err += 1;
                if outcome == Outcome::Timeout {
                    b.timeouts += 1;
                    self.timeouts += 1;
                }
            }
        }
    }

    fn reset(&mut self, now: Instant) {
        self.buckets.fill(Bucket::default());
        self.origin = now;
        self.epoch = 0;
        self.ok = 0;
        self.err = 0;
        self.timeouts = 0;
    }
}

/// One circuit breaker (per core). See the module docs.
#[derive(Debug, Clone)]
pub struct Breaker {
    options: BreakerOptions,
    state: BreakerState,
    window: Window,
    opened_at: Instant,
    last_probe: Instant,
    probe_successes: u32,
    /// Times it opened.
    opened: u64,
    /// Calls [`allow`](Self::allow) refused.
    rejected: u64,
}

/// A breaker's state and counts at one instant: what a metrics exporter or
/// a middleware reads (see [`Breaker::snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSnapshot {
    /// The state.
    pub state: BreakerState,
    /// Successes in the window.
    pub successes: u64,
    /// Failures in the window (timeouts not included).
    pub failures: u64,
    /// Timeouts in the window.
    pub timeouts: u64,
    /// Times the breaker opened since it was made.
    pub opened: u64,
    /// Calls it refused since it was made.
    pub rejected: u64,
}

impl Breaker {
    /// A closed breaker with `options` (see [`BreakerOptions::validate`]).
    pub fn new(options: BreakerOptions, now: Instant) -> Self {
        Breaker {
            window: Window::new(&options, now),
            options,
            state: BreakerState::Closed,
            opened_at: now,
            last_probe: now,
            probe_successes: 0,
            opened: 0,
            rejected: 0,
        }
    }

    /// The current state (an open breaker whose cool-down ended still reads
    /// `Open` until [`allow`](Self::allow) lets a probe through).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call at `now` would be let through, without changing
    /// anything. Use it in a balancer's `admit` filter, then call
    /// [`allow`](Self::allow) for the instance actually picked.
    #[inline]
    pub fn would_allow(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => now >= self.opened_at + self.options.cool_down,
            BreakerState::HalfOpen => now >= self.last_probe + self.options.probe_interval,
        }
    }

    /// Asks to send a call at `now`. When open past the cool-down it turns
    /// half-open and lets this call through as a probe.
    #[inline]
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if now < self.opened_at + self.options.cool_down {
                    self.rejected += 1;
                    return false;
                }
                self.state = BreakerState::HalfOpen;
                self.probe_successes = 0;
                self.last_probe = now;
                true
            }
            BreakerState::HalfOpen => {
                if now < self.last_probe + self.options.probe_interval {
                    self.rejected += 1;
                    return false;
                }
                self.last_probe = now;
                true
            }
        }
    }

    /// Records how a call ended at `now`.
    pub fn record(&mut self, now: Instant, outcome: Outcome) {
        let ok = outcome == Outcome::Success;
        match self.state {
            BreakerState::Closed => {
                self.window.record(now, outcome);
                if !ok && self.should_trip() {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => {
                if ok {
                    self.probe_successes += 1;
                    if self.probe_successes >= self.options.half_open_successes {
                        self.state = BreakerState::Closed;
                        self.window.reset(now);
                    }
                } else {
                    self.open(now);
                }
            }
            // A call let through before opening finished late: ignore it.
            BreakerState::Open => {}
        }
    }

    fn should_trip(&self) -> bool {
        let total = self.window.ok + self.window.err;
        total >= self.options.min_samples
            && total > 0
            && self.window.err as f64 / total as f64 >= self.options.error_rate
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.probe_successes = 0;
        self.opened += 1;
    }

    /// Samples in the window at `now` (successes, errors).
    pub fn samples(&mut self, now: Instant) -> (u64, u64) {
        self.window.advance(now);
        (self.window.ok, self.window.err)
    }

    /// The state and counts at `now` (the window slid to `now` first).
    pub fn snapshot(&mut self, now: Instant) -> BreakerSnapshot {
        self.window.advance(now);
        BreakerSnapshot {
            state: self.state,
            successes: self.window.ok,
            failures: self.window.err - self.window.timeouts,
            timeouts: self.window.timeouts,
            opened: self.opened,
            rejected: self.rejected,
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &BreakerOptions {
        &self.options
    }
}

/// Breakers by key (per core): per service (key: e.g.
/// `"caller/callee/method"`, Kitex's `RPCInfo2Key`) or per instance (key:
/// its address, see [`InstanceBreakers`]). Created closed on first use.
#[derive(Debug, Clone)]
pub struct BreakerSet<K> {
    options: BreakerOptions,
    breakers: HashMap<K, Breaker>,
}

/// Per-instance breakers of one core.
pub type InstanceBreakers = BreakerSet<SocketAddr>;

impl<K: Hash + Eq> BreakerSet<K> {
    /// An empty set; every breaker gets `options`.
    pub fn new(options: BreakerOptions) -> Result<Self> {
        options.validate()?;
        Ok(BreakerSet {
            options,
            breakers: HashMap::default(),
        })
    }

    /// See [`Breaker::would_allow`]; a key never seen is allowed.
    #[inline]
    pub fn would_allow(&self, key: &K, now: Instant) -> bool {
        self.breakers.get(key).is_none_or(|b| b.would_allow(now))
    }

    /// See [`Breaker::allow`].
    #[inline]
    pub fn allow(&mut self, key: &K, now: Instant) -> bool {
        self.breakers.get_mut(key).is_none_or(|b| b.allow(now))
    }

    /// See [`Breaker::record`]; creates the breaker on first record.
    pub fn record(&mut self, key: K, now: Instant, outcome: Outcome) {
        let options = self.options;
        self.breakers
            .entry(key)
            .or_insert_with(|| Breaker::new(options, now))
            .record(now, outcome);
    }

    /// The state for `key` (closed if never seen).
    pub fn state(&self, key: &K) -> BreakerState {
        self.breakers
            .get(key)
            .map_or(BreakerState::Closed, Breaker::state)
    }

    /// Drops the breaker of `key`.
    pub fn remove(&mut self, key: &K) {
        self.breakers.remove(key);
    }

    /// The state and counts of `key`'s breaker at `now`, if it exists.
    pub fn snapshot_of(&mut self, key: &K, now: Instant) -> Option<BreakerSnapshot> {
        self.breakers.get_mut(key).map(|b| b.snapshot(now))
    }

    /// Every breaker with its state and counts at `now` (see
    /// [`Breaker::snapshot`]), in no particular order.
    pub fn snapshot(&mut self, now: Instant) -> impl Iterator<Item = (&K, BreakerSnapshot)> {
        self.breakers
            .iter_mut()
            .map(move |(k, b)| (k, b.snapshot(now)))
    }

    /// How many breakers exist.
    pub fn len(&self) -> usize {
        self.breakers.len()
    }

    /// Whether none exists.
    pub fn is_empty(&self) -> bool {
        self.breakers.is_empty()
    }
}

impl BreakerSet<SocketAddr> {
    /// Drops the breakers of instances a discovery change removed.
    pub fn apply(&mut self, change: &Change) {
        for inst in &change.removed {
            self.breakers.remove(&inst.addr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn feed(b: &mut Breaker, now: Instant, ok: u32, err: u32) {
        for _ in 0..ok {
            b.record(now, Outcome::Success);
        }
        for _ in 0..err {
            b.record(now, Outcome::Failure);
        }
    }

    #[test]
    fn opens_only_past_min_samples_and_rate() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        // 199 samples, all errors: below min sample.
        feed(&mut b, t0, 0, 199);
        assert_eq!(b.state(), BreakerState::Closed);
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        // 200 samples at 49.5 % errors: below the rate.
        feed(&mut b, t0, 101, 99);
        b.record(t0, Outcome::Failure);
        assert_eq!(b.state(), BreakerState::Closed, "100/201 < 0.5");
        b.record(t0, Outcome::Timeout);
        assert_eq!(b.state(), BreakerState::Open, "101/202 >= 0.5");
        assert!(!b.allow(t0 + MS));
    }

    #[test]
    fn cool_down_probe_and_close() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        feed(&mut b, t0, 0, 200);
        assert_eq!(b.state(), BreakerState::Open);
        let t1 = t0 + Duration::from_secs(5);
        assert!(!b.would_allow(t1 - MS));
        assert!(b.would_allow(t1));
        assert!(b.allow(t1), "first probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(t1 + 100 * MS), "one probe per 200 ms");
        b.record(t1 + 10 * MS, Outcome::Success);
        assert!(b.allow(t1 + 200 * MS));
        b.record(t1 + 210 * MS, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.samples(t1 + 210 * MS), (0, 0), "window reset on close");
    }

    #[test]
    fn failed_probe_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        feed(&mut b, t0, 0, 200);
        let t1 = t0 + Duration::from_secs(5);
        assert!(b.allow(t1));
        b.record(t1, Outcome::Timeout);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(t1 + Duration::from_secs(4)));
        assert!(b.allow(t1 + Duration::from_secs(5)));
    }

    #[test]
    fn old_samples_slide_out_of_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        feed(&mut b, t0, 0, 150);
        // 10 s later the errors are gone; fresh successes do not trip.
        let t1 = t0 + Duration::from_secs(10) + 100 * MS;
        assert_eq!(b.samples(t1), (0, 0));
        feed(&mut b, t1, 100, 100);
        assert_eq!(b.state(), BreakerState::Open, "100/200 in the new window");
        let mut b = Breaker::new(BreakerOptions::default(), t0);
        feed(&mut b, t0, 0, 150);
        let half = t0 + Duration::from_secs(5);
        feed(&mut b, half, 0, 50);
        assert_eq!(b.state(), BreakerState::Open, "150 + 50 within 10 s");
    }

    #[test]
    fn snapshot_counts_failures_timeouts_openings_and_rejections() {
        let t0 = Instant::now();
        let options = BreakerOptions {
            min_samples: 4,
            ..BreakerOptions::default()
        };
        let mut b = Breaker::new(options, t0);
        for o in [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Timeout,
            Outcome::Failure,
        ] {
            b.record(t0, o);
        }
        assert!(!b.allow(t0 + MS));
        assert!(!b.allow(t0 + 2 * MS));
        assert_eq!(
            b.snapshot(t0 + 2 * MS),
            BreakerSnapshot {
                state: BreakerState::Open,
                successes: 1,
                failures: 2,
                timeouts: 1,
                opened: 1,
                rejected: 2,
            }
        );
        // Slid out of the window, the counts go; the history stays.
        let later = b.snapshot(t0 + Duration::from_secs(11));
        assert_eq!((later.successes, later.failures, later.timeouts), (0, 0, 0));
        assert_eq!((later.opened, later.rejected), (1, 2));
    }

    #[test]
    fn instance_set_skips_open_and_forgets_removed() {
        use std::sync::Arc;
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut set = InstanceBreakers::new(BreakerOptions::default()).unwrap();
        assert!(set.would_allow(&a, t0));
        for _ in 0..200 {
            set.record(a, t0, Outcome::Failure);
        }
        assert!(!set.would_allow(&a, t0 + MS));
        assert_eq!(set.state(&a), BreakerState::Open);
        let change = Change {
            removed: vec![Arc::new(crate::Instance::new(a))],
            ..Default::default()
        };
        set.apply(&change);
        assert!(set.is_empty());
        assert!(
            InstanceBreakers::new(BreakerOptions {
                error_rate: 2.0,
                ..Default::default()
            })
            .is_err()
        );
    }
}
