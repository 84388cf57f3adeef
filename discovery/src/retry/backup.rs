//! Backup requests: if no answer came within a delay, ask another instance;
//! the first answer wins.

use std::time::{Duration, Instant};

use super::{RetryBudget, StopReason, Tried};
use crate::{Error, Instance, Result};

/// Kitex's default number of backup requests (`defaultBackupRetryTimes`,
/// `pkg/retry/backup.go`).
pub const DEFAULT_MAX_BACKUPS: u32 = 1;
/// Kitex's cap (`maxBackupRetryTimes`, `pkg/retry/backup.go`).
pub const MAX_BACKUPS_CAP: u32 = 2;

/// The backup request policy. Plain data (`Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupPolicy {
    delay: Duration,
    max_backups: u32,
    retry_same_instance: bool,
}

impl BackupPolicy {
    /// Sends a backup `delay` after the call (and after each backup) while
    /// no answer came; 1 backup by default. A zero delay is refused (Kitex
    /// refuses it too).
    pub fn new(delay: Duration) -> Result<Self> {
        if delay.is_zero() {
            return Err(Error::InvalidConfig("backup delay must be > 0"));
        }
        Ok(BackupPolicy {
            delay,
            max_backups: DEFAULT_MAX_BACKUPS,
            retry_same_instance: false,
        })
    }

    /// Sets how many backups may be sent; at most [`MAX_BACKUPS_CAP`].
    pub fn max_backups(mut self, n: u32) -> Result<Self> {
        if n > MAX_BACKUPS_CAP {
            return Err(Error::InvalidConfig("max_backups must be <= 2"));
        }
        self.max_backups = n;
        Ok(self)
    }

    /// Allows a backup to the same instance (default: no).
    pub fn retry_same_instance(mut self, yes: bool) -> Self {
        self.retry_same_instance = yes;
        self
    }

    /// The delay before each backup.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Per-call state for a call sent at `now` that must end by `deadline`.
    pub fn start(&self, now: Instant, deadline: Option<Instant>) -> BackupRequest {
        BackupRequest {
            policy: *self,
            started: now,
            deadline,
            backups: 0,
            answered: false,
            tried: Tried::default(),
        }
    }
}

/// What to do when the backup timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStep {
    /// Send a backup now (one budget token was spent). Pick with
    /// [`BackupRequest::admits`] in the filter.
    Send,
    /// Not yet: wake again at this instant.
    Wait(Instant),
    /// No (more) backups for this call; keep waiting for the answers in
    /// flight.
    Stop(StopReason),
}

/// One call's backup state. Lives on the core, for one call.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    policy: BackupPolicy,
    started: Instant,
    deadline: Option<Instant>,
    backups: u32,
    answered: bool,
    tried: Tried,
}

impl BackupRequest {
    /// Records that an attempt (first or backup) goes to `inst`.
    pub fn on_attempt(&mut self, inst: &Instance) {
        self.tried.push(inst.addr());
    }

    /// Whether a backup may go to `inst` (not already tried, unless the
    /// policy allows it).
    #[inline]
    pub fn admits(&self, inst: &Instance) -> bool {
        self.policy.retry_same_instance || !self.tried.contains(inst.addr())
    }

    /// When the next backup is due, if one can still be sent.
    pub fn next_timer(&self) -> Option<Instant> {
        if self.answered || self.backups >= self.policy.max_backups {
            return None;
        }
        let at = self.started + self.policy.delay * (self.backups + 1);
        match self.deadline {
            Some(d) if at >= d => None,
            _ => Some(at),
        }
    }

    /// The timer fired at `now`.
    pub fn on_timer(&mut self, now: Instant, budget: &mut RetryBudget) -> BackupStep {
        if self.answered || self.backups >= self.policy.max_backups {
            return BackupStep::Stop(StopReason::MaxRetries);
        }
        let Some(at) = self.next_timer() else {
            return BackupStep::Stop(StopReason::Deadline);
        };
        if now < at {
            return BackupStep::Wait(at);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return BackupStep::Stop(StopReason::Deadline);
        }
        if !budget.try_spend() {
            return BackupStep::Stop(StopReason::Budget);
        }
        self.backups += 1;
        BackupStep::Send
    }

    /// An answer (success or failure) arrived: true for the first one, which
    /// the caller returns; false for later ones, which it drops.
    pub fn on_answer(&mut self) -> bool {
        !std::mem::replace(&mut self.answered, true)
    }

    /// Backups sent so far.
    pub fn backups(&self) -> u32 {
        self.backups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_backup_after_the_delay_and_first_answer_wins() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut budget = RetryBudget::default();
        let p = BackupPolicy::new(ms(20)).unwrap();
        let mut call = p.start(t0, Some(t0 + ms(100)));
        assert_eq!(call.next_timer(), Some(t0 + ms(20)));
        assert_eq!(
            call.on_timer(t0 + ms(5), &mut budget),
            BackupStep::Wait(t0 + ms(20))
        );
        assert_eq!(call.on_timer(t0 + ms(20), &mut budget), BackupStep::Send);
        assert_eq!(call.backups(), 1);
        assert_eq!(call.next_timer(), None);
        assert_eq!(
            call.on_timer(t0 + ms(40), &mut budget),
            BackupStep::Stop(StopReason::MaxRetries)
        );
        assert!(call.on_answer());
        assert!(!call.on_answer());
    }

    #[test]
    fn no_backup_past_deadline_or_without_budget() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let p = BackupPolicy::new(ms(50)).unwrap().max_backups(2).unwrap();
        let call = p.start(t0, Some(t0 + ms(30)));
        assert_eq!(call.next_timer(), None);
        let mut call = p.start(t0, None);
        let mut empty = RetryBudget::none();
        assert_eq!(
            call.on_timer(t0 + ms(50), &mut empty),
            BackupStep::Stop(StopReason::Budget)
        );
        assert!(BackupPolicy::new(Duration::ZERO).is_err());
        assert!(p.max_backups(3).is_err());
    }

    #[test]
    fn backups_avoid_the_first_instance() {
        let a = Instance::new(([127, 0, 0, 1], 1).into());
        let b = Instance::new(([127, 0, 0, 1], 2).into());
        let mut call = BackupPolicy::new(Duration::from_millis(1))
            .unwrap()
            .start(Instant::now(), None);
        call.on_attempt(&a);
        assert!(!call.admits(&a));
        assert!(call.admits(&b));
    }
}
