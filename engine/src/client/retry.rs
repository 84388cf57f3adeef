//! Retry and backup settings of a client, and which errors may be retried.
//!
//! The policies themselves ([`FailurePolicy`], [`BackupPolicy`],
//! [`RetryBudget`]) are the discovery crate's plain data and per-call state
//! machines; this module adds what only the engine knows: which [`Error`]s
//! are safe to send again, whether a method is idempotent, and a per-attempt
//! time limit.
//!
//! # Which errors are retried
//!
//! * A **connect failure** ([`Error::Connect`]) always: the request never
//!   left this process, so no server can have run it.
//! * A **broken connection** ([`Error::Io`]) or an **attempt timeout**
//!   ([`Error::Timeout`], from [`MethodRetry::attempt_timeout`]) only when
//!   the method's [`MethodRetry::idempotent`] is set: the request may have
//!   reached the server and run there, so sending it again is only safe if
//!   running it twice is. Kitex's failure retry retries timeouts by default
//!   (its per-call RPC timeout sits inside the retry loop) and leaves
//!   idempotency to whoever enables the policy; we make that promise an
//!   explicit per-method flag instead, off by default, because the most
//!   common failure during a rolling restart (a pooled connection the server
//!   just closed) is exactly an `Io` error on a request that may or may not
//!   have been read.
//! * Nothing else: an application exception, a business status or a
//!   protocol error is an answer, and the same request would get it again.
//!
//! Whatever the classifier says, the policy still bounds the attempts, the
//! wait ([`Backoff`](ringrpc_discovery::retry::Backoff)), the deadline (no
//! retry that could not start before the call's RPC timeout) and the per-core
//! [`RetryBudget`] (a share of calls, so retries cannot multiply an outage).

use std::time::Duration;

use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::retry::{
    BackupPolicy, BudgetOptions, FailurePolicy, RetryBudget, RetryPolicy,
};
use ringrpc_discovery::rng::FastRng;

use crate::error::ConfigError;
use crate::{Error, Result};

/// One method's retry settings: the discovery crate's [`RetryPolicy`] plus
/// what the engine needs to apply it safely.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MethodRetry {
    /// Failure retry, backup request, or neither. Default none (as Kitex).
    pub policy: RetryPolicy,
    /// Whether running the method twice is harmless, so a call whose
    /// connection broke or whose attempt timed out may be sent again.
    /// Default false. See the module docs.
    pub idempotent: bool,
    /// A time limit for each attempt (the RPC timeout still bounds the whole
    /// call). Without one an attempt only ends by answering, failing, or the
    /// RPC timeout, so a slow instance is never retried, only backed up.
    /// Default none.
    pub attempt_timeout: Option<Duration>,
}

impl MethodRetry {
    /// No retry and no backup.
    pub const fn none() -> Self {
        Self {
            policy: RetryPolicy::None,
            idempotent: false,
            attempt_timeout: None,
        }
    }

    /// Failure retry with `policy`.
    pub const fn failure(policy: FailurePolicy) -> Self {
        Self {
            policy: RetryPolicy::Failure(policy),
            idempotent: false,
            attempt_timeout: None,
        }
    }

    /// Backup requests with `policy`.
    pub const fn backup(policy: BackupPolicy) -> Self {
        Self {
            policy: RetryPolicy::Backup(policy),
            idempotent: false,
            attempt_timeout: None,
        }
    }

    /// Marks the method idempotent (or not).
    pub const fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// Bounds each attempt by `t`.
    pub const fn attempt_timeout(mut self, t: Duration) -> Self {
        self.attempt_timeout = Some(t);
        self
    }

    /// Whether an attempt that failed with `err` may be sent again under
    /// these settings. See the module docs.
    pub fn is_retryable(&self, err: &Error) -> bool {
        match err {
            Error::Connect { .. } | Error::NotSent { .. } => true,
            Error::Io(_) | Error::Timeout(_) => self.idempotent,
            _ => false,
        }
    }
}

impl From<RetryPolicy> for MethodRetry {
    fn from(policy: RetryPolicy) -> Self {
        Self {
            policy,
            ..Self::none()
        }
    }
}

/// A client's retry settings: per method (with `"*"` for any), set at build
/// time, and the per-core budget's options.
#[derive(Debug, Clone, Default)]
pub struct RetryConfig {
    /// Settings per method. Default: no retry for any method (Kitex's
    /// default). A call may override its method's entry with
    /// [`CallOptions::retry`](super::CallOptions::retry).
    pub methods: PolicyTable<MethodRetry>,
    /// The per-core retry budget. Default: 10 % of calls, a reserve of 10
    /// (after Kitex's retry circuit breaker; see
    /// [`ringrpc_discovery::retry`]).
    pub budget: BudgetOptions,
}

/// One core's retry state: the budget and the backoff's randomness.
#[derive(Debug)]
pub(crate) struct RetryState {
    pub(crate) budget: RetryBudget,
    pub(crate) rng: FastRng,
}

impl RetryState {
    pub(crate) fn new(cfg: &RetryConfig) -> Result<Self> {
        Ok(Self {
            budget: RetryBudget::new(cfg.budget).map_err(|source| ConfigError::Invalid {
                what: "retry budget options",
                source,
            })?,
            rng: FastRng::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> Error {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ))
    }

    #[test]
    fn connect_failures_always_io_and_timeouts_only_when_idempotent() {
        let connect = Error::Connect {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        let plain = MethodRetry::failure(FailurePolicy::new());
        let idem = plain.idempotent(true);
        assert!(plain.is_retryable(&connect));
        assert!(!plain.is_retryable(&io()));
        assert!(!plain.is_retryable(&Error::Timeout(Duration::from_millis(1))));
        assert!(idem.is_retryable(&io()));
        assert!(idem.is_retryable(&Error::Timeout(Duration::from_millis(1))));
        for answer in [
            Error::Biz(crate::BizStatus::new(1, "no")),
            Error::handler("x"),
            Error::NoInstance {
                service: "echo".into(),
                reason: crate::error::NoInstanceReason::NoneResolved,
            },
        ] {
            assert!(!idem.is_retryable(&answer), "{answer}");
        }
    }
}
