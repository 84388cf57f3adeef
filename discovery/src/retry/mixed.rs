//! Mixed retry: a backup request that turns into a failure retry.
//!
//! Kitex's mixed policy (`pkg/retry/mixed.go`, `pkg/retry/mixed_retryer.go`):
//! the call is sent; if no answer came within the delay, the same request
//! goes to another instance (as a backup request); and when an attempt fails
//! with a retryable error before the others answer, another attempt is sent
//! at once (as a failure retry) instead of waiting for the delay. The first
//! answer that is not a retryable failure wins; once every attempt has
//! answered, the last answer stands.
//!
//! Defaults, from Kitex (`NewMixedPolicy`): 1 retry (`defaultBackupRetryTimes`),
//! at most 3 (`maxMixRetryTimes`), no backoff, another instance; a zero
//! delay is refused.

use std::time::{Duration, Instant};

use super::{Backoff, BackupStep, RetryBudget, StopReason, Tried};
use crate::rng::FastRng;
use crate::{Error, Instance, Result};

/// Kitex's default number of retries of the mixed policy
/// (`NewMixedPolicy` takes `defaultBackupRetryTimes`, `pkg/retry/mixed.go`).
pub const DEFAULT_MIXED_RETRIES: u32 = 1;
/// Kitex's cap on mixed retries (`maxMixRetryTimes`, `pkg/retry/mixed.go`).
pub const MAX_MIXED_RETRIES_CAP: u32 = 3;

/// The mixed retry policy. Plain data (`Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedPolicy {
    delay: Duration,
    max_retries: u32,
    backoff: Backoff,
    retry_same_instance: bool,
}

impl MixedPolicy {
    /// Sends another attempt `delay` after the last one while no answer
    /// came, or at once after a retryable failure; 1 retry by default. A
    /// zero delay is refused (as Kitex's `NewMixedPolicy`).
    pub fn new(delay: Duration) -> Result<Self> {
        if delay.is_zero() {
            return Err(Error::InvalidConfig("mixed retry delay must be > 0"));
        }
        Ok(MixedPolicy {
            delay,
            max_retries: DEFAULT_MIXED_RETRIES,
            backoff: Backoff::None,
            retry_same_instance: false,
        })
    }

    /// Sets the number of attempts after the first (backups and retries
    /// together); at most [`MAX_MIXED_RETRIES_CAP`].
    pub fn max_retries(mut self, n: u32) -> Result<Self> {
        if n > MAX_MIXED_RETRIES_CAP {
            return Err(Error::InvalidConfig("mixed max_retries must be <= 3"));
        }
        self.max_retries = n;
        Ok(self)
    }

    /// Sets the wait before a failure retry (not before a backup, which
    /// waits for the delay); a random one needs `min <= max`.
    pub fn backoff(mut self, backoff: Backoff) -> Result<Self> {
        if let Backoff::Random { min, max } = backoff
            && min > max
        {
            return Err(Error::InvalidConfig("random backoff needs min <= max"));
        }
        self.backoff = backoff;
        Ok(self)
    }

    /// Allows another attempt on an instance already tried (default: no,
    /// as Kitex's `RetrySameNode`).
    pub fn retry_same_instance(mut self, yes: bool) -> Self {
        self.retry_same_instance = yes;
        self
    }

    /// The delay before each backup.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The configured number of attempts after the first.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// Per-call state for a call that must end by `deadline`.
    pub fn start(&self, deadline: Option<Instant>) -> MixedRetry {
        MixedRetry {
            policy: *self,
            deadline,
            sent: 0,
            answered: 0,
            timer: None,
            retry_due: false,
            tried: Tried::default(),
        }
    }
}

/// What to do with an attempt's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixedStep {
    /// This answer ends the call (drop the attempts still in flight).
    Return,
    /// Send another attempt now (one budget token was spent).
    RetryNow,
    /// Keep waiting: for the attempts in flight, or for the timer (a retry
    /// was decided and waits for its backoff; the timer then says
    /// [`BackupStep::Send`] without spending the budget again).
    Wait,
}

