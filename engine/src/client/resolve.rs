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
//! 2. **Policy.** The method's [`MethodRetry`], or the call's override, and
//!    (under failure or mixed retry) the method's [`ResultRetry`].
//! 3. **Attempts.** Each attempt first asks its method's service-level
//!    breaker, if the client has them ([`super::breaker`]), then picks an
//!    instance its breaker admits (and, for a retry or backup, one not tried
//!    yet unless the policy allows the same one), invokes, and records the
//!    outcome (breakers, P2C feedback).
//!    * no policy: one attempt;
//!    * failure retry: after a retryable error (see [`super::retry`]) or a
//!      result the method's [`ResultRetry`] names, again on another
//!      instance, while the policy, the deadline and the per-core budget
//!      allow;
//!    * backup: after the delay with no answer, the same encoded request to
//!      another instance; the first answer wins and the other attempts are
//!      dropped (their outcome is not held against their instance). A
//!      connect failure (or a request never written) is not an answer: the
//!      call keeps waiting for the attempts in flight or the next backup;
//!    * mixed: as backup, and an attempt that fails retryably (or returns a
//!      result to retry) before the others answer is followed at once by
//!      another (Kitex's mixed retry, [`MixedRetry`]).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringrpc_discovery::Instance;
use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::retry::{
    BackupRequest, BackupStep, FailureRetry, MixedRetry, MixedStep, RetryDecision, RetryPolicy,
};

use super::discover::{AttemptGuard, Refresh};
use super::governance::{CoreState, Counters, Governance};
use super::retry::{MethodRetry, ResultRetry, is_retryable_result};
use super::{ClientReply, ClientRequest, Invoke};
use crate::context::ClientContext;
use crate::middleware::Service;
use crate::{Error, Result};

/// The resolve step: picks the instance a call goes to (load balancing,
/// breakers), then invokes, retrying or backing up per the method's
/// policy. See the module docs.
#[derive(Debug)]
pub struct Resolve {
    core: Rc<CoreState>,
    methods: PolicyTable<MethodRetry>,
    results: PolicyTable<Option<ResultRetry>>,
    invoke: Invoke,
}

/// How a call ended: the result, the instance that gave it, and the
/// attempt's number.
type Outcome = (Result<ClientReply>, Option<SocketAddr>, u32);

/// Why another attempt goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// After a retryable failure.
    Retry,
    /// After a result the method's [`ResultRetry`] names.
    ResultRetry,
    /// No answer came in time.
    Backup,
}

/// The per-call state of attempts that may run side by side.
enum Hedge {
    Backup(BackupRequest),
    Mixed(MixedRetry),
}

impl Hedge {
    fn admits(&self, i: &Instance) -> bool {
        match self {
            Hedge::Backup(b) => b.admits(i),
            Hedge::Mixed(m) => m.admits(i),
        }
    }

    fn on_attempt(&mut self, i: &Instance, now: Instant) {
        match self {
            Hedge::Backup(b) => b.on_attempt(i),
            Hedge::Mixed(m) => m.on_attempt(i, now),
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        match self {
            Hedge::Backup(b) => b.next_timer(),
            Hedge::Mixed(m) => m.next_timer(),
        }
    }
}

impl Resolve {
    pub(crate) fn new(
        core: Rc<CoreState>,
        methods: PolicyTable<MethodRetry>,
        results: PolicyTable<Option<ResultRetry>>,
        invoke: Invoke,
    ) -> Self {
        Self {
            core,
            methods,
            results,
            invoke,
        }
    }

    /// This core's invoke step (its pools).
    pub fn invoke(&self) -> &Invoke {
        &self.invoke
    }

    /// This client's governance state on this core: breakers and counters.
    pub fn governance(&self) -> Governance {
        Governance(self.core.clone())
    }

    pub(super) fn core(&self) -> &CoreState {
        &self.core
    }

    /// Brings this core's instances up to date; awaits the first resolve.
    pub(super) async fn refresh(&self) -> Result<()> {
        loop {
            let sub = match self
                .core
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
            None => self
                .core
                .instances
                .borrow_mut()
                .pick(key, Instant::now(), admit),
        }
    }

    fn no_instance(&self) -> Error {
        self.core.instances.borrow().no_instance()
    }

