//! The resolver cache across threads: single flight, waking, refresh,
//! expiry, watches, failures, shutdown, and a multi-thread stress test of
//! the lock-free read path.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use ringrpc_discovery::backends::StaticResolver;
use ringrpc_discovery::{
    CacheOptions, EndpointInfo, Error, Instance, LocalView, ResolveResult, Resolver, ResolverCache,
    Result, ViewUpdate, WatchGuard, WatchSink,
};

const LONG: Duration = Duration::from_secs(10);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn insts(ports: impl IntoIterator<Item = u16>) -> Vec<Instance> {
    ports.into_iter().map(|p| Instance::new(addr(p))).collect()
}

/// Polls `cond` until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A minimal executor: polls a future on this thread, parking between
/// wake-ups, so the test sees that the worker thread's wake reaches us.
fn block_on<F: std::future::Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    struct Unpark(thread::Thread, AtomicBool);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.1.store(true, Ordering::Release);
            self.0.unpark();
        }
    }
    let unpark = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        while !unpark.1.swap(false, Ordering::AcqRel) {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            thread::park_timeout(deadline - now);
        }
    }
}

/// A resolver that counts calls, can be held at a gate, and can fail.
#[derive(Default)]
struct Scripted {
    calls: AtomicU32,
    gate: Mutex<bool>,
    gate_cv: std::sync::Condvar,
    fail: AtomicBool,
    cacheable: AtomicBool,
    sinks: Mutex<Vec<WatchSink>>,
    ports: Mutex<Vec<u16>>,
}

impl Scripted {
    fn new(ports: Vec<u16>) -> Arc<Self> {
        let s = Scripted {
            cacheable: AtomicBool::new(true),
            ports: Mutex::new(ports),
            ..Default::default()
        };
        *s.gate.lock().unwrap() = true;
        Arc::new(s)
    }
    fn close_gate(&self) {
        *self.gate.lock().unwrap() = false;
    }
    fn open_gate(&self) {
        *self.gate.lock().unwrap() = true;
        self.gate_cv.notify_all();
    }
}

#[derive(Debug)]
struct Guard;
impl WatchGuard for Guard {}

impl Resolver for Scripted {
    fn resolve(&self, key: &str) -> Result<ResolveResult> {
        self.calls.fetch_add(1, Ordering::AcqRel);
        let mut open = self.gate.lock().unwrap();
        while !*open {
            open = self.gate_cv.wait(open).unwrap();
        }
        drop(open);
        if self.fail.load(Ordering::Acquire) {
            return Err(Error::NoInstance { key: key.into() });
        }
        let ports = self.ports.lock().unwrap().clone();
        Ok(ResolveResult {
            instances: insts(ports).into_iter().map(Arc::new).collect(),
            cacheable: self.cacheable.load(Ordering::Acquire),
        })
    }
    fn name(&self) -> &str {
        "scripted"
    }
    fn watch(&self, _key: &str, sink: WatchSink) -> Option<Box<dyn WatchGuard>> {
        self.sinks.lock().unwrap().push(sink);
        Some(Box::new(Guard))
    }
}

fn quiet() -> CacheOptions {
    CacheOptions::default()
        .refresh_interval(Duration::from_secs(3600))
        .expire_interval(Duration::from_secs(3600))
}

#[test]
fn one_resolve_in_flight_for_many_cores() {
    let r = Scripted::new(vec![1, 2]);
    r.close_gate();
    let cache = Arc::new(ResolverCache::new(r.clone(), quiet()).unwrap());
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let sub = cache.subscribe(&EndpointInfo::new("svc"));
                let fut = sub.ready();
                block_on(fut, LONG).expect("woken").unwrap().generation()
            })
        })
        .collect();
    assert!(wait_until(LONG, || r.calls.load(Ordering::Acquire) == 1));
    r.open_gate();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
    assert_eq!(r.calls.load(Ordering::Acquire), 1, "single flight");
    assert_eq!(cache.keys(), vec!["svc".to_string()]);
}

