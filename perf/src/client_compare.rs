//! `client-compare`: ringrpc's client against Volo's, where `compare`
//! measures the servers. Half of what Kitex users run is the client, and a
//! service that calls three others spends more CPU in its clients than in
//! its server; the default command drives servers with a lean generator of
//! its own, which says nothing about ringrpc's client.
//!
//! One raw reply server (`raw-server --reply`: calls patched into replies,
//! nothing decoded; [`crate::peers::reply`]) runs pinned to the server core,
//! so the server costs the same for every client. Against it, in
//! alternating runs (the order rotates every round), each pinned to the load
//! core:
//! - **ringrpc**: `ringrpc-perf client-load` in a child process, the
//!   generated `EchoServiceClient` on one monoio core; it reports its
//!   allocations per call (perf's counting allocator) and its CPU time;
//! - **volo**: `volo-load` (`perf/volo-echo`), Volo's generated client on
//!   tokio's current-thread runtime, over Framed, or over Volo's default
//!   codec for TTHeader (TTHeader over Framed);
//! - **generator**: the harness's own minimal generator ([`crate::load`],
//!   in this process), which pre-encodes its calls and reads only reply
//!   headers: the floor a client is measured from.
//!
//! Both clients use a long pool with an idle connection kept for every call
//! in flight (Kitex's default of 10 idle per address would close 90 of 100
//! connections after every call at 100 concurrency); the table says so.
//! Reports medians over rounds per transport and concurrency, the ratios
//! ringrpc/volo and ringrpc/generator, client CPU and ringrpc's allocations
//! per call; writes `client-compare.json` and a latency plot per transport
//! and concurrency.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hdrhistogram::Histogram;
use ringrpc::codec::thrift::{MessageType, Protocol};
use ringrpc::codec::transport::Codec;

use crate::cli::{ClientCompareArgs, ClientPool, ClientTransport};
use crate::client_load::{self, ClientLine, histogram_of};
use crate::compare::median;
use crate::load::{LoadSpec, new_histogram};
use crate::load_child;
use crate::measure::{self, Probe, thousands};
use crate::peers::{self, ChildServer, VoloBin};
use crate::plot;
use crate::report::{self, us};
use crate::uring::UringMode;

/// The clients under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Ringrpc,
    Volo,
    Generator,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Ringrpc => "ringrpc",
            Client::Volo => "volo",
            Client::Generator => "generator",
        }
    }
}

/// One run of one client: what its JSON line said (children) or what was
/// measured here (the generator), and its latencies for the plots.
#[derive(Debug, Clone, serde::Serialize)]
struct ClientRun {
    client: &'static str,
    transport: &'static str,
    conns: usize,
    #[serde(flatten)]
    line: ClientLine,
    #[serde(skip)]
    hist: Histogram<u64>,
}

/// The medians of one client at one transport and concurrency.
#[derive(Debug, Clone, serde::Serialize)]
struct Summary {
    client: String,
    transport: String,
    conns: usize,
    pool: String,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    cpu_us_per_call: Option<f64>,
    cpu_busy: Option<f64>,
    allocs_per_call: Option<f64>,
    errors: u64,
    runs: usize,
}

fn transport_name(t: ClientTransport) -> &'static str {
    match t {
        ClientTransport::Framed => "framed",
        ClientTransport::Ttheader => "ttheader",
    }
}

/// What each client's connections are kept in, for the table.
fn pool_of(c: Client, pool: ClientPool, conns: usize) -> String {
    match (c, pool) {
        (Client::Ringrpc, ClientPool::Long) => format!("long, {} idle/addr", conns.max(1)),
        (Client::Ringrpc, ClientPool::Mux) => "mux, 1 conn".into(),
        (Client::Volo, _) => format!("long, {} idle/key", conns.max(1)),
        (Client::Generator, _) => format!("{} conns, no pool", conns.max(1)),
    }
}

/// Where and how the clients run.
struct Setup {
    exe: std::path::PathBuf,
    volo_bin: Option<std::path::PathBuf>,
    addr: SocketAddr,
    load_cpu: usize,
    clients: Vec<Client>,
}

