//! nghttp2's `h2load` as the neutral gRPC load: a C HTTP/2 client that is
//! neither ringrpc nor the peer, posting one pre-encoded gRPC message per
//! request (`-d FILE`, with `content-type: application/grpc` and
//! `te: trailers`) over cleartext HTTP/2 with prior knowledge.
//!
//! h2load counts a response with HTTP status 2xx as a success; a gRPC
//! error travels in the trailers, which it does not read. So a run's
//! numbers only stand next to a check that the server really echoes
//! ([`super::client::check`]), which `ringrpc-perf grpc` makes before
//! every run. Latency percentiles come from h2load's per-request log
//! (`--log-file`: start time, status, microseconds to the end of the
//! response), since its summary gives only min, max, mean and deviation.
//!
//! Debian packages it as `nghttp2-client` (`scripts/setup` installs it).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Mark, Window};
use crate::cpu::CpuClock;
use crate::load::new_histogram;
use crate::peers::ChildServer;

/// What to tell whoever has no h2load.
pub const INSTALL_HINT: &str = "h2load not found: install Debian's nghttp2-client (`apt-get install -y nghttp2-client`; `scripts/setup` does it), or pass --h2load PATH";

/// One h2load run.
#[derive(Debug, Clone)]
pub struct H2LoadSpec {
    /// The h2load binary.
    pub bin: PathBuf,
    /// `http://ADDR/PATH`.
    pub uri: String,
    /// The request body (one length-prefixed gRPC message).
    pub body_file: PathBuf,
    /// Where h2load writes its per-request log.
    pub log_file: PathBuf,
    /// Connections (`-c`).
    pub connections: usize,
    /// Streams in flight per connection (`-m`).
    pub streams: usize,
    /// Warm-up (`--warm-up-time`).
    pub warmup: Duration,
    /// The measured window (`-D`).
    pub duration: Duration,
    /// The CPU h2load is pinned to.
    pub cpu: usize,
}

/// What h2load's summary says.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// `finished in ..., N req/s`.
    pub req_per_s: f64,
    /// `requests: N total`.
    pub total: u64,
    /// `N succeeded` (2xx).
    pub succeeded: u64,
    /// `N failed`.
    pub failed: u64,
    /// `N errored`.
    pub errored: u64,
    /// `N timeout`.
    pub timeout: u64,
    /// `status codes: N 2xx`.
    pub status_2xx: u64,
    /// Responses with another status.
    pub status_other: u64,
}

/// Parses h2load's summary (stdout). Looks for the `finished in`,
/// `requests:` and `status codes:` lines wherever they are, and reads each
/// count by the word after it, so added columns or lines do no harm.
pub fn parse_summary(out: &str) -> Result<Summary, String> {
    let mut s = Summary::default();
    let mut found = (false, false);
    // `N word` pairs of a comma-separated line: `47181 total, 47181 started`.
    let counts = |rest: &str| -> Vec<(u64, String)> {
        rest.split(',')
            .filter_map(|part| {
                let mut it = part.split_whitespace();
                let n = it.next()?.parse::<u64>().ok()?;
                Some((n, it.next().unwrap_or_default().to_string()))
            })
            .collect()
    };
    for line in out.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("finished in") {
            for part in rest.split(',') {
                if let Some(v) = part.trim().strip_suffix("req/s") {
                    s.req_per_s = v.trim().parse().map_err(|_| format!("req/s in {line:?}"))?;
                    found.0 = true;
                }
            }
        } else if let Some(rest) = line.strip_prefix("requests:") {
            for (n, word) in counts(rest) {
                match word.as_str() {
                    "total" => s.total = n,
                    "succeeded" => s.succeeded = n,
                    "failed" => s.failed = n,
                    "errored" => s.errored = n,
                    "timeout" => s.timeout = n,
                    _ => {}
                }
            }
            found.1 = true;
        } else if let Some(rest) = line.strip_prefix("status codes:") {
            for (n, word) in counts(rest) {
                if word == "2xx" {
                    s.status_2xx = n;
                } else {
                    s.status_other += n;
                }
            }
        }
    }
    match found {
        (true, true) => Ok(s),
        (false, _) => Err("no `finished in ... req/s` line".into()),
        (_, false) => Err("no `requests:` line".into()),
    }
}

/// One line of `--log-file`: `(status, microseconds)`, or `None` for a line
/// that is not one (h2load may add columns: only the first three are read).
pub fn parse_log_line(line: &str) -> Option<(u16, u64)> {
    let mut it = line.split('\t');
    let _start: u64 = it.next()?.trim().parse().ok()?;
    let status = it.next()?.trim().parse().ok()?;
    let us = it.next()?.trim().parse().ok()?;
    Some((status, us))
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct H2LoadRun {
    /// h2load's summary.
    pub summary: Summary,
    /// Latency of the 2xx responses, in nanoseconds (microsecond steps).
    pub hist: Histogram<u64>,
    /// Lines of the log with another status (a request the window's end
    /// cut off may show as one, so this is no error count).
    pub log_non_2xx: u64,
    /// Server CPU time per request in the middle of the window (µs), when
    /// the server's clock was given.
    pub server_cpu_us_per_req: Option<f64>,
    /// Server CPU over wall time in the middle of the window.
    pub server_cpu_busy: Option<f64>,
    /// Server heap allocations per request in the middle of the window
    /// (a server that reports them: ringrpc's `serve --stats`).
    pub server_allocs_per_req: Option<f64>,
    /// h2load's CPU over wall time in the middle of the window (1.0: its
    /// core is saturated, and the number is h2load's ceiling).
    pub load_cpu_busy: Option<f64>,
}

/// Checks that `bin` runs (`h2load --version`).
pub fn probe(bin: &Path) -> std::io::Result<String> {
    match Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(std::io::Error::new(e.kind(), INSTALL_HINT))
        }
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", bin.display()),
        )),
    }
}

