//! One core's server state: the connections it accepted, for the sweeper
//! (read timeouts) and for draining at shutdown.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::connection::ConnShared;
use super::counters::CoreCounters;
use super::limit::CoreLimits;
use crate::notify::LocalNotify;

/// One core's server state: its connections, for the sweeper (timeouts) and
/// for draining.
#[derive(Debug)]
pub(crate) struct CoreState {
    conns: RefCell<Slab<Rc<ConnShared>>>,
    /// The core's limits, and through them its counters.
    pub(crate) limits: Rc<CoreLimits>,
    drain_deadline: Cell<Option<Instant>>,
    /// Connections that went quiet (and let their buffers and request
    /// state go) since the sweeper last counted.
    parks: Cell<usize>,
    pub(crate) all_closed: LocalNotify,
    /// The gRPC router's middleware chain on this core (built on the
    /// first gRPC connection; `None` without layers).
    #[cfg(feature = "grpc")]
    pub(crate) grpc_chain: std::cell::OnceCell<Option<Rc<crate::grpc::ServerNext>>>,
}

impl CoreState {
    pub(crate) fn new(limits: Rc<CoreLimits>) -> Self {
        Self {
            conns: RefCell::default(),
            limits,
            drain_deadline: Cell::default(),
            parks: Cell::default(),
            all_closed: LocalNotify::default(),
            #[cfg(feature = "grpc")]
            grpc_chain: std::cell::OnceCell::new(),
        }
    }

    /// This core's counters.
    pub(crate) fn counters(&self) -> &CoreCounters {
        self.limits.slot()
    }

    pub(crate) fn register(&self, c: Rc<ConnShared>) -> usize {
        if self.drain_deadline.get().is_some() {
            c.draining.set(true);
        }
        let mut conns = self.conns.borrow_mut();
        let key = conns.insert(c);
        let n = conns.len() as u64;
        self.counters()
            .connections
            .store(n, std::sync::atomic::Ordering::Relaxed);
        key
    }

    pub(crate) fn unregister(&self, key: usize) {
        let mut conns = self.conns.borrow_mut();
        conns.try_remove(key);
        let n = conns.len() as u64;
        self.counters()
            .connections
            .store(n, std::sync::atomic::Ordering::Relaxed);
        if conns.is_empty() {
            self.all_closed.notify();
        }
    }

    /// Counts a connection that parked.
    pub(crate) fn parked(&self) {
        self.parks.set(self.parks.get() + 1);
    }

    /// Parks since the last call.
    pub(crate) fn take_parks(&self) -> usize {
        self.parks.replace(0)
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Whether draining (if it began) still has time left.
    pub(crate) fn before_deadline(&self) -> bool {
        self.drain_deadline.get().is_none_or(|d| Instant::now() < d)
    }

    /// The deadline for a read starting now that may wait `timeout`.
    pub(crate) fn read_deadline(&self, timeout: Duration) -> Instant {
        let d = Instant::now() + timeout;
        match self.drain_deadline.get() {
            Some(dd) if dd < d => dd,
            _ => d,
        }
    }

    /// Times out reads past their deadline, and parks connections that
    /// were quiet since the last sweep (no read completed, nothing
    /// buffered, nothing in flight): they give their read buffer back and
    /// wait for readiness instead, so an idle connection holds no buffer.
    pub(crate) fn sweep(&self, now: Instant) {
        for (_, c) in self.conns.borrow().iter() {
            if c.deadline.get().is_some_and(|d| d <= now) && !c.timed_out.get() {
                c.timed_out.set(true);
                c.cancel_read();
                continue;
            }
            let reads = c.reads.get();
            if c.parkable.get() && c.backlog() == 0 && !c.park.get() && reads == c.swept_reads.get()
            {
                c.park.set(true);
                c.cancel_read();
            }
            c.swept_reads.set(reads);
        }
    }

    /// Starts draining: every connection finishes what it has and closes.
    pub(crate) fn drain(&self, timeout: Duration) {
        self.drain_deadline.set(Some(Instant::now() + timeout));
        for (_, c) in self.conns.borrow().iter() {
            c.draining.set(true);
            c.cancel_read();
        }
    }
}
