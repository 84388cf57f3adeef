//! One measurement: start the generator against a target, warm up, open the
//! measurement window (snapshotting the server's CPU time and allocation
//! counters), run, close the window, stop, and summarise.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::alloc;
use crate::cpu::CpuClock;
use crate::load::{ErrorCounts, Generator, LOAD_THREADS, LoadSpec, Phase};
use crate::peers::ChildServer;
use crate::peers::ringrpc::SERVER_THREADS;

/// How the server's cost can be observed.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    /// The embedded server: its core threads' CPU time and their
    /// allocations.
    Embedded,
    /// A child process: its CPU time.
    Process(CpuClock),
    /// A child process: its CPU time, and its allocations if it reports
    /// them (ringrpc's `serve --stats`).
    Child(&'a ChildServer),
    /// Nothing (an external server).
    None,
}

impl Probe<'_> {
    fn cpu_ns(&self) -> Option<u64> {
        match self {
            Probe::Embedded => Some(SERVER_THREADS.total_ns()),
            Probe::Process(c) => Some(c.now_ns()),
            Probe::Child(c) => c.clock.map(|c| c.now_ns()),
            Probe::None => None,
        }
    }

    /// The server's allocations and bytes allocated so far.
    fn allocs(&self) -> Option<(u64, u64)> {
        match self {
            Probe::Embedded => {
                let s = alloc::snapshot();
                Some((s.server_allocs, s.server_bytes))
            }
            Probe::Child(c) => c.allocs(),
            Probe::Process(_) | Probe::None => None,
        }
    }
}

/// How long to warm up and to measure.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load before the window, not recorded.
    pub warmup: Duration,
    /// The measurement window.
    pub duration: Duration,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Percentiles of a histogram in nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    /// The server's name.
    pub target: String,
    /// Connections.
    pub connections: usize,
    /// Depth per connection.
    pub depth: usize,
    /// The open loop's rate, if any.
    pub rate: Option<f64>,
    /// The window's length, in seconds.
    pub window_s: f64,
    /// Good replies per second in the window.
    pub qps: f64,
    /// Good replies in the window.
    pub ok: u64,
    /// Errors.
    pub errors: ErrorCounts,
    /// Latency of the good replies.
    pub latency_us: Latency,
    /// Latency of the application-exception replies (a server's refusals
    /// under its limits); zeros when there were none.
    pub exception_latency_us: Latency,
    /// Server CPU time per request, in microseconds.
    pub server_cpu_us_per_req: Option<f64>,
    /// Server CPU time over the window's wall time (1.0 = one core busy).
    pub server_cpu_busy: Option<f64>,
    /// Server heap allocations per request (ringrpc's server only).
    pub server_allocs_per_req: Option<f64>,
    /// Server bytes allocated per request (ringrpc's server only).
    pub server_alloc_bytes_per_req: Option<f64>,
    /// Generator CPU time per request, in microseconds.
    pub load_cpu_us_per_req: f64,
    /// Generator CPU time over wall time (1.0 = one core busy).
    pub load_cpu_busy: f64,
    /// Generator heap allocations per request.
    pub load_allocs_per_req: f64,
    /// Where the server allocated, when traced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alloc_sites: Vec<alloc::AllocSite>,
    /// The latency histogram (ns), for plots.
    #[serde(skip)]
    pub hist: Histogram<u64>,
}

/// Options of one measurement beyond the load.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Warm-up and window.
    pub timing: Timing,
    /// Show a progress bar.
    pub progress: bool,
    /// Capture a backtrace per server allocation (embedded server only).
    pub alloc_trace: bool,
}

/// Runs `spec` against `target`.
pub fn measure(
    target: &str,
    spec: &LoadSpec,
    probe: Probe<'_>,
    opts: Options,
) -> std::io::Result<Measurement> {
    let Timing { warmup, duration } = opts.timing;
    let bar = if opts.progress {
        let b = ProgressBar::new((warmup + duration).as_millis() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:32.cyan/blue}] {elapsed:>3} of {len_s} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "len_s",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}s", s.len().unwrap_or(0) / 1000);
                },
            )
            .progress_chars("=> "),
        );
        b.set_prefix(target.to_string());
        b.set_message("connecting");
        b
    } else {
        ProgressBar::hidden()
    };
    let gen_ = Generator::start(spec.clone())?;
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut tick = |bar: &ProgressBar, gen_: &Generator, label: &str| {
        let (done, errs) = gen_.progress();
        let now = Instant::now();
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt >= 0.25 {
            let rate = (done - last.1) as f64 / dt;
            bar.set_message(format!("{label}: {} req/s, {errs} errors", thousands(rate)));
            last = (now, done);
        }
        bar.set_position(started.elapsed().as_millis() as u64);
    };
    while started.elapsed() < warmup {
        std::thread::sleep(Duration::from_millis(50));
        tick(&bar, &gen_, "warm-up");
    }
    // Open the window.
    let a0 = alloc::snapshot();
    let sa0 = probe.allocs();
    let s0 = probe.cpu_ns();
    let l0 = LOAD_THREADS.total_ns();
    if opts.alloc_trace {
        alloc::set_tracing(true);
    }
    gen_.set_phase(Phase::Measure);
    let t0 = Instant::now();
    while t0.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(50));
        tick(&bar, &gen_, "measuring");
    }
    // Close it.
    gen_.set_phase(Phase::Stop);
    let window = t0.elapsed();
    alloc::set_tracing(false);
    let a1 = alloc::snapshot();
    let sa1 = probe.allocs();
    let s1 = probe.cpu_ns();
    let l1 = LOAD_THREADS.total_ns();
    bar.finish_and_clear();
    let result = gen_.finish();
    let ok = result.ok.max(1) as f64;
    let wall_ns = window.as_nanos() as f64;
    let allocs = a1.since(&a0);
    let server_cpu = match (s0, s1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
        _ => None,
    };
    let server_allocs = match (sa0, sa1) {
        (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
        _ => None,
    };
    Ok(Measurement {
        target: target.to_string(),
        connections: spec.connections,
        depth: spec.depth,
        rate: spec.rate,
        window_s: window.as_secs_f64(),
        qps: result.ok as f64 / window.as_secs_f64(),
        ok: result.ok,
        errors: result.errors,
        latency_us: Latency::of(&result.hist),
        exception_latency_us: Latency::of(&result.exception_hist),
        server_cpu_us_per_req: server_cpu.map(|c| c / ok / 1000.0),
        server_cpu_busy: server_cpu.map(|c| c / wall_ns),
        server_allocs_per_req: server_allocs.map(|a| a.0 as f64 / ok),
        server_alloc_bytes_per_req: server_allocs.map(|a| a.1 as f64 / ok),
        load_cpu_us_per_req: l1.saturating_sub(l0) as f64 / ok / 1000.0,
        load_cpu_busy: l1.saturating_sub(l0) as f64 / wall_ns,
        load_allocs_per_req: allocs.load_allocs as f64 / ok,
        alloc_sites: if opts.alloc_trace {
            alloc::take_sites(6)
        } else {
            Vec::new()
        },
        hist: result.hist,
    })
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }
}
