//! One cache key: its published snapshot, its flags, and the handles cores
//! hold on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::Shared;
use crate::{Change, Error, Instance, Result};

/// One published resolve result of a key: immutable, shared by every core.
#[derive(Debug)]
pub struct Snapshot {
    generation: u64,
    instances: Arc<[Arc<Instance>]>,
    change: Option<Arc<Change>>,
    cacheable: bool,
}

impl Snapshot {
    pub(crate) fn new(
        generation: u64,
        instances: Arc<[Arc<Instance>]>,
        change: Option<Arc<Change>>,
        cacheable: bool,
    ) -> Self {
        Snapshot {
            generation,
            instances,
            change,
            cacheable,
        }
    }

    /// The generation: 1 for the first result of a key, +1 for each change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The instances, in the resolver's order.
    pub fn instances(&self) -> &Arc<[Arc<Instance>]> {
        &self.instances
    }

    /// The change from generation `generation - 1` to this one (for
    /// generation 1: every instance added).
    pub fn change(&self) -> Option<&Arc<Change>> {
        self.change.as_ref()
    }

    /// Whether the resolver marked the result cacheable. A core should not
    /// keep per-key balancer state for a non-cacheable result.
    pub fn cacheable(&self) -> bool {
        self.cacheable
    }
}

/// Waiters for the first result (or a failure) of a key. Touched only while
/// a key is pending, never on the per-call path.
#[derive(Debug, Default)]
struct Waiters {
    wakers: Mutex<Vec<Waker>>,
    cond: Condvar,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: Arc<str>,
    /// Generation of the newest snapshot (0: none yet). Stored after
    /// `snapshot` with `Release`; readers load it with `Acquire`.
    pub(crate) generation: AtomicU64,
    pub(crate) snapshot: ArcSwapOption<Snapshot>,
    /// The last failure while no snapshot exists.
    pub(crate) failure: ArcSwapOption<Error>,
    /// Completed resolve attempts (success or failure).
    pub(crate) attempts: AtomicU64,
    /// A resolve is queued or running.
    pub(crate) in_flight: AtomicBool,
    /// Read since the last sweep.
    pub(crate) used: AtomicBool,
    /// Refreshed in the background (false: pending first activation, or
    /// dormant).
    pub(crate) active: AtomicBool,
    /// Present in the cache's map (written under the writers' mutex).
    pub(crate) in_map: AtomicBool,
    waiters: Waiters,
}

impl Entry {
    pub(crate) fn new(key: Arc<str>) -> Self {
        Entry {
            key,
            generation: AtomicU64::new(0),
            snapshot: ArcSwapOption::empty(),
            failure: ArcSwapOption::empty(),
            attempts: AtomicU64::new(0),
            in_flight: AtomicBool::new(false),
            used: AtomicBool::new(true),
            active: AtomicBool::new(false),
            in_map: AtomicBool::new(false),
            waiters: Waiters::default(),
        }
    }

    /// Marks the entry used. The common case is one relaxed load. The first
    /// read after a sweep stores the flag and, if the sweep made the entry
    /// dormant, asks the worker to wake it. The `SeqCst` pair with the
    /// sweeper (`used` store then `active` load here; `active` store then
    /// `used` load there) guarantees that one side sees the other.
    #[inline]
    pub(crate) fn touch(&self, shared: &Shared) {
        if !self.used.load(Ordering::Relaxed) {
            self.touch_slow(shared);
        }
    }

    #[cold]
    fn touch_slow(&self, shared: &Shared) {
        self.used.store(true, Ordering::SeqCst);
        if !self.active.load(Ordering::SeqCst)
            && self.in_map.load(Ordering::Acquire)
            && self.generation.load(Ordering::Acquire) > 0
        {
            // Dormant: wake it. A reference to `self` as `Arc` is needed for
            // the request, so look it up in the map.
            if let Some(entry) = shared.entries.load().get(&self.key) {
                shared.request_resolve(entry);
            }
        }
    }

    /// Whether a queued resolve request for this entry still has work to do:
    /// the entry has no snapshot yet (a first resolve, or a retry after a
    /// failed one), or it is dormant (in the map but not refreshed). Called
    /// by the worker, which alone writes `snapshot` and `active`.
    ///
    /// Otherwise (a snapshot, and the entry active or out of the map) a
    /// resolve completed after the requester looked, and the request is
    /// redundant: the requester saw no snapshot, or a dormant entry, before a
    /// resolve that had already started published, and took `in_flight`,
    /// which `Worker::resolve` clears before it publishes.
    pub(crate) fn wants_resolve(&self) -> bool {
        self.snapshot.load().is_none()
            || (self.in_map.load(Ordering::Acquire) && !self.active.load(Ordering::SeqCst))
    }