    /// Asks the method's service-level breaker (if the client has them) to
    /// let an attempt through; counts a refusal.
    #[inline]
    fn admit(&self, req: &ClientRequest) -> Result<()> {
        let Some(breakers) = &self.core.service else {
            return Ok(());
        };
        let r = breakers
            .borrow_mut()
            .allow(req.method.as_str(), Instant::now());
        if r.is_err() {
            Counters::bump(&self.core.counters.rejected);
            tracing::debug!(method = %req.method, "service breaker open");
        }
        r
    }

    /// Records an attempt's end in the method's service-level breaker.
    #[inline]
    fn record(&self, req: &ClientRequest, r: &Result<ClientReply>) {
        if let Some(breakers) = &self.core.service {
            let opened = breakers
                .borrow_mut()
                .record(req.method.as_str(), Instant::now(), r);
            if opened {
                self.breaker_opened(None);
            }
        }
    }

    /// Counts a breaker that opened (an instance's, or the method's).
    #[cold]
    fn breaker_opened(&self, addr: Option<SocketAddr>) {
        Counters::bump(&self.core.counters.breakers_opened);
        match addr {
            Some(addr) => tracing::info!(%addr, "instance breaker opened"),
            None => tracing::info!("service breaker opened"),
        }
    }

    fn count(&self, again: Again) {
        let c = &self.core.counters;
        match again {
            Again::Retry => Counters::bump(&c.retries),
            Again::ResultRetry => {
                Counters::bump(&c.retries);
                Counters::bump(&c.result_retries);
            }
            Again::Backup => Counters::bump(&c.backups),
        }
    }

    /// The method's result rules, under a policy that retries results.
    fn results(&self, req: &ClientRequest) -> Option<&ResultRetry> {
        self.results.get(req.method.as_str()).as_ref()
    }