#[test]
fn refresh_publishes_a_change_each_view_sees() {
    let resolver = Arc::new(StaticResolver::new().with_service("svc", insts([1, 2, 3])));
    let options = CacheOptions::default()
        .refresh_interval(Duration::from_millis(20))
        .expire_interval(Duration::from_secs(3600));
    let cache = ResolverCache::new(resolver.clone(), options).unwrap();
    let sub = cache.subscribe(&EndpointInfo::new("svc"));
    sub.wait(LONG).unwrap();
    let mut view = LocalView::new(sub);
    let ViewUpdate::Changed(first) = view.update() else {
        panic!("first update is a change")
    };
    assert_eq!(first.added.len(), 3);
    assert!(matches!(view.update(), ViewUpdate::Unchanged));

    resolver.set(
        "svc",
        vec![
            Instance::new(addr(2)).with_weight(50),
            Instance::new(addr(3)),
            Instance::new(addr(4)),
        ],
    );
    let mut change = None;
    assert!(wait_until(LONG, || {
        if let ViewUpdate::Changed(c) = view.update() {
            change = Some(c);
        }
        change.is_some()
    }));
    let change = change.unwrap();
    assert_eq!(
        change.added.iter().map(|i| i.addr()).collect::<Vec<_>>(),
        vec![addr(4)]
    );
    assert_eq!(
        change.removed.iter().map(|i| i.addr()).collect::<Vec<_>>(),
        vec![addr(1)]
    );
    assert_eq!(
        change
            .updated
            .iter()
            .map(|i| i.weight())
            .collect::<Vec<_>>(),
        vec![50]
    );
    assert_eq!(view.current().unwrap().generation(), 2);
}

#[test]
fn first_failure_reaches_waiters_and_next_ready_retries() {
    let r = Scripted::new(vec![1]);
    r.fail.store(true, Ordering::Release);
    let cache = ResolverCache::new(r.clone(), quiet()).unwrap();
    let sub = cache.subscribe_key("svc");
    assert!(matches!(sub.wait(LONG), Err(Error::NoInstance { .. })));
    r.fail.store(false, Ordering::Release);
    let snap = block_on(sub.ready(), LONG).unwrap().unwrap();
    assert_eq!(snap.instances().len(), 1);
    assert_eq!(r.calls.load(Ordering::Acquire), 2);
}

#[test]
fn failed_refresh_keeps_the_previous_snapshot() {
    let r = Scripted::new(vec![1, 2]);
    let cache = ResolverCache::new(r.clone(), quiet()).unwrap();
    let sub = cache.subscribe_key("svc");
    sub.wait(LONG).unwrap();
    r.fail.store(true, Ordering::Release);
    cache.refresh_now("svc");
    assert!(wait_until(LONG, || r.calls.load(Ordering::Acquire) == 2));
    let snap = sub.snapshot().unwrap();
    assert_eq!((snap.generation(), snap.instances().len()), (1, 2));
}

#[test]
fn watch_push_triggers_an_immediate_resolve() {
    let r = Scripted::new(vec![1]);
    let cache = ResolverCache::new(r.clone(), quiet()).unwrap();
    let sub = cache.subscribe_key("svc");
    sub.wait(LONG).unwrap();
    assert!(wait_until(LONG, || r.sinks.lock().unwrap().len() == 1));
    *r.ports.lock().unwrap() = vec![1, 2];
    r.sinks.lock().unwrap()[0].changed();
    assert!(wait_until(LONG, || sub.generation() == 2));
    assert_eq!(sub.snapshot().unwrap().instances().len(), 2);
}

#[test]
fn unused_keys_expire_and_held_keys_go_dormant_then_wake() {
    let r = Scripted::new(vec![1]);
    let options = CacheOptions::default()
        .refresh_interval(Duration::from_millis(10))
        .expire_interval(Duration::from_millis(50));
    let cache = ResolverCache::new(r.clone(), options).unwrap();
    // A key nobody holds or reads is dropped after two sweeps.
    cache.subscribe_key("gone").wait(LONG).unwrap();
    assert!(wait_until(LONG, || !cache
        .keys()
        .contains(&"gone".to_string())));

    // A held but unread key stays, and stops being refreshed.
    let held = cache.subscribe_key("held");
    held.wait(LONG).unwrap();
    let calls = || r.calls.load(Ordering::Acquire);
    let mut last = calls();
    let mut stable_since = Instant::now();
    assert!(wait_until(LONG, || {
        let now = calls();
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
        // No refresh for 10 refresh intervals: dormant.
        stable_since.elapsed() > Duration::from_millis(100)
    }));
    assert!(cache.keys().contains(&"held".to_string()));
    // Reading it wakes it up: an immediate resolve, then refreshes again.
    let before = calls();
    *r.ports.lock().unwrap() = vec![1, 2];
    let _ = held.generation();
    assert!(wait_until(LONG, || held.generation() == 2));
    assert!(wait_until(LONG, || calls() > before + 2));
}

