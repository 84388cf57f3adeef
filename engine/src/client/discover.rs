//! The per-core half of discovery: where a call's instance comes from.
//!
//! A client finds instances either in its fixed targets (a static list,
//! built into the balancer once) or through a shared
//! [`ResolverCache`](ringrpc_discovery::ResolverCache), read through this
//! core's own [`LocalView`]. Either way the core owns everything a pick
//! touches:
//!
//! * a balancer ([`BalancerKind`], weighted round robin by default), rebuilt
//!   in O(instances) when the view reports a change;
//! * per-instance circuit breakers ([`InstanceBreakers`]), consulted through
//!   the balancer's `admit` filter so an open instance is skipped, not
//!   failed on;
//! * for power of two choices, the start/finish feedback (in flight count,
//!   latency) of every attempt.
//!
//! When a change removes instances, the client's pools close their
//! connections to them ([`Invoke::forget`](super::Invoke::forget)); an
//! attempt that was in flight to a removed instance finishes, and its
//! connection is forgotten when it comes back.
//!
//! A call checks the view once (one atomic load when nothing changed) and
//! borrows this state only between awaits, so nothing here is locked or
//! shared with another core.

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringrpc_discovery::balance::{AnyBalancer, Balancer, BalancerKind, PickRequest};
use ringrpc_discovery::breaker::{
    BreakerOptions, BreakerSnapshot, BreakerState, InstanceBreakers, Outcome,
};
use ringrpc_discovery::{
    EndpointInfo, Instance, LocalView, ResolverCache, Subscription, ViewUpdate,
};

use crate::error::{ConfigError, NoInstanceReason};
use crate::{Error, Result};

/// How a client finds and chooses instances: set on the
/// [`ClientBuilder`](super::ClientBuilder), one copy per client.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Resolve the callee through this cache and endpoint instead of the
    /// fixed targets. Default: none (use [`ClientConfig::targets`]).
    ///
    /// [`ClientConfig::targets`]: super::ClientConfig::targets
    pub resolver: Option<(Arc<ResolverCache>, EndpointInfo)>,
    /// Which balancer each core builds. Default weighted round robin
    /// (Kitex's default).
    pub balancer: BalancerKind,
    /// Per-instance circuit breakers, per core. Default: on, with the
    /// discovery crate's Kitex-derived [`BreakerOptions`] (opens at 50 %
    /// errors over at least 200 attempts, 5 s cool-down). Kitex has none
    /// unless one is configured; ours only acts on an instance this core
    /// sees failing, so it is on. `None` turns them off.
    pub instance_breakers: Option<BreakerOptions>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            resolver: None,
            balancer: BalancerKind::default(),
            instance_breakers: Some(BreakerOptions::default()),
        }
    }
}

/// How an attempt ended, for an instance's breaker: connection and
/// protocol failures count against it, a timeout is a timeout, and any
/// answer from the peer (a reply, an application exception, a business
/// status) shows the instance alive.
pub(crate) fn outcome(r: &Result<super::ClientReply>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(Error::Timeout(_)) => Outcome::Timeout,
        Err(Error::Connect { .. } | Error::NotSent { .. } | Error::Io(_) | Error::Protocol(_)) => {
            Outcome::Failure
        }
        Err(_) => Outcome::Success,
    }
}

/// Where the instances come from.
#[derive(Debug)]
enum Source {
    /// The fixed targets, built into the balancer once.
    Fixed,
    /// A resolver cache key, read through this core's view.
    View(LocalView),
}

/// What [`Instances::refresh`] found.
pub(crate) enum Refresh {
    /// The balancer is current.
    Ready,
    /// No result yet: await this subscription's `ready()` first.
    Pending(Subscription),
}

/// One core's instances: the source, the balancer built from it, the
/// breakers and the feedback. See the module docs.
#[derive(Debug)]
pub(crate) struct Instances {
    source: Source,
    balancer: AnyBalancer,
    /// The current instances by address (removal checks, and the
    /// `&Instance` that P2C feedback takes).
    by_addr: HashMap<SocketAddr, Arc<Instance>>,
    /// Whether the balancer takes start/finish feedback (P2C).
    feedback: bool,
    breakers: Option<InstanceBreakers>,
    /// Bumped on every applied change.
    epoch: u64,
    /// The service (the resolver's endpoint, or the client's callee), for
    /// errors.
    name: String,
}