/// Runs the comparison.
pub fn run(a: ClientCompareArgs) -> std::io::Result<()> {
    let host = report::Host::probe();
    let volo_bin = if a.skip_volo {
        None
    } else {
        Some(peers::volo_binary(a.volo_bin.clone(), VoloBin::Load)?)
    };
    let exe = std::env::current_exe()?;
    let addr = peers::free_addr()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["raw-server", "--reply", "--addr", &addr.to_string()])
        .args(["--cores", "1", "--first-core", &a.server_core.to_string()]);
    let server = ChildServer::spawn("raw-reply", cmd, addr)?;
    let mut clients = vec![Client::Ringrpc];
    if volo_bin.is_some() {
        clients.push(Client::Volo);
    }
    clients.push(Client::Generator);
    let setup = Setup {
        exe,
        volo_bin,
        addr,
        load_cpu: load_child::cpu_id(a.load_core),
        clients,
    };
    let started = report::utc_stamp(std::time::SystemTime::now());
    println!(
        "ringrpc-perf client-compare ({started} UTC): {} B echo, {:?} calls in flight, over {}",
        a.payload,
        a.conns,
        a.transport
            .iter()
            .map(|t| transport_name(*t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  clients: {} on CPU {}; raw reply server (pid {}) on core {}; {} round(s) of {} s (+{} s warm-up) each; {} CPUs, load average {:.2}",
        setup
            .clients
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        setup.load_cpu,
        server.pid(),
        a.server_core,
        a.runs.rounds,
        a.runs.duration,
        a.runs.warmup,
        host.cpus,
        host.loadavg_1m
    );
    println!(
        "  pools: an idle connection kept for every call in flight (Kitex's default of 10 idle per address would close 90 of 100 after every call at 100)"
    );
    let runs = run_rounds(&a, &setup);
    drop(server);

    let dir = report::results_dir(&a.results, &a.label)?;
    let (table, summaries, notes) = summarise_all(&a, &setup, &runs, &dir)?;
    print!("{table}");
    report::write_json(
        &dir.join("client-compare.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf client-compare",
            "started_utc": started,
            "host": host,
            "payload": a.payload,
            "conns": a.conns,
            "transports": a.transport.iter().map(|t| transport_name(*t)).collect::<Vec<_>>(),
            "server": "raw-server --reply (calls patched into replies, nothing decoded)",
            "server_core": a.server_core,
            "load_cpu": setup.load_cpu,
            "rounds": a.runs.rounds,
            "duration_s": a.runs.duration,
            "warmup_s": a.runs.warmup,
            "codecs": {
                "ringrpc": {"framed": "Framed", "ttheader": "TTHeader"},
                "volo": {"framed": "Framed", "ttheader": "TTHeader over Framed (Volo's default codec)"},
                "generator": {"framed": "Framed", "ttheader": "TTHeader"},
            },
            "notes": notes,
            "summary": summaries,
            "runs": runs,
        }),
    )?;
    println!(
        "\nwrote {}/{{client-compare.json, latency-*.svg}}",
        dir.display()
    );
    Ok(())
}

/// Every run: per transport and concurrency, `rounds` rounds of every
/// client in turn (the order rotates each round). A run that fails is said
/// on stderr and left out.
fn run_rounds(a: &ClientCompareArgs, setup: &Setup) -> Vec<ClientRun> {
    let limit = crate::cli::secs(a.runs.warmup + a.runs.duration) + Duration::from_secs(30);
    let clients = &setup.clients;
    let mut runs = Vec::new();
    for &transport in &a.transport {
        let tname = transport_name(transport);
        for &conns in &a.conns {
            for round in 0..a.runs.rounds.max(1) {
                for k in 0..clients.len() {
                    let c = clients[(k + round) % clients.len()];
                    let label = format!("{} {tname} c{conns} r{}", c.name(), round + 1);
                    let common = [
                        "--addr".to_string(),
                        setup.addr.to_string(),
                        "--conns".into(),
                        conns.to_string(),
                        "--size".into(),
                        a.payload.to_string(),
                        "--secs".into(),
                        a.runs.duration.to_string(),
                        "--warmup".into(),
                        a.runs.warmup.to_string(),
                        "--transport".into(),
                        tname.into(),
                        "--hist".into(),
                    ];
                    let line = match (c, &setup.volo_bin) {
                        (Client::Ringrpc, _) => {
                            let mut cmd = Command::new(&setup.exe);
                            cmd.arg("client-load").args(&common).args([
                                "--pool",
                                match a.pool {
                                    ClientPool::Long => "long",
                                    ClientPool::Mux => "mux",
                                },
                            ]);
                            load_child::pin(&mut cmd, setup.load_cpu);
                            load_child::run(&label, cmd, limit)
                        }
                        (Client::Volo, Some(bin)) => {
                            let mut cmd = Command::new(bin);
                            cmd.args(&common);
                            load_child::pin(&mut cmd, setup.load_cpu);
                            load_child::run(&label, cmd, limit)
                        }
                        (Client::Volo, None) => continue,
                        (Client::Generator, _) => {
                            generator(a, setup.addr, transport, conns, &label)
                        }
                    };
                    let mut line = match line {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("  {label:<26} failed: {e}");
                            continue;
                        }
                    };
                    eprintln!(
                        "  {label:<26} {:>10} calls/s  p50 {:>9}  p99 {:>9}  errors {}",
                        thousands(line.qps),
                        us(line.p50_us),
                        us(line.p99_us),
                        line.errors
                    );
                    let hist = histogram_of(&std::mem::take(&mut line.hist));
                    runs.push(ClientRun {
                        client: c.name(),
                        transport: tname,
                        conns,
                        line,
                        hist,
                    });
                }
            }
        }
    }
    runs
}

