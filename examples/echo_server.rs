//! Serves `EchoService.echo` on every transport and protocol detection knows.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:9000 --cores 1
//! ```
//! Prints `listening on ADDR` once ready; stops cleanly on SIGINT/SIGTERM.

mod common;

use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, wait_for_termination};
use ringrpc::idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceDescriptor, EchoServiceServer,
};

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

fn main() {
    common::init_logging();
    let args = common::Args::from_env();
    let addr = args
        .get_or("addr", "127.0.0.1:9000")
        .parse()
        .unwrap_or_else(|e| common::die(&format!("bad --addr: {e}")));
    let mut builder = Server::builder().addr(addr);
    if let Some(n) = args.get("cores") {
        builder = builder.cores(n.parse().unwrap_or_else(|_| common::die("bad --cores")));
    }
    if let Some(n) = args.get("first-core") {
        builder = builder.first_core(
            n.parse()
                .unwrap_or_else(|_| common::die("bad --first-core")),
        );
    }
    ringrpc::engine::server::block_termination_signals();
    let server = builder
        .service::<EchoServiceDescriptor, _, _>(|| EchoServiceServer(Echo))
        .start()
        .unwrap_or_else(|e| common::die(&format!("cannot listen on {addr}: {e}")));
    println!("listening on {}", server.local_addr());
    let sig = wait_for_termination();
    tracing::info!(signal = sig, "shutting down");
    server.shutdown();
    println!("stopped");
}