impl Instances {
    /// This core's state for `cfg`, over `targets` when no resolver is set
    /// (`service` names them in errors). Subscribes to the cache (once per
    /// core).
    pub(crate) fn new(
        cfg: &DiscoveryConfig,
        targets: &[SocketAddr],
        service: &str,
    ) -> Result<Self> {
        let breakers = match cfg.instance_breakers {
            Some(o) => Some(
                InstanceBreakers::new(o).map_err(|source| ConfigError::Invalid {
                    what: "instance breaker options",
                    source,
                })?,
            ),
            None => None,
        };
        let mut balancer = cfg.balancer.build();
        let feedback = matches!(balancer, AnyBalancer::PowerOfTwoChoices(_));
        let (source, name, by_addr) = match &cfg.resolver {
            Some((cache, endpoint)) => (
                Source::View(LocalView::new(cache.subscribe(endpoint))),
                endpoint.service().to_owned(),
                HashMap::default(),
            ),
            None => {
                let list: Vec<Arc<Instance>> = targets
                    .iter()
                    .map(|a| Arc::new(Instance::new(*a)))
                    .collect();
                balancer.rebuild(&list);
                let by_addr = list.iter().map(|i| (i.addr(), i.clone())).collect();
                (Source::Fixed, service.to_owned(), by_addr)
            }
        };
        Ok(Self {
            source,
            balancer,
            by_addr,
            feedback,
            breakers,
            epoch: 0,
            name,
        })
    }

    /// Applies a discovery change, if the view has one: rebuilds the
    /// balancer (O(instances)), drops the breakers of removed instances and
    /// calls `forget` for each removed address. One atomic load when nothing
    /// changed.
    #[inline]
    pub(crate) fn refresh(&mut self, forget: impl FnMut(&SocketAddr)) -> Refresh {
        let Source::View(view) = &mut self.source else {
            return Refresh::Ready;
        };
        match view.update() {
            ViewUpdate::Unchanged => Refresh::Ready,
            ViewUpdate::Pending => Refresh::Pending(view.subscription().clone()),
            ViewUpdate::Changed(change) => {
                self.apply(&change, forget);
                Refresh::Ready
            }
        }
    }

    #[cold]
    fn apply(&mut self, change: &ringrpc_discovery::Change, mut forget: impl FnMut(&SocketAddr)) {
        let Source::View(view) = &self.source else {
            return;
        };
        let Some(snapshot) = view.current() else {
            return;
        };
        let instances = snapshot.instances();
        self.balancer.rebuild(instances);
        self.by_addr = instances.iter().map(|i| (i.addr(), i.clone())).collect();
        if let Some(b) = &mut self.breakers {
            b.apply(change);
        }
        for gone in &change.removed {
            // An address can leave and come back in one change only as an
            // update; guard anyway so a live instance keeps its pool.
            if !self.by_addr.contains_key(&gone.addr()) {
                forget(&gone.addr());
            }
        }
        self.epoch += 1;
        tracing::debug!(
            service = %self.name,
            added = change.added.len(),
            updated = change.updated.len(),
            removed = change.removed.len(),
            "instances changed"
        );
    }

    /// The change counter: an attempt notes it at its pick and, if it moved
    /// by the time the attempt ends, checks whether its instance is gone.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether `addr` is one of the current instances.
    pub(crate) fn contains(&self, addr: &SocketAddr) -> bool {
        self.by_addr.contains_key(addr)
    }

