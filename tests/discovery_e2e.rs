//! End-to-end tests of the client's resolve step and the server's registry
//! hook over loopback: failover with and without failure retry, backup
//! requests, servers joining and leaving through a real etcd, and
//! consistent hashing while the instance set changes.
//!
//! Bounded in count and time; every wait polls a condition with a deadline.
//! CI runs this file on both monoio drivers (io_uring, and epoll with
//! `MONOIO_FORCE_LEGACY_DRIVER=1`). The etcd test needs Debian's
//! `etcd-server` (installed by `scripts/setup`) and the facade's `etcd`
//! feature (`scripts/test` turns it on); it skips, loudly, only when there is
//! no `etcd` binary.

#[cfg(feature = "etcd")]
#[path = "../discovery/tests/support/etcd.rs"]
mod etcd_server;
#[path = "../discovery/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringrpc::codec::transport::Transport;
use ringrpc::discovery::backends::StaticResolver;
#[cfg(feature = "etcd")]
use ringrpc::discovery::backends::{EtcdRegistry, EtcdResolver};
use ringrpc::discovery::balance::{Balancer, BalancerKind, ConsistentHashOptions, PickRequest};
use ringrpc::discovery::retry::{BackupPolicy, BudgetOptions, FailurePolicy};
use ringrpc::discovery::{CacheOptions, EndpointInfo, Instance, Registry, ResolverCache};
use ringrpc::engine::client::{CallOptions, ClientBuilder, MethodRetry, PoolKind};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::notify::Signal;
use ringrpc::engine::server::{Registration, Server, ServerHandle};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};
use support::{skip, wait_until};

/// The longest any condition is waited for.
const LONG: Duration = Duration::from_secs(20);
/// Calls one load task makes at most.
const MAX_CALLS_PER_TASK: usize = 100_000;

/// Echoes; counts what it served; `"hold"` (or every call, on a server
/// started with `hold_all`) waits for the server's gate first.
struct Echo {
    served: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    gate: Signal,
    hold_all: bool,
}

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        if self.hold_all || req.msg.as_str() == "hold" {
            self.held.fetch_add(1, Ordering::SeqCst);
            self.gate.wait().await;
        }
        self.served.fetch_add(1, Ordering::SeqCst);
        Ok(EchoResponse { msg: req.msg })
    }
}

/// One echo server (one core, unpinned) and what it counts.
struct Node {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    gate: Signal,
}

