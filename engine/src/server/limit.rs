//! Overload protection: a server-wide QPS limit, a server-wide limit on
//! requests in flight, and a connection limit, enforced on each core
//! without a shared lock on the request path; plus a hook for a user's own
//! limiter.
//!
//! # How a server-wide limit is kept per core
//!
//! Each core holds its *share* of each limit in plain `Cell`s and checks a
//! request against it alone: a token bucket for the QPS limit (refilled at
//! the share's rate, holding at most one rebalance period of tokens), a
//! counter for requests in flight. Every [`REBALANCE`] each core publishes
//! the demand it saw in the last period (requests offered, admitted or not;
//! its peak in flight plus what it turned away) into its own cache-line
//! padded slot, reads the other cores' slots, and takes a share
//! proportional to its demand. So a core that holds most of the
//! connections gets most of the budget within one period, and the shares
//! always add up to the limit. Kitex's default QPS limiter is a token
//! bucket refilled every 100 ms (`pkg/limiter/qps_limiter.go`, with the
//! interval `pkg/server` gives it); the period here is the same.
//!
//! The connection limit is counted in one shared atomic: it is touched once
//! per accepted and per closed connection, not per request.
//!
//! # What a rejected call gets
//!
//! A call over the QPS or in-flight limit is answered at once, before its
//! arguments are decoded, with a `TApplicationException` of type
//! `INTERNAL_ERROR` (6) whose message starts with Kitex's `"request over
//! limit"` (what a Kitex server sends when its QPS limiter refuses a call
//! after decoding: `kerrors.ErrQPSOverLimit` wrapped in a `TransError` of
//! `remote.InternalError`, `pkg/remote/trans/default_server_handler.go`).
//! A connection over the connection limit is closed on accept, as Kitex's
//! `OnActive` refusal does.
//!
//! # Deadlines
//!
//! A TTHeader call carries the caller's RPC timeout; its deadline counts
//! from when the request was read. A call whose deadline has passed when its
//! turn comes (it waited behind others on its connection) is answered with
//! [`EXPIRED`] and never run; with
//! [`ServerConfig::enforce_deadline`](super::ServerConfig::enforce_deadline)
//! a handler still running at the deadline is dropped and the call answered
//! with [`TIMED_OUT`]. A handler reads its time left with
//! [`RpcInfo::remaining`](crate::context::RpcInfo::remaining).

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringrpc_codec::transport::ttheader::TtHeader;

use super::counters::{CoreCounters, bump};

/// How often each core rebalances its shares of the limits.
pub const REBALANCE: Duration = Duration::from_millis(100);

/// The server's limits. Every limit is off by default (as in Kitex, where
/// limits apply only with `server.WithLimit`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Connections the whole server holds at most; more are closed on
    /// accept (Kitex's `limit.Option.MaxConnections`). This is on top of
    /// [`ServerConfig::max_conns_per_core`](super::ServerConfig::max_conns_per_core).
    pub max_connections: Option<usize>,
    /// Calls per second the whole server admits (Kitex's
    /// `limit.Option.MaxQPS`).
    pub max_qps: Option<u64>,
    /// Calls the whole server runs at once; more are refused.
    pub max_concurrency: Option<u64>,
}

/// The message of a call refused by the QPS limit: Kitex's
/// `ErrQPSOverLimit` text (`pkg/kerrors/kerrors.go`).
pub const QPS_OVER_LIMIT: &str = "request over limit: request too frequent";

/// The message of a call refused by the in-flight limit.
pub const CONCURRENCY_OVER_LIMIT: &str = "request over limit: too many requests in flight";

/// The message of a call refused by a user's [`Limiter`].
pub const LIMITER_REFUSED: &str = "request over limit: refused by the server's limiter";

/// The message of a call not run because the caller's deadline (TTHeader
/// `RPCTimeout`, counted from when the request was read) had passed when
/// its turn came.
pub const EXPIRED: &str = "rpc timeout: the caller's deadline passed before the handler ran";

/// The message of a call whose handler was stopped at the caller's
/// deadline ([`ServerConfig::enforce_deadline`](super::ServerConfig::enforce_deadline)).
pub const TIMED_OUT: &str = "rpc timeout: the handler did not finish by the caller's deadline";

