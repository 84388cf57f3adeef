//! `grpc`: ringrpc's gRPC server against tonic's, both serving
//! `perf/echo.proto` from a child process pinned to the same server core,
//! in alternating rounds (the order rotates every round, as in `compare`).
//!
//! - **Unary**: a closed loop of 1 KiB echoes over N connections from the
//!   load core: the harness's own HTTP/2 client ([`h2gen`], the default:
//!   one h2load thread tops out below what one server core answers here)
//!   or nghttp2's h2load ([`h2load`], `--load h2load`); QPS, latency
//!   percentiles, server CPU per request, the load's own CPU.
//! - **Streaming**: one server-streaming call of fixed-size messages read
//!   by the harness's client ([`client`]) on the load core: messages per
//!   second and server CPU per message.
//!
//! Before every run the server is checked with a real unary call and a
//! short stream, each to its `grpc-status: 0` ([`client::check`]), since
//! h2load counts any HTTP 200 as a success (the own load checks every
//! reply's `grpc-status`). Medians over rounds are
//! reported, with the ratios ringrpc/tonic; the runs, medians and latency
//! plots go to `results/<stamp>-grpc/`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;

use crate::cli::{GrpcArgs, GrpcLoad};
use crate::compare::median;
use crate::load::new_histogram;
use crate::measure::{Latency, thousands};
use crate::peers::{self, ChildServer};
use crate::plot;
use crate::report::{self, us};

pub mod client;
pub mod h2gen;
pub mod h2load;
pub mod wire;

/// The first failure of a load thread, for the thread timing it.
#[derive(Debug, Default)]
pub struct Failure(std::sync::Mutex<Option<String>>);

impl Failure {
    /// Keeps `why` unless a failure is kept already.
    pub fn set(&self, why: String) {
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(why);
    }

    /// The failure kept, if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a run reads at each end of its measurement window: the time, its
/// own count of calls or messages, and the server's and the load's CPU
/// clocks and the server's allocation counter, where there are.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    at: std::time::Instant,
    count: u64,
    server_cpu_ns: Option<u64>,
    load_cpu_ns: Option<u64>,
    server_allocs: Option<u64>,
}

impl Mark {
    /// Seconds from `earlier` to this mark.
    pub fn at_secs_since(&self, earlier: &Mark) -> f64 {
        self.at.duration_since(earlier.at).as_secs_f64()
    }

    /// Reads the clocks now.
    pub fn take(
        count: u64,
        server: Option<&ChildServer>,
        load: Option<crate::cpu::CpuClock>,
    ) -> Mark {
        Mark {
            at: std::time::Instant::now(),
            count,
            server_cpu_ns: server.and_then(|s| s.clock).map(|c| c.now_ns()),
            load_cpu_ns: load.map(|c| c.now_ns()),
            server_allocs: server.and_then(|s| s.allocs()).map(|(n, _)| n),
        }
    }
}

/// The figures of a window between two marks, per unit of `count` (calls
/// or messages).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Wall time, in seconds.
    pub secs: f64,
    /// Calls or messages in the window.
    pub count: f64,
    /// Server CPU per unit, in microseconds.
    pub server_cpu_us_per: Option<f64>,
    /// Server CPU over wall time.
    pub server_cpu_busy: Option<f64>,
    /// Server heap allocations per unit.
    pub server_allocs_per: Option<f64>,
    /// The load's CPU over wall time.
    pub load_cpu_busy: Option<f64>,
}

impl Window {
    /// Between `a` and `b`, counting what the marks counted.
    pub fn between(a: &Mark, b: &Mark) -> Window {
        Self::with_count(a, b, b.count.saturating_sub(a.count) as f64)
    }

    /// Between `a` and `b`, with `count` units in it (a load that counts
    /// by itself, such as h2load).
    pub fn with_count(a: &Mark, b: &Mark, count: f64) -> Window {
        let secs = b.at_secs_since(a);
        let diff = |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x?) as f64);
        let server_ns = diff(a.server_cpu_ns, b.server_cpu_ns);
        let per = |v: Option<f64>| v.filter(|_| count > 0.0).map(|v| v / count);
        let busy = |ns: Option<f64>| ns.filter(|_| secs > 0.0).map(|ns| ns / 1e9 / secs);
        Window {
            secs,
            count,
            server_cpu_us_per: per(server_ns).map(|ns| ns / 1000.0),
            server_cpu_busy: busy(server_ns),
            server_allocs_per: per(diff(a.server_allocs, b.server_allocs)),
            load_cpu_busy: busy(diff(a.load_cpu_ns, b.load_cpu_ns)),
        }
    }

    /// Units per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.count / self.secs
        } else {
            0.0
        }
    }
}