impl Node {
    fn start(hold_all: bool, registry: Option<(Arc<dyn Registry>, Registration)>) -> Node {
        let served = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicUsize::new(0));
        let gate = Signal::new();
        let (s, h, g) = (Arc::clone(&served), Arc::clone(&held), gate.clone());
        let mut b = Server::builder()
            .addr("127.0.0.1:0".parse().expect("addr"))
            .cores(1)
            .configure(|c| {
                c.pin = false;
                c.shutdown_timeout = Duration::from_secs(5);
            })
            .service_per_core(move || {
                EchoServiceServer::new(Echo {
                    served: s.clone(),
                    held: h.clone(),
                    gate: g.clone(),
                    hold_all,
                })
            });
        if let Some((registry, registration)) = registry {
            b = b.registry(registry, registration);
        }
        let handle = b.start().expect("server starts");
        Node {
            addr: handle.local_addr(),
            handle: Some(handle),
            served,
            held,
            gate,
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    fn handle(&mut self) -> &mut ServerHandle {
        self.handle.as_mut().expect("running")
    }

    /// Graceful shutdown (deregisters first, with a registry).
    fn shutdown(&mut self) {
        self.gate.raise();
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn req(msg: &str) -> EchoRequest {
    EchoRequest { msg: msg.into() }
}

fn static_cache(service: &str, addrs: &[SocketAddr]) -> (Arc<StaticResolver>, Arc<ResolverCache>) {
    let resolver = Arc::new(StaticResolver::new().with_service(service, instances(addrs)));
    let cache = ResolverCache::new(resolver.clone(), CacheOptions::default()).expect("cache");
    (resolver, Arc::new(cache))
}

fn instances(addrs: &[SocketAddr]) -> Vec<Instance> {
    addrs.iter().map(|a| Instance::new(*a)).collect()
}

/// Steady load: `threads` client threads (one client and event loop each),
/// `tasks` concurrent callers on each, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    /// 0: no hold call or still in flight; 1: answered correctly; 2: failed.
    hold: Arc<AtomicUsize>,
    /// After the hold call: whether the client still pooled a connection to
    /// the held server.
    pooled_after_hold: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts the load; with `hold_at`, the first thread also sends one
    /// `"hold"` call to that address.
    fn start(
        builder: ClientBuilder,
        threads: usize,
        tasks: usize,
        hold_at: Option<SocketAddr>,
    ) -> Load {
        let mut load = Load {
            stop: Arc::default(),
            ok: Arc::default(),
            failed: Arc::default(),
            hold: Arc::default(),
            pooled_after_hold: Arc::default(),
            threads: Vec::new(),
        };
        for t in 0..threads {
            let b = builder.clone();
            let (stop, ok, failed) = (load.stop.clone(), load.ok.clone(), load.failed.clone());
            let (hold, pooled) = (load.hold.clone(), load.pooled_after_hold.clone());
            let hold_at = if t == 0 { hold_at } else { None };
            load.threads.push(std::thread::spawn(move || {
                ringrpc::engine::runtime::block_on(async move {
                    let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
                    let mut running = Vec::new();
                    if let Some(addr) = hold_at {
                        let c = c.clone();
                        running.push(monoio::spawn(async move {
                            let r = c
                                .with_options(&CallOptions::new().addr(addr))
                                .echo(req("hold"))
                                .await;
                            let good = matches!(&r, Ok(r) if r.msg == "hold");
                            if !good {
                                eprintln!("the hold call failed: {r:?}");
                            }
                            pooled.store(
                                c.inner().chain().invoke().mux_connections(&addr),
                                Ordering::SeqCst,
                            );
                            hold.store(if good { 1 } else { 2 }, Ordering::SeqCst);
                        }));
                    }
                    for w in 0..tasks {
                        let (c, stop, ok, failed) =
                            (c.clone(), stop.clone(), ok.clone(), failed.clone());
                        running.push(monoio::spawn(async move {
                            for i in 0..MAX_CALLS_PER_TASK {
                                if stop.load(Ordering::SeqCst) {
                                    break;
                                }
                                let msg = format!("{t}-{w}-{i}");
                                match c.echo(req(&msg)).await {
                                    Ok(r) => {
                                        assert_eq!(r.msg, msg.as_str(), "a reply matches its call");
                                        ok.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Err(e) => {
                                        if failed.fetch_add(1, Ordering::SeqCst) < 3 {
                                            eprintln!("call failed: {e}");
                                        }
                                    }
                                }
                            }
                        }));
                    }
                    for r in running {
                        r.await;
                    }
                })
            }));
        }
        load
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Waits until `n` more calls succeeded than now.
    fn wait_for_more(&self, n: usize, what: &str) {
        let target = self.ok() + n;
        assert!(
            wait_until(LONG, || self.ok() >= target),
            "{what}: only {} of {target} calls succeeded (failed {})",
            self.ok(),
            self.failed()
        );
    }

    fn stop(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().expect("a load thread finished");
        }
        (self.ok(), self.failed())
    }
}

/// Three servers under load from a client resolving a static list of them;
/// one is shut down mid-load. Returns (ok, failed, served per server).
fn failover(retry: bool) -> (usize, usize, [usize; 3]) {
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start(false, None)).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let (_resolver, cache) = static_cache("echo", &addrs);
    let mut builder = ClientBuilder::new("EchoService")
        .resolver(cache, EndpointInfo::new("echo"))
        .connect_timeout(Duration::from_secs(2))
        .rpc_timeout(Duration::from_secs(10));
    if retry {
        // The static list keeps the dead server, so a third of first
        // attempts fail until its breaker opens: the budget must cover a
        // third of calls (the default 10 % would run dry and fail calls).
        builder = builder
            .method_retry(
                "echo",
                MethodRetry::failure(FailurePolicy::new()).idempotent(true),
            )
            .retry_budget(BudgetOptions {
                percent: 50.0,
                reserve: 50,
                max_tokens: 1000,
            });
    }
    let load = Load::start(builder, 2, 4, None);
    load.wait_for_more(600, "before the kill");
    let before: Vec<usize> = nodes.iter().map(Node::served).collect();
    nodes[0].shutdown();
    let after_kill = nodes[1].served() + nodes[2].served();
    load.wait_for_more(1500, "after the kill");
    let (ok, failed) = load.stop();
    let served = [nodes[0].served(), nodes[1].served(), nodes[2].served()];
    eprintln!(
        "failover (retry {}): ok {ok}, failed {failed}; served before the kill {before:?}, \
         at the end {served:?}",
        if retry { "on" } else { "off" }
    );
    assert!(
        before.iter().all(|&s| s > 0),
        "every server took load: {before:?}"
    );
    assert!(
        served[1] + served[2] > after_kill,
        "the survivors carried the load after the kill"
    );
    (ok, failed, served)
}

#[test]
fn failover_with_failure_retry_loses_no_call() {
    let (ok, failed, _) = failover(true);
    assert_eq!(
        failed, 0,
        "a call failed although echo is retried ({ok} ok)"
    );
}

#[test]
fn failover_without_retry_fails_calls_to_the_dead_server() {
    let (_, failed, _) = failover(false);
    // Round robin keeps sending a third of the calls to the dead server
    // until its breaker opens, so some fail.
    assert!(failed > 0, "no call failed although retry is off");
}

#[test]
fn backup_request_answers_when_the_first_instance_hangs() {
    // A hangs on every call; B answers. Fixed targets (the static case).
    let mut a = Node::start(true, None);
    let b = Node::start(false, None);
    let builder = ClientBuilder::new("EchoService")
        .target(a.addr)
        .target(b.addr)
        .rpc_timeout(Duration::from_secs(10))
        .method_retry(
            "echo",
            MethodRetry::backup(BackupPolicy::new(Duration::from_millis(20)).expect("delay")),
        );
    ringrpc::engine::runtime::block_on(async move {
        let c = EchoServiceClient::new(builder.build().expect("client"));
        for i in 0..6 {
            let msg = format!("b{i}");
            let r = c.echo(req(&msg)).await.expect("answered");
            assert_eq!(r.msg, msg.as_str());
        }
    });
    let held = a.held.load(Ordering::SeqCst);
    eprintln!(
        "backup: A held {held} first attempts, B served {}",
        b.served()
    );
    // Round robin sends every other first attempt to A; each was backed up
    // to B, which answered every call.
    assert!(held >= 1, "some first attempts went to the hanging server");
    assert_eq!(b.served(), 6);
    assert_eq!(a.served(), 0, "nothing A held was answered by A");
    a.shutdown();
}

#[test]
fn consistent_hash_keeps_a_key_while_another_server_comes_and_goes() {
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(false, None)).collect();
    let mut extra = Node::start(false, None);
    let three: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let mut four = three.clone();
    four.push(extra.addr);
    let (resolver, cache) = static_cache("echo", &three);

    // Where keys land, computed with the same balancer the client builds.
    let kind = BalancerKind::ConsistentHash(ConsistentHashOptions::default());
    let owner = |addrs: &[SocketAddr], key: u64| {
        let mut b = kind.build();
        let list: Vec<_> = instances(addrs).into_iter().map(Arc::new).collect();
        b.rebuild(&list);
        b.pick(&PickRequest::with_key(key))
            .expect("an instance")
            .addr()
    };
    let keys = (1..10_000u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let key = keys
        .clone()
        .find(|&k| owner(&three, k) == owner(&four, k))
        .expect("a key the extra server does not take");
    let extra_key = keys
        .clone()
        .find(|&k| owner(&four, k) == extra.addr)
        .expect("a key the extra server takes");
    let home = three
        .iter()
        .position(|a| *a == owner(&three, key))
        .expect("home");

    let builder = ClientBuilder::new("EchoService")
        .resolver(cache.clone(), EndpointInfo::new("echo"))
        .balancer(kind)
        .transport(Transport::TtHeader)
        .rpc_timeout(Duration::from_secs(10));
    let served = |nodes: &[Node]| nodes.iter().map(Node::served).collect::<Vec<_>>();
    let nodes = &nodes;
    ringrpc::engine::runtime::block_on(async {
        let c = EchoServiceClient::new(builder.build().expect("client"));
        let call = |k: u64, msg: String| {
            let c = &c;
            async move {
                let r = c
                    .with_options(&CallOptions::new().hash_key(k))
                    .echo(req(&msg))
                    .await
                    .expect("echo");
                assert_eq!(r.msg, msg.as_str());
            }
        };
        let burst = |phase: &'static str| {
            let call = &call;
            async move {
                let start = served(nodes);
                for i in 0..50 {
                    call(key, format!("{phase}{i}")).await;
                }
                let end = served(nodes);
                for (i, (s, e)) in start.iter().zip(&end).enumerate() {
                    let want = if i == home { s + 50 } else { *s };
                    assert_eq!(*e, want, "{phase}: server {i} ({start:?} -> {end:?})");
                }
            }
        };
        burst("three ").await;

        // The extra server joins: it takes its keys, not ours.
        resolver.set("echo", instances(&four));
        cache.refresh_now("echo");
        let deadline = Instant::now() + LONG;
        let mut n = 0;
        while extra.served() == 0 {
            assert!(
                Instant::now() < deadline,
                "the extra server never got its key"
            );
            call(extra_key, format!("probe{n}")).await;
            n += 1;
        }
        let extra_before = extra.served();
        burst("four ").await;
        assert_eq!(extra.served(), extra_before, "our key stayed home");

        // It leaves (out of discovery first, then shut down).
        resolver.set("echo", instances(&three));
        cache.refresh_now("echo");
        assert!(
            wait_until(LONG, || cache
                .snapshot("echo")
                .is_some_and(|s| s.instances().len() == 3)),
            "the cache dropped the extra server"
        );
        extra.shutdown();
        call(extra_key, "moved".into()).await;
        burst("three again ").await;
    });
    eprintln!("consistent hash: served {:?}", served(nodes));
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_servers_join_and_leave_under_load() {
    let Some(etcd) = etcd_server::start_etcd() else {
        return skip(
            "etcd_servers_join_and_leave_under_load",
            etcd_server::INSTALL_HINT,
        );
    };
    const SERVICE: &str = "ringrpc-e2e-echo";
    const REFRESH: Duration = Duration::from_secs(1);
    let registration = || {
        let registry: Arc<dyn Registry> =
            Arc::new(EtcdRegistry::connect(etcd.options()).expect("registry"));
        (
            registry,
            Registration::new(SERVICE).delay(Duration::from_millis(50)),
        )
    };
    let mut nodes: Vec<Node> = (0..3)
        .map(|_| Node::start(false, Some(registration())))
        .collect();
    for n in &nodes {
        assert!(n.handle.as_ref().expect("running").wait_registered(LONG));
    }
    let resolver = EtcdResolver::connect(etcd.options()).expect("resolver");
    let cache = Arc::new(
        ResolverCache::new(
            Arc::new(resolver),
            CacheOptions::default().refresh_interval(REFRESH),
        )
        .expect("cache"),
    );
    let builder = ClientBuilder::new("EchoService")
        .resolver(cache.clone(), EndpointInfo::new(SERVICE))
        .transport(Transport::TtHeader)
        .pool(PoolKind::mux())
        .rpc_timeout(Duration::from_secs(10))
        .method_retry(
            "echo",
            MethodRetry::failure(FailurePolicy::new()).idempotent(true),
        );
    let a = nodes[0].addr;
    let load = Load::start(builder, 1, 4, Some(a));
    load.wait_for_more(300, "first calls");
    assert!(
        nodes.iter().all(|n| n.served() > 0),
        "every server took load"
    );

    // A fourth server registers through the server builder's registry hook.
    let mut d = Node::start(false, Some(registration()));
    assert!(d.handle.as_ref().expect("running").wait_registered(LONG));
    let registered = Instant::now();
    // Polled every millisecond (not `wait_until`'s 10 ms) to measure it.
    while d.served() == 0 {
        assert!(registered.elapsed() < LONG, "the new server got no call");
        std::thread::sleep(Duration::from_millis(1));
    }
    let to_first_call = registered.elapsed();
    eprintln!(
        "etcd: the new server's first call came {to_first_call:?} after it registered \
         (refresh interval {REFRESH:?})"
    );
    // The watch usually brings it in milliseconds; the refresh tick bounds
    // it. The margin is for this thread's own scheduling on a busy machine.
    assert!(
        to_first_call <= REFRESH + Duration::from_millis(500),
        "the new server got traffic only after {to_first_call:?}"
    );

    // A is deregistered (but keeps serving) while a slow call is in flight
    // on it.
    assert!(
        wait_until(LONG, || nodes[0].held.load(Ordering::SeqCst) == 1),
        "the slow call reached A"
    );
    nodes[0].handle().deregister().expect("deregister");
    assert!(
        wait_until(LONG, || cache
            .snapshot(SERVICE)
            .is_some_and(|s| s.instances().iter().all(|i| i.addr() != a))),
        "discovery dropped A"
    );
    // Calls after the change no longer pick A (the ones already on the
    // wire may land; let them finish first).
    load.wait_for_more(200, "after deregistering A");
    let a_served = nodes[0].served();
    load.wait_for_more(400, "later");
    assert_eq!(nodes[0].served(), a_served, "A got new calls after it left");
    assert_eq!(
        load.hold.load(Ordering::SeqCst),
        0,
        "the slow call is still in flight"
    );
    nodes[0].gate.raise();
    assert!(
        wait_until(LONG, || load.hold.load(Ordering::SeqCst) != 0),
        "the slow call finished"
    );
    assert_eq!(
        load.hold.load(Ordering::SeqCst),
        1,
        "the slow call succeeded"
    );
    assert_eq!(
        load.pooled_after_hold.load(Ordering::SeqCst),
        0,
        "no pooled connection to A is left"
    );

    // B shuts down under load: it deregisters first, then drains.
    let b = nodes[1].addr;
    nodes[1].shutdown();
    let probe = EtcdResolver::connect(etcd.options()).expect("resolver");
    let listed = |addr: SocketAddr| {
        use ringrpc::discovery::Resolver;
        probe
            .resolve(SERVICE)
            .expect("resolve")
            .instances
            .iter()
            .any(|i| i.addr() == addr)
    };
    assert!(!listed(b), "B deregistered at shutdown");
    load.wait_for_more(400, "after B left");
    let (ok, failed) = load.stop();
    eprintln!(
        "etcd: ok {ok}, failed {failed}; served A {} B {} C {} D {}",
        nodes[0].served(),
        nodes[1].served(),
        nodes[2].served(),
        d.served()
    );
    assert_eq!(failed, 0, "no call failed while servers came and went");
    assert!(listed(nodes[2].addr) && listed(d.addr));
    d.shutdown();
}
