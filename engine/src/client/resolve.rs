//! The resolve step of the client chain: pick an instance, send, and retry
//! or back up as the method's [`MethodRetry`] says.
//!
//! Per call, on this core and without locks:
//!
//! 1. **Refresh.** Unless the call names its own address, the core's
//!    [`Instances`] checks the discovery view (one atomic load) and applies a
//!    change if there is one (rebuild the balancer, close pooled connections
//!    to removed instances). The first call on a core awaits the first
//!    resolve (`Subscription::ready`), bounded by the RPC timeout around the
//!    whole chain.
//! 2. **Policy.** The method's [`MethodRetry`], or the call's override.
//! 3. **Attempts.** Each attempt picks an instance its breaker admits (and,
//!    for a retry or backup, one not tried yet unless the policy allows the
//!    same one), invokes, and records the outcome (breaker, P2C feedback).
//!    * no policy: one attempt;
//!    * failure retry: after a retryable error (see [`super::retry`]),
//!      again on another instance, while the policy, the deadline and the
//!      per-core budget allow;
//!    * backup: after the delay with no answer, the same encoded request to
//!      another instance; the first answer wins and the other attempts are
//!      dropped (their outcome is not held against their instance). A
//!      connect failure is not an answer: the call keeps waiting for the
//!      attempts in flight or the next backup.

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringrpc_discovery::Instance;
use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::retry::{
    BackupPolicy, BackupStep, FailureRetry, RetryDecision, RetryPolicy,
};

use super::discover::{AttemptGuard, Instances, Refresh};
use super::retry::{MethodRetry, RetryState};
use super::{ClientReply, ClientRequest, Invoke};
use crate::context::ClientContext;
use crate::middleware::Service;
use crate::{Error, Result};

/// The resolve step: picks the instance a call goes to (load balancing,
/// breakers), then invokes, retrying or backing up per the method's
/// policy. See the module docs.
#[derive(Debug)]
pub struct Resolve {
    instances: RefCell<Instances>,
    methods: PolicyTable<MethodRetry>,
    retry: RefCell<RetryState>,
    invoke: Invoke,
}

/// How a call ended: the result, the instance that gave it, and the
/// attempt's number.
type Outcome = (Result<ClientReply>, Option<SocketAddr>, u32);

impl Resolve {
    pub(crate) fn new(
        instances: Instances,
        methods: PolicyTable<MethodRetry>,
        retry: RetryState,
        invoke: Invoke,
    ) -> Self {
        Self {
            instances: RefCell::new(instances),
            methods,
            retry: RefCell::new(retry),
            invoke,
        }
    }

    /// This core's invoke step (its pools).
    pub fn invoke(&self) -> &Invoke {
        &self.invoke
    }

    /// Brings this core's instances up to date; awaits the first resolve.
    async fn refresh(&self) -> Result<()> {
        loop {
            let sub = match self
                .instances
                .borrow_mut()
                .refresh(|addr| self.invoke.forget(addr))
            {
                Refresh::Ready => return Ok(()),
                Refresh::Pending(sub) => sub,
            };
            sub.ready().await?;
        }
    }

    /// Picks the per-call address (if `admit` takes it) or an instance.
    fn pick(
        &self,
        fixed: Option<SocketAddr>,
        key: u64,
        mut admit: impl FnMut(&Instance) -> bool,
    ) -> Option<SocketAddr> {
        match fixed {
            Some(a) => admit(&Instance::new(a)).then_some(a),
            None => self.instances.borrow_mut().pick(key, Instant::now(), admit),
        }
    }

    fn no_instance(&self) -> Error {
        self.instances.borrow().no_instance()
    }

