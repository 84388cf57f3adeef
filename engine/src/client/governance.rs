//! One core's client governance state, and the read API over it: breakers
//! (per method and per instance) and the counts of what retry, the breakers
//! and fallback did.
//!
//! A client's resolve step and the client itself share this core's state
//! through an `Rc` (no lock, no atomics); a [`Governance`] is a handle on
//! it. Get one from [`Client::governance`](super::Client::governance), from
//! [`Resolve::governance`](super::Resolve::governance) (a layer that wraps
//! the resolve step directly), or for every client built on this core from
//! [`on_this_core`] (what a per-core metrics exporter reads; middleware can
//! too). Reading takes a snapshot: it copies counts, it never blocks a
//! call.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_discovery::breaker::BreakerSnapshot;

use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::breaker::BreakerOptions;
use rustc_hash::FxHashMap as HashMap;

use super::breaker::ServiceBreakers;
use super::discover::Instances;
use super::fallback::Fallback;
use super::retry::RetryState;
use super::warmup::WarmUp;

/// A client's service breakers, fallbacks and warm-up: set on the
/// [`ClientBuilder`](super::ClientBuilder), one copy per client.
#[derive(Debug, Clone, Default)]
pub struct GovernanceConfig {
    /// Service-level breaker options per method (`"*"`: any method without
    /// its own; `None`: no breaker). Default: none for any method (Kitex's
    /// default: no service breaker without `WithCircuitBreaker`).
    pub service_breakers: PolicyTable<Option<BreakerOptions>>,
    /// Fallbacks per method (`"*"`: any method without its own). Default:
    /// none (as Kitex without `WithFallback`).
    pub fallbacks: HashMap<String, Fallback>,
    /// What [`build_warmed`](super::ClientBuilder::build_warmed) does.
    /// Default [`WarmUp::default`].
    pub warm_up: WarmUp,
}

/// What this core's client did beyond plain calls, counted since it was
/// built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Attempts sent again after a failure (failure retry, and the
    /// failure-retry half of mixed retry), a retried result included.
    pub retries: u64,
    /// Of `retries`, those sent because a reply matched the method's
    /// [`ResultRetry`](super::ResultRetry).
    pub result_retries: u64,
    /// Attempts sent because no answer came in time (backup requests, and
    /// the backup half of mixed retry).
    pub backups: u64,
    /// Attempts a service-level breaker refused (a call refused on its
    /// first attempt fails with [`Error::CircuitBreak`](crate::Error::CircuitBreak)).
    pub rejected: u64,
    /// Failed calls a [`Fallback`] answered with a value.
    pub fallbacks: u64,
    /// Times a breaker (service or instance) opened.
    pub breakers_opened: u64,
}

/// The counters a call bumps. Written by their core only (a relaxed load
/// and store, no locked instruction), read by a metrics scrape from
/// another thread: [`Governance::shared_counters`].
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) retries: AtomicU64,
    pub(crate) result_retries: AtomicU64,
    pub(crate) backups: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) breakers_opened: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn bump(c: &AtomicU64) {
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn get(&self) -> CallCounters {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CallCounters {
            retries: r(&self.retries),
            result_retries: r(&self.result_retries),
            backups: r(&self.backups),
            rejected: r(&self.rejected),
            fallbacks: r(&self.fallbacks),
            breakers_opened: r(&self.breakers_opened),
        }
    }
}

/// One core's state behind a client: instances and their breakers, the
/// retry budget, the service breakers and the counters. Borrowed only
/// between awaits.
#[derive(Debug)]
pub(crate) struct CoreState {
    pub(crate) instances: RefCell<Instances>,
    pub(crate) retry: RefCell<RetryState>,
    /// `None` when no method has a service breaker.
    pub(crate) service: Option<RefCell<ServiceBreakers>>,
    pub(crate) counters: Arc<Counters>,
    /// The callee, as the breakers' keys name it.
    callee: String,
}

impl CoreState {
    pub(crate) fn new(
        instances: Instances,
        retry: RetryState,
        service: Option<ServiceBreakers>,
        callee: String,
    ) -> Rc<Self> {
        let state = Rc::new(CoreState {
            instances: RefCell::new(instances),
            retry: RefCell::new(retry),
            service: service.map(RefCell::new),
            counters: Arc::default(),
            callee,
        });
        CLIENTS.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|w| w.strong_count() > 0);
            c.push(Rc::downgrade(&state));
        });
        state
    }
}

thread_local! {
    /// The clients built on this thread (core).
    static CLIENTS: RefCell<Vec<Weak<CoreState>>> = const { RefCell::new(Vec::new()) };
}

/// A handle on one client's governance state on this core. Cheap to clone
/// (an `Rc`); not `Send` (it is this core's).
#[derive(Debug, Clone)]
pub struct Governance(pub(crate) Rc<CoreState>);

/// A client's governance state on one core at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernanceSnapshot {
    /// The callee (the resolver's endpoint name, else the client's
    /// service).
    pub callee: String,
    /// The counters.
    pub counters: CallCounters,
    /// The service-level breakers used so far, by key
    /// (`caller/callee/method`).
    pub service_breakers: Vec<(Utf8Bytes, BreakerSnapshot)>,
    /// The per-instance breakers that have seen an attempt, by address.
    pub instance_breakers: Vec<(SocketAddr, BreakerSnapshot)>,
}

impl Governance {
    /// The callee, as the breakers' keys name it.
    pub fn callee(&self) -> &str {
        &self.0.callee
    }

    /// The counters so far.
    pub fn counters(&self) -> CallCounters {
        self.0.counters.get()
    }

    /// The counters themselves, readable from any thread (what
    /// [`Metrics::add_client`](crate::metrics::Metrics::add_client) keeps).
    pub fn shared_counters(&self) -> Arc<Counters> {
        self.0.counters.clone()
    }

    /// The service-level breaker of `method`, if it has one and a call used
    /// it. `None` too if called from inside the client's own resolve step.
    pub fn service_breaker(&self, method: &str) -> Option<BreakerSnapshot> {
        self.0
            .service
            .as_ref()?
            .try_borrow_mut()
            .ok()?
            .get(method, Instant::now())
    }

    /// The breaker of the instance at `addr`, if instance breakers are on
    /// and an attempt went there.
    pub fn instance_breaker(&self, addr: &SocketAddr) -> Option<BreakerSnapshot> {
        self.0
            .instances
            .try_borrow_mut()
            .ok()?
            .breaker_snapshot(addr, Instant::now())
    }

    /// Everything at once. Allocates the lists.
    pub fn snapshot(&self) -> GovernanceSnapshot {
        let now = Instant::now();
        GovernanceSnapshot {
            callee: self.0.callee.clone(),
            counters: self.counters(),
            service_breakers: self
                .0
                .service
                .as_ref()
                .and_then(|s| s.try_borrow_mut().ok())
                .map(|mut s| s.snapshot(now))
                .unwrap_or_default(),
            instance_breakers: self
                .0
                .instances
                .try_borrow_mut()
                .map(|mut i| i.breaker_snapshots(now))
                .unwrap_or_default(),
        }
    }
}

/// The governance of every client built on this thread (core) and still
/// alive, oldest first: what a per-core metrics exporter reads.
pub fn on_this_core() -> Vec<Governance> {
    CLIENTS.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|w| w.strong_count() > 0);
        c.iter().filter_map(Weak::upgrade).map(Governance).collect()
    })
}
