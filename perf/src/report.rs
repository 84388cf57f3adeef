//! Reports: the readable table of one run, and the results folder
//! (`results/<UTC timestamp>/`) with the JSON report, the latency plot and
//! the HdrHistogram percentile text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::measure::{Measurement, thousands};

/// Where a run writes its files: `<root>/<YYYYmmdd-HHMMSS>[-label]/`.
pub fn results_dir(root: &Path, label: &str) -> std::io::Result<PathBuf> {
    let mut name = utc_stamp(std::time::SystemTime::now());
    if !label.is_empty() {
        name.push('-');
        name.push_str(label);
    }
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `YYYYmmdd-HHMMSS` in UTC.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What the machine is, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Host {
    /// Available CPUs.
    pub cpus: usize,
    /// `uname -r`.
    pub kernel: String,
    /// The CPU model.
    pub cpu_model: String,
    /// Whether io_uring is used (false: epoll fallback).
    pub io_uring: bool,
    /// The 1-minute load average when the run started.
    pub loadavg_1m: f64,
}

impl Host {
    /// Reads it from `/proc`.
    pub fn probe() -> Host {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        Host {
            cpus: ringrpc::engine::runtime::available_cores(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu_model,
            io_uring: ringrpc::engine::runtime::uses_io_uring(),
            loadavg_1m: read("/proc/loadavg")
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// The readable table of one measurement.
pub fn table(m: &Measurement) -> String {
    let l = &m.latency_us;
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: String| {
        let _ = writeln!(s, "  {k:<24} {v}");
    };
    row(&mut s, "QPS", thousands(m.qps));
    row(&mut s, "latency p50", us(l.p50));
    row(&mut s, "latency p90", us(l.p90));
    row(&mut s, "latency p99", us(l.p99));
    row(&mut s, "latency p99.9", us(l.p999));
    row(&mut s, "latency max", us(l.max));
    row(&mut s, "latency mean", us(l.mean));
    let e = &m.errors;
    row(
        &mut s,
        "errors",
        if e.total() == 0 {
            "0".into()
        } else {
            format!(
                "{} (connect {}, io {}, decode {}, exception {}, wrong type {}, bad seqid {})",
                e.total(),
                e.connect,
                e.io,
                e.decode,
                e.exception,
                e.wrong_type,
                e.bad_seqid
            )
        },
    );
    if e.exception > 0 {
        let x = &m.exception_latency_us;
        row(
            &mut s,
            "exception latency",
            format!("p50 {}, p99 {}, max {}", us(x.p50), us(x.p99), us(x.max)),
        );
    }
    row(
        &mut s,
        "server CPU / request",
        match (m.server_cpu_us_per_req, m.server_cpu_busy) {
            (Some(c), Some(b)) => format!("{} ({:.0}% of a core)", us(c), b * 100.0),
            _ => "n/a (external server)".into(),
        },
    );
    row(
        &mut s,
        "server allocs / request",
        match (m.server_allocs_per_req, m.server_alloc_bytes_per_req) {
            (Some(a), Some(b)) => format!("{a:.3} ({b:.0} B)"),
            _ => "n/a (not embedded)".into(),
        },
    );
    row(
        &mut s,
        "load CPU / request",
        format!(
            "{} ({:.0}% of a core; {:.3} allocs)",
            us(m.load_cpu_us_per_req),
            m.load_cpu_busy * 100.0,
            m.load_allocs_per_req
        ),
    );
    row(
        &mut s,
        "requests in window",
        format!("{} in {:.2} s", thousands(m.ok as f64), m.window_s),
    );
    s
}

/// Microseconds, with sensible precision.
/// A byte count as `1 KiB`, `64 KiB`, `1 MiB` (exact powers), or bytes.
pub fn size(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Microseconds, with a unit that fits.
pub fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

/// The allocation sites of a traced run, readable.
pub fn alloc_sites(m: &Measurement) -> String {
    let mut s = String::new();
    if m.alloc_sites.is_empty() {
        return s;
    }
    let total: u64 = m.alloc_sites.iter().map(|a| a.count).sum();
    let _ = writeln!(
        s,
        "server allocation sites ({total} sampled; per request = count / {} requests):",
        m.ok
    );
    for site in m.alloc_sites.iter().take(12) {
        let _ = writeln!(
            s,
            "  {:>8}  ({:.3}/req)",
            site.count,
            site.count as f64 / m.ok.max(1) as f64
        );
        for f in &site.frames {
            let _ = writeln!(s, "      {f}");
        }
    }
    s
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// HdrHistogram's percentile distribution text (values in µs), readable by
/// its online plotter.
pub fn hgrm(h: &hdrhistogram::Histogram<u64>) -> String {
    let mut s = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            s,
            "{:12.3} {:14.12} {:10} {:>14}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_known_dates() {
        let t = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(utc_stamp(t(0)), "19700101-000000");
        // 2024-02-29 12:34:56 UTC
        assert_eq!(utc_stamp(t(1_709_210_096)), "20240229-123456");
    }

    #[test]
    fn formats_microseconds() {
        assert_eq!(us(12.345), "12.3 µs");
        assert_eq!(us(345.6), "346 µs");
        assert_eq!(us(2500.0), "2.50 ms");
    }
}
