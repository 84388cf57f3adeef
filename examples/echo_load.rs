//! A closed-loop load generator on the generated `EchoServiceClient`, the
//! typed API a user calls: `--conns` tasks on one monoio core, each with one
//! call in flight, for `--warmup` and then `--secs` seconds. Prints one JSON
//! line, `{"qps":..,"p50_us":..,"p99_us":..,"p999_us":..,"errors":..,"calls":..}`
//! (the calls and latencies of the window), and exits 2 when a call failed.
//! Any server that answers `EchoService.echo` will do, ringrpc or not.
//!
//! ```text
//! taskset -c 1 cargo run --release --example echo_load -- --addr 127.0.0.1:9000 \
//!     --conns 100 --size 1024 --secs 10 --warmup 2 --transport framed|ttheader
//! ```
//!
//! The long pool keeps an idle connection for every call in flight: Kitex's
//! default of 10 idle per address would close 90 of 100 connections after
//! each call at 100 concurrency. Pinning is the caller's (taskset).
//! `ringrpc-perf client-load` runs the same loop where allocations are
//! counted.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ringrpc::codec::thrift::Utf8Bytes;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::PoolKind;
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceClient};

/// Drives an echo server with ringrpc's client; prints one JSON line.
#[derive(Parser)]
struct Args {
    /// The echo server.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Calls in flight, one per task.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// The echoed message's size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// The measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before the window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// framed or ttheader.
    #[arg(long, value_enum, default_value_t = Wire::Framed)]
    transport: Wire,
    /// long (an idle connection per call in flight) or mux (one
    /// multiplexed connection; ttheader only).
    #[arg(long, value_enum, default_value_t = Pool::Long)]
    pool: Pool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Wire {
    Framed,
    Ttheader,
}

#[derive(Clone, Copy, ValueEnum)]
enum Pool {
    Long,
    Mux,
}

/// The measurement window, shared by the tasks of the one core.
struct Window {
    from: Instant,
    until: Instant,
    latency_ns: RefCell<Histogram<u64>>,
    calls: Cell<u64>,
    errors: Cell<u64>,
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args = Args::parse();
    let pool = match args.pool {
        Pool::Long => PoolKind::Long {
            max_idle_per_addr: args.conns,
            idle_timeout: Duration::from_secs(30), // the default (Kitex's)
        },
        Pool::Mux => PoolKind::mux(),
    };
    let builder = EchoServiceClient::builder()
        .target(args.addr)
        .transport(match args.transport {
            Wire::Framed => Transport::Framed,
            Wire::Ttheader => Transport::TtHeader,
        })
        .pool(pool)
        .connect_timeout(Duration::from_secs(1));
    let (warmup, secs) = (
        Duration::try_from_secs_f64(args.warmup)?,
        Duration::try_from_secs_f64(args.secs)?,
    );
    let from = Instant::now() + warmup;
    let w = Rc::new(Window {
        from,
        until: from + secs,
        latency_ns: RefCell::new(Histogram::new_with_bounds(1, 100_000_000_000, 3)?),
        calls: Cell::new(0),
        errors: Cell::new(0),
    });
    let mut rt = ringrpc::engine::runtime::build_local(4096)?;
    rt.block_on(async {
        let client = Rc::new(EchoServiceClient::new(builder.build()?));
        let msg = Utf8Bytes::from("x".repeat(args.size));
        let tasks: Vec<_> = (0..args.conns.max(1))
            .map(|_| monoio::spawn(call_in_a_loop(client.clone(), msg.clone(), w.clone())))
            .collect();
        // Calls still in flight at the end get two seconds to finish.
        let all = async {
            for t in tasks {
                t.await;
            }
        };
        let _ = monoio::time::timeout(Duration::from_secs(2), all).await;
        Ok::<_, ringrpc::engine::Error>(())
    })?;
    let h = w.latency_ns.borrow();
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{{\"qps\":{:.1},\"p50_us\":{:.3},\"p99_us\":{:.3},\"p999_us\":{:.3},\"errors\":{},\"calls\":{}}}",
        w.calls.get() as f64 / secs.as_secs_f64().max(1e-9),
        us(0.50),
        us(0.99),
        us(0.999),
        w.errors.get(),
        w.calls.get()
    );
    Ok(if w.errors.get() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// One call in flight until the window closes; records the good replies
/// that come inside it.
async fn call_in_a_loop(client: Rc<EchoServiceClient>, msg: Utf8Bytes, w: Rc<Window>) {
    while Instant::now() < w.until {
        let start = Instant::now();
        let reply = client.echo(EchoRequest { msg: msg.clone() }).await;
        let end = Instant::now();
        match reply {
            Ok(r) if r.msg.len() == msg.len() => {
                if (w.from..w.until).contains(&end) {
                    let ns = end.duration_since(start).as_nanos() as u64;
                    w.latency_ns.borrow_mut().saturating_record(ns.max(1));
                    w.calls.set(w.calls.get() + 1);
                }
            }
            Ok(_) => w.errors.set(w.errors.get() + 1),
            Err(e) => {
                if w.errors.get() == 0 {
                    eprintln!("echo_load: a call failed: {e}");
                }
                w.errors.set(w.errors.get() + 1);
            }
        }
    }
}