    /// Publishes a new snapshot and wakes the waiters.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        let generation = snapshot.generation;
        self.snapshot.store(Some(Arc::new(snapshot)));
        self.generation.store(generation, Ordering::Release);
        self.failure.store(None);
        self.finish_attempt();
    }

    /// Records a failed first resolve and wakes the waiters.
    pub(crate) fn fail(&self, error: Error) {
        self.failure.store(Some(Arc::new(error)));
        self.finish_attempt();
    }

    pub(crate) fn finish_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::AcqRel);
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        let wakers = {
            let mut w = self
                .waiters
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *w)
        };
        self.waiters.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// The outcome for a waiter that started at `start` attempts, if any.
    fn outcome(&self, shared: &Shared, start: u64) -> Option<Result<Arc<Snapshot>>> {
        if let Some(s) = self.snapshot.load_full() {
            return Some(Ok(s));
        }
        if self.attempts.load(Ordering::Acquire) > start {
            let err = self
                .failure
                .load_full()
                .map(|e| (*e).clone())
                .unwrap_or(Error::NoInstance {
                    key: self.key.to_string(),
                });
            return Some(Err(err));
        }
        if shared.is_closed() {
            return Some(Err(Error::Closed));
        }
        None
    }
}

/// A handle on one cache key, held by a core (or any thread). `Send`,
/// `Sync` and cheap to clone. Reading it never locks.
#[derive(Debug, Clone)]
pub struct Subscription {
    shared: Arc<Shared>,
    entry: Arc<Entry>,
}

impl Subscription {
    pub(super) fn new(shared: Arc<Shared>, entry: Arc<Entry>) -> Self {
        Subscription { shared, entry }
    }

    /// The cache key.
    pub fn key(&self) -> &str {
        &self.entry.key
    }

    /// The newest generation published (0: none yet). One atomic load; the
    /// cheap check a core makes before deciding whether to reload.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.entry.touch(&self.shared);
        self.entry.generation.load(Ordering::Acquire)
    }

    /// The newest snapshot, if one was published. Lock-free; clones an `Arc`.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.entry.touch(&self.shared);
        self.entry.snapshot.load_full()
    }

    /// A future that resolves to the first snapshot (at once if there is
    /// one), or to the error of the resolve attempt it waited for, or
    /// [`Error::Closed`] if the cache shuts down. If the last attempt failed,
    /// it starts a new one. The waker it registers is called from the
    /// cache's worker thread (under monoio that needs the `sync` feature).
    pub fn ready(&self) -> Ready<'_> {
        Ready {
            sub: self,
            start: None,
        }
    }

    /// Blocks this thread until [`ready`](Self::ready) would resolve, or
    /// `timeout` passes ([`Error::Timeout`]). For plain threads and tests,
    /// never for a core's event loop.
    pub fn wait(&self, timeout: Duration) -> Result<Arc<Snapshot>> {
        let deadline = Instant::now() + timeout;
        let start = self.begin();
        let waiters = &self.entry.waiters;
        let mut guard = waiters.wakers.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(out) = self.entry.outcome(&self.shared, start) {
                return out;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: "first resolve",
                });
            }
            guard = waiters
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Notes the attempt count a waiter starts from and makes sure an attempt
    /// is coming.
    fn begin(&self) -> u64 {
        let start = self.entry.attempts.load(Ordering::Acquire);
        if self.entry.snapshot.load().is_none() {
            self.shared.request_resolve(&self.entry);
        }
        start
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn entry(&self) -> &Entry {
        &self.entry
    }
}

/// The future of [`Subscription::ready`]. `Send`; cancel-safe (dropping it
/// leaves at most a stale waker, which is dropped at the next publish).
#[derive(Debug)]
#[must_use = "a future does nothing unless awaited"]
pub struct Ready<'a> {
    sub: &'a Subscription,
    start: Option<u64>,
}

impl Future for Ready<'_> {
    type Output = Result<Arc<Snapshot>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let sub = self.sub;
        if let Some(s) = sub.entry.snapshot.load_full() {
            return Poll::Ready(Ok(s));
        }
        let start = match self.start {
            Some(s) => s,
            None => {
                let s = sub.begin();
                self.start = Some(s);
                s
            }
        };
        let mut wakers = sub
            .entry
            .waiters
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Checked under the lock the publisher takes after storing, so a
        // publish either is seen here or sees our waker.
        if let Some(out) = sub.entry.outcome(&sub.shared, start) {
            return Poll::Ready(out);
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
