//! Serves `EchoService.echo` on every transport and protocol detection knows.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:9000 --cores 1
//! ```
//! Prints `listening on ADDR` once ready; drains and stops on SIGINT/SIGTERM.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::server::{Limits, Server};
use ringrpc_example_idl::echo::{EchoRequest, EchoResponse, EchoService, EchoServiceServer};

/// Echoes, after `work` of CPU time (a stand-in for a handler that does
/// something, to see the limits shed load from outside).
#[derive(Clone)]
struct Echo {
    work: Duration,
}

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        if !self.work.is_zero() {
            let until = Instant::now() + self.work;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        Ok(EchoResponse { msg: req.msg })
    }
}

/// The echo server.
#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Cores to serve on (default: every core).
    #[arg(long)]
    cores: Option<usize>,
    /// The CPU of the first core.
    #[arg(long, default_value_t = 0)]
    first_core: usize,
    /// Calls per second the server admits, over all cores (calls over it
    /// get an over-limit application exception at once).
    #[arg(long)]
    max_qps: Option<u64>,
    /// Calls the server runs at once, over all cores.
    #[arg(long)]
    max_concurrency: Option<u64>,
    /// Connections the server holds, over all cores.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Stop a handler still running at the caller's deadline (TTHeader
    /// `RPCTimeout`) and answer with a timeout exception.
    #[arg(long)]
    enforce_deadline: bool,
    /// Serve Prometheus metrics (Kitex's `kitex_server_throughput` and
    /// `kitex_server_latency_us`, and the engine's own) at `GET ADDR/metrics`.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Microseconds of CPU each call spends before it answers (a busy
    /// handler, so the limits have work to save).
    #[arg(long, default_value_t = 0)]
    work_us: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let mut builder = Server::builder()
        .addr(args.addr)
        .first_core(args.first_core)
        .limits(Limits {
            max_qps: args.max_qps,
            max_concurrency: args.max_concurrency,
            max_connections: args.max_connections,
        })
        .configure(|c| c.enforce_deadline = args.enforce_deadline);
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let metrics = Metrics::new();
    if args.metrics.is_some() {
        builder = builder.tracer(metrics.tracer());
    }
    let echo = Echo {
        work: Duration::from_micros(args.work_us),
    };
    let server = builder.service(EchoServiceServer::new(echo)).start()?;
    let _endpoint = match args.metrics {
        Some(addr) => {
            metrics.add_server(&server);
            let e = metrics.serve(addr)?;
            println!("metrics on http://{}/metrics", e.local_addr());
            Some(e)
        }
        None => None,
    };
    println!("listening on {}", server.local_addr());
    server.run_until_signal()?;
    println!("stopped");
    Ok(())
}