    /// One attempt to `addr`, recorded in the core's instances however it
    /// ends. The record is set up when the future is made, not when it is
    /// first polled, so an attempt dropped before it ran (a backup that lost
    /// to the first answer in the same turn) still balances its pick.
    fn attempt<'a>(
        &'a self,
        cx: &'a ClientContext,
        addr: SocketAddr,
        req: &'a ClientRequest,
        timeout: Option<Duration>,
        track: bool,
    ) -> impl Future<Output = Result<ClientReply>> + 'a {
        let epoch = self.instances.borrow().epoch();
        let guard = AttemptGuard::new(&self.instances, addr, cx.info.deadline, track);
        async move {
            let r = match timeout {
                // Boxed: per-attempt timeouts are a retry option, and the
                // timer's state would otherwise size every call's future.
                Some(t) => {
                    match Box::pin(monoio::time::timeout(t, self.invoke.call(cx, addr, req))).await
                    {
                        Ok(r) => r,
                        Err(_) => Err(Error::Timeout(t)),
                    }
                }
                None => self.invoke.call(cx, addr, req).await,
            };
            guard.finish(&r);
            if track {
                self.forget_if_gone(epoch, &addr);
            }
            r
        }
    }

    /// Attempts in turn: one, or (with a failure-retry state) again on
    /// another instance after each retryable failure, while the policy, the
    /// deadline and the per-core budget allow. One loop with one await of
    /// the invoke step, so the plain call's future nests no further than
    /// that step (each nested future is copied when it is made).
    async fn attempts(
        &self,
        cx: &ClientContext,
        req: &ClientRequest,
        fixed: Option<SocketAddr>,
        key: u64,
        rule: &MethodRetry,
        mut retry: Option<FailureRetry>,
    ) -> Outcome {
        let mut last: Option<(Error, SocketAddr)> = None;
        let mut attempt: u32 = 0;
        let track = fixed.is_none();
        loop {
            let picked = self.pick(fixed, key, |i| retry.as_ref().is_none_or(|r| r.admits(i)));
            let Some(addr) = picked else {
                return match last {
                    // Nowhere left to retry: the last failure stands.
                    Some((e, a)) => (Err(e), Some(a), attempt.saturating_sub(1)),
                    None => (Err(self.no_instance()), None, 0),
                };
            };
            if let Some(retry) = &mut retry {
                retry.on_attempt(&Instance::new(addr));
            }
            let epoch = self.instances.borrow().epoch();
            let guard = AttemptGuard::new(&self.instances, addr, cx.info.deadline, track);
            let r = match rule.attempt_timeout {
                // Boxed: per-attempt timeouts are a retry option, and the
                // timer's state would otherwise size every call's future.
                Some(t) => {
                    match Box::pin(monoio::time::timeout(t, self.invoke.call(cx, addr, req))).await
                    {
                        Ok(r) => r,
                        Err(_) => Err(Error::Timeout(t)),
                    }
                }
                None => self.invoke.call(cx, addr, req).await,
            };
            guard.finish(&r);
            if track {
                self.forget_if_gone(epoch, &addr);
            }
            let e = match r {
                Ok(reply) => return (Ok(reply), Some(addr), attempt),
                Err(e) => e,
            };
            let Some(retry) = &mut retry else {
                return (Err(e), Some(addr), attempt);
            };
            let decision = {
                let mut st = self.retry.borrow_mut();
                let st = &mut *st;
                retry.on_failure(
                    rule.is_retryable(&e),
                    Instant::now(),
                    &mut st.budget,
                    &mut st.rng,
                )
            };
            match decision {
                RetryDecision::Retry { after } => {
                    tracing::debug!(method = %req.method, %addr, error = %e, attempt, "retrying");
                    if !after.is_zero() {
                        // Boxed: a timer in the state would size every call.
                        Box::pin(monoio::time::sleep(after)).await;
                    }
                    last = Some((e, addr));
                    attempt += 1;
                }
                RetryDecision::Stop(reason) => {
                    tracing::debug!(method = %req.method, %addr, error = %e, ?reason, "not retrying");
                    return (Err(e), Some(addr), attempt);
                }
            }
        }
    }

    /// After an attempt to `addr`: if the instance left while it was out,
    /// its connection went back to the pool after the change closed the
    /// others; close it too.
    fn forget_if_gone(&self, epoch: u64, addr: &SocketAddr) {
        let gone = {
            let s = self.instances.borrow();
            s.epoch() != epoch && !s.contains(addr)
        };
        if gone {
            self.invoke.forget(addr);
        }
    }

    async fn with_backup(
        &self,
        cx: &ClientContext,
        req: &ClientRequest,
        fixed: Option<SocketAddr>,
        key: u64,
        rule: &MethodRetry,
        policy: BackupPolicy,
    ) -> Outcome {
        let mut call = policy.start(Instant::now(), cx.info.deadline);
        let Some(first) = self.pick(fixed, key, |i| call.admits(i)) else {
            return (Err(self.no_instance()), None, 0);
        };
        call.on_attempt(&Instance::new(first));
        let track = fixed.is_none();
        let timeout = rule.attempt_timeout;
        // One slot per attempt: the first and at most two backups
        // (`MAX_BACKUPS_CAP`). Pinned here, polled together below; a slot
        // still running when the call returns is dropped with it.
        let mut addrs = [Some(first), None, None];
        let mut s0 = pin!(Some(self.attempt(cx, first, req, timeout, track)));
        let mut s1 = pin!(None);
        let mut s2 = pin!(None);
        let mut timer = pin!(None::<monoio::time::Sleep>);
        if let Some(at) = call.next_timer() {
            timer.set(Some(monoio::time::sleep_until(at.into())));
        }
        let mut sent = 1;
        let mut last: Option<(Error, usize)> = None;
        enum Event {
            Done(usize, Result<ClientReply>),
            Timer,
        }
        loop {
            let live = [s0.is_some(), s1.is_some(), s2.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if live == 0 && timer.is_none() {
                return match last {
                    Some((e, i)) => (Err(e), addrs[i], i as u32),
                    None => (Err(self.no_instance()), None, 0),
                };
            }
            let event = poll_fn(|tcx| {
                for (i, mut slot) in [s0.as_mut(), s1.as_mut(), s2.as_mut()]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(f) = slot.as_mut().as_pin_mut()
                        && let Poll::Ready(r) = f.poll(tcx)
                    {
                        slot.set(None);
                        return Poll::Ready(Event::Done(i, r));
                    }
                }
                if let Some(t) = timer.as_mut().as_pin_mut()
                    && t.poll(tcx).is_ready()
                {
                    timer.set(None);
                    return Poll::Ready(Event::Timer);
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::Done(i, Err(e @ Error::Connect { .. }))
                    if live > 1 || call.next_timer().is_some() =>
                {
                    // Not an answer: wait for the others or the next backup.
                    last = Some((e, i));
                }
                Event::Done(i, r) => {
                    call.on_answer();
                    return (r, addrs[i], i as u32);
                }
                Event::Timer => {
                    let step = {
                        let mut st = self.retry.borrow_mut();
                        call.on_timer(Instant::now(), &mut st.budget)
                    };
                    match step {
                        BackupStep::Send => {
                            match self.pick(fixed, key, |i| call.admits(i)) {
                                Some(addr) if sent < addrs.len() => {
                                    tracing::debug!(method = %req.method, %addr, "backup request");
                                    call.on_attempt(&Instance::new(addr));
                                    addrs[sent] = Some(addr);
                                    let f = self.attempt(cx, addr, req, timeout, track);
                                    if sent == 1 {
                                        s1.set(Some(f));
                                    } else {
                                        s2.set(Some(f));
                                    }
                                    sent += 1;
                                }
                                _ => {
                                    tracing::debug!(method = %req.method, "no instance for a backup")
                                }
                            }
                            if let Some(at) = call.next_timer() {
                                timer.set(Some(monoio::time::sleep_until(at.into())));
                            }
                        }
                        BackupStep::Wait(at) => {
                            timer.set(Some(monoio::time::sleep_until(at.into())));
                        }
                        BackupStep::Stop(reason) => {
                            tracing::debug!(method = %req.method, ?reason, "no more backups");
                        }
                    }
                }
            }
        }
    }
}

impl Service<ClientContext, ClientRequest> for Resolve {
    type Response = ClientReply;
    type Error = Error;

    async fn call(&self, cx: &mut ClientContext, req: ClientRequest) -> Result<ClientReply> {
        let fixed = cx.info.callee.addr;
        if fixed.is_none() {
            self.refresh().await?;
        }
        let rule = *self
            .methods
            .for_call(req.method.as_str(), req.retry.as_ref());
        self.retry.borrow_mut().budget.on_call();
        // Without a key, consistent hashing spreads calls by seq id.
        let key = req.hash_key.unwrap_or(cx.info.seqid as u32 as u64);
        let (r, addr, attempt) = match rule.policy {
            // Boxed: backup requests keep three attempts side by side, which
            // would otherwise size every call's future.
            RetryPolicy::Backup(p) if !req.oneway => {
                Box::pin(self.with_backup(cx, &req, fixed, key, &rule, p)).await
            }
            // A oneway call has no answer to wait for: one attempt.
            RetryPolicy::Backup(_) | RetryPolicy::None => {
                self.attempts(cx, &req, fixed, key, &rule, None).await
            }
            RetryPolicy::Failure(p) => {
                let retry = p.start(cx.info.deadline);
                self.attempts(cx, &req, fixed, key, &rule, Some(retry))
                    .await
            }
        };
        if addr.is_some() {
            cx.info.callee.addr = addr;
        }
        cx.attempt = attempt;
        if let Ok(reply) = &r {
            cx.reply_header = reply.frame.as_ref().and_then(|f| f.header.clone());
            if let Some(h) = &cx.reply_header {
                crate::metainfo::receive_backward(h);
            }
        }
        r
    }
}