    /// The current instances' addresses.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.by_addr.keys().copied().collect()
    }

    /// The service: the resolver's endpoint, or the client's callee.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The breaker of the instance at `addr`, if it has seen an attempt.
    pub(crate) fn breaker_snapshot(
        &mut self,
        addr: &SocketAddr,
        now: Instant,
    ) -> Option<BreakerSnapshot> {
        self.breakers.as_mut()?.snapshot_of(addr, now)
    }

    /// Every instance breaker that has seen an attempt.
    pub(crate) fn breaker_snapshots(&mut self, now: Instant) -> Vec<(SocketAddr, BreakerSnapshot)> {
        self.breakers
            .as_mut()
            .map(|b| b.snapshot(now).map(|(a, s)| (*a, s)).collect())
            .unwrap_or_default()
    }

    /// Picks an instance whose breaker lets a call through at `now` and
    /// that `admit` accepts (the retry's "not tried yet"), and counts the
    /// call as started. `None`: no such instance.
    #[inline]
    pub(crate) fn pick(
        &mut self,
        key: u64,
        now: Instant,
        mut admit: impl FnMut(&Instance) -> bool,
    ) -> Option<SocketAddr> {
        let breakers = &self.breakers;
        let addr = self
            .balancer
            .pick_admitted(&PickRequest::with_key(key), |inst| {
                breakers
                    .as_ref()
                    .is_none_or(|b| b.would_allow(&inst.addr(), now))
                    && admit(inst)
            })?
            .addr();
        if let Some(b) = &mut self.breakers {
            // `would_allow` said yes at this same `now`; this turns an open
            // breaker past its cool-down into a half-open probe.
            b.allow(&addr, now);
        }
        if self.feedback
            && let Some(inst) = self.by_addr.get(&addr)
        {
            self.balancer.on_start(inst);
        }
        Some(addr)
    }

    /// Records how an attempt to `addr` ended: `outcome` for its breaker
    /// (`None`: it was dropped, e.g. a backup race lost, which says nothing
    /// about the instance) and, for P2C, its latency.
    pub(crate) fn finish(
        &mut self,
        addr: SocketAddr,
        latency: Duration,
        now: Instant,
        outcome: Option<Outcome>,
    ) -> bool {
        let mut opened = false;
        if let (Some(b), Some(o)) = (&mut self.breakers, outcome) {
            let was = b.state(&addr);
            b.record(addr, now, o);
            opened = was != BreakerState::Open && b.state(&addr) == BreakerState::Open;
        }
        if self.feedback
            && let Some(inst) = self.by_addr.get(&addr)
        {
            let ok = outcome.is_none_or(|o| o == Outcome::Success);
            self.balancer.on_finish(inst, latency, ok);
        }
        opened
    }

    /// Whether finishing an attempt needs the time it started (P2C).
    #[inline]
    pub(crate) fn wants_latency(&self) -> bool {
        self.feedback
    }

    /// Whether any attempt outcome is recorded at all.
    #[inline]
    pub(crate) fn records(&self) -> bool {
        self.feedback || self.breakers.is_some()
    }

    /// The error for "nothing to pick".
    pub(crate) fn no_instance(&self) -> Error {
        let reason = match &self.source {
            Source::Fixed if self.by_addr.is_empty() => NoInstanceReason::NoTargets,
            Source::View(_) if self.balancer.is_empty() => NoInstanceReason::NoneResolved,
            Source::Fixed | Source::View(_) => NoInstanceReason::NoneAdmitted,
        };
        Error::NoInstance {
            service: self.name.clone(),
            reason,
        }
    }
}

/// Records an attempt's end in the core's [`Instances`], however the attempt
/// ends: [`finish`](Self::finish) with its result, or dropped (a lost
/// backup race, or the RPC timeout cancelling the call).
pub(crate) struct AttemptGuard<'a> {
    state: &'a RefCell<Instances>,
    addr: SocketAddr,
    started: Option<Instant>,
    deadline: Option<Instant>,
    /// Whether to record at all (not for a per-call address).
    track: bool,
}

impl<'a> AttemptGuard<'a> {
    pub(crate) fn new(
        state: &'a RefCell<Instances>,
        addr: SocketAddr,
        deadline: Option<Instant>,
        track: bool,
    ) -> Self {
        let (track, started) = {
            let s = state.borrow();
            let track = track && s.records();
            (track, (track && s.wants_latency()).then(Instant::now))
        };
        Self {
            state,
            addr,
            started,
            deadline,
            track,
        }
    }

