//! The client allocates nothing per call in its steady state: Framed and
//! TTHeader on the long pool, TTHeader on the multiplexed pool, one and
//! eight calls in flight. Counted with a global allocator that counts only
//! the calling thread, in rounds of 1000 calls after a warm-up: a round
//! with no allocation shows the steady state (the pools may take a round
//! to grow by their last chunk). Over mutual TLS too.

#[path = "../examples/tls/pki.rs"]
mod pki;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::PoolKind;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    /// This thread's counted allocations (per thread: the tests of this
    /// file run in parallel, each on its own thread).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// Counts an allocation on this thread, if it counts.
fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    }
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

struct Counting;

// SAFETY: forwards every call to `System` unchanged; the counting touches
// a const-initialised thread-local and an atomic, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

/// Allocations on the calling thread in rounds of 1000 calls,
/// `concurrency` in flight, after a warm-up, until a round allocates
/// nothing (at most six rounds).
fn allocs_per_round(transport: Transport, pool: PoolKind, concurrency: usize) -> Vec<u64> {
    allocs_per_round_with(transport, pool, concurrency, None, None)
}

/// As [`allocs_per_round`], with Prometheus metrics recorded on both sides
/// when `metrics` is given.
fn allocs_per_round_with(
    transport: Transport,
    pool: PoolKind,
    concurrency: usize,
    metrics: Option<&Metrics>,
    tls: Option<&pki::Pki>,
) -> Vec<u64> {
    use ringrpc::engine::tls::{ClientTls, ServerTls};
    let mut server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false);
    if let Some(m) = metrics {
        server = server.tracer(m.tracer());
    }
    if let Some(p) = tls {
        server = server.tls(
            ServerTls::builder()
                .cert_file(&p.server_cert)
                .key_file(&p.server_key)
                .client_ca_file(&p.ca)
                .build()
                .expect("server TLS"),
        );
    }
    let server = server
        .service(EchoServiceServer::new(Echo))
        .start()
        .expect("server starts");
    let mut builder = EchoServiceClient::builder()
        .target(server.local_addr())
        .transport(transport)
        .protocol(Protocol::Binary)
        .pool(pool)
        .rpc_timeout(Duration::from_secs(10));
    if let Some(m) = metrics {
        builder = builder.tracer(m.tracer());
    }
    if let Some(p) = tls {
        builder = builder.tls(
            ClientTls::builder()
                .ca_file(&p.ca)
                .cert_file(&p.client_cert)
                .key_file(&p.client_key)
                .build()
                .expect("client TLS"),
        );
    }
    let rounds = ringrpc::engine::runtime::block_on(async move {
        let client = Rc::new(EchoServiceClient::new(builder.build().expect("client")));
        let msg: ringrpc::codec::thrift::Utf8Bytes = "m".repeat(1024).into();
        let round = |n: usize| {
            let tasks: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (c, msg) = (client.clone(), msg.clone());
                    monoio::spawn(async move {
                        for _ in 0..n {
                            let r = c.echo(EchoRequest { msg: msg.clone() }).await;
                            assert_eq!(r.expect("echo").msg.len(), 1024);
                        }
                    })
                })
                .collect();
            async move {
                for t in tasks {
                    t.await;
                }
            }
        };
        round(1000 / concurrency).await;
        // The pools may still grow by a chunk or two after the warm-up:
        // the steady state is reached when a whole round allocates nothing.
        let n = 1000 / concurrency;
        let mut rounds = Vec::new();
        for _ in 0..6 {
            COUNTED.with(|c| c.set(true));
            let before = allocs();
            // Spawning the tasks allocates (once per task, not per call).
            let tasks = round(n);
            let spawned = allocs() - before;
            tasks.await;
            let allocs = allocs() - before - spawned;
            COUNTED.with(|c| c.set(false));
            rounds.push(allocs);
            if allocs == 0 {
                break;
            }
        }
        rounds
    });
    server.shutdown();
    rounds
}

#[test]
fn framed_calls_allocate_nothing() {
    let long = PoolKind::Long {
        max_idle_per_addr: 16,
        idle_timeout: Duration::from_secs(30),
    };
    for concurrency in [1, 8] {
        let rounds = allocs_per_round(Transport::Framed, long, concurrency);
        assert_eq!(
            rounds.last(),
            Some(&0),
            "framed, {concurrency} in flight: allocations per 1000 calls {rounds:?}"
        );
    }
}

#[test]
fn ttheader_calls_allocate_nothing() {
    let long = PoolKind::Long {
        max_idle_per_addr: 16,
        idle_timeout: Duration::from_secs(30),
    };
    for (pool, concurrency) in [
        (long, 1),
        (long, 8),
        (PoolKind::mux(), 1),
        (PoolKind::mux(), 8),
    ] {
        let rounds = allocs_per_round(Transport::TtHeader, pool, concurrency);
        assert_eq!(
            rounds.last(),
            Some(&0),
            "ttheader {pool:?}, {concurrency} in flight: allocations per 1000 calls {rounds:?}"
        );
    }
}

#[test]
fn calls_with_metrics_on_both_sides_allocate_nothing() {
    let metrics = Metrics::new();
    let long = PoolKind::Long {
        max_idle_per_addr: 16,
        idle_timeout: Duration::from_secs(30),
    };
    for (transport, pool) in [
        (Transport::Framed, long),
        (Transport::TtHeader, PoolKind::mux()),
    ] {
        let rounds = allocs_per_round_with(transport, pool, 8, Some(&metrics), None);
        assert_eq!(
            rounds.last(),
            Some(&0),
            "{transport:?} {pool:?} with metrics: allocations per 1000 calls {rounds:?}"
        );
    }
    // The calls were counted.
    assert!(metrics.encode().contains("kitex_client_throughput{"));
}

#[test]
fn tls_calls_allocate_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let p = pki::generate(dir.path()).expect("certificates");
    let long = PoolKind::Long {
        max_idle_per_addr: 16,
        idle_timeout: Duration::from_secs(30),
    };
    for (transport, pool, concurrency) in [
        (Transport::Framed, long, 1),
        (Transport::Framed, long, 8),
        (Transport::TtHeader, long, 8),
        (Transport::TtHeader, PoolKind::mux(), 8),
        // Replies batched past one record (16 KiB): a reply split across
        // two records is joined in one pooled buffer.
        (Transport::TtHeader, PoolKind::mux(), 32),
    ] {
        let rounds = allocs_per_round_with(transport, pool, concurrency, None, Some(&p));
        assert_eq!(
            rounds.last(),
            Some(&0),
            "TLS {transport:?} {pool:?}, {concurrency} in flight: allocations per 1000 calls {rounds:?}"
        );
    }
}
