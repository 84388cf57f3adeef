//! `mem`: what a connection costs the server in memory. For each server
//! (its own process, pinned to the server core), reads its RSS from
//! `/proc/PID/status` at four moments: after it started (the baseline),
//! with N idle connections open, after one echo call on each of them once
//! they are idle again, and after they all closed. Reports RSS per
//! connection for the first two and the distance from the baseline for the
//! last.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use ringrpc::codec::buffer::LinkWriter;
use ringrpc::codec::thrift::{BinaryWriter, Message, MessageIdent, MessageType, ProtocolWriter};
use ringrpc::codec::transport::{self, Codec, Transport};
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceEchoArgs};

use crate::cli::MemArgs;
use crate::peers::{self, ChildServer};
use crate::report;

/// One server's figures.
#[derive(Debug, Clone, serde::Serialize)]
struct MemFigures {
    target: String,
    connections: usize,
    baseline_bytes: u64,
    idle_bytes: u64,
    after_call_bytes: u64,
    closed_bytes: u64,
    idle_per_conn_kib: f64,
    after_call_per_conn_kib: f64,
    closed_above_baseline_mib: f64,
    /// ringrpc only: live heap per connection (what the server holds, not
    /// counting free memory the allocator keeps), idle and after a call.
    live_idle_per_conn_kib: Option<f64>,
    live_after_call_per_conn_kib: Option<f64>,
}

/// Runs the measurement.
pub fn run(a: MemArgs) -> std::io::Result<()> {
    let limit = raise_open_files((a.connections * 2 + 256) as u64)?;
    if limit < a.connections as u64 + 64 {
        return Err(std::io::Error::other(format!(
            "only {limit} open files allowed; lower --connections"
        )));
    }
    let started = report::utc_stamp(std::time::SystemTime::now());
    println!(
        "ringrpc-perf mem ({started} UTC): {} connections, one {} echo each, server on CPU {}, {} s to settle",
        a.connections,
        report::size(a.payload),
        a.server_first_core,
        a.settle
    );
    let settle = crate::cli::secs(a.settle);
    let mut all = Vec::new();
    for target in &a.targets {
        let server = spawn(target, &a)?;
        let f = measure(&server, target, &a, settle)?;
        drop(server);
        eprintln!(
            "  {target:<8} idle {:.2} KiB/conn, after a call {:.2} KiB/conn, closed +{:.2} MiB{}",
            f.idle_per_conn_kib,
            f.after_call_per_conn_kib,
            f.closed_above_baseline_mib,
            match (f.live_idle_per_conn_kib, f.live_after_call_per_conn_kib) {
                (Some(i), Some(c)) =>
                    format!(" (live heap: idle {i:.2}, after a call {c:.2} KiB/conn)"),
                _ => String::new(),
            }
        );
        all.push(f);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<8} {:>11} {:>14} {:>18} {:>22}",
        "server", "baseline", "idle /conn", "after a call /conn", "all closed, above base"
    );
    for f in &all {
        let _ = writeln!(
            out,
            "{:<8} {:>8.1} MiB {:>10.2} KiB {:>14.2} KiB {:>18.2} MiB",
            f.target,
            f.baseline_bytes as f64 / (1 << 20) as f64,
            f.idle_per_conn_kib,
            f.after_call_per_conn_kib,
            f.closed_above_baseline_mib
        );
    }
    print!("{out}");
    let dir = report::results_dir(&a.results, "mem")?;
    report::write_json(
        &dir.join("mem.json"),
        &serde_json::json!({
            "tool": "ringrpc-perf mem",
            "started_utc": started,
            "connections": a.connections,
            "payload": a.payload,
            "settle_s": a.settle,
            "figures": all,
        }),
    )?;
    println!("\nwrote {}/mem.json", dir.display());
    Ok(())
}

fn spawn(target: &str, a: &MemArgs) -> std::io::Result<ChildServer> {
    let addr = peers::free_addr()?;
    let first = a.server_first_core.to_string();
    match target {
        "ringrpc" => {
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.args(["serve", "--addr", &addr.to_string(), "--cores", "1"])
                .args(["--first-core", &first]);
            ChildServer::spawn_with_stats("ringrpc", cmd, addr)
        }
        "volo" => {
            let mut cmd = Command::new(peers::volo_binary(
                a.volo_bin.clone(),
                peers::VoloBin::Server,
            )?);
            cmd.args(["--addr", &addr.to_string(), "--first-core", &first])
                .args(["--cores", "1"]);
            ChildServer::spawn("volo", cmd, addr)
        }
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown target {other} (ringrpc, volo)"),
        )),
    }
}

fn measure(
    server: &ChildServer,
    target: &str,
    a: &MemArgs,
    settle: Duration,
) -> std::io::Result<MemFigures> {
    std::thread::sleep(settle);
    let base = server.rss()?;
    let live_base = server.live_bytes();
    let mut conns = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        let s = TcpStream::connect(server.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        conns.push(s);
    }
    std::thread::sleep(settle);
    let idle = server.rss()?;
    let live_idle = server.live_bytes();
    let call = echo_call(a.payload);
    for s in &mut conns {
        s.write_all(&call)?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for s in &mut conns {
        read_frame(s)?;
        if Instant::now() > deadline {
            return Err(std::io::Error::other("replies took over a minute"));
        }
    }
    std::thread::sleep(settle);
    let after = server.rss()?;
    let live_after = server.live_bytes();
    drop(conns);
    std::thread::sleep(settle);
    let closed = server.rss()?;
    let per_conn = |rss: u64| (rss as f64 - base as f64) / a.connections as f64 / 1024.0;
    Ok(MemFigures {
        target: target.to_string(),
        connections: a.connections,
        baseline_bytes: base,
        idle_bytes: idle,
        after_call_bytes: after,
        closed_bytes: closed,
        idle_per_conn_kib: per_conn(idle),
        after_call_per_conn_kib: per_conn(after),
        closed_above_baseline_mib: (closed as f64 - base as f64) / (1 << 20) as f64,
        live_idle_per_conn_kib: live_base
            .zip(live_idle)
            .map(|(b, l)| (l - b) as f64 / a.connections as f64 / 1024.0),
        live_after_call_per_conn_kib: live_base
            .zip(live_after)
            .map(|(b, l)| (l - b) as f64 / a.connections as f64 / 1024.0),
    })
}

/// One framed binary `EchoService.echo` call of `payload` bytes.
fn echo_call(payload: usize) -> Vec<u8> {
    let codec = Codec {
        transport: Transport::Framed,
        protocol: ringrpc::codec::thrift::Protocol::Binary,
    };
    let args = EchoServiceEchoArgs {
        req: EchoRequest {
            msg: "x".repeat(payload).into(),
        },
    };
    let mut w = LinkWriter::new();
    transport::encode_frame(&mut w, codec, None, |out| {
        let mut p = BinaryWriter::new(out);
        p.write_message_begin(&MessageIdent::new("echo".into(), MessageType::Call, 1));
        args.encode(&mut p);
        p.write_message_end();
    });
    w.to_vec()
}

/// Reads one whole Framed frame off `s`.
fn read_frame(s: &mut TcpStream) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)
}

/// Raises this process's open-file limit towards `want` (children inherit
/// it); returns the limit in force.
fn raise_open_files(want: u64) -> std::io::Result<u64> {
    // SAFETY: getrlimit/setrlimit on a local, initialised struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if l.rlim_cur < want {
            l.rlim_cur = want.min(l.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(l.rlim_cur)
    }
}
