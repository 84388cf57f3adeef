//! `compare`: the same load against ringrpc's echo server, Volo's, and the
//! raw echo ceiling, each in its own process pinned to the server cores,
//! in alternating runs (the order rotates every round, so a drift in the
//! machine's state spreads over all servers), at each payload size and
//! connection count. Reports the medians over rounds, the ratios
//! ringrpc/volo and ringrpc/raw, server CPU per request, and ringrpc's
//! heap allocations per request (its child reports them); with several
//! payload sizes, a plot of QPS against size per connection count.

use std::fmt::Write as _;
use std::process::Command;

use ringrpc::codec::thrift::MessageType;

use crate::cli::CompareArgs;
use crate::load::new_histogram;
use crate::measure::{self, Measurement, Probe, thousands};
use crate::peers::{self, ChildServer};
use crate::plot;
use crate::report::{self, us};

/// A server under comparison.
struct Target {
    server: ChildServer,
    expect: MessageType,
}

/// The medians of one server at one payload size and connection count.
#[derive(Debug, Clone, serde::Serialize)]
struct Summary {
    target: String,
    payload: usize,
    connections: usize,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    server_cpu_us_per_req: Option<f64>,
    server_allocs_per_req: Option<f64>,
    load_cpu_busy: f64,
    errors: u64,
}

/// The median (0 for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn summarise(target: &str, payload: usize, connections: usize, runs: &[&Measurement]) -> Summary {
    let f = |g: &dyn Fn(&Measurement) -> f64| median(runs.iter().map(|m| g(m)).collect());
    Summary {
        target: target.to_string(),
        payload,
        connections,
        qps: f(&|m| m.qps),
        p50_us: f(&|m| m.latency_us.p50),
        p99_us: f(&|m| m.latency_us.p99),
        p999_us: f(&|m| m.latency_us.p999),
        server_cpu_us_per_req: runs
            .iter()
            .all(|m| m.server_cpu_us_per_req.is_some())
            .then(|| f(&|m| m.server_cpu_us_per_req.unwrap_or(0.0))),
        server_allocs_per_req: runs
            .iter()
            .all(|m| m.server_allocs_per_req.is_some())
            .then(|| {
                runs.iter()
                    .map(|m| m.server_allocs_per_req.unwrap_or(0.0))
                    .fold(0.0, f64::max)
            }),
        load_cpu_busy: f(&|m| m.load_cpu_busy),
        errors: runs.iter().map(|m| m.errors.total()).sum(),
    }
}

