//! `client-load` (hidden): ringrpc's client as a user calls it, the
//! generated `EchoServiceClient`, driving an echo server in a closed loop on
//! one core: `conns` tasks, each with one call in flight. It is the loop of
//! `examples/echo_load.rs`, written again here because only in this
//! process does perf's counting allocator ([`crate::alloc`]) see the
//! client's allocations; `client-compare` runs it in a child process pinned
//! to the load core.
//!
//! It prints one JSON line: the example's fields (`qps`, `p50_us`, `p99_us`,
//! `p999_us`, `errors`, `calls`), and `allocs_per_call` and
//! `cpu_us_per_call` (this process's CPU clock over the window), and with
//! `--hist` the latency histogram's buckets as `[ns, count]` pairs for the
//! plots. Exits 2 when a call failed.

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringrpc::codec::thrift::Utf8Bytes;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::PoolKind;
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceClient};

use crate::alloc;
use crate::cli::{ClientLoadArgs, ClientPool, ClientTransport};
use crate::cpu::CpuClock;
use crate::load::new_histogram;

/// The JSON line a client load prints (`client-load`, `volo-load`; the
/// example's line has the first six fields).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientLine {
    /// Good calls per second in the window.
    pub qps: f64,
    /// Median latency, in µs.
    pub p50_us: f64,
    /// 99th percentile, in µs.
    pub p99_us: f64,
    /// 99.9th percentile, in µs.
    pub p999_us: f64,
    /// Failed calls over the whole run (warm-up included).
    pub errors: u64,
    /// Good calls in the window.
    pub calls: u64,
    /// Heap allocations on the load thread per call (ringrpc's only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocs_per_call: Option<f64>,
    /// The process's CPU time per call, in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_call: Option<f64>,
    /// Latency buckets, `[ns, count]` (with `--hist`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hist: Vec<(u64, u64)>,
}

/// How long to wait for the calls in flight at the end of the window.
const GRACE: Duration = Duration::from_secs(2);

/// What the callers share (one core: `Cell`s).
struct Window {
    /// Replies from here on are recorded.
    from: Instant,
    /// No call starts from here on; replies before it are recorded.
    until: Instant,
    hist: RefCell<Histogram<u64>>,
    calls: Cell<u64>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Window {
    fn failed(&self, what: String) {
        self.errors.set(self.errors.get() + 1);
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(what);
        }
    }
}

/// The pool a load of `conns` calls in flight uses: the long pool keeps an
/// idle connection for every call in flight (Kitex's default of 10 would
/// close 90 of 100 connections after each call at 100 concurrency).
pub fn pool_kind(pool: ClientPool, conns: usize) -> PoolKind {
    match pool {
        ClientPool::Long => match PoolKind::long() {
            PoolKind::Long { idle_timeout, .. } => PoolKind::Long {
                max_idle_per_addr: conns.max(1),
                idle_timeout,
            },
            mux => mux,
        },
        ClientPool::Mux => PoolKind::mux(),
    }
}

/// The transport ringrpc's client sends for `t`.
pub fn transport(t: ClientTransport) -> Transport {
    match t {
        ClientTransport::Framed => Transport::Framed,
        ClientTransport::Ttheader => Transport::TtHeader,
    }
}