/// One unary run.
#[derive(Debug, Clone, serde::Serialize)]
struct UnaryRun {
    target: String,
    round: usize,
    connections: usize,
    streams: usize,
    qps: f64,
    latency_us: Latency,
    server_cpu_us_per_req: Option<f64>,
    server_cpu_busy: Option<f64>,
    server_allocs_per_req: Option<f64>,
    load_cpu_busy: Option<f64>,
    /// Requests not answered with a good echo (h2load: not with 2xx).
    errors: u64,
    /// Lines of h2load's log without a 2xx status.
    log_non_2xx: u64,
    /// h2load's summary (none under the own load).
    summary: Option<h2load::Summary>,
    #[serde(skip)]
    hist: hdrhistogram::Histogram<u64>,
}

/// One streaming run.
#[derive(Debug, Clone, serde::Serialize)]
struct StreamRun {
    target: String,
    round: usize,
    size: usize,
    #[serde(flatten)]
    run: client::StreamRun,
}

/// The medians of one server's unary runs at one connection count.
#[derive(Debug, Clone, serde::Serialize)]
struct UnarySummary {
    target: String,
    connections: usize,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    server_cpu_us_per_req: Option<f64>,
    server_allocs_per_req: Option<f64>,
    load_cpu_busy: Option<f64>,
    errors: u64,
}

/// The medians of one server's streaming runs.
#[derive(Debug, Clone, serde::Serialize)]
struct StreamSummary {
    target: String,
    msgs_per_s: f64,
    mib_per_s: f64,
    server_cpu_us_per_msg: Option<f64>,
    server_allocs_per_msg: Option<f64>,
    server_cpu_busy: Option<f64>,
    client_cpu_busy: f64,
}

/// The median of `f` over runs, `None` when any run lacks it.
fn median_of<T>(runs: &[&T], f: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    let v: Option<Vec<f64>> = runs.iter().map(|r| f(r)).collect();
    v.filter(|v| !v.is_empty()).map(median)
}

/// The servers of the comparison, each started and checked.
fn start_servers(a: &GrpcArgs) -> std::io::Result<Vec<ChildServer>> {
    let core = a.server_core.to_string();
    let mut servers = Vec::new();
    if !a.skip_ringrpc {
        let addr = peers::free_addr()?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["serve", "--grpc", "--addr", &addr.to_string()])
            .args(["--cores", "1", "--first-core", &core]);
        servers.push(ChildServer::spawn_with_stats("ringrpc", cmd, addr)?);
    }
    if !a.skip_tonic {
        let bin = peers::tonic_binary(a.tonic_bin.clone())?;
        let addr = peers::free_addr()?;
        let mut cmd = Command::new(&bin);
        cmd.args(["--addr", &addr.to_string(), "--first-core", &core]);
        servers.push(ChildServer::spawn("tonic", cmd, addr)?);
    }
    if servers.is_empty() {
        return Err(std::io::Error::other(
            "--skip-ringrpc and --skip-tonic leave nothing to measure",
        ));
    }
    for s in &servers {
        check(s, a.payload)?;
    }
    Ok(servers)
}

/// The echo check, with the server's name on a failure.
fn check(s: &ChildServer, payload: usize) -> std::io::Result<()> {
    client::check(s.addr, payload).map_err(|e| {
        std::io::Error::other(format!(
            "{} ({}) does not echo over gRPC: {e}",
            s.name, s.addr
        ))
    })
}

