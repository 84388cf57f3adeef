//! The servers the harness measures: ringrpc's echo server (embedded, or in
//! a child process), the raw echo ceiling (verbatim, or patching calls into
//! replies for real clients), Volo's echo server (a child process built
//! from `perf/volo-echo`) and tonic's gRPC echo server (`perf/tonic-echo`).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cpu::CpuClock;

pub mod grpc;
pub mod raw;
pub mod reply;
pub mod ringrpc;

/// The package of Volo's peers (`perf/volo-echo`).
pub const VOLO_PACKAGE: &str = "ringrpc-volo-echo";

/// A binary of [`VOLO_PACKAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoloBin {
    /// Volo's echo server (`compare`, `mem`).
    Server,
    /// Volo's client as a load generator (`client-compare`).
    Load,
}

impl VoloBin {
    /// The file name cargo gives it.
    pub fn file_name(self) -> &'static str {
        match self {
            VoloBin::Server => VOLO_PACKAGE,
            VoloBin::Load => "volo-load",
        }
    }
}

/// A server running in a child process, stopped (SIGTERM, then SIGKILL) on
/// drop.
#[derive(Debug)]
pub struct ChildServer {
    /// What it is.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    child: std::process::Child,
    /// Its CPU clock (all threads).
    pub clock: Option<CpuClock>,
    /// Its stats pipe (`serve --stats`): allocation counters on request.
    stats: Option<Mutex<(ChildStdin, BufReader<ChildStdout>)>>,
}

impl ChildServer {
    /// Starts `cmd` (which must listen on `addr`) and waits until `addr`
    /// accepts connections (at most 20 s).
    pub fn spawn(name: &str, cmd: Command, addr: SocketAddr) -> std::io::Result<ChildServer> {
        Self::start(name, cmd, addr, false)
    }

    /// As [`spawn`](Self::spawn), for ringrpc's `serve --stats`: the
    /// server's allocation counters can then be read with
    /// [`allocs`](Self::allocs).
    pub fn spawn_with_stats(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
    ) -> std::io::Result<ChildServer> {
        cmd.arg("--stats");
        Self::start(name, cmd, addr, true)
    }

    fn start(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
        stats: bool,
    ) -> std::io::Result<ChildServer> {
        if stats {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null()).stdout(Stdio::null());
        }
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start {name} ({cmd:?}): {e}"))
        })?;
        let stats = match (child.stdin.take(), child.stdout.take()) {
            (Some(i), Some(o)) => Some(Mutex::new((i, BufReader::new(o)))),
            _ => None,
        };
        let mut me = ChildServer {
            name: name.to_string(),
            addr,
            clock: CpuClock::process(child.id()).ok(),
            child,
            stats,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "{name} exited before listening: {status}"
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(me);
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{name} did not listen on {addr} within 20 s"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server threads' allocations and bytes allocated so far
    /// (`serve --stats` children only).
    pub fn allocs(&self) -> Option<(u64, u64)> {
        self.stats().map(|(a, b, _)| (a, b))
    }

    /// The server threads' live heap bytes (`serve --stats` children only).
    pub fn live_bytes(&self) -> Option<i64> {
        self.stats().map(|(_, _, l)| l)
    }

    fn stats(&self) -> Option<(u64, u64, i64)> {
        let mut pipe = self.stats.as_ref()?.lock().ok()?;
        let (input, output) = &mut *pipe;
        input.write_all(b"stats\n").ok()?;
        input.flush().ok()?;
        let mut line = String::new();
        loop {
            line.clear();
            if output.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(rest) = line.trim().strip_prefix("stats ") {
                let mut it = rest.split(' ');
                return Some((
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                ));
            }
        }
    }

    /// The server process's resident memory, in bytes (`VmRSS`).
    pub fn rss(&self) -> std::io::Result<u64> {
        rss_of(self.pid())
    }
}

/// A process's resident memory, in bytes, from `/proc/PID/status`.
pub fn rss_of(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| std::io::Error::other(format!("no VmRSS for pid {pid}")))
}

/// For `serve --stats`: answers each `stats` line on stdin with
/// `stats ALLOCS BYTES` (the server threads' counters) on stdout, from a
/// thread of its own.
pub fn serve_stats() {
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { return };
            if line.trim() == "stats" {
                let s = crate::alloc::snapshot();
                println!(
                    "stats {} {} {}",
                    s.server_allocs,
                    s.server_bytes,
                    crate::alloc::server_live_bytes()
                );
            }
        }
    });
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback address (bound once and released; a tiny race, fine for
/// a benchmark on a quiet machine).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

/// Finds a binary of Volo's peers: `explicit` when given; else next to
/// this executable (same target directory and profile), built there with
/// `cargo build --release -p ringrpc-volo-echo` (both binaries) when
/// missing.
pub fn volo_binary(explicit: Option<PathBuf>, which: VoloBin) -> std::io::Result<PathBuf> {
    package_binary(
        explicit,
        VOLO_PACKAGE,
        which.file_name(),
        "--volo-bin PATH or --skip-volo",
    )
}

/// The package of tonic's gRPC echo server (`perf/tonic-echo`).
pub const TONIC_PACKAGE: &str = "ringrpc-tonic-echo";

/// Finds tonic's gRPC echo server as [`volo_binary`] finds Volo's:
/// `explicit`, or next to this executable, built there when missing.
pub fn tonic_binary(explicit: Option<PathBuf>) -> std::io::Result<PathBuf> {
    package_binary(
        explicit,
        TONIC_PACKAGE,
        TONIC_PACKAGE,
        "--tonic-bin PATH or --skip-tonic",
    )
}

/// A peer's binary `file` from workspace package `package`: `explicit` when
/// given; else next to this executable (same target directory and
/// profile), built there with `cargo build --release -p PACKAGE` when
/// missing. `instead`: what to pass when the build fails.
fn package_binary(
    explicit: Option<PathBuf>,
    package: &str,
    file: &str,
    instead: &str,
) -> std::io::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| std::io::Error::other("this executable has no directory"))?;
    let bin = dir.join(file);
    if bin.exists() {
        return Ok(bin);
    }
    // <target>/release/ringrpc-perf: build into the same <target>.
    let target = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("no target directory above this executable"))?;
    eprintln!(
        "building a peer (cargo build --release -p {package}); this takes a few minutes the first time"
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", package])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()?;
    if !status.success() || !bin.exists() {
        return Err(std::io::Error::other(format!(
            "building {package} failed ({status}); pass {instead}"
        )));
    }
    Ok(bin)
}
