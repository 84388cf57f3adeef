//! The etcd resolver and registry against a real etcd (Debian
//! `etcd-server`), started by each test on free loopback ports with a
//! temporary data dir and killed at its end. Skipped, loudly, only when
//! there is no `etcd` binary.

#![cfg(feature = "etcd")]

#[path = "support/etcd.rs"]
mod etcd_server;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use etcd_server::{Etcd, INSTALL_HINT, start_etcd};
use ringrpc_discovery::backends::{EtcdOptions, EtcdRegistry, EtcdResolver};
use ringrpc_discovery::{
    CacheOptions, EndpointInfo, LocalView, RegistrationTask, Registry, RegistryInfo, Resolver,
    ResolverCache, ViewUpdate,
};
use support::{skip, wait_until};

const LONG: Duration = Duration::from_secs(20);

macro_rules! etcd_or_skip {
    ($name:expr) => {
        match start_etcd() {
            Some(e) => e,
            None => {
                return skip($name, INSTALL_HINT);
            }
        }
    };
}

fn options(etcd: &Etcd) -> EtcdOptions {
    etcd.options()
}

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

#[test]
fn register_resolve_deregister_in_kitex_layout() {
    let etcd = etcd_or_skip!("register_resolve_deregister_in_kitex_layout");
    let resolver = EtcdResolver::connect(options(&etcd)).unwrap();
    let registry = resolver.registry();
    let a = RegistryInfo::new("echo", addr(9001))
        .with_weight(30)
        .with_tag("zone", "a");
    let b = RegistryInfo::new("echo", addr(9002));
    registry.register(&a).unwrap();
    registry.register(&b).unwrap();

    let mut got: Vec<_> = resolver
        .resolve("echo")
        .unwrap()
        .instances
        .iter()
        .map(|i| (i.addr(), i.weight(), i.tag("zone").map(str::to_owned)))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![(addr(9001), 30, Some("a".into())), (addr(9002), 10, None)]
    );

    // A value written the way a Kitex server writes it is read back.
    let kitex = etcd_client_put(
        &etcd,
        "kitex/registry-etcd/echo/127.0.0.1:9003",
        r#"{"network":"tcp","address":"127.0.0.1:9003","weight":0,"tags":{"from":"kitex"}}"#,
    );
    assert!(kitex);
    let res = resolver.resolve("echo").unwrap();
    let k = res
        .instances
        .iter()
        .find(|i| i.addr() == addr(9003))
        .unwrap();
    assert_eq!((k.weight(), k.tag("from")), (10, Some("kitex")));

    registry.deregister(&a).unwrap();
    let left: Vec<_> = resolver
        .resolve("echo")
        .unwrap()
        .instances
        .iter()
        .map(|i| i.addr())
        .collect();
    assert!(!left.contains(&addr(9001)));
    assert!(left.contains(&addr(9002)));
    assert!(resolver.resolve("other").unwrap().instances.is_empty());
}

/// Writes a raw key and value with a plain etcd client, as a Kitex server's
/// registry would have written them.
fn etcd_client_put(etcd: &Etcd, key: &str, value: &str) -> bool {
    let rt = tokio_rt();
    rt.block_on(async {
        let mut c = etcd_client::Client::connect([etcd.endpoint.clone()], None)
            .await
            .unwrap();
        c.put(key, value, None).await.is_ok()
    })
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn watch_pushes_changes_into_the_cache() {
    let etcd = etcd_or_skip!("watch_pushes_changes_into_the_cache");
    let resolver = EtcdResolver::connect(options(&etcd)).unwrap();
    let registry = resolver.registry();
    registry
        .register(&RegistryInfo::new("svc", addr(7001)))
        .unwrap();
    // Refresh far away: only the watch can bring changes in time.
    let cache = ResolverCache::new(
        Arc::new(resolver),
        CacheOptions::default().refresh_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    let sub = cache.subscribe(&EndpointInfo::new("svc"));
    sub.wait(LONG).unwrap();
    let mut view = LocalView::new(sub);
    assert!(matches!(view.update(), ViewUpdate::Changed(_)));

    registry
        .register(&RegistryInfo::new("svc", addr(7002)))
        .unwrap();
    let mut change = None;
    assert!(wait_until(LONG, || {
        if let ViewUpdate::Changed(c) = view.update() {
            change = Some(c);
        }
        change.is_some()
    }));
    let added: Vec<_> = change.unwrap().added.iter().map(|i| i.addr()).collect();
    assert_eq!(added, vec![addr(7002)]);

    registry
        .deregister(&RegistryInfo::new("svc", addr(7001)))
        .unwrap();
    let mut change = None;
    assert!(wait_until(LONG, || {
        if let ViewUpdate::Changed(c) = view.update() {
            change = Some(c);
        }
        change.is_some()
    }));
    let removed: Vec<_> = change.unwrap().removed.iter().map(|i| i.addr()).collect();
    assert_eq!(removed, vec![addr(7001)]);
}

#[test]
fn lease_is_kept_alive_and_expires_after_a_crash() {
    let etcd = etcd_or_skip!("lease_is_kept_alive_and_expires_after_a_crash");
    let opts = options(&etcd).lease_ttl(2);
    let resolver = EtcdResolver::connect(opts.clone()).unwrap();
    let registry = EtcdRegistry::connect(opts).unwrap();
    registry
        .register(&RegistryInfo::new("ka", addr(6001)))
        .unwrap();
    let present = || {
        resolver
            .resolve("ka")
            .map(|r| r.instances.len() == 1)
            .unwrap_or(false)
    };
    // Kept alive: after three full TTLs it is still there. (Polled, so the
    // test waits on the lease's own clock, not a guess.)
    let start = std::time::Instant::now();
    assert!(wait_until(LONG, || {
        assert!(present(), "key vanished while kept alive");
        start.elapsed() > Duration::from_secs(6)
    }));
    // "Crash": drop the registry without deregistering; the lease runs out.
    drop(registry);
    assert!(wait_until(LONG, || !present()), "key outlived its lease");
}

#[test]
fn registration_task_registers_after_delay_and_deregisters_on_stop() {
    let etcd = etcd_or_skip!("registration_task_registers_after_delay_and_deregisters_on_stop");
    let resolver = EtcdResolver::connect(options(&etcd)).unwrap();
    let registry = Arc::new(EtcdRegistry::connect(options(&etcd)).unwrap());
    let info = RegistryInfo::new("task", addr(5001));
    let task = RegistrationTask::start(registry, info, Duration::from_millis(50)).unwrap();
    assert!(task.wait_registered(LONG));
    assert_eq!(resolver.resolve("task").unwrap().instances.len(), 1);
    task.stop().unwrap();
    assert!(resolver.resolve("task").unwrap().instances.is_empty());
}