/// Runs the comparison.
pub fn run(a: GrpcArgs) -> std::io::Result<()> {
    let host = report::Host::probe();
    let load = match a.load {
        _ if a.skip_unary => String::new(),
        GrpcLoad::Builtin => "ringrpc-perf's HTTP/2 load".to_string(),
        GrpcLoad::H2load => h2load::probe(&a.h2load)?,
    };
    let servers = start_servers(&a)?;
    let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    let started = report::utc_stamp(std::time::SystemTime::now());
    let load_cpu = crate::load_child::cpu_id(a.load_core);
    let rounds = a.runs.rounds.max(1);
    let timing = crate::cli::timing(a.runs.warmup, a.runs.duration);
    println!(
        "ringrpc-perf grpc ({started} UTC): unary {} B echo over {:?} connections × {} streams ({}), stream of {} B messages; server core {}, load core {}",
        a.payload,
        a.connections,
        a.streams,
        if load.is_empty() {
            "none"
        } else {
            load.as_str()
        },
        a.stream_size,
        a.server_core,
        a.load_core,
    );
    println!(
        "  servers: {}; {rounds} round(s) of {} s (+{} s warm-up) each; {} CPUs, load average {:.2}{}",
        servers
            .iter()
            .map(|s| format!("{} (pid {})", s.name, s.pid()))
            .collect::<Vec<_>>()
            .join(", "),
        a.runs.duration,
        a.runs.warmup,
        host.cpus,
        host.loadavg_1m,
        if host.loadavg_1m > 1.0 {
            " (busy machine: expect noise)"
        } else {
            ""
        }
    );

    let work = std::env::temp_dir().join(format!("ringrpc-perf-grpc-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let body_file = work.join("echo.bin");
    std::fs::write(&body_file, wire::echo_request(&vec![b'x'; a.payload]))?;
    let out = measure_all(&a, &servers, &body_file, &work, load_cpu, timing);
    let _ = std::fs::remove_dir_all(&work);
    let (unary, streams) = out?;
    drop(servers);

    let dir = report::results_dir(&a.results, &a.label)?;
    let mut text = String::new();
    let mut unary_summaries = Vec::new();
    if !a.skip_unary {
        let _ = writeln!(
            text,
            "\nunary {} echo ({}, {} in flight per connection):\n{:>5}  {:<8} {:>11} {:>9} {:>9} {:>9} {:>12} {:>11} {:>9} {:>7}",
            report::size(a.payload),
            load,
            a.streams,
            "conns",
            "server",
            "QPS",
            "p50",
            "p99",
            "p99.9",
            "srv CPU/req",
            "allocs/req",
            "load CPU",
            "errors"
        );
        for &conns in &a.connections {
            let mut series = Vec::new();
            for name in &names {
                let rs: Vec<&UnaryRun> = unary
                    .iter()
                    .filter(|r| &r.target == name && r.connections == conns)
                    .collect();
                let s = UnarySummary {
                    target: name.clone(),
                    connections: conns,
                    qps: median_of(&rs, |r| Some(r.qps)).unwrap_or(0.0),
                    p50_us: median_of(&rs, |r| Some(r.latency_us.p50)).unwrap_or(0.0),
                    p99_us: median_of(&rs, |r| Some(r.latency_us.p99)).unwrap_or(0.0),
                    p999_us: median_of(&rs, |r| Some(r.latency_us.p999)).unwrap_or(0.0),
                    server_cpu_us_per_req: median_of(&rs, |r| r.server_cpu_us_per_req),
                    server_allocs_per_req: median_of(&rs, |r| r.server_allocs_per_req),
                    load_cpu_busy: median_of(&rs, |r| r.load_cpu_busy),
                    errors: rs.iter().map(|r| r.errors).sum(),
                };
                let _ = writeln!(
                    text,
                    "{:>5}  {:<8} {:>11} {:>9} {:>9} {:>9} {:>12} {:>11} {:>9} {:>7}",
                    conns,
                    name,
                    thousands(s.qps),
                    us(s.p50_us),
                    us(s.p99_us),
                    us(s.p999_us),
                    s.server_cpu_us_per_req
                        .map(us)
                        .unwrap_or_else(|| "n/a".into()),
                    s.server_allocs_per_req
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or_else(|| "n/a".into()),
                    s.load_cpu_busy
                        .map(|b| format!("{:.0}%", b * 100.0))
                        .unwrap_or_else(|| "n/a".into()),
                    s.errors
                );
                let mut merged = new_histogram();
                for r in &rs {
                    let _ = merged.add(&r.hist);
                }
                series.push((format!("{name} ({} req/s)", thousands(s.qps)), merged));
                unary_summaries.push(s);
            }
            let get = |n: &str| {
                unary_summaries
                    .iter()
                    .find(|s| s.target == n && s.connections == conns)
            };
            if let (Some(r), Some(t)) = (get("ringrpc"), get("tonic")) {
                let _ = writeln!(
                    text,
                    "{:>15} ringrpc/tonic QPS {:.2}×, p99 {:.2}×, CPU/req {}",
                    "",
                    r.qps / t.qps.max(1e-9),
                    r.p99_us / t.p99_us.max(1e-9),
                    match (r.server_cpu_us_per_req, t.server_cpu_us_per_req) {
                        (Some(x), Some(y)) => format!("{:.2}×", x / y.max(1e-9)),
                        _ => "n/a".into(),
                    }
                );
            }
            let series: Vec<plot::Series<'_>> = series
                .iter()
                .map(|(name, hist)| plot::Series {
                    name: name.clone(),
                    hist,
                })
                .collect();
            std::fs::write(
                dir.join(format!("latency-c{conns}.svg")),
                plot::percentile_svg(
                    &format!(
                        "gRPC unary echo of {} B, {conns} connections ({load})",
                        a.payload
                    ),
                    &series,
                ),
            )?;
        }
    }
    let mut stream_summaries = Vec::new();
    if !a.skip_stream {
        let _ = writeln!(
            text,
            "\none server-streaming call of {} messages:\n       {:<8} {:>12} {:>10} {:>12} {:>11} {:>9} {:>10}",
            report::size(a.stream_size),
            "server",
            "msgs/s",
            "MiB/s",
            "srv CPU/msg",
            "allocs/msg",
            "srv CPU",
            "client CPU"
        );
        for name in &names {
            let rs: Vec<&client::StreamRun> = streams
                .iter()
                .filter(|r| &r.target == name)
                .map(|r| &r.run)
                .collect();
            let s = StreamSummary {
                target: name.clone(),
                msgs_per_s: median_of(&rs, |r| Some(r.msgs_per_s)).unwrap_or(0.0),
                mib_per_s: median_of(&rs, |r| Some(r.mib_per_s)).unwrap_or(0.0),
                server_cpu_us_per_msg: median_of(&rs, |r| r.server_cpu_us_per_msg),
                server_allocs_per_msg: median_of(&rs, |r| r.server_allocs_per_msg),
                server_cpu_busy: median_of(&rs, |r| r.server_cpu_busy),
                client_cpu_busy: median_of(&rs, |r| Some(r.client_cpu_busy)).unwrap_or(0.0),
            };
            let _ = writeln!(
                text,
                "       {:<8} {:>12} {:>10.1} {:>12} {:>11} {:>9} {:>9.0}%",
                name,
                thousands(s.msgs_per_s),
                s.mib_per_s,
                s.server_cpu_us_per_msg
                    .map(|v| format!("{:.3} µs", v))
                    .unwrap_or_else(|| "n/a".into()),
                s.server_allocs_per_msg
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "n/a".into()),
                s.server_cpu_busy
                    .map(|b| format!("{:.0}%", b * 100.0))
                    .unwrap_or_else(|| "n/a".into()),
                s.client_cpu_busy * 100.0,
            );
            stream_summaries.push(s);
        }
        let get = |n: &str| stream_summaries.iter().find(|s| s.target == n);
        if let (Some(r), Some(t)) = (get("ringrpc"), get("tonic")) {
            let _ = writeln!(
                text,
                "       ringrpc/tonic msgs/s {:.2}×, CPU/msg {}",
                r.msgs_per_s / t.msgs_per_s.max(1e-9),
                match (r.server_cpu_us_per_msg, t.server_cpu_us_per_msg) {
                    (Some(x), Some(y)) => format!("{:.2}×", x / y.max(1e-9)),
                    _ => "n/a".into(),
                }
            );
        }
    }
    print!("{text}");
    report::write_json(
        &dir.join("grpc.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf grpc",
            "started_utc": started,
            "host": host,
            "load": load,
            "payload": a.payload,
            "connections": a.connections,
            "streams_per_connection": a.streams,
            "stream_size": a.stream_size,
            "server_core": a.server_core,
            "load_core": a.load_core,
            "rounds": rounds,
            "duration_s": a.runs.duration,
            "warmup_s": a.runs.warmup,
            "unary": unary_summaries,
            "stream": stream_summaries,
            "unary_runs": unary,
            "stream_runs": streams,
        }),
    )?;
    println!(
        "\nwrote {}/{{grpc.json{}}}",
        dir.display(),
        if a.skip_unary { "" } else { ", latency-c*.svg" }
    );
    let failed: u64 = unary.iter().map(|r| r.errors).sum();
    if failed > 0 {
        eprintln!("ringrpc-perf grpc: {failed} requests were not answered with a good echo");
    }
    Ok(())
}

