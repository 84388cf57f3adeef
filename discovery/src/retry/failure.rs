//! Failure retry: try again after a retryable failure.

use std::time::{Duration, Instant};

use super::{RetryBudget, Tried};
use crate::rng::FastRng;
use crate::{Error, Instance, Result};

/// Kitex's default number of retries (`NewFailurePolicy`,
/// `pkg/retry/failure.go`).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Kitex's cap on retries (`maxFailureRetryTimes`, `pkg/retry/failure.go`).
pub const MAX_RETRIES_CAP: u32 = 5;

/// How long to wait before a retry (Kitex's `none`, `fixed` and `random`
/// back-off types, `pkg/retry/policy.go`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backoff {
    /// Retry at once (Kitex's default).
    #[default]
    None,
    /// Wait this long.
    Fixed(Duration),
    /// Wait a uniformly random time in `min..=max`.
    Random {
        /// Shortest wait.
        min: Duration,
        /// Longest wait.
        max: Duration,
    },
}

impl Backoff {
    /// The wait before the next retry.
    pub fn delay(&self, rng: &mut FastRng) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Random { min, max } => {
                let span = (max - min).as_nanos() as u64;
                if span == 0 {
                    min
                } else {
                    min + Duration::from_nanos(rng.next_u64() % (span + 1))
                }
            }
        }
    }
}

/// Decides whether an error of the caller's type may be retried. Whatever
/// the classifier says, the policy still checks the retry count, the
/// deadline and the budget.
pub trait RetryClassifier<E: ?Sized> {
    /// Whether a call that failed with `err` may be sent again.
    fn is_retryable(&self, err: &E) -> bool;
}

impl<E: ?Sized, F: Fn(&E) -> bool> RetryClassifier<E> for F {
    fn is_retryable(&self, err: &E) -> bool {
        self(err)
    }
}

/// The failure retry policy. Plain data (`Copy`); build once per method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    max_retries: u32,
    backoff: Backoff,
    retry_same_instance: bool,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Backoff::None,
            retry_same_instance: false,
        }
    }
}

impl FailurePolicy {
    /// Kitex's defaults: 2 retries, no backoff, another instance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of retries (not counting the first attempt); at most
    /// [`MAX_RETRIES_CAP`].
    pub fn max_retries(mut self, n: u32) -> Result<Self> {
        if n > MAX_RETRIES_CAP {
            return Err(Error::InvalidConfig("max_retries must be <= 5"));
        }
        self.max_retries = n;
        Ok(self)
    }

    /// Sets the backoff; a random one needs `min <= max`.
    pub fn backoff(mut self, backoff: Backoff) -> Result<Self> {
        if let Backoff::Random { min, max } = backoff
            && min > max
        {
            return Err(Error::InvalidConfig("random backoff needs min <= max"));
        }
        self.backoff = backoff;
        Ok(self)
    }

    /// Allows retrying on the instance that just failed (default: no, as
    /// Kitex's `RetrySameNode`).
    pub fn retry_same_instance(mut self, yes: bool) -> Self {
        self.retry_same_instance = yes;
        self
    }

    /// The configured number of retries.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// Per-call state for a call that must end by `deadline`.
    pub fn start(&self, deadline: Option<Instant>) -> FailureRetry {
        FailureRetry {
            policy: *self,
            deadline,
            retries: 0,
            tried: Tried::default(),
        }
    }
}

/// Why no further attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The classifier said the error is not retryable.
    NotRetryable,
    /// All retries are spent.
    MaxRetries,
    /// The next attempt could not start (after its backoff) before the
    /// deadline.
    Deadline,
    /// The per-core retry budget is empty.
    Budget,
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send again after this wait (zero: now). Pick with
    /// [`FailureRetry::admits`] as (part of) the balancer's filter.
    Retry {
        /// The backoff to wait first.
        after: Duration,
    },
    /// Give up and return the last error.
    Stop(StopReason),
}

/// One call's failure-retry state. Lives on the core, for one call.
#[derive(Debug, Clone)]
pub struct FailureRetry {
    policy: FailurePolicy,
    deadline: Option<Instant>,
    retries: u32,
    tried: Tried,
}

impl FailureRetry {
    /// Records that an attempt goes to `inst`.
    pub fn on_attempt(&mut self, inst: &Instance) {
        self.tried.push(inst.addr());
    }

    /// Whether the next attempt may go to `inst`: false for an instance this
    /// call already tried, unless the policy allows the same instance. Use
    /// it inside the balancer's `admit` predicate.
    #[inline]
    pub fn admits(&self, inst: &Instance) -> bool {
        self.policy.retry_same_instance || !self.tried.contains(inst.addr())
    }