/// Runs h2load to its end and reads what it wrote. CPU is sampled over the
/// middle of the measured window (a tenth of it, at most 200 ms, cut from
/// each end), where the load is steady whatever h2load's own start-up
/// takes; CPU per request is that CPU over that time's share of requests
/// (and so are allocations, when `server` reports them).
pub fn run(spec: &H2LoadSpec, server: &ChildServer) -> std::io::Result<H2LoadRun> {
    // Whole milliseconds: h2load takes `1500ms`, not `1.5s`.
    let secs = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let mut cmd = Command::new(&spec.bin);
    cmd.args(["-c", &spec.connections.to_string()])
        .args(["-m", &spec.streams.to_string()])
        .args(["-t", "1"])
        .args(["-D", &secs(spec.duration)])
        .arg(format!("--warm-up-time={}", secs(spec.warmup)))
        .arg("-d")
        .arg(&spec.body_file)
        .args(["-H", "content-type: application/grpc"])
        .args(["-H", "te: trailers"])
        .arg(format!("--log-file={}", spec.log_file.display()))
        .arg(&spec.uri)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::load_child::pin(&mut cmd, spec.cpu);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            std::io::Error::new(e.kind(), INSTALL_HINT)
        } else {
            e
        }
    })?;
    // Drain its output from threads, so a full pipe never blocks it.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(r) = r {
                let _ = std::io::Read::read_to_string(&mut BufReader::new(r), &mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
    );
    let load = CpuClock::process(child.id()).ok();
    let margin = (spec.duration / 10).min(Duration::from_millis(200));
    let sample = |at: Duration| {
        if let Some(left) = at.checked_sub(started.elapsed()) {
            std::thread::sleep(left);
        }
        // h2load counts for itself: the window's count comes from its
        // summary.
        Mark::take(0, Some(server), load)
    };
    let a = sample(spec.warmup + margin);
    let b = sample(spec.warmup + spec.duration - margin);
    // h2load ends by itself after warm-up + duration; kill it if it hangs.
    let limit = spec.warmup + spec.duration + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("h2load ran past {} s; killed", limit.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "h2load failed ({status}): {}{}",
            err.trim(),
            out.lines().last().unwrap_or_default()
        )));
    }
    let summary = parse_summary(&out).map_err(|e| {
        std::io::Error::other(format!("h2load's output: {e}; it printed:\n{out}{err}"))
    })?;
    let mut hist = new_histogram();
    let mut log_non_2xx = 0;
    let log = std::fs::File::open(&spec.log_file)?;
    for line in BufReader::new(log).lines() {
        match parse_log_line(&line?) {
            Some((status, us)) if (200..300).contains(&status) => {
                let _ = hist.record(us.max(1) * 1000);
            }
            Some(_) => log_non_2xx += 1,
            None => {}
        }
    }
    let _ = std::fs::remove_file(&spec.log_file);
    let secs = b.at_secs_since(&a);
    let w = Window::with_count(&a, &b, summary.req_per_s * secs);
    Ok(H2LoadRun {
        server_allocs_per_req: w.server_allocs_per,
        server_cpu_us_per_req: w.server_cpu_us_per,
        server_cpu_busy: w.server_cpu_busy,
        load_cpu_busy: w.load_cpu_busy,
        summary,
        hist,
        log_non_2xx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// h2load 1.52's summary of a gRPC run, as printed.
    const OUT: &str = "starting benchmark...
spawning thread #0: 100 total client(s). Timing-based test with 1s of warm-up time and 3s of main duration for measurements.
Application protocol: h2c
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 4.00s, 15727.00 req/s, 15.95MB/s
requests: 47181 total, 47181 started, 47181 done, 47181 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 47181 2xx, 0 3xx, 0 4xx, 3 5xx
traffic: 47.84MB (50161603) total, 202.00KB (206848) headers (space savings 95.50%), 63.69MB (66786912) data
                     min         max         mean         sd        +/- sd
time for request:      589us     67.77ms      5.01ms      5.29ms    93.02%
";

    #[test]
    fn the_summary_is_read_by_its_words() {
        let s = parse_summary(OUT).unwrap();
        assert_eq!(
            s,
            Summary {
                req_per_s: 15727.0,
                total: 47181,
                succeeded: 47181,
                failed: 0,
                errored: 0,
                timeout: 0,
                status_2xx: 47181,
                status_other: 3,
            }
        );
    }

    #[test]
    fn a_summary_without_its_lines_is_an_error() {
        assert!(parse_summary("").is_err());
        assert!(parse_summary("finished in 1s, 10 req/s, 1MB/s\n").is_err());
        assert!(parse_summary("requests: 1 total\n").is_err());
        assert!(parse_summary("finished in 1s, many req/s\nrequests: 1 total\n").is_err());
    }

    #[test]
    fn log_lines_give_status_and_microseconds() {
        assert_eq!(
            parse_log_line("1796220729419141\t200\t2335"),
            Some((200, 2335))
        );
        assert_eq!(
            parse_log_line("1796220729419141\t503\t12\textra"),
            Some((503, 12))
        );
        assert_eq!(parse_log_line(""), None);
        assert_eq!(parse_log_line("x\t200\t1"), None);
    }
}
