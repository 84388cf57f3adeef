//! The resolver cache: one per resolver, shared by every core, read without
//! locks.
//!
//! # Why it looks like this
//!
//! A call must never wait on discovery, and cores must not contend with each
//! other to learn where to send it. So resolving happens on one background
//! thread (the *worker*), which publishes each result as an immutable
//! [`Snapshot`] into an `ArcSwap`; cores only load pointers.
//!
//! * **Read path.** A core keeps a [`LocalView`] per service. Each call does
//!   one atomic load of the entry's generation (a cache line written only when
//!   the instances change) and one load of a "used" flag (written once per
//!   expire interval per core). When the generation moved, the view loads the
//!   new snapshot and returns the [`Change`] since the snapshot it had, so the
//!   core can rebuild its balancer and close connections to removed instances.
//!   No `Mutex`, no `RwLock`, no shared read-modify-write.
//! * **First lookup of a key.** [`ResolverCache::subscribe`] never blocks on a
//!   resolve: it returns a [`Subscription`] at once (taking a writers' mutex
//!   that only subscribe and the worker use, never the per-call path) and, if
//!   the key is new, queues one resolve. However many cores ask for the same
//!   key at once, one resolve runs (single flight). A core awaits
//!   [`Subscription::ready`], a future woken through a `std::task::Waker`
//!   from the worker thread (legal under monoio's `sync` feature); a plain
//!   thread can block with [`Subscription::wait`].
//! * **Refresh and expiry.** The worker re-resolves every active key every
//!   `refresh_interval` (5 s, Kitex's `defaultRefreshInterval` in
//!   `pkg/loadbalance/lbcache/cache.go`) and, every `expire_interval` (15 s,
//!   Kitex's `defaultExpireInterval`), sweeps keys no one read since the last
//!   sweep, as Kitex's mark-and-sweep does: a key lives 15–30 s after its last
//!   use. An unused key with no subscription is dropped; one still held by a
//!   subscription goes dormant (no refresh, no watch) and wakes up, with an
//!   immediate re-resolve, the next time it is read.
//! * **Watches.** A resolver that can push (etcd) gets a [`WatchSink`] per
//!   active key; a push triggers an immediate re-resolve.
//! * **Failures.** A failed refresh keeps the previous snapshot (Kitex logs
//!   and keeps it too). A failed first resolve is returned to the waiters;
//!   the next `ready()` (or the next refresh tick) tries again.
//!
//! [`Change`]: crate::Change
//! [`WatchSink`]: crate::WatchSink

mod entry;
mod view;
mod worker;

pub use entry::{Ready, Snapshot, Subscription};
pub use view::{LocalView, ViewUpdate};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_channel::Sender;

use crate::{EndpointInfo, Error, Resolver, Result};
use entry::Entry;

/// Kitex's refresh interval (`pkg/loadbalance/lbcache/cache.go`).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Kitex's expire interval (`pkg/loadbalance/lbcache/cache.go`).
pub const DEFAULT_EXPIRE_INTERVAL: Duration = Duration::from_secs(15);

/// How often the cache refreshes and expires keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    refresh_interval: Duration,
    expire_interval: Duration,
}

impl Default for CacheOptions {
    /// Kitex's defaults: refresh every 5 s, expire keys unused for 15 s.
    fn default() -> Self {
        CacheOptions {
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            expire_interval: DEFAULT_EXPIRE_INTERVAL,
        }
    }
}

impl CacheOptions {
    /// Sets how often every active key is re-resolved (default 5 s).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Sets the sweep period after which an unused key expires (default
    /// 15 s).
    pub fn expire_interval(mut self, interval: Duration) -> Self {
        self.expire_interval = interval;
        self
    }

    fn check(&self) -> Result<()> {
        if self.refresh_interval.is_zero() {
            return Err(Error::InvalidConfig("refresh_interval must be > 0"));
        }
        if self.expire_interval.is_zero() {
            return Err(Error::InvalidConfig("expire_interval must be > 0"));
        }
        Ok(())
    }
}

/// What the worker thread is asked to do.
#[derive(Debug)]
pub(crate) enum Request {
    /// Resolve this entry now (a first lookup, a `ready()` after a failure,
    /// or a dormant entry being read again). The worker drops it if a
    /// resolve published since made it redundant (`Entry::wants_resolve`).
    Resolve(Arc<Entry>),
    /// Re-resolve this key now (pushed by a watch).
    Refresh(Arc<str>),
    /// Stop the worker.
    Shutdown,
}

type EntryMap = HashMap<Arc<str>, Arc<Entry>>;

