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
//! * A **connect failure** ([`Error::Connect`]) or a request **never
//!   written** ([`Error::NotSent`]: its connection failed before any byte
//!   of it went out) always: the request never left this process, so no
//!   server can have run it. A method need not be idempotent for these.
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
//! * Nothing else, unless the method has a [`ResultRetry`]: an application
//!   exception, a business status or a protocol error is an answer, and the
//!   same request would usually get it again. A [`ResultRetry`] names the
//!   answers (business status codes, application exception kinds, declared
//!   exceptions) and errors worth another try (Kitex's `ShouldResultRetry`,
//!   `pkg/retry/policy.go`); it applies to failure and mixed retry, as in
//!   Kitex. A retried answer that runs out of retries is returned as it
//!   came.
//!
//! Whatever the classifier says, the policy still bounds the attempts, the
//! wait ([`Backoff`](ringrpc_discovery::retry::Backoff)), the deadline (no
//! retry that could not start before the call's RPC timeout) and the per-core
//! [`RetryBudget`] (a share of calls, so retries cannot multiply an outage).

use std::sync::Arc;
use std::time::Duration;

use ringrpc_codec::thrift::ExceptionKind;
use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::retry::{
    BackupPolicy, BudgetOptions, FailurePolicy, MixedPolicy, RetryBudget, RetryPolicy,
};
use ringrpc_discovery::rng::FastRng;

use super::ClientReply;
use super::reply::ReplyKind;
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

    /// Mixed retry with `policy`: backup requests that turn into failure
    /// retries (Kitex's mixed retry).
    pub const fn mixed(policy: MixedPolicy) -> Self {
        Self {
            policy: RetryPolicy::Mixed(policy),
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

/// Which answers (and errors) of a method are worth another attempt under
/// its failure or mixed retry policy (Kitex's `ShouldResultRetry`). Empty
/// by default: matches nothing. A reply matches if any of its rules does.
///
/// Only read when a reply or an error comes back under such a policy; it
/// reads the reply's message and first field headers, not the result.
#[derive(Clone, Default)]
pub struct ResultRetry {
    biz_codes: Vec<i32>,
    application: Vec<ExceptionKind>,
    exceptions: Vec<i16>,
    when: Option<Arc<ReplyRule>>,
    errors: Option<Arc<ErrorRule>>,
}

/// A user's rule over a reply.
type ReplyRule = dyn Fn(&ClientReply) -> bool + Send + Sync;
/// A user's rule over an error.
type ErrorRule = dyn Fn(&Error) -> bool + Send + Sync;

impl std::fmt::Debug for ResultRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultRetry")
            .field("biz_codes", &self.biz_codes)
            .field("application", &self.application)
            .field("exceptions", &self.exceptions)
            .field("when", &self.when.is_some())
            .field("errors", &self.errors.is_some())
            .finish()
    }
}

impl ResultRetry {
    /// Matches nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries a reply whose TTHeader carries business status `code`.
    pub fn biz_status(mut self, code: i32) -> Self {
        self.biz_codes.push(code);
        self
    }

    /// Retries a reply that is an application exception of `kind` (e.g.
    /// [`ExceptionKind::InternalError`], a handler that failed).
    pub fn application_exception(mut self, kind: ExceptionKind) -> Self {
        self.application.push(kind);
        self
    }

    /// Retries a reply that carries the method's declared exception with
    /// field id `id` (its number in the IDL's `throws (id: Type name)`).
    pub fn declared_exception(mut self, id: i16) -> Self {
        self.exceptions.push(id);
        self
    }

    /// Retries a reply `f` picks (Kitex's `RespRetry`); it may decode the
    /// reply ([`decode_reply`](super::decode_reply)), at a cost.
    pub fn when(mut self, f: impl Fn(&ClientReply) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Arc::new(f));
        self
    }

    /// Retries a failed attempt whose error `f` picks, besides those the
    /// method's [`MethodRetry`] retries anyway (Kitex's `ErrorRetry`). Say
    /// yes only to errors after which sending again is safe.
    pub fn error_when(mut self, f: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        self.errors = Some(Arc::new(f));
        self
    }

    /// Whether `reply` is an answer to retry.
    pub fn matches(&self, reply: &ClientReply) -> bool {
        if !self.biz_codes.is_empty()
            && reply
                .biz_status()
                .is_some_and(|c| self.biz_codes.contains(&c))
        {
            return true;
        }
        if !self.application.is_empty() || !self.exceptions.is_empty() {
            match reply.kind() {
                ReplyKind::Application(k) if self.application.contains(&k) => return true,
                ReplyKind::Result { field: Some(id) }
                    if id != 0 && self.exceptions.contains(&id) =>
                {
                    return true;
                }
                _ => {}
            }
        }
        self.when.as_ref().is_some_and(|f| f(reply))
    }

    /// Whether a failed attempt's `err` is one to retry.
    pub fn matches_error(&self, err: &Error) -> bool {
        self.errors.as_ref().is_some_and(|f| f(err))
    }
}

/// Whether an attempt's result calls for another attempt under `rule` and
/// the method's result rules.
pub(crate) fn is_retryable_result(
    rule: &MethodRetry,
    results: Option<&ResultRetry>,
    r: &Result<ClientReply>,
) -> bool {
    match r {
        Ok(reply) => results.is_some_and(|rr| rr.matches(reply)),
        Err(e) => rule.is_retryable(e) || results.is_some_and(|rr| rr.matches_error(e)),
    }
}

/// A client's retry settings: per method (with `"*"` for any), set at build
/// time, and the per-core budget's options.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Settings per method. Default: no retry for any method (Kitex's
    /// default). A call may override its method's entry with
    /// [`CallOptions::retry`](super::CallOptions::retry).
    pub methods: PolicyTable<MethodRetry>,
    /// Answers and errors to retry per method, under a failure or mixed
    /// policy. Default: none (Kitex's default: no `ShouldResultRetry`).
    pub results: PolicyTable<Option<ResultRetry>>,
    /// The per-core retry budget. Default: 10 % of calls, a reserve of 10
    /// (after Kitex's retry circuit breaker; see
    /// [`ringrpc_discovery::retry`]).
    pub budget: BudgetOptions,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            methods: PolicyTable::default(),
            results: PolicyTable::new(None),
            budget: BudgetOptions::default(),
        }
    }
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
        let not_sent = Error::NotSent {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::BrokenPipe.into(),
        };
        assert!(plain.is_retryable(&connect));
        assert!(
            plain.is_retryable(&not_sent),
            "never written: not idempotent is fine"
        );
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