/// One call's mixed-retry state. Lives on the core, for one call.
#[derive(Debug, Clone)]
pub struct MixedRetry {
    policy: MixedPolicy,
    deadline: Option<Instant>,
    sent: u32,
    answered: u32,
    /// When the next backup (or a retry waiting for its backoff) is due.
    timer: Option<Instant>,
    /// A failure retry was decided (and paid for); it goes out when the
    /// timer fires.
    retry_due: bool,
    tried: Tried,
}

impl MixedRetry {
    fn max_attempts(&self) -> u32 {
        self.policy.max_retries + 1
    }

    /// Records that an attempt goes to `inst` at `now`: the next backup is
    /// due one delay later (if another attempt may still be sent).
    pub fn on_attempt(&mut self, inst: &Instance, now: Instant) {
        self.tried.push(inst.addr());
        self.sent += 1;
        self.retry_due = false;
        self.timer = (self.sent < self.max_attempts()).then(|| now + self.policy.delay);
    }

    /// Whether the next attempt may go to `inst` (not already tried, unless
    /// the policy allows it).
    #[inline]
    pub fn admits(&self, inst: &Instance) -> bool {
        self.policy.retry_same_instance || !self.tried.contains(inst.addr())
    }

    /// When the timer should fire next, if at all (never at or past the
    /// deadline).
    pub fn next_timer(&self) -> Option<Instant> {
        let at = self.timer?;
        match self.deadline {
            Some(d) if at >= d => None,
            _ => Some(at),
        }
    }

    /// The timer fired at `now`.
    pub fn on_timer(&mut self, now: Instant, budget: &mut RetryBudget) -> BackupStep {
        if self.sent >= self.max_attempts() {
            self.timer = None;
            return BackupStep::Stop(StopReason::MaxRetries);
        }
        let Some(at) = self.next_timer() else {
            self.timer = None;
            return BackupStep::Stop(StopReason::Deadline);
        };
        if now < at {
            return BackupStep::Wait(at);
        }
        if self.retry_due {
            return BackupStep::Send;
        }
        if !budget.try_spend() {
            self.timer = None;
            return BackupStep::Stop(StopReason::Budget);
        }
        BackupStep::Send
    }

    /// An attempt answered at `now`; `retryable` is the caller's
    /// classification of the answer (a retryable error, or a result the user
    /// asked to retry). See [`MixedStep`].
    pub fn on_answer(
        &mut self,
        retryable: bool,
        now: Instant,
        budget: &mut RetryBudget,
        rng: &mut FastRng,
    ) -> MixedStep {
        self.answered += 1;
        if !retryable || self.answered >= self.max_attempts() {
            return MixedStep::Return;
        }
        if self.sent >= self.max_attempts() || self.retry_due {
            // Everything allowed is out (or a retry is already coming):
            // the attempts in flight may still answer.
            return MixedStep::Wait;
        }
        // As Kitex: a retry refused here ends the call with this answer.
        let after = self.policy.backoff.delay(rng);
        if self.deadline.is_some_and(|d| now + after >= d) {
            return MixedStep::Return;
        }
        if !budget.try_spend() {
            return MixedStep::Return;
        }
        if after.is_zero() {
            return MixedStep::RetryNow;
        }
        self.retry_due = true;
        self.timer = Some(now + after);
        MixedStep::Wait
    }

    /// Attempts sent so far (the first included).
    pub fn attempts(&self) -> u32 {
        self.sent
    }

