//! A core's first lookup of a key, as the engine does it: awaiting
//! `Subscription::ready()` inside a monoio runtime (with the `sync` feature,
//! under both the io_uring and the legacy driver when available), woken by
//! the resolver cache's worker thread, without blocking the core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use ringrpc_discovery::{
    CacheOptions, Instance, ResolveResult, Resolver, ResolverCache, Result, Snapshot, Subscription,
};

/// Resolves one instance once a gate opens.
#[derive(Default)]
struct Gated {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Resolver for Gated {
    fn resolve(&self, _key: &str) -> Result<ResolveResult> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
        Ok(ResolveResult::cacheable(vec![Arc::new(Instance::new(
            "127.0.0.1:9000".parse().unwrap(),
        ))]))
    }
    fn name(&self) -> &str {
        "gated"
    }
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn shared_types_are_send_and_sync() {
    assert_send_sync::<ResolverCache>();
    assert_send_sync::<Subscription>();
    assert_send_sync::<Snapshot>();
}

fn run_on<D>(mut rt: monoio::Runtime<D>, sub: Subscription, gate: Arc<Gated>)
where
    D: monoio::Driver,
{
    let other_task_ran = Arc::new(AtomicBool::new(false));
    let flag = other_task_ran.clone();
    let snap = rt.block_on(async move {
        // Another task on the same core keeps running while we wait: the
        // wait does not block the thread.
        let side = monoio::spawn(async move {
            flag.store(true, Ordering::Release);
            // Only now let the resolve finish.
            *gate.open.lock().unwrap() = true;
            gate.cv.notify_all();
        });
        let ready = sub.ready();
        assert_send(&ready);
        let snap = ready.await;
        side.await;
        snap
    });
    assert!(other_task_ran.load(Ordering::Acquire));
    let snap = snap.unwrap();
    assert_eq!(snap.generation(), 1);
    assert_eq!(snap.instances().len(), 1);
}

#[test]
fn ready_awaits_on_a_monoio_core_and_is_woken_from_the_worker() {
    for driver in ["legacy", "uring"] {
        let gate = Arc::new(Gated::default());
        let cache = ResolverCache::new(gate.clone(), CacheOptions::default()).unwrap();
        let sub = cache.subscribe_key("svc");
        match driver {
            "legacy" => {
                let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .build()
                    .unwrap();
                run_on(rt, sub, gate);
            }
            _ => match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build() {
                Ok(rt) => run_on(rt, sub, gate),
                Err(e) => eprintln!("io_uring unavailable here ({e}); legacy driver covered"),
            },
        }
        // The cache's drop joins its worker.
        drop(cache);
    }
}