/// What a [`Limiter`] sees of a call: enough to limit per method or per
/// caller. The arguments are not decoded yet.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    /// The IDL service called.
    pub service: &'a str,
    /// The method called.
    pub method: &'a str,
    /// The caller's address.
    pub peer: SocketAddr,
    /// The request's TTHeader (`None` for Framed and Buffered).
    pub header: Option<&'a TtHeader>,
}

/// A user's own limiter, consulted on each core after the built-in limits
/// admit a call (see [`ServerBuilder::limiter`](super::ServerBuilder::limiter)).
/// One instance per core, so it can keep its state in `Cell`s.
pub trait Limiter: 'static {
    /// Whether to run the call. A refused call is answered with an
    /// over-limit exception and never reaches the handler.
    fn acquire(&self, call: &CallInfo<'_>) -> bool;
    /// A call `acquire` admitted has finished (its reply is written).
    fn release(&self) {}
}

/// Counts of what the limits did, summed over cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStats {
    /// Calls refused by the QPS limit.
    pub rejected_qps: u64,
    /// Calls refused by the in-flight limit.
    pub rejected_concurrency: u64,
    /// Calls refused by the user's limiter.
    pub rejected_limiter: u64,
    /// Calls answered without running the handler because the caller's
    /// deadline had passed when they were dispatched.
    pub expired: u64,
    /// Calls whose handler was stopped at the caller's deadline
    /// ([`ServerConfig::enforce_deadline`](super::ServerConfig::enforce_deadline)).
    pub timed_out: u64,
    /// Connections closed on accept by the connection limit.
    pub rejected_connections: u64,
}

/// What the cores share: the limits (changeable at run time), the
/// connection count, and each core's slot.
#[derive(Debug)]
pub(crate) struct Shared {
    /// 0 means no limit.
    max_qps: AtomicU64,
    max_concurrency: AtomicU64,
    max_connections: AtomicU64,
    connections: AtomicUsize,
    rejected_connections: AtomicU64,
    pub(crate) slots: Box<[CoreCounters]>,
}

fn opt(v: u64) -> Option<u64> {
    (v > 0).then_some(v)
}

impl Shared {
    pub(crate) fn new(limits: Limits, cores: usize) -> Arc<Self> {
        let s = Arc::new(Self {
            max_qps: AtomicU64::new(0),
            max_concurrency: AtomicU64::new(0),
            max_connections: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            rejected_connections: AtomicU64::new(0),
            slots: (0..cores.max(1)).map(|_| CoreCounters::default()).collect(),
        });
        s.set(limits);
        s
    }

    fn set(&self, l: Limits) {
        let zero_none = |v: Option<u64>| v.map_or(0, |v| v.max(1));
        self.max_qps.store(zero_none(l.max_qps), Ordering::Relaxed);
        self.max_concurrency
            .store(zero_none(l.max_concurrency), Ordering::Relaxed);
        self.max_connections.store(
            zero_none(l.max_connections.map(|c| c as u64)),
            Ordering::Relaxed,
        );
    }

    fn limits(&self) -> Limits {
        Limits {
            max_connections: opt(self.max_connections.load(Ordering::Relaxed)).map(|c| c as usize),
            max_qps: opt(self.max_qps.load(Ordering::Relaxed)),
            max_concurrency: opt(self.max_concurrency.load(Ordering::Relaxed)),
        }
    }

