//! The servers the harness measures: ringrpc's echo server (embedded, or in
//! a child process), the raw echo ceiling, and Volo's echo server (a child
//! process built from `perf/volo-echo`).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpu::CpuClock;

pub mod raw;
pub mod ringrpc;

/// The Volo echo server's package and binary name.
pub const VOLO_PACKAGE: &str = "ringrpc-volo-echo";

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
}

impl ChildServer {
    /// Starts `cmd` (which must listen on `addr`) and waits until `addr`
    /// accepts connections (at most 20 s).
    pub fn spawn(name: &str, mut cmd: Command, addr: SocketAddr) -> std::io::Result<ChildServer> {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start {name} ({cmd:?}): {e}"))
        })?;
        let mut me = ChildServer {
            name: name.to_string(),
            addr,
            clock: CpuClock::process(child.id()).ok(),
            child,
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

/// Finds the Volo echo server's binary: `explicit` when given; else next to
/// this executable (same target directory and profile), built there with
/// `cargo build --release -p ringrpc-volo-echo` when missing.
pub fn volo_binary(explicit: Option<PathBuf>) -> std::io::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| std::io::Error::other("this executable has no directory"))?;
    let bin = dir.join(VOLO_PACKAGE);
    if bin.exists() {
        return Ok(bin);
    }
    // <target>/release/ringrpc-perf: build into the same <target>.
    let target = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("no target directory above this executable"))?;
    eprintln!(
        "building the Volo echo server (cargo build --release -p {VOLO_PACKAGE}); this takes a few minutes the first time"
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", VOLO_PACKAGE])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()?;
    if !status.success() || !bin.exists() {
        return Err(std::io::Error::other(format!(
            "building {VOLO_PACKAGE} failed ({status}); pass --volo-bin PATH or --skip-volo"
        )));
    }
    Ok(bin)
}