/// State shared by the cache handle, its subscriptions and the worker.
pub(crate) struct Shared {
    resolver: Arc<dyn Resolver>,
    /// Published map of keys; replaced whole by writers.
    entries: ArcSwap<EntryMap>,
    /// Serializes writers of `entries` (subscribe and the worker only).
    writers: Mutex<()>,
    tx: Sender<Request>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("resolver", &self.resolver.name())
            .field("keys", &self.entries.load().len())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Shared {
    fn lock_writers(&self) -> MutexGuard<'_, ()> {
        // A panic while holding this guard leaves the map consistent (it is
        // swapped whole), so poisoning carries no information.
        self.writers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the worker to resolve `entry`, unless a resolve is already queued
    /// or running for it. The flag keeps duplicates off the channel; the
    /// worker, which runs every resolve, drops a request a resolve finished
    /// since has made redundant, so one resolve runs (single flight).
    pub(crate) fn request_resolve(&self, entry: &Arc<Entry>) {
        if !entry.in_flight.swap(true, Ordering::AcqRel)
            && self.tx.send(Request::Resolve(entry.clone())).is_err()
        {
            entry.in_flight.store(false, Ordering::Release);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn resolver(&self) -> &dyn Resolver {
        &*self.resolver
    }
}

/// The shared, lock-free-read cache of resolve results. See the module docs.
///
/// Create one per resolver, wrap it in an `Arc` and hand a clone to every
/// core. Dropping the last handle stops the worker thread (joining it); the
/// subscriptions keep their last snapshot.
#[derive(Debug)]
pub struct ResolverCache {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl ResolverCache {
    /// Starts a cache over `resolver` with its worker thread
    /// (`ringrpc-discovery-<resolver name>`).
    pub fn new(resolver: Arc<dyn Resolver>, options: CacheOptions) -> Result<Self> {
        options.check()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            resolver,
            entries: ArcSwap::from_pointee(HashMap::new()),
            writers: Mutex::new(()),
            tx,
            closed: AtomicBool::new(false),
        });
        let worker = worker::Worker::new(shared.clone(), rx, options);
        let name = format!("ringrpc-discovery-{}", shared.resolver.name());
        let worker = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker.run())?;
        Ok(ResolverCache {
            shared,
            worker: Some(worker),
        })
    }

    /// The resolver's name.
    pub fn resolver_name(&self) -> &str {
        self.shared.resolver.name()
    }

    /// A subscription to `endpoint`'s cache key. Never waits for a resolve:
    /// if the key is new, one resolve is queued (however many cores ask at
    /// once) and the subscription is pending until it lands; await
    /// [`Subscription::ready`] for the first snapshot. Takes the writers'
    /// mutex (uncontended but for other subscribes and the worker's sweep):
    /// call it once per core and key, and read through a [`LocalView`] per
    /// call.
    pub fn subscribe(&self, endpoint: &EndpointInfo) -> Subscription {
        let key = self.shared.resolver.target(endpoint);
        self.subscribe_key(&key)
    }

    /// As [`subscribe`](Self::subscribe), for an already computed cache key.
    pub fn subscribe_key(&self, key: &str) -> Subscription {
        let _guard = self.shared.lock_writers();
        let map = self.shared.entries.load();
        if let Some(entry) = map.get(key) {
            entry.touch(&self.shared);
            return Subscription::new(self.shared.clone(), entry.clone());
        }
        let entry = Arc::new(Entry::new(Arc::from(key)));
        let mut next: EntryMap = (**map).clone();
        next.insert(entry.key.clone(), entry.clone());
        self.shared.entries.store(Arc::new(next));
        entry.in_map.store(true, Ordering::Release);
        self.shared.request_resolve(&entry);
        Subscription::new(self.shared.clone(), entry)
    }

    /// The current snapshot for `key`, if the key is cached and resolved.
    /// Lock-free (a pointer load and a hash lookup), and marks the key used.
    /// It clones an `Arc` (a shared refcount increment): on a per-call path
    /// prefer a per-core [`LocalView`].
    pub fn snapshot(&self, key: &str) -> Option<Arc<Snapshot>> {
        let map = self.shared.entries.load();
        let entry = map.get(key)?;
        entry.touch(&self.shared);
        entry.snapshot.load_full()
    }

    /// The keys currently cached (pending, active or dormant).
    pub fn keys(&self) -> Vec<String> {
        self.shared
            .entries
            .load()
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Asks for an immediate re-resolve of `key`, if it is cached.
    pub fn refresh_now(&self, key: &str) {
        let _ = self.shared.tx.send(Request::Refresh(Arc::from(key)));
    }
}

impl Drop for ResolverCache {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        let _ = self.shared.tx.send(Request::Shutdown);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("resolver cache worker panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Instance, ResolveResult};
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicU32;
    use std::time::Instant;

    #[derive(Default)]
    struct Counting(AtomicU32);

    impl Resolver for Counting {
        fn resolve(&self, _key: &str) -> Result<ResolveResult> {
            self.0.fetch_add(1, Ordering::AcqRel);
            let addr = SocketAddr::from(([127, 0, 0, 1], 1));
            Ok(ResolveResult {
                instances: vec![Arc::new(Instance::new(addr))],
                cacheable: true,
            })
        }
        fn name(&self) -> &str {
            "counting"
        }
    }

    /// The interleaving behind a rare double resolve: the worker clears
    /// `in_flight` when the resolver returns, then publishes. A waiter whose
    /// `ready()` saw no snapshot before the publish and claims the flag after
    /// the clear queues a second request; it reaches the worker after the
    /// publish. Replayed here in order, without timing: that request must
    /// not run the resolver again.
    #[test]
    fn a_request_made_redundant_by_a_publish_does_not_resolve() {
        let resolver = Arc::new(Counting::default());
        let quiet = CacheOptions::default()
            .refresh_interval(Duration::from_secs(3600))
            .expire_interval(Duration::from_secs(3600));
        let cache = ResolverCache::new(resolver.clone(), quiet).unwrap();
        let sub = cache.subscribe_key("svc");
        sub.wait(Duration::from_secs(10)).unwrap();
        let entry = cache.shared.entries.load().get("svc").cloned().unwrap();
        assert!(!entry.in_flight.load(Ordering::Acquire));

        // The late waiter's request, as `Subscription::begin` makes it.
        cache.shared.request_resolve(&entry);
        let deadline = Instant::now() + Duration::from_secs(10);
        while entry.in_flight.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "worker never took the request");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(resolver.0.load(Ordering::Acquire), 1, "single flight");
        assert_eq!(sub.generation(), 1);
    }
}