    /// Whether a failure retry was decided and waits for the timer (its
    /// backoff).
    pub fn retry_due(&self) -> bool {
        self.retry_due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn inst(port: u16) -> Instance {
        Instance::new(([127, 0, 0, 1], port).into())
    }

    #[test]
    fn defaults_and_caps_are_kitex() {
        let p = MixedPolicy::new(10 * MS).unwrap();
        assert_eq!(p.retries(), 1);
        assert!(MixedPolicy::new(Duration::ZERO).is_err());
        assert!(p.max_retries(3).is_ok());
        assert!(p.max_retries(4).is_err());
    }

    #[test]
    fn a_slow_first_attempt_gets_a_backup_then_a_failure_gets_a_retry() {
        let t0 = Instant::now();
        let mut budget = RetryBudget::default();
        let mut rng = FastRng::with_seed(1);
        let p = MixedPolicy::new(20 * MS).unwrap().max_retries(2).unwrap();
        let mut call = p.start(None);
        call.on_attempt(&inst(1), t0);
        assert_eq!(call.next_timer(), Some(t0 + 20 * MS));
        assert_eq!(
            call.on_timer(t0 + 5 * MS, &mut budget),
            BackupStep::Wait(t0 + 20 * MS)
        );
        // No answer in 20 ms: a backup.
        assert_eq!(call.on_timer(t0 + 20 * MS, &mut budget), BackupStep::Send);
        call.on_attempt(&inst(2), t0 + 20 * MS);
        assert!(!call.admits(&inst(1)) && !call.admits(&inst(2)));
        // The backup fails at once: a failure retry, without waiting.
        assert_eq!(
            call.on_answer(true, t0 + 21 * MS, &mut budget, &mut rng),
            MixedStep::RetryNow
        );
        call.on_attempt(&inst(3), t0 + 21 * MS);
        assert_eq!(call.next_timer(), None, "all three attempts are out");
        // Another retryable failure: the first attempt may still answer.
        assert_eq!(
            call.on_answer(true, t0 + 22 * MS, &mut budget, &mut rng),
            MixedStep::Wait
        );
        // The last answer stands, whatever it is.
        assert_eq!(
            call.on_answer(true, t0 + 30 * MS, &mut budget, &mut rng),
            MixedStep::Return
        );
        assert_eq!(call.attempts(), 3);
    }

    #[test]
    fn a_non_retryable_answer_wins_and_a_refused_retry_returns_the_failure() {
        let t0 = Instant::now();
        let mut rng = FastRng::with_seed(1);
        let p = MixedPolicy::new(20 * MS).unwrap();
        let mut budget = RetryBudget::default();
        let mut call = p.start(None);
        call.on_attempt(&inst(1), t0);
        assert_eq!(
            call.on_answer(false, t0, &mut budget, &mut rng),
            MixedStep::Return
        );
        // No budget: the retryable failure is the answer.
        let mut empty = RetryBudget::none();
        let mut call = p.start(None);
        call.on_attempt(&inst(1), t0);
        assert_eq!(
            call.on_answer(true, t0, &mut empty, &mut rng),
            MixedStep::Return
        );
        // Nor past the deadline.
        let mut call = p.start(Some(t0 + 10 * MS));
        call.on_attempt(&inst(1), t0);
        assert_eq!(call.next_timer(), None, "the backup would start too late");
        assert_eq!(
            call.on_answer(true, t0 + 10 * MS, &mut budget, &mut rng),
            MixedStep::Return
        );
    }

    #[test]
    fn a_retry_with_backoff_waits_for_the_timer_and_pays_once() {
        let t0 = Instant::now();
        let mut rng = FastRng::with_seed(1);
        let p = MixedPolicy::new(50 * MS)
            .unwrap()
            .backoff(Backoff::Fixed(5 * MS))
            .unwrap();
        let mut budget = RetryBudget::new(crate::retry::BudgetOptions {
            percent: 0.0,
            reserve: 1,
            max_tokens: 1,
        })
        .unwrap();
        let mut call = p.start(None);
        call.on_attempt(&inst(1), t0);
        assert_eq!(
            call.on_answer(true, t0 + MS, &mut budget, &mut rng),
            MixedStep::Wait
        );
        assert_eq!(call.next_timer(), Some(t0 + 6 * MS));
        assert_eq!(budget.tokens(), 0, "paid when decided");
        assert_eq!(call.on_timer(t0 + 6 * MS, &mut budget), BackupStep::Send);
    }
}