    /// Takes a connection slot; false when the server is at its limit.
    pub(crate) fn open_connection(&self) -> bool {
        let max = self.max_connections.load(Ordering::Relaxed);
        let before = self.connections.fetch_add(1, Ordering::Relaxed);
        if max > 0 && before as u64 >= max {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            self.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Gives a connection slot back.
    pub(crate) fn close_connection(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One open connection, counted against the connection limit until
/// dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot(Arc<Shared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.close_connection();
    }
}

/// Changes a running server's limits and reads what they did. Cheap to
/// clone; from any thread.
#[derive(Debug, Clone)]
pub struct LimitHandle(pub(crate) Arc<Shared>);

impl LimitHandle {
    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.0.limits()
    }

    /// Replaces the limits. The cores apply a new QPS or in-flight limit
    /// within one rebalance period ([`REBALANCE`]); a new connection limit
    /// applies to the next accept (connections already open stay).
    pub fn set(&self, limits: Limits) {
        self.0.set(limits)
    }

    /// Connections open now, over every core.
    pub fn connections(&self) -> usize {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// Each core's traffic counters, indexed by core.
    pub fn core_stats(&self) -> Vec<super::CoreStats> {
        self.0.slots.iter().map(|c| c.snapshot()).collect()
    }

    /// What the limits did so far, summed over cores.
    pub fn stats(&self) -> LimitStats {
        let mut s = LimitStats {
            rejected_connections: self.0.rejected_connections.load(Ordering::Relaxed),
            ..LimitStats::default()
        };
        for slot in self.0.slots.iter() {
            s.rejected_qps += slot.rejected_qps.load(Ordering::Relaxed);
            s.rejected_concurrency += slot.rejected_concurrency.load(Ordering::Relaxed);
            s.rejected_limiter += slot.rejected_limiter.load(Ordering::Relaxed);
            s.expired += slot.expired.load(Ordering::Relaxed);
            s.timed_out += slot.timed_out.load(Ordering::Relaxed);
        }
        s
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Qps,
    Concurrency,
    Limiter,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Qps => QPS_OVER_LIMIT,
            Refusal::Concurrency => CONCURRENCY_OVER_LIMIT,
            Refusal::Limiter => LIMITER_REFUSED,
        }
    }
}

/// A token bucket for one core's share of the QPS limit.
#[derive(Debug)]
struct Bucket {
    /// Tokens per second (this core's share); 0 with no limit.
    rate: Cell<f64>,
    tokens: Cell<f64>,
    last: Cell<Option<Instant>>,
}

impl Bucket {
    /// The most tokens the bucket holds: one rebalance period's worth, and
    /// at least one so a tiny share still admits a call now and then.
    fn cap(&self) -> f64 {
        (self.rate.get() * REBALANCE.as_secs_f64()).max(1.0)
    }

    fn take(&self, now: Instant) -> bool {
        let rate = self.rate.get();
        let tokens = match self.last.replace(Some(now)) {
            Some(last) => {
                let dt = now.saturating_duration_since(last).as_secs_f64();
                (self.tokens.get() + dt * rate).min(self.cap())
            }
            None => self.cap(),
        };
        if tokens >= 1.0 {
            self.tokens.set(tokens - 1.0);
            true
        } else {
            self.tokens.set(tokens);
            false
        }
    }
}

/// One core's view of the limits: its shares, its bucket, its calls in
/// flight, and the user's limiter.
pub(crate) struct CoreLimits {
    shared: Arc<Shared>,
    index: usize,
    bucket: Bucket,
    /// Calls in flight on this core (counted only under a limit).
    inflight: Cell<u64>,
    /// This core's share of the in-flight limit; 0 with no limit.
    concurrency_share: Cell<u64>,
    /// Demand seen since the last rebalance.
    offered: Cell<u64>,
    peak_inflight: Cell<u64>,
    refused_concurrency: Cell<u64>,
    limiter: Option<Rc<dyn Limiter>>,
}

impl std::fmt::Debug for CoreLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreLimits")
            .field("index", &self.index)
            .field("inflight", &self.inflight.get())
            .finish_non_exhaustive()
    }
}

/// A call admitted by [`CoreLimits::admit`]; releases its in-flight count
/// and the user's limiter when dropped.
pub(crate) struct Admitted<'a> {
    core: &'a CoreLimits,
    counted: bool,
    by_limiter: bool,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.core.inflight.set(self.core.inflight.get() - 1);
        }
        if self.by_limiter
            && let Some(l) = &self.core.limiter
        {
            l.release();
        }
    }
}

impl CoreLimits {
    pub(crate) fn new(shared: Arc<Shared>, index: usize, limiter: Option<Rc<dyn Limiter>>) -> Self {
        let c = Self {
            shared,
            index,
            bucket: Bucket {
                rate: Cell::new(0.0),
                tokens: Cell::new(0.0),
                last: Cell::new(None),
            },
            inflight: Cell::new(0),
            concurrency_share: Cell::new(0),
            offered: Cell::new(0),
            peak_inflight: Cell::new(0),
            refused_concurrency: Cell::new(0),
            limiter,
        };
        c.rebalance();
        c
    }

