//! Serves `EchoService.echo` on every transport and protocol detection knows.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:9000 --cores 1
//! ```
//! Prints `listening on ADDR` once ready; drains and stops on SIGINT/SIGTERM.
//!
//! With `--tls-cert server.pem --tls-key server.key` it serves TLS (add
//! `--tls-client-ca ca.pem` to require client certificates; make throwaway
//! ones with `cargo run --example tls_certs -- DIR`). A TLS client whose
//! certificate was verified gets its identity back for the message
//! `whoami`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::server::{Limits, Server};
use ringrpc::engine::tls::ServerTls;
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
        cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        if req.msg.as_str() == "whoami"
            && let Some(id) = cx.peer_identity()
        {
            let sans: Vec<String> = id.sans.iter().map(|s| format!("{s:?}")).collect();
            return Ok(EchoResponse {
                msg: format!("{} [{}]", id.subject, sans.join(", ")).into(),
            });
        }
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
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<std::path::PathBuf>,
    /// Serve plaintext clients on the TLS port too.
    #[arg(long, requires = "tls_cert")]
    tls_accept_plaintext: bool,
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
    // Certificates renewed on disk are picked up within a second.
    let mut _tls_watch = None;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let mut tls = ServerTls::builder()
            .cert_file(cert)
            .key_file(key)
            .accept_plaintext(args.tls_accept_plaintext);
        if let Some(ca) = &args.tls_client_ca {
            tls = tls.client_ca_file(ca);
        }
        let tls = tls.build()?;
        _tls_watch = Some(tls.watch(Duration::from_secs(1)));
        builder = builder.tls(tls);
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
