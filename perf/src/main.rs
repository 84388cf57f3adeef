//! ringrpc's benchmark harness.
//!
//! ```text
//! cargo run --release -p ringrpc-perf                 # embedded echo server, 100 conns, ~12 s
//! cargo run --release -p ringrpc-perf -- --help       # options (payload, transport, depth, rate, ...)
//! cargo run --release -p ringrpc-perf -- compare      # ringrpc vs Volo vs raw echo, at 1/16/100 conns
//! cargo run --release -p ringrpc-perf -- client-compare   # ringrpc's client vs Volo's, against a raw reply server
//! cargo run --release -p ringrpc-perf -- grpc         # gRPC: ringrpc vs tonic, unary echoes and a server stream
//! cargo run --release -p ringrpc-perf -- --alloc-trace --duration 2   # where the server allocates
//! ```
//!
//! The server runs on core 0 and the load on core 1 by default. The load
//! generator ([`load`]) is its own lean client (pre-encoded frames, reply
//! headers checked, bodies not decoded), so it is not what gets measured;
//! `compare` shows its ceiling against a raw echo server. Results go to
//! `results/<UTC timestamp>/` (git-ignored): `report.json`, `latency.svg`
//! and `latency.hgrm`.

use std::process::ExitCode;

use clap::Parser;
use ringrpc::codec::thrift::MessageType;

mod alloc;
mod cli;
mod client_compare;
mod client_load;
mod compare;
mod cpu;
mod grpc;
mod load;
mod load_child;
mod measure;
mod mem;
mod peers;
mod plot;
mod report;
mod tls;
mod uring;