    pub(crate) fn slot(&self) -> &CoreCounters {
        &self.shared.slots[self.index % self.shared.slots.len()]
    }

    /// Whether any per-call check is on (so the request path can skip the
    /// clock read and the counters otherwise).
    fn limited(&self) -> bool {
        self.bucket.rate.get() > 0.0 || self.concurrency_share.get() > 0
    }

    /// Checks a call against the QPS share, the in-flight share and the
    /// user's limiter, in that order.
    pub(crate) fn admit(&self, call: &CallInfo<'_>) -> Result<Admitted<'_>, Refusal> {
        let mut counted = false;
        if self.limited() {
            self.offered.set(self.offered.get() + 1);
            if self.bucket.rate.get() > 0.0 && !self.bucket.take(Instant::now()) {
                bump(&self.slot().rejected_qps, 1);
                return Err(Refusal::Qps);
            }
            let share = self.concurrency_share.get();
            if share > 0 {
                let n = self.inflight.get();
                if n >= share {
                    self.refused_concurrency
                        .set(self.refused_concurrency.get() + 1);
                    bump(&self.slot().rejected_concurrency, 1);
                    return Err(Refusal::Concurrency);
                }
                self.inflight.set(n + 1);
                self.peak_inflight.set(self.peak_inflight.get().max(n + 1));
                counted = true;
            }
        }
        let admitted = Admitted {
            core: self,
            counted,
            by_limiter: false,
        };
        match &self.limiter {
            None => Ok(admitted),
            Some(l) if l.acquire(call) => Ok(Admitted {
                by_limiter: true,
                ..admitted
            }),
            Some(_) => {
                bump(&self.slot().rejected_limiter, 1);
                Err(Refusal::Limiter)
            }
        }
    }

    /// Takes a connection slot from the server's connection limit; `None`
    /// when the server is at it. The slot goes back when dropped.
    pub(crate) fn connection(&self) -> Option<ConnectionSlot> {
        self.shared
            .open_connection()
            .then(|| ConnectionSlot(self.shared.clone()))
    }

    /// Counts a call answered without running its handler (its deadline had
    /// passed).
    pub(crate) fn expired(&self) {
        bump(&self.slot().expired, 1);
    }

    /// Counts a handler stopped at the caller's deadline.
    pub(crate) fn timed_out(&self) {
        bump(&self.slot().timed_out, 1);
    }

    /// Publishes this core's demand of the last period and takes its share
    /// of each limit (see the module docs). Run every [`REBALANCE`].
    pub(crate) fn rebalance(&self) {
        let slot = self.slot();
        let qps_demand = self.offered.replace(0);
        let conc_demand =
            self.peak_inflight.replace(self.inflight.get()) + self.refused_concurrency.replace(0);
        slot.qps_demand.store(qps_demand, Ordering::Relaxed);
        slot.concurrency_demand
            .store(conc_demand, Ordering::Relaxed);
        let me = self.index % self.shared.slots.len();
        let slots = &self.shared.slots;
        let max_qps = self.shared.max_qps.load(Ordering::Relaxed);
        let rate = if max_qps == 0 {
            0.0
        } else {
            share(
                max_qps as f64,
                slots.iter().map(|s| s.qps_demand.load(Ordering::Relaxed)),
                me,
            )
        };
        self.bucket.rate.set(rate);
        if rate > 0.0 && self.bucket.tokens.get() > self.bucket.cap() {
            self.bucket.tokens.set(self.bucket.cap());
        }
        let max_conc = self.shared.max_concurrency.load(Ordering::Relaxed);
        let conc = if max_conc == 0 {
            0
        } else {
            let demands = slots
                .iter()
                .map(|s| s.concurrency_demand.load(Ordering::Relaxed));
            // At least one call per core, so a core that was idle can
            // start; the shares may then exceed the limit by at most one
            // per core.
            (share(max_conc as f64, demands, me).floor() as u64).max(1)
        };
        self.concurrency_share.set(conc);
    }
}

/// Core `me`'s share of `limit`, given every core's demand: proportional to
/// demand, with a little for every core (one unit of demand each) so an
/// idle core can start and the shares are even when all are idle. The
/// shares add up to `limit`.
pub(crate) fn share(limit: f64, demands: impl Iterator<Item = u64>, me: usize) -> f64 {
    let (mut total, mut mine) = (0.0, 0.0);
    for (i, d) in demands.enumerate() {
        let d = d as f64 + 1.0;
        total += d;
        if i == me {
            mine = d;
        }
    }
    if total == 0.0 {
        0.0
    } else {
        limit * mine / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallInfo<'static> {
        CallInfo {
            service: "S",
            method: "m",
            peer: "127.0.0.1:1".parse().unwrap(),
            header: None,
        }
    }

    #[test]
    fn shares_follow_demand_and_add_up_to_the_limit() {
        let d = [900, 100];
        let a = share(1000.0, d.into_iter(), 0);
        let b = share(1000.0, d.into_iter(), 1);
        assert!((a + b - 1000.0).abs() < 1e-9);
        assert!(a > 890.0 && b < 110.0, "{a} {b}");
        // All idle: even.
        assert_eq!(share(1000.0, [0, 0].into_iter(), 0), 500.0);
        // One core only: all of it.
        assert_eq!(share(1000.0, [7].into_iter(), 0), 1000.0);
    }

    #[test]
    fn the_bucket_admits_its_rate_and_a_period_of_burst() {
        let b = Bucket {
            rate: Cell::new(1000.0),
            tokens: Cell::new(0.0),
            last: Cell::new(None),
        };
        let t0 = Instant::now();
        // A full bucket: one period (100 ms) of tokens.
        let burst = (0..1000).filter(|_| b.take(t0)).count();
        assert_eq!(burst, 100);
        // 50 ms later, 50 more.
        let t1 = t0 + Duration::from_millis(50);
        let more = (0..1000).filter(|_| b.take(t1)).count();
        assert_eq!(more, 50);
    }

    #[test]
    fn the_in_flight_share_refuses_past_it_and_frees_on_drop() {
        let shared = Shared::new(
            Limits {
                max_concurrency: Some(2),
                ..Limits::default()
            },
            1,
        );
        let core = CoreLimits::new(shared.clone(), 0, None);
        let a = core.admit(&call()).expect("first");
        let b = core.admit(&call()).expect("second");
        assert_eq!(core.admit(&call()).err(), Some(Refusal::Concurrency));
        drop(a);
        let c = core.admit(&call()).expect("a slot freed");
        drop((b, c));
        assert_eq!(core.inflight.get(), 0);
        assert_eq!(LimitHandle(shared).stats().rejected_concurrency, 1);
    }

    #[test]
    fn limits_change_at_run_time() {
        let shared = Shared::new(Limits::default(), 1);
        let core = CoreLimits::new(shared.clone(), 0, None);
        assert!(!core.limited());
        let h = LimitHandle(shared);
        h.set(Limits {
            max_qps: Some(10),
            ..Limits::default()
        });
        core.rebalance();
        assert!(core.limited());
        // A bucket of one period at 10/s holds one token.
        assert!(core.admit(&call()).is_ok());
        assert_eq!(core.admit(&call()).err(), Some(Refusal::Qps));
        h.set(Limits::default());
        core.rebalance();
        assert!((0..100).all(|_| core.admit(&call()).is_ok()));
        assert_eq!(h.stats().rejected_qps, 1);
    }

    struct OnlyM;
    impl Limiter for OnlyM {
        fn acquire(&self, call: &CallInfo<'_>) -> bool {
            call.method == "m"
        }
    }

    #[test]
    fn a_user_limiter_sees_the_method() {
        let core = CoreLimits::new(Shared::new(Limits::default(), 1), 0, Some(Rc::new(OnlyM)));
        assert!(core.admit(&call()).is_ok());
        let other = CallInfo {
            method: "n",
            ..call()
        };
        assert_eq!(core.admit(&other).err(), Some(Refusal::Limiter));
    }

    #[test]
    fn the_connection_limit_counts_opens_and_closes() {
        let shared = Shared::new(
            Limits {
                max_connections: Some(2),
                ..Limits::default()
            },
            2,
        );
        assert!(shared.open_connection());
        assert!(shared.open_connection());
        assert!(!shared.open_connection());
        shared.close_connection();
        assert!(shared.open_connection());
        assert_eq!(LimitHandle(shared).stats().rejected_connections, 1);
    }
}