/// Runs the load; prints the JSON line.
pub fn run(a: ClientLoadArgs) -> std::io::Result<ExitCode> {
    let (line, first_error) = load(&a)?;
    println!(
        "{}",
        serde_json::to_string(&line).map_err(std::io::Error::other)?
    );
    if let Some(e) = first_error {
        eprintln!(
            "client-load: {} failed call(s); the first: {e}",
            line.errors
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the load on this thread (its allocations counted as the load's
/// from now on); returns the line and the first failure, if any.
fn load(a: &ClientLoadArgs) -> std::io::Result<(ClientLine, Option<String>)> {
    alloc::set_role(alloc::Role::Load);
    let builder = EchoServiceClient::builder()
        .target(a.addr)
        .transport(transport(a.transport))
        .pool(pool_kind(a.pool, a.conns))
        .connect_timeout(Duration::from_secs(1));
    let from = Instant::now() + crate::cli::secs(a.warmup);
    let w = Rc::new(Window {
        from,
        until: from + crate::cli::secs(a.secs),
        hist: RefCell::new(new_histogram()),
        calls: Cell::new(0),
        errors: Cell::new(0),
        first_error: RefCell::new(None),
    });
    let clock = CpuClock::process(std::process::id())?;
    let mut rt = ringrpc::engine::runtime::build_local(4096)?;
    let (allocs, cpu_ns) = rt.block_on(async {
        let client = Rc::new(EchoServiceClient::new(
            builder.build().map_err(std::io::Error::other)?,
        ));
        let msg = Utf8Bytes::from("x".repeat(a.size));
        let callers: Vec<_> = (0..a.conns.max(1))
            .map(|_| monoio::spawn(caller(client.clone(), msg.clone(), w.clone())))
            .collect();
        monoio::time::sleep_until(w.from.into()).await;
        let (a0, c0) = (alloc::snapshot(), clock.now_ns());
        monoio::time::sleep_until(w.until.into()).await;
        let (a1, c1) = (alloc::snapshot(), clock.now_ns());
        let all = async {
            for c in callers {
                c.await;
            }
        };
        let _ = monoio::time::timeout(GRACE, all).await;
        Ok::<_, std::io::Error>((a1.since(&a0).load_allocs, c1.saturating_sub(c0)))
    })?;
    let calls = w.calls.get();
    let hist = w.hist.borrow();
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    let per_call = |v: f64| if calls == 0 { 0.0 } else { v / calls as f64 };
    let line = ClientLine {
        qps: calls as f64 / crate::cli::secs(a.secs).as_secs_f64().max(1e-9),
        p50_us: q(0.50),
        p99_us: q(0.99),
        p999_us: q(0.999),
        errors: w.errors.get(),
        calls,
        allocs_per_call: Some(per_call(allocs as f64)),
        cpu_us_per_call: Some(per_call(cpu_ns as f64 / 1000.0)),
        hist: if a.hist { buckets(&hist) } else { Vec::new() },
    };
    Ok((line, w.first_error.borrow().clone()))
}

/// A histogram's recorded buckets as `[ns, count]` pairs.
pub fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// A histogram rebuilt from [`buckets`].
pub fn histogram_of(buckets: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &(ns, n) in buckets {
        let _ = h.record_n(ns.max(1), n);
    }
    h
}

/// One call in flight: calls until the window closes, records each good
/// reply that came inside the window.
async fn caller(client: Rc<EchoServiceClient>, msg: Utf8Bytes, w: Rc<Window>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::raw::tests::start_reply_server;

    #[test]
    fn the_line_has_the_examples_fields_first_and_extras_only_when_set() {
        let mut l = ClientLine {
            qps: 1.5,
            p50_us: 2.0,
            p99_us: 3.0,
            p999_us: 4.0,
            errors: 0,
            calls: 7,
            ..ClientLine::default()
        };
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"qps":1.5,"p50_us":2.0,"p99_us":3.0,"p999_us":4.0,"errors":0,"calls":7}"#
        );
        l.allocs_per_call = Some(1.0);
        l.hist = vec![(1000, 2)];
        let s = serde_json::to_string(&l).unwrap();
        assert!(
            s.ends_with(r#""calls":7,"allocs_per_call":1.0,"hist":[[1000,2]]}"#),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<ClientLine>(&s).unwrap(), l);
    }

    #[test]
    fn buckets_rebuild_the_histogram() {
        let mut h = new_histogram();
        for ns in [1_000, 1_000, 2_000, 150_000, 3_000_000_000] {
            h.record(ns).unwrap();
        }
        let b = buckets(&h);
        assert_eq!(b.iter().map(|&(_, n)| n).sum::<u64>(), 5);
        let back = histogram_of(&b);
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
    }

    #[test]
    fn the_long_pool_keeps_an_idle_connection_per_call_in_flight() {
        for (conns, idle) in [(100, 100), (1, 1), (0, 1)] {
            match pool_kind(ClientPool::Long, conns) {
                PoolKind::Long {
                    max_idle_per_addr, ..
                } => assert_eq!(max_idle_per_addr, idle),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(pool_kind(ClientPool::Mux, 100), PoolKind::mux());
    }

    #[test]
    fn ringrpcs_client_decodes_the_reply_servers_answers() {
        let addr = start_reply_server();
        for transport in [ClientTransport::Framed, ClientTransport::Ttheader] {
            let a = ClientLoadArgs {
                addr,
                conns: 4,
                size: 300,
                secs: 0.3,
                warmup: 0.0,
                transport,
                pool: ClientPool::Long,
                hist: true,
            };
            let (line, first_error) = load(&a).unwrap();
            assert_eq!((line.errors, first_error), (0, None), "{transport:?}");
            assert!(line.calls > 0, "{transport:?}");
            let recorded: u64 = line.hist.iter().map(|&(_, n)| n).sum();
            assert_eq!(recorded, line.calls, "every good call is in the histogram");
            assert!(line.p50_us > 0.0 && line.p50_us <= line.p99_us);
        }
    }
}