#[test]
fn non_cacheable_results_are_not_kept() {
    let r = Scripted::new(vec![1]);
    r.cacheable.store(false, Ordering::Release);
    let cache = ResolverCache::new(r.clone(), quiet()).unwrap();
    let a = cache.subscribe_key("svc");
    let snap = a.wait(LONG).unwrap();
    assert!(!snap.cacheable());
    assert!(wait_until(LONG, || cache.keys().is_empty()));
    let b = cache.subscribe_key("svc");
    b.wait(LONG).unwrap();
    assert_eq!(r.calls.load(Ordering::Acquire), 2, "resolved afresh");
}

#[test]
fn shutdown_wakes_pending_waiters_with_closed() {
    let r = Scripted::new(vec![1]);
    r.close_gate();
    let cache = ResolverCache::new(r.clone(), quiet()).unwrap();
    let sub = cache.subscribe_key("svc");
    let waiter = {
        let sub = sub.clone();
        thread::spawn(move || block_on(sub.ready(), LONG))
    };
    assert!(wait_until(LONG, || r.calls.load(Ordering::Acquire) == 1));
    // Drop the cache (which joins the worker) while the resolve is held,
    // then release the resolver.
    let dropper = thread::spawn(move || drop(cache));
    r.open_gate();
    dropper.join().unwrap();
    // The in-flight resolve finished and published before the worker
    // stopped, or the waiter saw the shutdown: either way it was woken.
    let out = waiter.join().unwrap().expect("woken before the timeout");
    assert!(out.is_ok() || matches!(out, Err(Error::Closed)));
    let late = sub.clone();
    drop(sub);
    if late.snapshot().is_none() {
        assert!(matches!(late.wait(LONG), Err(Error::Closed)));
    }
}

/// Readers on several threads follow a key through many generations with
/// only `LocalView::update`; applying the changes they receive to their own
/// set must always reproduce the published list, and generations never go
/// back.
#[test]
fn stress_readers_follow_every_change() {
    let resolver = Arc::new(StaticResolver::new().with_service("svc", insts(0..10)));
    let cache = Arc::new(ResolverCache::new(resolver.clone(), quiet()).unwrap());
    cache.subscribe_key("svc").wait(LONG).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(1));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (cache, done) = (cache.clone(), done.clone());
            thread::spawn(move || {
                let mut view = LocalView::new(cache.subscribe_key("svc"));
                let mut mine: HashSet<SocketAddr> = HashSet::new();
                let mut last_gen = 0;
                let mut changes = 0u64;
                let mut reads = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    reads += 1;
                    if let ViewUpdate::Changed(c) = view.update() {
                        changes += 1;
                        for i in &c.removed {
                            assert!(mine.remove(&i.addr()), "removed unknown {}", i.addr());
                        }
                        for i in &c.added {
                            assert!(mine.insert(i.addr()), "added twice {}", i.addr());
                        }
                        let snap = view.current().unwrap();
                        assert!(snap.generation() > last_gen);
                        last_gen = snap.generation();
                        let want: HashSet<_> = snap.instances().iter().map(|i| i.addr()).collect();
                        assert_eq!(mine, want, "generation {last_gen}");
                    }
                    if finished {
                        // One more update after `done` was seen: the final
                        // generation was published before `done`.
                        if let ViewUpdate::Changed(_) = view.update() {
                            continue;
                        }
                        break;
                    }
                }
                (last_gen, changes, reads)
            })
        })
        .collect();

    // The writer: 300 generations, each a different window of ports.
    let mut generation = 1;
    for step in 1..=300u16 {
        let lo = step % 17;
        let hi = lo + 5 + step % 7;
        resolver.set("svc", insts(lo..hi));
        cache.refresh_now("svc");
        generation += 1;
        let sub = cache.subscribe_key("svc");
        assert!(
            wait_until(LONG, || sub.generation() == generation),
            "step {step}"
        );
        published.store(generation, Ordering::Release);
    }
    done.store(true, Ordering::Release);
    for h in readers {
        let (last_gen, changes, reads) = h.join().unwrap();
        assert_eq!(last_gen, generation);
        assert!(changes >= 1 && reads >= changes);
    }
}
