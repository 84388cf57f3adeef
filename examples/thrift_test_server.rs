//! Apache Thrift's cross-language test server: `ThriftTest`
//! (`idl/ThriftTest.thrift`) with the reference semantics of Apache Thrift's
//! own test servers (see `thrift_test/handler.rs`), for Apache Thrift's test
//! clients in any language.
//!
//! ```text
//! cargo run --release --example thrift_test_server -- --port 9090 --transport framed --protocol binary
//! ```
//!
//! Flags (`--name value` or `--name=value`, as Apache's cross-test runner
//! passes them):
//!
//! - `--port N` (default 9090) on 127.0.0.1, or `--addr HOST:PORT`;
//! - `--transport framed|buffered` and `--protocol binary|compact`: checked
//!   and logged, but the server detects each connection's transport and
//!   protocol from its first bytes, so it takes every transport and protocol
//!   on the same port (TTHeader too) whatever they say, and without them;
//! - `--cores N` (default 1) worker cores, pinned from CPU 0 unless
//!   `--no-pin`.
//!
//! Prints `listening on ADDR` once ready; stops cleanly on SIGINT/SIGTERM.

mod common;
#[path = "thrift_test/handler.rs"]
mod handler;

use std::net::SocketAddr;

fn main() {
    common::init_logging();
    let args = common::Args::from_env();
    let addr: SocketAddr = match args.get("addr") {
        Some(a) => a
            .parse()
            .unwrap_or_else(|e| common::die(&format!("bad --addr: {e}"))),
        None => SocketAddr::from(([127, 0, 0, 1], args.parse_or("port", 9090u16))),
    };
    // Validated so that a typo fails loudly; detection serves them all.
    let transport = args.get("transport").map(|t| match t {
        "framed" | "buffered" => common::transport(t),
        other => common::die(&format!("unknown transport {other} (framed|buffered)")),
    });
    let protocol = args.get("protocol").map(common::protocol);
    let cores = args.parse_or("cores", 1usize);
    ringrpc::engine::server::block_termination_signals();
    let server = handler::start(addr, cores, !args.has("no-pin"))
        .unwrap_or_else(|e| common::die(&format!("cannot listen on {addr}: {e}")));
    tracing::info!(
        ?transport,
        ?protocol,
        "serving ThriftTest; every transport and protocol is detected per connection"
    );
    println!("listening on {}", server.local_addr());
    let sig = ringrpc::engine::server::wait_for_termination();
    tracing::info!(signal = sig, "shutting down");
    server.shutdown();
    println!("stopped");
}
