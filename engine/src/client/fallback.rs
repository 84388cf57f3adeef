//! Per-method fallbacks: a failed call (an error, an open breaker) answered
//! with a value the user supplies (Kitex's `fallback.Policy`,
//! `pkg/fallback/fallback.go`).
//!
//! A fallback is typed by the call it answers: the arguments struct `A`
//! and the result struct `R` that [`Client::call`](super::Client::call)
//! decodes (for a generated client, `<Service><Method>Args` and
//! `<Service><Method>Result`; `Result::from_outcome(Ok(value))` builds the
//! latter from the method's return value, and a declared exception can be
//! returned the same way). It runs after everything else (retries, the RPC
//! timeout, decoding), as Kitex's runs after its retry loop, and sees the
//! call's final error: a business status error too, as Kitex passes those
//! to its fallback.
//!
//! Two kinds, as Kitex's constructors: [`Fallback::new`] sees every error
//! (`ErrorFallback`); [`Fallback::timeout_or_breaker`] only a timeout or an
//! open breaker (`TimeoutAndCBFallback`), any other error passes through.
//! The function may return an error too (the call then fails with it).
//!
//! A fallback registered for other types than the call's is not applied (a
//! warning is logged; the call fails with its own error). Nothing here runs
//! on a call that succeeds.

use std::any::Any;
use std::sync::Arc;

use crate::context::ClientContext;
use crate::error::NoInstanceReason;
use crate::{Error, Result};

/// The function of a fallback for arguments `A` and result `R`.
type FallbackFn<A, R> = dyn Fn(&ClientContext, &A, Error) -> Result<R> + Send + Sync;

/// A fallback for one method. See the module docs.
#[derive(Clone)]
pub struct Fallback {
    /// A `Typed<A, R>`.
    f: Arc<dyn Any + Send + Sync>,
    /// Which errors it sees.
    applies: fn(&Error) -> bool,
}

struct Typed<A: 'static, R: 'static>(Box<FallbackFn<A, R>>);

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallback").finish_non_exhaustive()
    }
}

impl Fallback {
    /// A fallback that sees every error of a call with arguments `A` and
    /// result `R` (Kitex's `ErrorFallback`): `f` gets the context, the
    /// arguments and the error, and returns the result to give the caller
    /// (or an error).
    pub fn new<A: 'static, R: 'static>(
        f: impl Fn(&ClientContext, &A, Error) -> Result<R> + Send + Sync + 'static,
    ) -> Self {
        Self {
            f: Arc::new(Typed::<A, R>(Box::new(f))),
            applies: |_| true,
        }
    }

    /// A fallback that sees only a timeout ([`Error::Timeout`]) or an open
    /// breaker ([`Error::CircuitBreak`], or no instance admitted because
    /// every instance's breaker is open), as Kitex's `TimeoutAndCBFallback`.
    pub fn timeout_or_breaker<A: 'static, R: 'static>(
        f: impl Fn(&ClientContext, &A, Error) -> Result<R> + Send + Sync + 'static,
    ) -> Self {
        Self {
            applies: is_timeout_or_breaker,
            ..Self::new(f)
        }
    }

    /// Answers the failed call `err` of `A`/`R`: `Err(err)` untouched if
    /// this fallback does not apply to it (or is for other types).
    pub(crate) fn apply<A: 'static, R: 'static>(
        &self,
        cx: &ClientContext,
        args: &A,
        err: Error,
    ) -> Result<R> {
        if !(self.applies)(&err) {
            return Err(err);
        }
        match self.f.downcast_ref::<Typed<A, R>>() {
            Some(Typed(f)) => f(cx, args, err),
            None => {
                tracing::warn!(
                    method = %cx.info.method,
                    "a fallback for other argument or result types than this call's; not applied"
                );
                Err(err)
            }
        }
    }
}

fn is_timeout_or_breaker(e: &Error) -> bool {
    matches!(
        e,
        Error::Timeout(_)
            | Error::CircuitBreak { .. }
            | Error::NoInstance {
                reason: NoInstanceReason::NoneAdmitted,
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Endpoint, RpcInfo};
    use ringrpc_codec::thrift::Protocol;
    use ringrpc_codec::transport::{Codec, Transport};

    fn cx() -> ClientContext {
        ClientContext {
            info: RpcInfo {
                caller: Endpoint::default(),
                callee: Endpoint::default(),
                method: "get".into(),
                seqid: 1,
                deadline: None,
                timeout: None,
                codec: Codec {
                    transport: Transport::Framed,
                    protocol: Protocol::Binary,
                },
            },
            request_keys: Vec::new(),
            reply_header: None,
            stats: Default::default(),
            trace: None,
            attempt: 0,
        }
    }

    #[test]
    fn a_fallback_answers_its_errors_with_its_type_only() {
        let any = Fallback::new(|_: &ClientContext, args: &u32, e: Error| match e {
            Error::Biz(_) => Ok(format!("default for {args}")),
            e => Err(e),
        });
        let biz = || Error::Biz(crate::BizStatus::new(1, "no"));
        assert_eq!(
            any.apply::<u32, String>(&cx(), &7, biz()).unwrap(),
            "default for 7"
        );
        // The function may pass an error through.
        assert!(matches!(
            any.apply::<u32, String>(&cx(), &7, Error::Shutdown),
            Err(Error::Shutdown)
        ));
        // Other types: not applied.
        assert!(matches!(
            any.apply::<u64, String>(&cx(), &7, biz()),
            Err(Error::Biz(_))
        ));
        let narrow = Fallback::timeout_or_breaker(|_: &ClientContext, _: &u32, _| Ok(0u8));
        assert!(matches!(
            narrow.apply::<u32, u8>(&cx(), &1, biz()),
            Err(Error::Biz(_))
        ));
        let open = Error::CircuitBreak {
            key: "a/b/get".into(),
        };
        assert_eq!(narrow.apply::<u32, u8>(&cx(), &1, open).unwrap(), 0);
        let timeout = Error::Timeout(std::time::Duration::from_millis(5));
        assert_eq!(narrow.apply::<u32, u8>(&cx(), &1, timeout).unwrap(), 0);
    }
}
