//! Retry policies and their per-call, per-core state.
//!
//! These are policy and state types only: the engine's client drives them
//! (it owns the timers, the sockets and the errors). Time goes in as
//! `Instant`s, decisions come out, so every rule is unit-tested without a
//! clock or a network, quinn-style.
//!
//! * [`FailurePolicy`] — retry after a failure the caller classifies as
//!   retryable, on another instance unless asked otherwise, with a backoff,
//!   never past the call's deadline. Kitex's defaults
//!   (`pkg/retry/failure.go`): 2 retries, at most 5, no backoff.
//! * [`BackupPolicy`] — if no answer came within a delay, send the same
//!   request to another instance; the first answer wins. Kitex's defaults
//!   (`pkg/retry/backup.go`): 1 backup, at most 2.
//! * [`MixedPolicy`] — a backup request that turns into a failure retry:
//!   another attempt after the delay with no answer, or at once after a
//!   retryable failure. Kitex's defaults (`pkg/retry/mixed.go`): 1 retry,
//!   at most 3.
//! * [`RetryBudget`] — a per-core token bucket that caps retries and
//!   backups to a share of calls, so retries cannot multiply an outage.
//!   Default 10 % of calls with a reserve of 10, after Kitex's retry circuit
//!   breaker (`pkg/retry/policy.go`: `defaultCBErrRate = 0.1`;
//!   `pkg/retry/util.go` acts only past `cbMinSample = 10`).

mod backup;
mod budget;
mod failure;
mod mixed;

pub use backup::{BackupPolicy, BackupRequest, BackupStep, DEFAULT_MAX_BACKUPS, MAX_BACKUPS_CAP};
pub use budget::{BudgetOptions, RetryBudget};
pub use failure::{
    Backoff, DEFAULT_MAX_RETRIES, FailurePolicy, FailureRetry, MAX_RETRIES_CAP, RetryClassifier,
    RetryDecision, StopReason,
};
pub use mixed::{DEFAULT_MIXED_RETRIES, MAX_MIXED_RETRIES_CAP, MixedPolicy, MixedRetry, MixedStep};

/// Which retry policy a method uses. Kitex's default is no retry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum RetryPolicy {
    /// No retry, no backup request.
    #[default]
    None,
    /// Retry after a retryable failure.
    Failure(FailurePolicy),
    /// Send a backup request after a delay; first answer wins.
    Backup(BackupPolicy),
    /// Backup requests that turn into failure retries (Kitex's mixed
    /// retry).
    Mixed(MixedPolicy),
}

/// How many addresses a call remembers as tried (1 + Kitex's largest cap,
/// 5 failure retries).
pub(crate) const MAX_TRIED: usize = 6;

/// The instances a call has tried, to steer the next attempt elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tried {
    addrs: [Option<std::net::SocketAddr>; MAX_TRIED],
    len: usize,
}

impl Tried {
    pub(crate) fn push(&mut self, addr: std::net::SocketAddr) {
        if self.len < MAX_TRIED {
            self.addrs[self.len] = Some(addr);
            self.len += 1;
        }
    }

    pub(crate) fn contains(&self, addr: std::net::SocketAddr) -> bool {
        self.addrs[..self.len].contains(&Some(addr))
    }
}