    /// Records the attempt's result; whether it opened the instance's
    /// breaker.
    pub(crate) fn finish(mut self, r: &Result<super::ClientReply>) -> bool {
        if !self.track {
            return false;
        }
        self.track = false;
        let now = Instant::now();
        let latency = self.started.map_or(Duration::ZERO, |s| now - s);
        self.state
            .borrow_mut()
            .finish(self.addr, latency, now, Some(outcome(r)))
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if !self.track {
            return;
        }
        let now = Instant::now();
        let latency = self.started.map_or(Duration::ZERO, |s| now - s);
        // Dropped at the deadline: the instance did not answer in time.
        // Dropped before it: another attempt answered first.
        let outcome = self
            .deadline
            .is_some_and(|d| now >= d)
            .then_some(Outcome::Timeout);
        if let Ok(mut s) = self.state.try_borrow_mut() {
            // A timeout can open the breaker here; the next attempt that
            // finishes normally is what the counters see.
            let _ = s.finish(self.addr, latency, now, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringrpc_discovery::balance::P2cOptions;

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    fn refused(port: u16) -> Result<super::super::ClientReply> {
        Err(Error::Connect {
            addr: addr(port),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        })
    }

    fn in_flight(s: &Instances, a: SocketAddr) -> u32 {
        match &s.balancer {
            AnyBalancer::PowerOfTwoChoices(p) => p.in_flight(&s.by_addr[&a]).expect("known"),
            _ => unreachable!("a P2C balancer"),
        }
    }

    #[test]
    fn an_open_breaker_takes_its_instance_out_of_the_picks() {
        let cfg = DiscoveryConfig {
            instance_breakers: Some(BreakerOptions {
                min_samples: 4,
                ..BreakerOptions::default()
            }),
            ..DiscoveryConfig::default()
        };
        let state = RefCell::new(Instances::new(&cfg, &[addr(1), addr(2)], "echo").expect("state"));
        for _ in 0..4 {
            AttemptGuard::new(&state, addr(1), None, true).finish(&refused(1));
        }
        let mut s = state.borrow_mut();
        for _ in 0..10 {
            assert_eq!(s.pick(0, Instant::now(), |_| true), Some(addr(2)));
        }
        // With the other one excluded too (a retry's "tried"), nothing is
        // left.
        assert_eq!(s.pick(0, Instant::now(), |i| i.addr() != addr(2)), None);
        assert!(matches!(
            s.no_instance(),
            Error::NoInstance {
                reason: NoInstanceReason::NoneAdmitted,
                ..
            }
        ));
    }

    #[test]
    fn p2c_feedback_balances_finished_and_dropped_attempts() {
        let cfg = DiscoveryConfig {
            balancer: BalancerKind::PowerOfTwoChoices(P2cOptions::default()),
            ..DiscoveryConfig::default()
        };
        let state = RefCell::new(Instances::new(&cfg, &[addr(1), addr(2)], "echo").expect("state"));
        let a = state
            .borrow_mut()
            .pick(0, Instant::now(), |_| true)
            .expect("pick");
        let guard = AttemptGuard::new(&state, a, None, true);
        assert_eq!(in_flight(&state.borrow(), a), 1);
        guard.finish(&refused(a.port()));
        assert_eq!(in_flight(&state.borrow(), a), 0);
        // Dropped unfinished (a lost backup race): still balanced.
        let b = state
            .borrow_mut()
            .pick(0, Instant::now(), |_| true)
            .expect("pick");
        drop(AttemptGuard::new(&state, b, None, true));
        assert_eq!(in_flight(&state.borrow(), b), 0);
    }

    #[test]
    fn fixed_targets_never_change_and_empty_ones_say_so() {
        let state = Instances::new(&DiscoveryConfig::default(), &[], "echo").expect("state");
        match state.no_instance() {
            Error::NoInstance { service, reason } => {
                assert_eq!(service, "echo");
                assert_eq!(reason, NoInstanceReason::NoTargets);
            }
            e => panic!("{e}"),
        }
        let mut state =
            Instances::new(&DiscoveryConfig::default(), &[addr(1)], "echo").expect("state");
        assert!(matches!(
            state.refresh(|_| panic!("nothing to forget")),
            Refresh::Ready
        ));
        assert_eq!(state.epoch(), 0);
        assert!(state.contains(&addr(1)));
    }
}
