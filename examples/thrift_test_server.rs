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
//! passes them; `--help` lists them):
//!
//! - `--port N` (default 9090) on 127.0.0.1, or `--addr HOST:PORT`;
//! - `--transport framed|buffered` and `--protocol binary|compact`: checked
//!   and logged, but the server detects each connection's transport and
//!   protocol from its first bytes, so it takes every transport and protocol
//!   on the same port (TTHeader too) whatever they say, and without them;
//! - `--cores N` (default 1) worker cores, pinned from CPU 0 unless
//!   `--no-pin`;
//! - `--max-qps N`: a server-wide QPS limit (calls over it get an
//!   over-limit application exception).
//!
//! Serves `SecondService` too, for Apache clients that multiplex
//! (`TMultiplexedProtocol`).
//!
//! Prints `listening on ADDR` once ready; stops cleanly on SIGINT/SIGTERM.

mod common;
#[path = "thrift_test/handler.rs"]
mod handler;

use std::net::SocketAddr;

use clap::Parser;
use ringrpc::codec::thrift::Protocol;
use ringrpc::engine::server::Limits;

/// Apache Thrift's ThriftTest server.
#[derive(Parser)]
struct Args {
    /// The port on 127.0.0.1 (ignored with --addr).
    #[arg(long, default_value_t = 9090)]
    port: u16,
    /// Where to listen, instead of 127.0.0.1:PORT.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// framed or buffered (checked and logged; every transport is detected).
    #[arg(long, value_parser = ["framed", "buffered"])]
    transport: Option<String>,
    /// binary or compact (checked and logged; detected per connection).
    #[arg(long)]
    protocol: Option<Protocol>,
    /// Worker cores.
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Do not pin the cores to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Calls per second the server admits, over all cores.
    #[arg(long)]
    max_qps: Option<u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let addr = args
        .addr
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], args.port)));
    let limits = Limits {
        max_qps: args.max_qps,
        ..Limits::default()
    };
    let server = handler::start_with(addr, args.cores, !args.no_pin, limits)?;
    tracing::info!(
        transport = ?args.transport,
        protocol = ?args.protocol,
        "serving ThriftTest; every transport and protocol is detected per connection"
    );
    println!("listening on {}", server.local_addr());
    server.run_until_signal()?;
    println!("stopped");
    Ok(())
}
