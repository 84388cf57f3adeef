//! Volo's echo server for `ringrpc-perf compare`: `EchoService.echo` on
//! volo-thrift's default server (codec `TTHeader<Framed<Binary>>`, which
//! detects per connection whether a peer sends TTHeader and/or Framed and
//! answers in kind, so it serves Framed and TTHeader clients alike).
//!
//! ```text
//! ringrpc-volo-echo --addr 127.0.0.1:9001 --first-core 0 --cores 1
//! ```
//!
//! With one core (the default) it runs tokio's current-thread runtime, the
//! fastest tokio setup for one core, with the process pinned to that core;
//! with more, a multi-thread runtime with that many workers, pinned to
//! those cores. Prints `listening on ADDR`; stops on SIGTERM or SIGINT.

use std::net::SocketAddr;

use ringrpc_volo_echo::generated::volo_echo::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceServer,
};

/// The handler: replies with the request's message.
struct Echo;

impl EchoService for Echo {
    async fn echo(&self, req: EchoRequest) -> Result<EchoResponse, volo_thrift::ServerError> {
        Ok(EchoResponse { msg: req.msg })
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = arg(&args, "--addr")
        .unwrap_or_else(|| "127.0.0.1:9001".into())
        .parse()
        .expect("--addr HOST:PORT");
    let first: usize = arg(&args, "--first-core")
        .map(|v| v.parse().expect("--first-core N"))
        .unwrap_or(0);
    let cores: usize = arg(&args, "--cores")
        .map(|v| v.parse().expect("--cores N"))
        .unwrap_or(1)
        .max(1);
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let pick = move |i: usize| (!cpus.is_empty()).then(|| cpus[(first + i) % cpus.len()]);
    let rt = if cores == 1 {
        // Pin before the runtime starts: every thread it makes inherits it.
        if let Some(c) = pick(0) {
            core_affinity::set_for_current(c);
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .on_thread_start(move || {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(c) = pick(i % cores) {
                    core_affinity::set_for_current(c);
                }
            })
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    rt.block_on(async move {
        let server = EchoServiceServer::new(Echo).run(volo::net::Address::from(addr));
        println!("listening on {addr}");
        tokio::select! {
            r = server => {
                if let Err(e) = r {
                    eprintln!("volo echo server: {e}");
                    std::process::exit(1);
                }
            }
            _ = stop() => {}
        }
    });
}

async fn stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