    /// One attempt to `addr`, recorded in the core's instances (and
    /// service breaker) however it ends. The record is set up when the
    /// future is made, not when it is first polled, so an attempt dropped
    /// before it ran (a backup that lost to the first answer in the same
    /// turn) still balances its pick.
    fn attempt<'a>(
        &'a self,
        cx: &'a ClientContext,
        addr: SocketAddr,
        req: &'a ClientRequest,
        timeout: Option<Duration>,
        track: bool,
    ) -> impl Future<Output = Result<ClientReply>> + 'a {
        let epoch = self.core.instances.borrow().epoch();
        let guard = AttemptGuard::new(&self.core.instances, addr, cx.info.deadline, track);
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
            if guard.finish(&r) {
                self.breaker_opened(Some(addr));
            }
            self.record(req, &r);
            if track {
                self.forget_if_gone(epoch, &addr);
            }
            r
        }
    }

    /// Attempts in turn: one, or (with a failure-retry state) again on
    /// another instance after each retryable failure or result, while the
    /// policy, the deadline and the per-core budget allow. One loop with one
    /// await of the invoke step, so the plain call's future nests no further
    /// than that step (each nested future is copied when it is made).
    async fn attempts(
        &self,
        cx: &ClientContext,
        req: &ClientRequest,
        fixed: Option<SocketAddr>,
        key: u64,
        rule: &MethodRetry,
        mut retry: Option<FailureRetry>,
    ) -> Outcome {
        let mut last: Option<(Result<ClientReply>, SocketAddr)> = None;
        let mut attempt: u32 = 0;
        // Why the next attempt goes out: counted once it does.
        let mut again: Option<Again> = None;
        let track = fixed.is_none();
        let results = match retry {
            Some(_) => self.results(req),
            None => None,
        };
        loop {
            let admitted = self.admit(req);
            let picked = match admitted {
                Ok(()) => self.pick(fixed, key, |i| retry.as_ref().is_none_or(|r| r.admits(i))),
                Err(_) => None,
            };
            let Some(addr) = picked else {
                return match (last, admitted) {
                    // Nowhere left to retry: the last answer stands.
                    (Some((r, a)), _) => (r, Some(a), attempt.saturating_sub(1)),
                    (None, Err(e)) => (Err(e), None, 0),
                    (None, Ok(())) => (Err(self.no_instance()), None, 0),
                };
            };
            if let Some(retry) = &mut retry {
                retry.on_attempt(&Instance::new(addr));
            }
            if let Some(a) = again.take() {
                self.count(a);
            }
            let epoch = self.core.instances.borrow().epoch();
            let guard = AttemptGuard::new(&self.core.instances, addr, cx.info.deadline, track);
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
            if guard.finish(&r) {
                self.breaker_opened(Some(addr));
            }
            self.record(req, &r);
            if track {
                self.forget_if_gone(epoch, &addr);
            }
            let Some(retry) = &mut retry else {
                return (r, Some(addr), attempt);
            };
            if r.is_ok() && results.is_none() {
                return (r, Some(addr), attempt);
            }
            let retryable = is_retryable_result(rule, results, &r);
            let decision = {
                let mut st = self.core.retry.borrow_mut();
                let st = &mut *st;
                retry.on_failure(retryable, Instant::now(), &mut st.budget, &mut st.rng)
            };
            match decision {
                RetryDecision::Retry { after } => {
                    match &r {
                        Ok(_) => {
                            tracing::debug!(method = %req.method, %addr, attempt, "retrying a result");
                            again = Some(Again::ResultRetry);
                        }
                        Err(e) => {
                            tracing::debug!(method = %req.method, %addr, error = %e, attempt, "retrying");
                            again = Some(Again::Retry);
                        }
                    }
                    if !after.is_zero() {
                        // Boxed: a timer in the state would size every call.
                        Box::pin(monoio::time::sleep(after)).await;
                    }
                    last = Some((r, addr));
                    attempt += 1;
                }
                RetryDecision::Stop(reason) => {
                    if let Err(e) = &r {
                        tracing::debug!(method = %req.method, %addr, error = %e, ?reason, "not retrying");
                    }
                    return (r, Some(addr), attempt);
                }
            }
        }
    }

    /// After an attempt to `addr`: if the instance left while it was out,
    /// its connection went back to the pool after the change closed the
    /// others; close it too.
    fn forget_if_gone(&self, epoch: u64, addr: &SocketAddr) {
        let gone = {
            let s = self.core.instances.borrow();
            s.epoch() != epoch && !s.contains(addr)
        };
        if gone {
            self.invoke.forget(addr);
        }
    }

    /// Attempts that may run side by side: backup requests, or mixed retry.
    async fn hedged(
        &self,
        cx: &ClientContext,
        req: &ClientRequest,
        fixed: Option<SocketAddr>,
        key: u64,
        rule: &MethodRetry,
        mut plan: Hedge,
    ) -> Outcome {
        if let Err(e) = self.admit(req) {
            return (Err(e), None, 0);
        }
        let Some(first) = self.pick(fixed, key, |i| plan.admits(i)) else {
            return (Err(self.no_instance()), None, 0);
        };
        plan.on_attempt(&Instance::new(first), Instant::now());
        let track = fixed.is_none();
        let timeout = rule.attempt_timeout;
        let results = match plan {
            Hedge::Mixed(_) => self.results(req),
            Hedge::Backup(_) => None,
        };
        // One slot per attempt: the first and at most three more (mixed
        // retry's cap; backups stop at two). Pinned here, polled together
        // below; a slot still running when the call returns is dropped with
        // it.
        let mut addrs = [Some(first), None, None, None];
        let mut s0 = pin!(Some(self.attempt(cx, first, req, timeout, track)));
        let mut s1 = pin!(None);
        let mut s2 = pin!(None);
        let mut s3 = pin!(None);
        let mut timer = pin!(None::<monoio::time::Sleep>);
        let mut timer_at: Option<Instant> = None;
        // No more timer until the next attempt (the budget or the deadline
        // said stop).
        let mut timer_off = false;
        // Whether a failure retry waiting for its backoff retries a result.
        let mut due_result = false;
        let mut sent = 1;
        let mut last: Option<(Result<ClientReply>, usize)> = None;
        enum Event {
            Done(usize, Result<ClientReply>),
            Timer,
        }
        loop {
            let want = if timer_off { None } else { plan.next_timer() };
            if want != timer_at {
                timer.set(want.map(|at| monoio::time::sleep_until(at.into())));
                timer_at = want;
            }
            let live = [s0.is_some(), s1.is_some(), s2.is_some(), s3.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if live == 0 && timer.is_none() {
                return match last {
                    Some((r, i)) => (r, addrs[i], i as u32),
                    None => (Err(self.no_instance()), None, 0),
                };
            }
            let event = poll_fn(|tcx| {
                for (i, mut slot) in [s0.as_mut(), s1.as_mut(), s2.as_mut(), s3.as_mut()]
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
            let again = match event {
                Event::Done(i, r) => match &mut plan {
                    Hedge::Backup(call) => {
                        let not_an_answer =
                            matches!(r, Err(Error::Connect { .. } | Error::NotSent { .. }));
                        if not_an_answer && (live > 1 || call.next_timer().is_some()) {
                            // Wait for the others or the next backup.
                            last = Some((r, i));
                            continue;
                        }
                        call.on_answer();
                        return (r, addrs[i], i as u32);
                    }
                    Hedge::Mixed(m) => {
                        let retryable = is_retryable_result(rule, results, &r);
                        let step = {
                            let mut st = self.core.retry.borrow_mut();
                            let st = &mut *st;
                            m.on_answer(retryable, Instant::now(), &mut st.budget, &mut st.rng)
                        };
                        let result = r.is_ok();
                        match step {
                            MixedStep::Return => return (r, addrs[i], i as u32),
                            MixedStep::Wait => {
                                if m.retry_due() {
                                    due_result = result;
                                }
                                last = Some((r, i));
                                continue;
                            }
                            MixedStep::RetryNow => {
                                last = Some((r, i));
                                if result {
                                    Again::ResultRetry
                                } else {
                                    Again::Retry
                                }
                            }
                        }
                    }
                },
                Event::Timer => {
                    timer_at = None;
                    let due = matches!(&plan, Hedge::Mixed(m) if m.retry_due());
                    let step = {
                        let mut st = self.core.retry.borrow_mut();
                        match &mut plan {
                            Hedge::Backup(b) => b.on_timer(Instant::now(), &mut st.budget),
                            Hedge::Mixed(m) => m.on_timer(Instant::now(), &mut st.budget),
                        }
                    };
                    match step {
                        BackupStep::Send if due && due_result => Again::ResultRetry,
                        BackupStep::Send if due => Again::Retry,
                        BackupStep::Send => Again::Backup,
                        // The loop re-arms the timer for `next_timer`.
                        BackupStep::Wait(_) => continue,
                        BackupStep::Stop(reason) => {
                            tracing::debug!(method = %req.method, ?reason, "no more attempts");
                            timer_off = true;
                            continue;
                        }
                    }
                }
            };
            // Could not send: no more timer until an attempt goes out (a
            // mixed timer would fire again at once).
            timer_off = true;
            if sent == addrs.len() || self.admit(req).is_err() {
                continue;
            }
            let Some(addr) = self.pick(fixed, key, |i| plan.admits(i)) else {
                tracing::debug!(method = %req.method, "no instance for another attempt");
                continue;
            };
            tracing::debug!(method = %req.method, %addr, ?again, "another attempt");
            self.count(again);
            plan.on_attempt(&Instance::new(addr), Instant::now());
            timer_off = false;
            addrs[sent] = Some(addr);
            let f = self.attempt(cx, addr, req, timeout, track);
            match sent {
                1 => s1.set(Some(f)),
                2 => s2.set(Some(f)),
                _ => s3.set(Some(f)),
            }
            sent += 1;
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
        let rule = self
            .methods
            .for_call(req.method.as_str(), req.retry.as_ref());
        self.core.retry.borrow_mut().budget.on_call();
        // Without a key, consistent hashing spreads calls by seq id.
        let key = req.hash_key.unwrap_or(cx.info.seqid as u32 as u64);
        let (r, addr, attempt) = match rule.policy {
            // Boxed: side-by-side attempts keep up to four futures, which
            // would otherwise size every call's future.
            RetryPolicy::Backup(p) if !req.oneway => {
                let plan = Hedge::Backup(p.start(Instant::now(), cx.info.deadline));
                Box::pin(self.hedged(cx, &req, fixed, key, rule, plan)).await
            }
            RetryPolicy::Mixed(p) if !req.oneway => {
                let plan = Hedge::Mixed(p.start(cx.info.deadline));
                Box::pin(self.hedged(cx, &req, fixed, key, rule, plan)).await
            }
            // A oneway call has no answer to wait for: one attempt.
            RetryPolicy::Backup(_) | RetryPolicy::Mixed(_) | RetryPolicy::None => {
                self.attempts(cx, &req, fixed, key, rule, None).await
            }
            RetryPolicy::Failure(p) => {
                let retry = p.start(cx.info.deadline);
                self.attempts(cx, &req, fixed, key, rule, Some(retry)).await
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