    /// Retries made so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Decides after a failure at `now`. `retryable` is the caller's
    /// classification. A `Retry` has spent one token of `budget`.
    pub fn on_failure(
        &mut self,
        retryable: bool,
        now: Instant,
        budget: &mut RetryBudget,
        rng: &mut FastRng,
    ) -> RetryDecision {
        if !retryable {
            return RetryDecision::Stop(StopReason::NotRetryable);
        }
        if self.retries >= self.policy.max_retries {
            return RetryDecision::Stop(StopReason::MaxRetries);
        }
        let after = self.policy.backoff.delay(rng);
        if let Some(deadline) = self.deadline
            && now + after >= deadline
        {
            return RetryDecision::Stop(StopReason::Deadline);
        }
        if !budget.try_spend() {
            return RetryDecision::Stop(StopReason::Budget);
        }
        self.retries += 1;
        RetryDecision::Retry { after }
    }

    /// As [`on_failure`](Self::on_failure), classifying `err` with
    /// `classifier`.
    pub fn on_error<E: ?Sized>(
        &mut self,
        err: &E,
        classifier: &impl RetryClassifier<E>,
        now: Instant,
        budget: &mut RetryBudget,
        rng: &mut FastRng,
    ) -> RetryDecision {
        self.on_failure(classifier.is_retryable(err), now, budget, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn inst(port: u16) -> Arc<Instance> {
        Arc::new(Instance::new(([127, 0, 0, 1], port).into()))
    }

    #[derive(Debug)]
    enum CallError {
        Timeout,
        Refused,
        Business,
    }

    #[test]
    fn defaults_are_kitex_and_cap_is_enforced() {
        let p = FailurePolicy::new();
        assert_eq!(p.retries(), 2);
        assert!(FailurePolicy::new().max_retries(5).is_ok());
        assert!(FailurePolicy::new().max_retries(6).is_err());
        assert!(
            FailurePolicy::new()
                .backoff(Backoff::Random {
                    min: Duration::from_millis(5),
                    max: Duration::from_millis(1)
                })
                .is_err()
        );
    }

    #[test]
    fn retries_up_to_max_then_stops() {
        let mut budget = RetryBudget::default();
        let mut rng = FastRng::with_seed(1);
        let now = Instant::now();
        let mut r = FailurePolicy::new().start(None);
        let classify = |e: &CallError| matches!(e, CallError::Timeout | CallError::Refused);
        assert_eq!(
            r.on_error(&CallError::Timeout, &classify, now, &mut budget, &mut rng),
            RetryDecision::Retry {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            r.on_error(&CallError::Refused, &classify, now, &mut budget, &mut rng),
            RetryDecision::Retry {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            r.on_error(&CallError::Refused, &classify, now, &mut budget, &mut rng),
            RetryDecision::Stop(StopReason::MaxRetries)
        );
        let mut r = FailurePolicy::new().start(None);
        assert_eq!(
            r.on_error(&CallError::Business, &classify, now, &mut budget, &mut rng),
            RetryDecision::Stop(StopReason::NotRetryable)
        );
    }

    #[test]
    fn avoids_tried_instances_unless_asked() {
        let (a, b) = (inst(1), inst(2));
        let mut r = FailurePolicy::new().start(None);
        r.on_attempt(&a);
        assert!(!r.admits(&a));
        assert!(r.admits(&b));
        let mut same = FailurePolicy::new().retry_same_instance(true).start(None);
        same.on_attempt(&a);
        assert!(same.admits(&a));
    }

    #[test]
    fn never_past_the_deadline() {
        let mut budget = RetryBudget::default();
        let mut rng = FastRng::with_seed(1);
        let now = Instant::now();
        let p = FailurePolicy::new()
            .backoff(Backoff::Fixed(Duration::from_millis(10)))
            .unwrap();
        let mut r = p.start(Some(now + Duration::from_millis(15)));
        assert_eq!(
            r.on_failure(true, now, &mut budget, &mut rng),
            RetryDecision::Retry {
                after: Duration::from_millis(10)
            }
        );
        // 10 ms later, another 10 ms backoff would end past the deadline.
        assert_eq!(
            r.on_failure(true, now + Duration::from_millis(10), &mut budget, &mut rng),
            RetryDecision::Stop(StopReason::Deadline)
        );
    }

    #[test]
    fn budget_stops_retries() {
        let mut budget = RetryBudget::none();
        let mut rng = FastRng::with_seed(1);
        let mut r = FailurePolicy::new().start(None);
        assert_eq!(
            r.on_failure(true, Instant::now(), &mut budget, &mut rng),
            RetryDecision::Stop(StopReason::Budget)
        );
        assert_eq!(r.retries(), 0);
    }

    #[test]
    fn random_backoff_stays_in_range() {
        let mut rng = FastRng::with_seed(3);
        let b = Backoff::Random {
            min: Duration::from_millis(2),
            max: Duration::from_millis(4),
        };
        for _ in 0..1000 {
            let d = b.delay(&mut rng);
            assert!(d >= Duration::from_millis(2) && d <= Duration::from_millis(4));
        }
    }
}
