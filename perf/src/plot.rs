//! The latency plot: a percentile distribution (latency against percentile
//! on a log scale of `1 / (1 - p)`, as HdrHistogram's plotter draws it), as
//! a small hand-written SVG, one line per series. Hand-written because a
//! plotting crate would cost more to build than this file.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// One line of the plot.
#[derive(Debug)]
pub struct Series<'a> {
    /// The legend.
    pub name: String,
    /// Latencies in nanoseconds.
    pub hist: &'a Histogram<u64>,
}

const W: f64 = 800.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// The deepest percentile drawn: 99.999% (`x = 5`).
const MAX_X: f64 = 5.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// Points `(x, latency µs)` where `x = log10(1 / (1 - p))`, up to the
/// deepest percentile the sample count supports.
pub fn points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let max_x = (h.len() as f64).log10().clamp(1.0, MAX_X);
    (0..=200)
        .map(|i| {
            let x = max_x * i as f64 / 200.0;
            let p = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(p) as f64 / 1000.0)
        })
        .collect()
}

/// One line of a sweep: `(payload bytes, QPS)` points.
#[derive(Debug)]
pub struct XySeries {
    /// The legend.
    pub name: String,
    /// The points, by increasing payload.
    pub points: Vec<(f64, f64)>,
}

/// QPS against payload size, both on log scales (each doubling of the
/// payload one step right), one line per server; returns the SVG document.
pub fn sweep_svg(title: &str, series: &[XySeries]) -> String {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x_min, x_max) = all().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (y_min, y_max) = all().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if series.is_empty() || x_max <= 0.0 || y_max <= 0.0 {
        return String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    }
    let (lx0, lx1) = (
        x_min.max(1.0).log2(),
        x_max.max(2.0).log2().max(x_min.log2() + 1.0),
    );
    let ly1 = y_max.log10().ceil();
    let ly0 = (y_min.max(1.0).log10().floor()).min(ly1 - 1.0);
    let px = |x: f64| LEFT + (x.max(1.0).log2() - lx0) / (lx1 - lx0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y.max(1.0).log10() - ly0) / (ly1 - ly0) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let mut seen = Vec::new();
    for p in all() {
        if !seen.contains(&(p.0 as u64)) {
            seen.push(p.0 as u64);
        }
    }
    for x in seen {
        let label = crate::report::size(x as usize);
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            px(x as f64),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            escape(&label)
        );
    }
    let mut d = ly0;
    while d <= ly1 + 1e-9 {
        let y = 10f64.powf(d);
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#ddd"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
            LEFT,
            py(y),
            W - RIGHT,
            LEFT - 6.0,
            py(y) + 4.0,
            trim(y)
        );
        d += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">payload</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">requests per second</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = ser
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for &(x, y) in &ser.points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                px(x),
                py(y)
            );
        }
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{color}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            W - RIGHT - 150.0,
            ly,
            W - RIGHT - 126.0,
            W - RIGHT - 120.0,
            ly + 4.0,
            escape(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Draws the series; returns the SVG document.
pub fn percentile_svg(title: &str, series: &[Series<'_>]) -> String {
    let lines: Vec<Vec<(f64, f64)>> = series.iter().map(|s| points(s.hist)).collect();
    let y_max = lines
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let y_top = nice_ceiling(y_max);
    let px = |x: f64| LEFT + x / MAX_X * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / y_top * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Axes and grid.
    for (x, label) in [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
    ] {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            px(x),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            label
        );
    }
    for i in 0..=5 {
        let y = y_top * i as f64 / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#ddd"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
            LEFT,
            py(y),
            W - RIGHT,
            LEFT - 6.0,
            py(y) + 4.0,
            trim(y)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">latency (µs)</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    // Lines and legend.
    for (i, (line, ser)) in lines.iter().zip(series).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = line
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{color}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            LEFT + 12.0,
            ly,
            LEFT + 36.0,
            LEFT + 42.0,
            ly + 4.0,
            escape(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn trim(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn a_sweep_plot_has_a_line_and_a_label_per_size() {
        let svg = sweep_svg(
            "t",
            &[XySeries {
                name: "ringrpc".into(),
                points: vec![
                    (1024.0, 100_000.0),
                    (65536.0, 20_000.0),
                    (1048576.0, 1_000.0),
                ],
            }],
        );
        assert!(svg.contains("<polyline"));
        assert!(svg.contains(">1 KiB<") && svg.contains(">64 KiB<") && svg.contains(">1 MiB<"));
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_polyline_per_series_and_the_axes() {
        let mut a = crate::load::new_histogram();
        let mut b = crate::load::new_histogram();
        for i in 1..=10_000u64 {
            a.record(i * 10).unwrap();
            b.record(i * 20).unwrap();
        }
        let svg = percentile_svg(
            "t <1>",
            &[
                Series {
                    name: "a".into(),
                    hist: &a,
                },
                Series {
                    name: "b".into(),
                    hist: &b,
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("99.9%"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn points_rise_and_stop_where_the_samples_do() {
        let mut h = crate::load::new_histogram();
        for i in 1..=1000u64 {
            h.record(i * 1000).unwrap();
        }
        let p = points(&h);
        assert!(p.windows(2).all(|w| w[1].1 >= w[0].1));
        assert!(
            (p.last().unwrap().0 - 3.0).abs() < 1e-9,
            "1000 samples reach 99.9%"
        );
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
    }
}
