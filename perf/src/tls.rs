//! `tls`: what TLS costs ringrpc's server. One embedded server whose port
//! takes TLS and plaintext (told apart by the first byte) is driven in
//! alternating runs by the same closed-loop load over plaintext and over
//! TLS 1.3 (AES-256-GCM, rustls's first suite), so the ratio is measured
//! side by side; then the server's rate of new connections, each a TLS
//! handshake (full, or resuming a session) and one echo call (which also
//! reads the session tickets the next resumption needs).

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringrpc::codec::buffer::LinkBuffer;
use ringrpc::codec::thrift::MessageType;
use ringrpc::codec::transport::{self, Codec, Decoded, FrameLimits};
use ringrpc::engine::tls::{ClientTls, ServerTls, TlsStream};

use crate::cli::{self, TlsArgs};
use crate::compare::median;
use crate::load::request::RequestTemplate;
use crate::measure::{self, Measurement, Probe, thousands};
use crate::peers::ringrpc::SERVER_THREADS;
use crate::report;

#[path = "../../examples/tls/pki.rs"]
#[allow(unreachable_pub)]
mod pki;

/// Certificates made for one run, and the TLS settings of both sides.
pub struct Pki {
    /// The server's: TLS 1.3 and 1.2, plaintext accepted too.
    pub server: ServerTls,
    /// The load's: trusts the run's CA, resumes sessions.
    pub client: ClientTls,
    /// As `client`, never resuming.
    pub full: ClientTls,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Pki {
    /// Makes a CA and a server certificate for `localhost` in a temporary
    /// directory.
    pub fn make() -> std::io::Result<Pki> {
        let dir = std::env::temp_dir().join(format!("ringrpc-perf-pki-{}", std::process::id()));
        let p = pki::generate(&dir)?;
        let err = |e: ringrpc::engine::tls::TlsError| std::io::Error::other(e.to_string());
        let server = ServerTls::builder()
            .cert_file(&p.server_cert)
            .key_file(&p.server_key)
            .accept_plaintext(true)
            .build()
            .map_err(err)?;
        let client = |resume: bool| {
            ClientTls::builder()
                .ca_file(&p.ca)
                .server_name("localhost")
                .resumption(resume)
                .build()
                .map_err(err)
        };
        Ok(Pki {
            server,
            client: client(true)?,
            full: client(false)?,
            _dir: TempDir(dir),
        })
    }
}

/// Medians over the rounds of one side.
#[derive(Debug, Clone, serde::Serialize)]
struct Side {
    name: &'static str,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu_us_per_req: f64,
    server_allocs_per_req: f64,
    errors: u64,
}

fn side(name: &'static str, runs: &[Measurement]) -> Side {
    let f = |g: &dyn Fn(&Measurement) -> f64| median(runs.iter().map(g).collect());
    Side {
        name,
        qps: f(&|m| m.qps),
        p50_us: f(&|m| m.latency_us.p50),
        p99_us: f(&|m| m.latency_us.p99),
        server_cpu_us_per_req: f(&|m| m.server_cpu_us_per_req.unwrap_or(0.0)),
        server_allocs_per_req: f(&|m| m.server_allocs_per_req.unwrap_or(0.0)),
        errors: runs.iter().map(|m| m.errors.total()).sum(),
    }
}

/// New connections per second, each a handshake and one call.
#[derive(Debug, Clone, serde::Serialize)]
struct Handshakes {
    kind: &'static str,
    per_sec: f64,
    resumed: u64,
    failed: u64,
    server_cpu_us_each: f64,
}

/// Runs `tls`.
pub fn run(a: TlsArgs) -> std::io::Result<()> {
    let pki = Pki::make()?;
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("a loopback address");
    let server = crate::peers::ringrpc::start(
        bind,
        a.load.server_cores,
        a.load.server_first_core,
        None,
        0,
        Some(pki.server.clone()),
    )?;
    let addr = server.local_addr();
    println!(
        "ringrpc-perf tls: ringrpc at {addr}, plaintext against TLS 1.3 on the same port: {}",
        a.load
            .describe(&a.payload.to_string(), &a.connections.to_string())
    );
    let opts = measure::Options {
        timing: cli::timing(a.runs.warmup, a.runs.duration),
        progress: !a.load.no_progress,
        alloc_trace: false,
    };
    let (mut plain, mut tls) = (Vec::new(), Vec::new());
    for round in 0..a.runs.rounds.max(1) {
        for which in [round % 2, (round + 1) % 2] {
            let mut spec = a
                .load
                .spec(addr, a.payload, a.connections, MessageType::Reply);
            let name = if which == 0 {
                "plaintext"
            } else {
                spec.tls = Some(pki.client.clone());
                "tls"
            };
            let m = measure::measure(name, &spec, Probe::Embedded, opts)?;
            println!(
                "  {name:<10} r{}  {:>9} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  server CPU {:.2} µs/req",
                round + 1,
                thousands(m.qps),
                m.latency_us.p50,
                m.latency_us.p99,
                m.server_cpu_us_per_req.unwrap_or(0.0)
            );
            if which == 0 {
                plain.push(m);
            } else {
                tls.push(m);
            }
        }
    }
    let (plain, tls) = (side("plaintext", &plain), side("TLS 1.3", &tls));
    let secs = cli::secs(a.handshake_secs).max(Duration::from_millis(200));
    let mut rates = Vec::new();
    for (kind, client) in [("full", &pki.full), ("resumed", &pki.client)] {
        rates.push(handshakes(
            kind,
            addr,
            client,
            secs,
            a.handshake_concurrency.max(1),
            &a.load,
        )?);
    }
    server.server.shutdown();
    println!();
    println!("| side | QPS | p50 µs | p99 µs | server CPU/req | server allocs/req | errors |");
    println!("|---|---|---|---|---|---|---|");
    for s in [&plain, &tls] {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.2} µs | {:.2} | {} |",
            s.name,
            thousands(s.qps),
            s.p50_us,
            s.p99_us,
            s.server_cpu_us_per_req,
            s.server_allocs_per_req,
            s.errors
        );
    }
    let ratio = if plain.qps > 0.0 {
        tls.qps / plain.qps
    } else {
        0.0
    };
    println!();
    println!(
        "TLS/plaintext QPS: {ratio:.2}x (medians of {} rounds)",
        a.runs.rounds.max(1)
    );
    println!();
    println!("| new connections | per second | resumed | failed | server CPU each |");
    println!("|---|---|---|---|---|");
    for h in &rates {
        println!(
            "| {} handshake + 1 call | {} | {} | {} | {:.1} µs |",
            h.kind,
            thousands(h.per_sec),
            h.resumed,
            h.failed,
            h.server_cpu_us_each
        );
    }
    let dir = report::results_dir(&a.load.results, &a.label)?;
    report::write_json(
        &dir.join("report.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf tls",
            "started_utc": report::utc_stamp(std::time::SystemTime::now()),
            "payload": a.payload,
            "connections": a.connections,
            "rounds": a.runs.rounds,
            "plaintext": plain,
            "tls": tls,
            "tls_over_plaintext": ratio,
            "handshakes": rates,
        }),
    )?;
    println!();
    println!("wrote {}/report.json", dir.display());
    if tls.qps == 0.0 || plain.qps == 0.0 {
        return Err(std::io::Error::other("a side served nothing"));
    }
    Ok(())
}