#[global_allocator]
static GLOBAL: alloc::CountingAlloc = alloc::CountingAlloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let done = |r: std::io::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let out = match cli.cmd {
        None => done(run(cli.run)),
        Some(cli::Cmd::Compare(a)) => done(compare::run(a)),
        Some(cli::Cmd::ClientCompare(a)) => done(client_compare::run(a)),
        Some(cli::Cmd::Mem(a)) => done(mem::run(a)),
        Some(cli::Cmd::Tls(a)) => done(tls::run(a)),
        Some(cli::Cmd::Grpc(a)) => done(grpc::run(a)),
        Some(cli::Cmd::Serve(a)) => done(serve(a)),
        Some(cli::Cmd::RawServer(a)) => done(raw_server(a)),
        Some(cli::Cmd::ClientLoad(a)) => client_load::run(a),
    };
    match out {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringrpc-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The default command: one run, embedded server unless `--addr`.
fn run(a: cli::RunArgs) -> std::io::Result<()> {
    let host = report::Host::probe();
    let tls = if a.tls { Some(tls::Pki::make()?) } else { None };
    let (server, addr, probe, target, expect) = match a.addr {
        None => {
            let bind = "127.0.0.1:0".parse().expect("a loopback address");
            let s = peers::ringrpc::start(
                bind,
                a.load.server_cores,
                a.load.server_first_core,
                a.metrics.as_deref(),
                0,
                tls.as_ref().map(|t| t.server.clone()),
            )?;
            let addr = s.local_addr();
            (
                Some(s),
                addr,
                measure::Probe::Embedded,
                "ringrpc".to_string(),
                MessageType::Reply,
            )
        }
        Some(addr) => {
            let probe = match a.server_pid.map(cpu::CpuClock::process) {
                Some(Ok(c)) => measure::Probe::Process(c),
                _ => measure::Probe::None,
            };
            let expect = if a.echo_raw {
                MessageType::Call
            } else {
                MessageType::Reply
            };
            (None, addr, probe, addr.to_string(), expect)
        }
    };
    println!(
        "ringrpc-perf: {target} at {addr}: {}",
        a.load
            .describe(&a.payload.to_string(), &a.connections.to_string())
    );
    println!(
        "  {} s warm-up, {} s measured; {} CPUs, io_uring {}, load average {:.2}{}",
        a.warmup,
        a.duration,
        host.cpus,
        if host.io_uring { "on" } else { "off (epoll)" },
        host.loadavg_1m,
        if host.loadavg_1m > 1.0 {
            " (busy machine: expect noise)"
        } else {
            ""
        }
    );
    let mut spec = a.load.spec(addr, a.payload, a.connections, expect);
    spec.tls = tls.as_ref().map(|t| t.client.clone());
    if spec.tls.is_some() {
        println!(
            "  over TLS (1.3, the server's first cipher suite; certificates made for this run)"
        );
    }
    let opts = measure::Options {
        timing: cli::timing(a.warmup, a.duration),
        progress: !a.load.no_progress,
        alloc_trace: a.alloc_trace,
    };
    let m = measure::measure(&target, &spec, probe, opts);
    if let Some(s) = server {
        s.server.shutdown();
    }
    let m = m?;
    println!();
    print!("{}", report::table(&m));
    if a.alloc_trace {
        println!();
        print!("{}", report::alloc_sites(&m));
    }
    let dir = report::results_dir(&a.load.results, &a.label)?;
    let title = format!(
        "{target}: {}",
        a.load
            .describe(&a.payload.to_string(), &a.connections.to_string())
    );
    std::fs::write(
        dir.join("latency.svg"),
        plot::percentile_svg(
            &title,
            &[plot::Series {
                name: format!("{target} ({} req/s)", measure::thousands(m.qps)),
                hist: &m.hist,
            }],
        ),
    )?;
    std::fs::write(dir.join("latency.hgrm"), report::hgrm(&m.hist))?;
    report::write_json(
        &dir.join("report.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf",
            "version": env!("CARGO_PKG_VERSION"),
            "started_utc": report::utc_stamp(std::time::SystemTime::now()),
            "host": host,
            "config": {
                "target": target,
                "addr": addr.to_string(),
                "transport": format!("{:?}", spec.codec.transport),
                "protocol": format!("{:?}", spec.codec.protocol),
                "payload": spec.payload,
                "connections": spec.connections,
                "depth": spec.depth,
                "rate": spec.rate,
                "load_cores": spec.cores,
                "load_first_core": spec.first_core,
                "server_cores": a.load.server_cores,
                "server_first_core": a.load.server_first_core,
                "warmup_s": a.warmup,
                "duration_s": a.duration,
            },
            "result": m,
            "percentiles_us": plot::points(&m.hist)
                .iter()
                .map(|(x, y)| serde_json::json!({"percentile": 100.0 * (1.0 - 10f64.powf(-x)), "us": y}))
                .collect::<Vec<_>>(),
        }),
    )?;
    println!();
    println!(
        "wrote {}/{{report.json, latency.svg, latency.hgrm}}",
        dir.display()
    );
    if m.ok == 0 {
        return Err(std::io::Error::other("no request succeeded"));
    }
    Ok(())
}

/// `serve`: ringrpc's echo server in its own process (for `compare`).
fn serve(a: cli::ServeArgs) -> std::io::Result<()> {
    if a.grpc {
        let s = peers::grpc::start(a.addr, a.cores, a.first_core)?;
        println!("listening on {}", s.local_addr());
        if a.stats {
            peers::serve_stats();
        }
        return s.run_until_signal().map(drop);
    }
    let s = peers::ringrpc::start(
        a.addr,
        a.cores,
        a.first_core,
        a.metrics.as_deref(),
        a.metrics_series,
        None,
    )?;
    println!("listening on {}", s.local_addr());
    if a.stats {
        peers::serve_stats();
    }
    s.run_until_signal().map(drop)
}

/// `raw-server`: the byte echo in its own process (for `compare`), or with
/// `--reply` the patched replies (for `client-compare`).
fn raw_server(a: cli::ServeArgs) -> std::io::Result<()> {
    let l = peers::raw::bind(a.addr)?;
    println!("listening on {}", l.local_addr()?);
    let echo = if a.reply {
        peers::raw::Echo::Reply
    } else {
        peers::raw::Echo::Verbatim
    };
    peers::raw::serve(l, a.cores, a.first_core, a.uring, echo)
}
