//! One gRPC unary round trip over loopback, in process: ringrpc's gRPC
//! server on one core (its own pinned thread) and a `grpc::Channel` on the
//! bench thread, 1 KiB echo, one call in flight; plain, and with one
//! pass-through middleware layer on each side (what a layer costs: its
//! boxed future per call and the context it reads). Allocations per call
//! (client and server together) are counted by a counting global allocator
//! and printed after criterion's output.
//!
//! As in `rpc.rs`, the bench thread is not pinned: on a 2-vCPU VM it may
//! land on the other core, and a cross-core round trip is slower and much
//! noisier there; `taskset -c 0` keeps both on one core. Throughput under
//! load against tonic is `cargo run --release -p ringrpc-perf -- grpc`.
//!
//! Run: `taskset -c 0 cargo bench --bench grpc`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use ringrpc::engine::grpc::{Channel, GrpcConfig, GrpcContext, Request, Response, Router, Status};
use ringrpc::engine::middleware::{Layer, Service};
use ringrpc::engine::server::Server;

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{print_table, round_trips};

#[derive(Clone, PartialEq, prost::Message)]
struct Echo {
    #[prost(bytes = "bytes", tag = "1")]
    data: Bytes,
}

const ECHO: &str = "/bench.Echo/Echo";

/// A layer that does what a light middleware does: reads the path and
/// passes the call on.
#[derive(Clone, Copy)]
struct PassThrough;

struct Passed<S>(S);

impl<S> Layer<S> for PassThrough {
    type Service = Passed<S>;
    fn layer(self, inner: S) -> Passed<S> {
        Passed(inner)
    }
}

impl<S, Req> Service<GrpcContext, Req> for Passed<S>
where
    S: Service<GrpcContext, Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    async fn call(&self, cx: &mut GrpcContext, req: Req) -> Result<S::Response, S::Error> {
        std::hint::black_box(cx.method());
        self.0.call(cx, req).await
    }
}

fn round_trip(c: &mut Criterion, name: &str, layered: bool) {
    let mut router = Router::new().unary(ECHO, |req: Request<Echo>| async move {
        Ok::<_, Status>(Response::new(req.into_inner()))
    });
    if layered {
        router = router.layer(PassThrough);
    }
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .first_core(0)
        .grpc_router(router, GrpcConfig::default())
        .start()
        .expect("start the gRPC echo server");
    let mut builder = Channel::builder()
        .target(server.local_addr())
        .timeout(Duration::from_secs(5));
    if layered {
        builder = builder.layer(PassThrough);
    }
    let mut rt = ringrpc::engine::runtime::build_local(256).expect("a monoio runtime");
    let channel = builder.build().expect("a channel");
    let data = Bytes::from(vec![b'x'; 1024]);
    let mut call_n = |n: u64| -> Duration {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                let r = channel
                    .unary::<_, Echo>(ECHO, Request::new(Echo { data: data.clone() }))
                    .await
                    .expect("echo");
                assert_eq!(r.get_ref().data.len(), 1024);
            }
            start.elapsed()
        })
    };
    round_trips(c, name, &mut call_n);
    // The channel's connections belong to the runtime: close them inside it.
    rt.block_on(async move { drop(channel) });
    server.shutdown();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    round_trip(&mut c, "grpc/unary_1k", false);
    round_trip(&mut c, "grpc/unary_1k/one_layer_each_side", true);
    c.final_summary();
    print_table();
}