/// Every run, in rotating order: unary at each connection count, then
/// streaming; each after a fresh echo check of its server.
fn measure_all(
    a: &GrpcArgs,
    servers: &[ChildServer],
    body_file: &std::path::Path,
    work: &std::path::Path,
    load_cpu: usize,
    timing: crate::measure::Timing,
) -> std::io::Result<(Vec<UnaryRun>, Vec<StreamRun>)> {
    let rounds = a.runs.rounds.max(1);
    let mut unary = Vec::new();
    if !a.skip_unary {
        for &conns in &a.connections {
            for round in 0..rounds {
                for k in 0..servers.len() {
                    let s = &servers[(k + round) % servers.len()];
                    check(s, a.payload)?;
                    let run = match a.load {
                        GrpcLoad::Builtin => own_load(a, s, conns, round, load_cpu, timing)?,
                        GrpcLoad::H2load => {
                            let spec = h2load::H2LoadSpec {
                                bin: a.h2load.clone(),
                                uri: uri(s.addr, client::ECHO),
                                body_file: body_file.to_path_buf(),
                                log_file: work.join("requests.tsv"),
                                connections: conns.max(1),
                                streams: a.streams.max(1),
                                warmup: timing.warmup,
                                duration: timing.duration,
                                cpu: load_cpu,
                            };
                            let r = h2load::run(&spec, s)?;
                            // h2load's own counts (its log may end with a
                            // request cut off by the end of the window,
                            // with no status).
                            let errors = r.summary.failed
                                + r.summary.errored
                                + r.summary.timeout
                                + r.summary.status_other;
                            UnaryRun {
                                target: s.name.clone(),
                                round: round + 1,
                                connections: conns,
                                streams: a.streams,
                                qps: r.summary.req_per_s,
                                latency_us: Latency::of(&r.hist),
                                server_cpu_us_per_req: r.server_cpu_us_per_req,
                                server_cpu_busy: r.server_cpu_busy,
                                server_allocs_per_req: r.server_allocs_per_req,
                                load_cpu_busy: r.load_cpu_busy,
                                errors,
                                log_non_2xx: r.log_non_2xx,
                                summary: Some(r.summary),
                                hist: r.hist,
                            }
                        }
                    };
                    eprintln!(
                        "  {:<18} {:>10} req/s  p50 {:>9}  p99 {:>9}  srv CPU/req {:>9}  load CPU {:>4}  errors {}",
                        format!("{} c{conns} r{}", s.name, round + 1),
                        thousands(run.qps),
                        us(run.latency_us.p50),
                        us(run.latency_us.p99),
                        run.server_cpu_us_per_req
                            .map(us)
                            .unwrap_or_else(|| "n/a".into()),
                        run.load_cpu_busy
                            .map(|b| format!("{:.0}%", b * 100.0))
                            .unwrap_or_else(|| "n/a".into()),
                        run.errors
                    );
                    unary.push(run);
                }
            }
        }
    }
    let mut streams = Vec::new();
    if !a.skip_stream {
        for round in 0..rounds {
            for k in 0..servers.len() {
                let s = &servers[(k + round) % servers.len()];
                check(s, a.stream_size)?;
                let run = client::stream(s.addr, Some(s), a.stream_size, timing, load_cpu)?;
                eprintln!(
                    "  {:<18} {:>10} msgs/s  {:>8.1} MiB/s  srv CPU/msg {:>9}  client CPU {:.0}%",
                    format!("{} stream r{}", s.name, round + 1),
                    thousands(run.msgs_per_s),
                    run.mib_per_s,
                    run.server_cpu_us_per_msg
                        .map(|v| format!("{v:.3} µs"))
                        .unwrap_or_else(|| "n/a".into()),
                    run.client_cpu_busy * 100.0
                );
                streams.push(StreamRun {
                    target: s.name.clone(),
                    round: round + 1,
                    size: a.stream_size,
                    run,
                });
            }
        }
    }
    Ok((unary, streams))
}