/// The table (with the ratio lines and the notes on the targets), the
/// medians, and a latency plot per transport and concurrency in `dir`.
fn summarise_all(
    a: &ClientCompareArgs,
    setup: &Setup,
    runs: &[ClientRun],
    dir: &std::path::Path,
) -> std::io::Result<(String, Vec<Summary>, Vec<String>)> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:>9} {:>5}  {:<10} {:<20} {:>11} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8} {:>6}",
        "transport",
        "conns",
        "client",
        "pool",
        "QPS",
        "p50",
        "p99",
        "p99.9",
        "CPU/call",
        "allocs/call",
        "load CPU",
        "errors"
    );
    let mut summaries: Vec<Summary> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for &transport in &a.transport {
        let tname = transport_name(transport);
        for &conns in &a.conns {
            let mut rows: Vec<(Summary, Histogram<u64>)> = Vec::new();
            for &c in &setup.clients {
                let rs: Vec<&ClientRun> = runs
                    .iter()
                    .filter(|r| r.client == c.name() && r.transport == tname && r.conns == conns)
                    .collect();
                let s = summarise(c, a.pool, tname, conns, &rs);
                let _ = writeln!(
                    out,
                    "{:>9} {:>5}  {:<10} {:<20} {:>11} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8} {:>6}",
                    tname,
                    conns,
                    s.client,
                    s.pool,
                    thousands(s.qps),
                    us(s.p50_us),
                    us(s.p99_us),
                    us(s.p999_us),
                    s.cpu_us_per_call.map(us).unwrap_or_else(|| "n/a".into()),
                    s.allocs_per_call
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or_else(|| "n/a".into()),
                    s.cpu_busy
                        .map(|b| format!("{:.0}%", b * 100.0))
                        .unwrap_or_else(|| "n/a".into()),
                    s.errors
                );
                let mut merged = new_histogram();
                for r in &rs {
                    let _ = merged.add(&r.hist);
                }
                rows.push((s, merged));
            }
            let get = |n: Client| rows.iter().map(|(s, _)| s).find(|s| s.client == n.name());
            if let Some(r) = get(Client::Ringrpc) {
                let line = ratios(r, get(Client::Volo), get(Client::Generator));
                let _ = writeln!(out, "{:>17}  {line}", "");
                if conns == 1
                    && let Some(g) = get(Client::Generator).filter(|g| g.runs > 0)
                {
                    notes.push(format!(
                        "{tname}, 1 call in flight: the client adds {:+.0} % latency (p50) over the minimal generator (target: at most +10 %)",
                        added_latency(r, g)
                    ));
                }
            }
            let series: Vec<plot::Series<'_>> = rows
                .iter()
                .filter(|(s, _)| s.runs > 0)
                .map(|(s, h)| plot::Series {
                    name: format!("{} ({} calls/s)", s.client, thousands(s.qps)),
                    hist: h,
                })
                .collect();
            std::fs::write(
                dir.join(format!("latency-{tname}-c{conns}.svg")),
                plot::percentile_svg(
                    &format!(
                        "clients, {tname}, echo of {} B, {conns} calls in flight",
                        a.payload
                    ),
                    &series,
                ),
            )?;
            summaries.extend(rows.into_iter().map(|(s, _)| s));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out);
    }
    for n in &notes {
        let _ = writeln!(out, "{n}");
    }
    Ok((out, summaries, notes))
}