/// Runs the comparison.
pub fn run(a: CompareArgs) -> std::io::Result<()> {
    let host = report::Host::probe();
    let exe = std::env::current_exe()?;
    let cores = a.load.server_cores.to_string();
    let first = a.load.server_first_core.to_string();
    let mut targets: Vec<Target> = Vec::new();
    let addr = peers::free_addr()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["serve", "--addr", &addr.to_string(), "--cores", &cores])
        .args(["--first-core", &first]);
    targets.push(Target {
        server: ChildServer::spawn_with_stats("ringrpc", cmd, addr)?,
        expect: MessageType::Reply,
    });
    if !a.skip_volo {
        let bin = peers::volo_binary(a.volo_bin.clone(), peers::VoloBin::Server)?;
        let addr = peers::free_addr()?;
        let mut cmd = Command::new(&bin);
        cmd.args(["--addr", &addr.to_string(), "--first-core", &first])
            .args(["--cores", &cores]);
        targets.push(Target {
            server: ChildServer::spawn("volo", cmd, addr)?,
            expect: MessageType::Reply,
        });
    }
    let addr = peers::free_addr()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["raw-server", "--addr", &addr.to_string(), "--cores", &cores])
        .args(["--first-core", &first]);
    targets.push(Target {
        server: ChildServer::spawn("raw", cmd, addr)?,
        expect: MessageType::Call,
    });

    let started = report::utc_stamp(std::time::SystemTime::now());
    let payloads = format!("{:?}", a.payload);
    let conns = format!("{:?}", a.connections);
    println!(
        "ringrpc-perf compare ({started} UTC): {}",
        a.load.describe(&payloads, &conns)
    );
    println!(
        "  servers: {}; {} round(s) of {} s (+{} s warm-up) each; {} CPUs, load average {:.2}",
        targets
            .iter()
            .map(|t| format!("{} (pid {})", t.server.name, t.server.pid()))
            .collect::<Vec<_>>()
            .join(", "),
        a.runs.rounds,
        a.runs.duration,
        a.runs.warmup,
        host.cpus,
        host.loadavg_1m
    );
    let opts = measure::Options {
        timing: crate::cli::timing(a.runs.warmup, a.runs.duration),
        progress: !a.load.no_progress,
        alloc_trace: false,
    };
    let mut runs: Vec<(usize, Measurement)> = Vec::new();
    for &payload in &a.payload {
        for &conns in &a.connections {
            for round in 0..a.runs.rounds.max(1) {
                for k in 0..targets.len() {
                    let t = &targets[(k + round) % targets.len()];
                    let spec = a.load.spec(t.server.addr, payload, conns, t.expect);
                    let label = format!("{} {payload}B c{conns} r{}", t.server.name, round + 1);
                    let mut m = measure::measure(&label, &spec, Probe::Child(&t.server), opts)?;
                    m.target = t.server.name.clone();
                    eprintln!(
                        "  {label:<24} {:>10} req/s  p50 {:>9}  p99 {:>9}  errors {}",
                        thousands(m.qps),
                        us(m.latency_us.p50),
                        us(m.latency_us.p99),
                        m.errors.total()
                    );
                    runs.push((payload, m));
                }
            }
        }
    }
    drop(targets);

    let names: Vec<&str> = ["ringrpc", "volo", "raw"]
        .into_iter()
        .filter(|n| *n != "volo" || !a.skip_volo)
        .collect();
    let mut summaries: Vec<Summary> = Vec::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:>8} {:>5}  {:<8} {:>11} {:>9} {:>9} {:>9} {:>12} {:>11} {:>9} {:>6}",
        "payload",
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
    let dir = report::results_dir(&a.load.results, &a.label)?;
    for &payload in &a.payload {
        for &conns in &a.connections {
            let mut by_name = Vec::new();
            for name in &names {
                let rs: Vec<&Measurement> = runs
                    .iter()
                    .filter(|(p, m)| *p == payload && m.target == *name && m.connections == conns)
                    .map(|(_, m)| m)
                    .collect();
                let s = summarise(name, payload, conns, &rs);
                let _ = writeln!(
                    out,
                    "{:>8} {:>5}  {:<8} {:>11} {:>9} {:>9} {:>9} {:>12} {:>11} {:>8.0}% {:>6}",
                    report::size(payload),
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
                        .map(|a| format!("{a:.3}"))
                        .unwrap_or_else(|| "n/a".into()),
                    s.load_cpu_busy * 100.0,
                    s.errors
                );
                let mut merged = new_histogram();
                for m in &rs {
                    let _ = merged.add(&m.hist);
                }
                by_name.push((s, merged));
            }
            let get = |n: &str| by_name.iter().find(|(s, _)| s.target == n).map(|(s, _)| s);
            if let Some(r) = get("ringrpc") {
                let _ = writeln!(out, "{:>16}  {}", "", ratios(r, get("volo"), get("raw")));
            }
            let series: Vec<plot::Series<'_>> = by_name
                .iter()
                .map(|(s, h)| plot::Series {
                    name: format!("{} ({} req/s)", s.target, thousands(s.qps)),
                    hist: h,
                })
                .collect();
            let suffix = if a.payload.len() > 1 {
                format!("-p{payload}-c{conns}")
            } else {
                format!("-c{conns}")
            };
            std::fs::write(
                dir.join(format!("latency{suffix}.svg")),
                plot::percentile_svg(
                    &format!("echo of {} B, {conns} connections", payload),
                    &series,
                ),
            )?;
            summaries.extend(by_name.into_iter().map(|(s, _)| s));
        }
    }
    if a.payload.len() > 1 {
        for &conns in &a.connections {
            let lines: Vec<plot::XySeries> = names
                .iter()
                .map(|n| plot::XySeries {
                    name: n.to_string(),
                    points: summaries
                        .iter()
                        .filter(|s| s.target == *n && s.connections == conns)
                        .map(|s| (s.payload as f64, s.qps))
                        .collect(),
                })
                .collect();
            std::fs::write(
                dir.join(format!("sweep-c{conns}.svg")),
                plot::sweep_svg(&format!("echo QPS by payload, {conns} connections"), &lines),
            )?;
        }
        let _ = writeln!(out, "\nringrpc against the others, by payload:");
        let _ = writeln!(
            out,
            "{:>8} {:>5}  {:>12} {:>12} {:>14} {:>14}",
            "payload", "conns", "ringrpc/volo", "ringrpc/raw", "CPU/req ring", "CPU/req volo"
        );
        for s in summaries.iter().filter(|s| s.target == "ringrpc") {
            let other = |n: &str| {
                summaries.iter().find(|o| {
                    o.target == n && o.payload == s.payload && o.connections == s.connections
                })
            };
            let ratio = |o: Option<&Summary>| {
                o.map(|o| format!("{:.2}x", s.qps / o.qps.max(1e-9)))
                    .unwrap_or_else(|| "n/a".into())
            };
            let _ = writeln!(
                out,
                "{:>8} {:>5}  {:>12} {:>12} {:>14} {:>14}",
                report::size(s.payload),
                s.connections,
                ratio(other("volo")),
                ratio(other("raw")),
                s.server_cpu_us_per_req
                    .map(us)
                    .unwrap_or_else(|| "n/a".into()),
                other("volo")
                    .and_then(|v| v.server_cpu_us_per_req)
                    .map(us)
                    .unwrap_or_else(|| "n/a".into()),
            );
        }
    }
    print!("{out}");
    report::write_json(
        &dir.join("compare.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf compare",
            "started_utc": started,
            "host": host,
            "load": a.load.describe(&payloads, &conns),
            "rounds": a.runs.rounds,
            "duration_s": a.runs.duration,
            "warmup_s": a.runs.warmup,
            "summary": summaries,
            "runs": runs.iter().map(|(p, m)| serde_json::json!({"payload": p, "run": m})).collect::<Vec<_>>(),
        }),
    )?;
    println!(
        "\nwrote {}/{{compare.json, latency-*.svg{}}}",
        dir.display(),
        if a.payload.len() > 1 {
            ", sweep-c*.svg"
        } else {
            ""
        }
    );
    Ok(())
}

/// `ringrpc/volo QPS 1.50×, p99 0.60×; ringrpc/raw QPS 85%`.
fn ratios(r: &Summary, volo: Option<&Summary>, raw: Option<&Summary>) -> String {
    let mut out = Vec::new();
    if let Some(v) = volo {
        out.push(format!(
            "ringrpc/volo QPS {:.2}×, p99 {:.2}×",
            r.qps / v.qps.max(1e-9),
            r.p99_us / v.p99_us.max(1e-9)
        ));
    }
    if let Some(w) = raw {
        out.push(format!(
            "ringrpc/raw QPS {:.0}%",
            100.0 * r.qps / w.qps.max(1e-9)
        ));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
