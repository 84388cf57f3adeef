//! One RPC round trip over loopback, in process: ringrpc's echo server on
//! one core (its own pinned thread) and the typed monoio client on the
//! bench thread, 1 KiB echo, one call in flight, in Framed and TTHeader.
//! Allocations per call (client and server together) are counted by a
//! counting global allocator and printed after criterion's output.
//!
//! The client runs on the bench thread, which is not pinned: the kernel
//! usually runs it on the server's core, so this is a same-core round trip
//! (about 10 µs on the 2-vCPU dev VM). A cross-core round trip is several
//! times slower there (each hop wakes the other vCPU); measure that, and
//! throughput under load, with `cargo run --release -p ringrpc-perf --
//! --connections 1`. Under `taskset -c N` the server's core is N as well
//! (`core_affinity` only sees the CPUs the process may use).
//!
//! Run: `cargo bench --bench rpc`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::{ClientBuilder, PoolKind};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{print_table, round_trips};

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

fn round_trip(c: &mut Criterion, name: &str, transport: Transport, pool: PoolKind) {
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .first_core(0)
        .service_per_core(|| EchoServiceServer::new(Echo))
        .start()
        .expect("start the echo server");
    let builder = ClientBuilder::new("EchoService")
        .target(server.local_addr())
        .transport(transport)
        .protocol(Protocol::Binary)
        .pool(pool)
        .rpc_timeout(Duration::from_secs(5));
    let mut rt = ringrpc::engine::runtime::build_local(256).expect("a monoio runtime");
    let client = rt.block_on(async { EchoServiceClient::new(builder.build().expect("a client")) });
    let msg: ringrpc::codec::thrift::Utf8Bytes = "x".repeat(1024).into();
    let mut call_n = |n: u64| -> Duration {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                let r = client
                    .echo(EchoRequest { msg: msg.clone() })
                    .await
                    .expect("echo");
                assert_eq!(r.msg.len(), 1024);
            }
            start.elapsed()
        })
    };
    round_trips(c, name, &mut call_n);
    // The client's connections belong to the runtime: close them inside it.
    rt.block_on(async move { drop(client) });
    server.shutdown();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    round_trip(
        &mut c,
        "rpc/echo_1k/framed",
        Transport::Framed,
        PoolKind::long(),
    );
    round_trip(
        &mut c,
        "rpc/echo_1k/ttheader_mux",
        Transport::TtHeader,
        PoolKind::mux(),
    );
    c.final_summary();
    print_table();
}