/// The harness's own generator as a client: `conns` connections with one
/// call in flight each, expecting replies, on the load core.
fn generator(
    a: &ClientCompareArgs,
    addr: SocketAddr,
    transport: ClientTransport,
    conns: usize,
    label: &str,
) -> std::io::Result<ClientLine> {
    let spec = LoadSpec {
        addr,
        codec: Codec {
            transport: client_load::transport(transport),
            protocol: Protocol::Binary,
        },
        payload: a.payload,
        connections: conns.max(1),
        depth: 1,
        rate: None,
        cores: 1,
        first_core: a.load_core,
        expect: MessageType::Reply,
        uring: UringMode::Coop,
        tls: None,
    };
    let opts = measure::Options {
        timing: crate::cli::timing(a.runs.warmup, a.runs.duration),
        progress: !a.no_progress,
        alloc_trace: false,
    };
    let m = measure::measure(label, &spec, Probe::None, opts)?;
    Ok(ClientLine {
        qps: m.qps,
        p50_us: m.latency_us.p50,
        p99_us: m.latency_us.p99,
        p999_us: m.latency_us.p999,
        errors: m.errors.total(),
        calls: m.ok,
        allocs_per_call: Some(m.load_allocs_per_req),
        cpu_us_per_call: Some(m.load_cpu_us_per_req),
        hist: client_load::buckets(&m.hist),
    })
}

fn summarise(
    c: Client,
    pool: ClientPool,
    transport: &str,
    conns: usize,
    runs: &[&ClientRun],
) -> Summary {
    let f = |g: &dyn Fn(&ClientLine) -> f64| median(runs.iter().map(|r| g(&r.line)).collect());
    let opt = |g: &dyn Fn(&ClientLine) -> Option<f64>| {
        (!runs.is_empty() && runs.iter().all(|r| g(&r.line).is_some()))
            .then(|| median(runs.iter().filter_map(|r| g(&r.line)).collect()))
    };
    let qps = f(&|r| r.qps);
    let cpu = opt(&|r| r.cpu_us_per_call);
    Summary {
        client: c.name().into(),
        transport: transport.into(),
        conns,
        pool: pool_of(c, pool, conns),
        qps,
        p50_us: f(&|r| r.p50_us),
        p99_us: f(&|r| r.p99_us),
        p999_us: f(&|r| r.p999_us),
        cpu_us_per_call: cpu,
        cpu_busy: cpu.map(|c| c * qps / 1e6),
        allocs_per_call: opt(&|r| r.allocs_per_call),
        errors: runs.iter().map(|r| r.line.errors).sum(),
        runs: runs.len(),
    }
}

/// How much more latency (p50, in %) ringrpc's client takes than the
/// generator.
fn added_latency(ringrpc: &Summary, generator: &Summary) -> f64 {
    100.0 * (ringrpc.p50_us / generator.p50_us.max(1e-9) - 1.0)
}

/// `ringrpc/volo QPS 1.50× (≥ 1.5), p99 0.60× (≤ 0.67); ringrpc/generator QPS 80 %, p50 +12 %`.
fn ratios(r: &Summary, volo: Option<&Summary>, generator: Option<&Summary>) -> String {
    let mut out = Vec::new();
    if let Some(v) = volo.filter(|v| v.runs > 0) {
        out.push(format!(
            "ringrpc/volo QPS {:.2}× (target ≥ 1.5), p99 {:.2}× (target ≤ 0.67)",
            r.qps / v.qps.max(1e-9),
            r.p99_us / v.p99_us.max(1e-9)
        ));
    }
    if let Some(g) = generator.filter(|g| g.runs > 0) {
        out.push(format!(
            "ringrpc/generator QPS {:.0} %, p50 {:+.0} %",
            100.0 * r.qps / g.qps.max(1e-9),
            added_latency(r, g)
        ));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_latency_and_ratios_read_as_the_targets() {
        let s = |client: &str, qps: f64, p50: f64, p99: f64| Summary {
            client: client.into(),
            transport: "framed".into(),
            conns: 100,
            pool: String::new(),
            qps,
            p50_us: p50,
            p99_us: p99,
            p999_us: p99,
            cpu_us_per_call: None,
            cpu_busy: None,
            allocs_per_call: None,
            errors: 0,
            runs: 1,
        };
        let r = s("ringrpc", 150.0, 11.0, 60.0);
        let v = s("volo", 100.0, 20.0, 100.0);
        let g = s("generator", 200.0, 10.0, 50.0);
        assert!((added_latency(&r, &g) - 10.0).abs() < 1e-9);
        assert_eq!(
            ratios(&r, Some(&v), Some(&g)),
            "ringrpc/volo QPS 1.50× (target ≥ 1.5), p99 0.60× (target ≤ 0.67); ringrpc/generator QPS 75 %, p50 +10 %"
        );
        let no_runs = Summary { runs: 0, ..v };
        assert!(!ratios(&r, Some(&no_runs), None).contains("volo"));
    }
}
