//! Volo's client as a closed-loop load generator, for `ringrpc-perf
//! client-compare`: Volo's generated `EchoServiceClient` for
//! `idl/echo.thrift` on tokio's current-thread runtime (one core, as a
//! ringrpc client runs), `--conns` tasks each with one call in flight. The
//! same flags and the same JSON line as `examples/echo_load.rs`, plus
//! `cpu_us_per_call` (this process's CPU clock over the window) and, with
//! `--hist`, the latency histogram's buckets as `[ns, count]` pairs.
//!
//! ```text
//! taskset -c 1 volo-load --addr 127.0.0.1:9000 --conns 100 --size 1024 \
//!     --secs 10 --warmup 2 --transport framed|ttheader
//! ```
//!
//! - **Codec**: `--transport ttheader` is what a Volo client sends by
//!   default: `ClientBuilder::new` makes
//!   `DefaultMakeCodec<MakeTTHeaderCodec<MakeFramedCodec<MakeThriftCodec>>>`,
//!   TTHeader over Framed over binary, and its Framed encoder always writes
//!   the length on the client side (volo-thrift 0.12
//!   `src/client/mod.rs`, `src/codec/default/framed.rs`).
//!   `--transport framed` is `DefaultMakeCodec::framed()`.
//! - **Pool**: volo-thrift's ping-pong client keeps idle connections per
//!   address in `transport::pool` (`Config::max_idle_per_key`, 10240 by
//!   default); it is set to `--conns`, an idle connection for every call in
//!   flight, the same as ringrpc's client gets.
//!
//! Exits 2 when a call failed. Pinning is the caller's (taskset).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ringrpc_volo_echo::generated::volo_echo::echo::{
    EchoRequest, EchoServiceClient, EchoServiceClientBuilder,
};
use volo_thrift::codec::default::DefaultMakeCodec;

/// How long to wait for the calls in flight at the end of the window.
const GRACE: Duration = Duration::from_secs(2);

/// The transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// A 4-byte length, then the message.
    Framed,
    /// Volo's default codec: TTHeader over Framed.
    Ttheader,
}

/// Drives an echo server with Volo's client; prints one JSON line.
#[derive(Debug, Parser)]
#[command(name = "volo-load")]
struct Args {
    /// The echo server.
    #[arg(long)]
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
    /// The transport.
    #[arg(long, value_enum, default_value_t = Transport::Framed)]
    transport: Transport,
    /// Add the latency histogram's buckets to the JSON line.
    #[arg(long)]
    hist: bool,
}

/// What the callers share (one thread: `Cell`s).
struct Window {
    from: Instant,
    until: Instant,
    hist: RefCell<Histogram<u64>>,
    calls: Cell<u64>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Window {
    fn failed(&self, what: String) {
        self.errors.set(self.errors.get() + 1);
        self.first_error.borrow_mut().get_or_insert(what);
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() { v.max(0.0) } else { 0.0 })
}

/// This process's CPU time so far, in nanoseconds.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn client(a: &Args) -> EchoServiceClient {
    let pool = volo_thrift::transport::pool::Config::default().max_idle_per_key(a.conns.max(1));
    let b = EchoServiceClientBuilder::new("EchoService")
        .address(a.addr)
        .pool_config(pool)
        .connect_timeout(Some(Duration::from_secs(1)));
    match a.transport {
        Transport::Framed => b.make_codec(DefaultMakeCodec::framed()).build(),
        Transport::Ttheader => b.build(),
    }
}

async fn caller(client: EchoServiceClient, msg: pilota::FastStr, w: Rc<Window>) {
    loop {
        let start = Instant::now();
        if start >= w.until {
            return;
        }
        let res = client.echo(EchoRequest { msg: msg.clone() }).await;
        let end = Instant::now();
        match res {
            Ok(r) if r.msg.len() == msg.len() => {
                if end >= w.from && end < w.until {
                    let ns = end.duration_since(start).as_nanos() as u64;
                    w.hist.borrow_mut().saturating_record(ns.max(1));
                    w.calls.set(w.calls.get() + 1);
                }
            }
            Ok(r) => w.failed(format!(
                "a reply of {} bytes to a call of {}",
                r.msg.len(),
                msg.len()
            )),
            Err(e) => w.failed(e.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("volo-load: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let hist = match Histogram::new_with_bounds(1, 100_000_000_000, 3) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("volo-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let from = Instant::now() + secs(a.warmup);
    let w = Rc::new(Window {
        from,
        until: from + secs(a.secs),
        hist: RefCell::new(hist),
        calls: Cell::new(0),
        errors: Cell::new(0),
        first_error: RefCell::new(None),
    });
    let local = tokio::task::LocalSet::new();
    let cpu_ns = local.block_on(&rt, async {
        let client = client(&a);
        let msg = pilota::FastStr::from_string("x".repeat(a.size));
        let callers: Vec<_> = (0..a.conns.max(1))
            .map(|_| tokio::task::spawn_local(caller(client.clone(), msg.clone(), w.clone())))
            .collect();
        tokio::time::sleep_until(w.from.into()).await;
        let c0 = process_cpu_ns();
        tokio::time::sleep_until(w.until.into()).await;
        let c1 = process_cpu_ns();
        let _ = tokio::time::timeout(GRACE, async {
            for c in callers {
                let _ = c.await;
            }
        })
        .await;
        c1.saturating_sub(c0)
    });
    let calls = w.calls.get();
    let h = w.hist.borrow();
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    let mut line = format!(
        "{{\"qps\":{:.1},\"p50_us\":{:.3},\"p99_us\":{:.3},\"p999_us\":{:.3},\"errors\":{},\"calls\":{},\"cpu_us_per_call\":{:.4}",
        calls as f64 / secs(a.secs).as_secs_f64().max(1e-9),
        q(0.50),
        q(0.99),
        q(0.999),
        w.errors.get(),
        calls,
        if calls == 0 {
            0.0
        } else {
            cpu_ns as f64 / 1000.0 / calls as f64
        },
    );
    if a.hist {
        let buckets: Vec<String> = h
            .iter_recorded()
            .map(|v| format!("[{},{}]", v.value_iterated_to(), v.count_at_value()))
            .collect();
        line.push_str(&format!(",\"hist\":[{}]", buckets.join(",")));
    }
    line.push('}');
    println!("{line}");
    if let Some(e) = w.first_error.borrow().as_ref() {
        eprintln!(
            "volo-load: {} failed call(s); the first: {e}",
            w.errors.get()
        );
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