/// Opens connections to `addr` for `secs` from the first load core,
/// `concurrency` at a time: each a handshake with `client`'s settings and
/// one small echo call, then `close_notify`.
fn handshakes(
    kind: &'static str,
    addr: SocketAddr,
    client: &ClientTls,
    secs: Duration,
    concurrency: usize,
    load: &cli::LoadArgs,
) -> std::io::Result<Handshakes> {
    let client = client.clone();
    let (cpu, mode) = (load.load_first_core, load.load_uring);
    let spec = load.spec(addr, 16, 1, MessageType::Reply);
    let codec = spec.codec;
    let t = std::thread::spawn(move || -> std::io::Result<(u64, u64, u64, f64)> {
        if let Some(id) = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.id == cpu)
        {
            core_affinity::set_for_current(id);
        }
        let mut rt = crate::uring::build(1024, mode)?;
        rt.block_on(async move {
            let counts = Rc::new((Cell::new(0u64), Cell::new(0u64), Cell::new(0u64)));
            let cpu0 = SERVER_THREADS.total_ns();
            let until = Instant::now() + secs;
            let tasks: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (counts, client) = (counts.clone(), client.clone());
                    monoio::spawn(async move {
                        let mut tmpl = RequestTemplate::new(codec, 16);
                        let mut out = Vec::new();
                        let mut seq = 0;
                        while Instant::now() < until {
                            seq += 1;
                            out.clear();
                            tmpl.write_to(seq, &mut out);
                            match one(addr, &client, &out, codec).await {
                                Ok(resumed) => {
                                    counts.0.set(counts.0.get() + 1);
                                    if resumed {
                                        counts.1.set(counts.1.get() + 1);
                                    }
                                }
                                Err(_) => counts.2.set(counts.2.get() + 1),
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            let cpu_ns = SERVER_THREADS.total_ns().saturating_sub(cpu0);
            let ok = counts.0.get();
            let cpu_each = if ok > 0 {
                cpu_ns as f64 / 1e3 / ok as f64
            } else {
                0.0
            };
            Ok((ok, counts.1.get(), counts.2.get(), cpu_each))
        })
    });
    let (ok, resumed, failed, cpu_each) = t
        .join()
        .map_err(|_| std::io::Error::other("handshake thread panicked"))??;
    Ok(Handshakes {
        kind,
        per_sec: ok as f64 / secs.as_secs_f64(),
        resumed,
        failed,
        server_cpu_us_each: cpu_each,
    })
}

/// One connection: handshake, `call` (a whole request frame), its reply,
/// `close_notify`. Whether the session was resumed.
async fn one(
    addr: SocketAddr,
    client: &ClientTls,
    call: &[u8],
    codec: Codec,
) -> std::io::Result<bool> {
    let mut s = TlsStream::connect(addr, client, Duration::from_secs(5)).await?;
    let resumed = s.resumed();
    s.write_all(call).await?;
    let mut buf = LinkBuffer::new();
    let limits = FrameLimits::default();
    loop {
        match transport::decode_frame(&mut buf, codec, &limits) {
            Ok(Decoded::Ready(_)) => break,
            Ok(Decoded::NeedMore(_)) => {}
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        if s.read(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    s.close().await;
    Ok(resumed)
}