/// One unary run under the harness's own HTTP/2 load.
fn own_load(
    a: &GrpcArgs,
    s: &ChildServer,
    conns: usize,
    round: usize,
    load_cpu: usize,
    timing: crate::measure::Timing,
) -> std::io::Result<UnaryRun> {
    let spec = h2gen::GenSpec {
        addr: s.addr,
        path: client::ECHO.to_string(),
        body: wire::echo_request(&vec![b'x'; a.payload]),
        reply_len: wire::echo_message_len(a.payload) + wire::PREFIX,
        connections: conns.max(1),
        streams: a.streams.max(1),
        timing,
        cpu: load_cpu,
    };
    let r = h2gen::run(&spec, Some(s))?;
    Ok(UnaryRun {
        target: s.name.clone(),
        round: round + 1,
        connections: conns,
        streams: a.streams,
        qps: r.qps,
        latency_us: Latency::of(&r.hist),
        server_cpu_us_per_req: r.server_cpu_us_per_req,
        server_cpu_busy: r.server_cpu_busy,
        server_allocs_per_req: r.server_allocs_per_req,
        load_cpu_busy: r.load_cpu_busy,
        errors: r.errors,
        log_non_2xx: 0,
        summary: None,
        hist: r.hist,
    })
}

/// `http://ADDR/PATH` (h2load speaks cleartext HTTP/2 to an `http` URI).
fn uri(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}
