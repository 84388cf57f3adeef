//! Prometheus metrics, compatible with kitex-contrib/monitor-prometheus, so
//! the dashboards and alerts written for Kitex services work unchanged.
//!
//! ```no_run
//! # use ringrpc_engine::metrics::Metrics;
//! # use ringrpc_engine::server::{Described, Handler, Server};
//! # fn demo<S>(echo: S) -> Result<(), Box<dyn std::error::Error>>
//! # where S: Described + Handler<S::Descriptor> + Clone + Send + Sync {
//! let metrics = Metrics::new();
//! let server = Server::builder()
//!     .tracer(metrics.tracer())
//!     .service(echo)
//!     .start()?;
//! metrics.add_server(&server);
//! let _endpoint = metrics.serve("127.0.0.1:9091".parse()?)?; // GET /metrics
//! # Ok(()) }
//! ```
//!
//! # What is exported
//!
//! From kitex-contrib/monitor-prometheus (`tracer.go` and its README), with
//! its names, labels and (as a subset of ours) its buckets:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `kitex_server_throughput`, `kitex_client_throughput` | calls finished | `type`, `caller`, `callee`, `method`, `status`, `retry` |
//! | `kitex_server_latency_us`, `kitex_client_latency_us` | histogram, µs | the same |
//!
//! `type` is `pingpong` or `oneway`; `status` is `succeed` or `error` (an
//! application exception, a business status error, or a failed call);
//! `retry` is the number of retries a client call took (`0` on the
//! server); an unknown service name is `unknown`. The latency buckets are
//! [`DEFAULT_BUCKETS_US`], which contain Kitex's (5 ms to 1 s) and add
//! finer ones below, where this engine's calls are.
//!
//! The throughput counters are exported untyped: the Go client Kitex uses
//! names a counter's samples exactly as the metric (`kitex_server_throughput
//! 42`), while `prometheus-client` (which writes the exposition here)
//! appends `_total` to every counter sample, which would rename the series
//! the dashboards query.
//!
//! Beyond Kitex, for the operator, from [`add_server`](Metrics::add_server):
//! `ringrpc_server_connections` and `ringrpc_server_inflight` (gauges per
//! core), `ringrpc_server_read_bytes_total`, `ringrpc_server_written_bytes_total`,
//! `ringrpc_server_rejected_total{reason}` (`qps`, `concurrency`,
//! `limiter`, `connections`), `ringrpc_server_expired_total`,
//! `ringrpc_server_timed_out_total`, `ringrpc_server_malformed_metainfo_total`,
//! `ringrpc_server_tls_handshakes_total`, `ringrpc_server_tls_resumed_total`,
//! `ringrpc_server_tls_handshake_failures_total`,
//! `ringrpc_server_grpc_connections_total` (HTTP/2 connections accepted),
//! `ringrpc_server_grpc_rapid_resets_total` (closed for resetting too many
//! streams).
//!
//! From [`add_client`](Metrics::add_client), by `callee`:
//! `ringrpc_client_retries_total`, `ringrpc_client_result_retries_total`,
//! `ringrpc_client_backups_total`, `ringrpc_client_breaker_rejected_total`,
//! `ringrpc_client_breakers_opened_total`, `ringrpc_client_fallbacks_total`.
//! A client's calls are in `kitex_client_*` once its builder has the
//! tracer ([`ClientBuilder::tracer`](crate::client::ClientBuilder::tracer)).
//!
//! # Cost
//!
//! Recording is per core and shares no cache line with another core: each
//! core finds its series in a map of its own (keyed by a hash of the
//! labels, so a call's strings are not copied) and adds to the series'
//! counters, which only that core writes. A scrape reads every core's
//! series without stopping them: it takes a core's lock only to copy its
//! list of series, which the core takes only when a call creates a new one.
//! A core keeps at most [`MAX_SERIES_PER_CORE`] series; past that, new
//! caller names are counted under `caller="overflow"` (the caller's name is
//! whatever a client wrote in its header).

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use rustc_hash::{FxHashMap, FxHasher};

use crate::client::{CallCounters, Counters, Governance};
use crate::context::RpcInfo;
use crate::server::{LimitHandle, ServerHandle};
use crate::stats::{RpcStats, Side, Tracer};

/// Latency buckets, in microseconds: Kitex's (5 ms to 1 s) and finer ones
/// below them.
pub const DEFAULT_BUCKETS_US: &[f64] = &[
    50.0,
    100.0,
    250.0,
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    250_000.0,
    500_000.0,
    1_000_000.0,
];

/// Series a core keeps before new caller names go to `caller="overflow"`.
pub const MAX_SERIES_PER_CORE: usize = 4096;

/// The metrics of a process: shared by its cores (each records into its own
/// series) and the endpoint that serves them. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field(
                "cores",
                &self.inner.cores.lock().map(|c| c.len()).unwrap_or(0),
            )
            .finish_non_exhaustive()
    }
}

struct Inner {
    buckets: Box<[f64]>,
    cores: Mutex<Vec<Arc<CoreSeries>>>,
    servers: Mutex<Vec<LimitHandle>>,
    /// Clients' governance counters, one per client per core, by callee.
    clients: Mutex<Vec<(String, Arc<Counters>)>>,
    /// The size of the last scrape's text.
    last_len: AtomicUsize,
}

/// One core's series.
#[derive(Default)]
struct CoreSeries {
    series: Mutex<Vec<Arc<Series>>>,
}

/// The labels of a series, as exported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Labels {
    side: SideKey,
    kind: &'static str,
    caller: String,
    callee: String,
    method: String,
    status: &'static str,
    retry: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SideKey {
    Server,
    Client,
}

/// One series: written by its core only.
struct Series {
    labels: Labels,
    count: AtomicU64,
    sum_us: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Series {
    /// Counts one call of `us` microseconds (`bounds`: the buckets' upper
    /// bounds). Only the series' own core calls it.
    #[inline]
    fn add(&self, us: u64, bounds: &[f64]) {
        bump(&self.count, 1);
        bump(&self.sum_us, us);
        if let Some(i) = bounds.iter().position(|b| us as f64 <= *b) {
            bump(&self.buckets[i], 1);
        }
    }
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics with [`DEFAULT_BUCKETS_US`].
    pub fn new() -> Self {
        Self::with_buckets(DEFAULT_BUCKETS_US)
    }

    /// Metrics with latency buckets of your own (upper bounds in µs,
    /// ascending; `+Inf` is implied).
    pub fn with_buckets(buckets_us: &[f64]) -> Self {
        let mut b: Vec<f64> = buckets_us
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        b.sort_by(f64::total_cmp);
        b.dedup();
        Self {
            inner: Arc::new(Inner {
                buckets: b.into(),
                cores: Mutex::new(Vec::new()),
                servers: Mutex::new(Vec::new()),
                clients: Mutex::new(Vec::new()),
                last_len: AtomicUsize::new(0),
            }),
        }
    }

    /// A factory of per-core tracers that record into these metrics: give
    /// it to [`ServerBuilder::tracer`](crate::server::ServerBuilder::tracer)
    /// (or a client's).
    pub fn tracer(&self) -> impl Fn() -> MetricsTracer + Send + Sync + 'static {
        let m = self.clone();
        move || m.core_tracer()
    }

    /// A tracer for the calling core.
    pub fn core_tracer(&self) -> MetricsTracer {
        let core = Arc::new(CoreSeries::default());
        if let Ok(mut cores) = self.inner.cores.lock() {
            cores.push(core.clone());
        }
        MetricsTracer {
            core,
            buckets: self.inner.buckets.clone(),
            index: RefCell::new(FxHashMap::default()),
            len: AtomicUsize::new(0),
        }
    }

    /// Exports a running server's connections, calls in flight, bytes and
    /// refusals too (see the module docs).
    pub fn add_server(&self, server: &ServerHandle) {
        if let Ok(mut s) = self.inner.servers.lock() {
            s.push(server.limits().clone());
        }
    }

    /// Exports a client's retries, backup requests, breaker refusals,
    /// breakers opened and fallbacks (see the module docs). Call it on
    /// each core with that core's client: the counts are summed by callee.
    pub fn add_client(&self, governance: &Governance) {
        if let Ok(mut c) = self.inner.clients.lock() {
            c.push((governance.callee().to_owned(), governance.shared_counters()));
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Collector(self.inner.clone())));
        // Room for what the last scrape wrote and a bit: growing a large
        // output by doubling copies it again and again.
        let hint = self.inner.last_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(hint + hint / 8);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        self.inner.last_len.store(out.len(), Ordering::Relaxed);
        out
    }

    /// Serves `GET /metrics` on `addr` from a thread of its own (not a
    /// core). Anything else gets `404` (another path) or `405` (another
    /// method); a connection idle for 5 s is closed. Stops when the
    /// returned endpoint is dropped.
    pub fn serve(&self, addr: SocketAddr) -> std::io::Result<MetricsEndpoint> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (m, stop2) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ringrpc-metrics".into())
            .spawn(move || accept_loop(listener, m, stop2))?;
        Ok(MetricsEndpoint {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }
}

/// Records calls into one core's series (a [`Tracer`]).
pub struct MetricsTracer {
    core: Arc<CoreSeries>,
    buckets: Box<[f64]>,
    /// Series by a hash of their labels (collisions share the `Vec`).
    index: RefCell<FxHashMap<u64, Vec<Arc<Series>>>>,
    len: AtomicUsize,
}

impl std::fmt::Debug for MetricsTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsTracer")
            .field("series", &self.len.load(Ordering::Relaxed))
            .finish()
    }
}

const UNKNOWN: &str = "unknown";
const OVERFLOW: &str = "overflow";

impl MetricsTracer {
    /// Adds a call of `us` microseconds to the series of `wanted`, made on
    /// first use. A known series is found and counted under the index's
    /// borrow: no reference count is touched on the call's path.
    fn record(&self, wanted: LabelsRef<'_>, us: u64) {
        let hash = wanted.hash();
        {
            let index = self.index.borrow();
            if let Some(s) = index
                .get(&hash)
                .and_then(|v| v.iter().find(|s| wanted.matches(&s.labels)))
            {
                s.add(us, &self.buckets);
                return;
            }
        }
        self.series(wanted).add(us, &self.buckets);
    }

    /// The series of `wanted`, made if new (or its `overflow` series).
    #[cold]
    fn series(&self, wanted: LabelsRef<'_>) -> Arc<Series> {
        let wanted = if self.len.load(Ordering::Relaxed) >= MAX_SERIES_PER_CORE {
            LabelsRef {
                caller: OVERFLOW,
                ..wanted
            }
        } else {
            wanted
        };
        let hash = wanted.hash();
        let mut index = self.index.borrow_mut();
        let slot = index.entry(hash).or_default();
        if let Some(s) = slot.iter().find(|s| wanted.matches(&s.labels)) {
            return s.clone();
        }
        let s = Arc::new(Series {
            labels: wanted.to_owned(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            buckets: (0..self.buckets.len()).map(|_| AtomicU64::new(0)).collect(),
        });
        slot.push(s.clone());
        self.len.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut list) = self.core.series.lock() {
            list.push(s.clone());
        }
        s
    }
}

#[derive(Clone, Copy)]
struct LabelsRef<'a> {
    side: SideKey,
    kind: &'static str,
    caller: &'a str,
    callee: &'a str,
    method: &'a str,
    status: &'static str,
    retry: u32,
}

impl LabelsRef<'_> {
    fn hash(&self) -> u64 {
        let mut h = FxHasher::default();
        self.side.hash(&mut h);
        self.kind.hash(&mut h);
        self.caller.hash(&mut h);
        self.callee.hash(&mut h);
        self.method.hash(&mut h);
        self.status.hash(&mut h);
        self.retry.hash(&mut h);
        h.finish()
    }

    fn matches(&self, l: &Labels) -> bool {
        self.side == l.side
            && self.kind == l.kind
            && self.status == l.status
            && self.retry == l.retry
            && self.method == l.method
            && self.callee == l.callee
            && self.caller == l.caller
    }

    fn to_owned(self) -> Labels {
        Labels {
            side: self.side,
            kind: self.kind,
            caller: self.caller.to_owned(),
            callee: self.callee.to_owned(),
            method: self.method.to_owned(),
            status: self.status,
            retry: self.retry,
        }
    }
}

impl Tracer for MetricsTracer {
    fn finish(&self, side: Side, info: &RpcInfo, stats: &RpcStats) {
        let Some(latency) = stats.latency() else {
            return;
        };
        fn name(e: &crate::context::Endpoint) -> &str {
            e.service
                .as_ref()
                .map(|s| s.as_str())
                .filter(|s| !s.is_empty())
                .unwrap_or(UNKNOWN)
        }
        let labels = LabelsRef {
            side: match side {
                Side::Server => SideKey::Server,
                Side::Client => SideKey::Client,
            },
            kind: if stats.oneway { "oneway" } else { "pingpong" },
            caller: name(&info.caller),
            callee: name(&info.callee),
            method: if info.method.is_empty() {
                UNKNOWN
            } else {
                info.method.as_str()
            },
            status: if stats.outcome.is_error() {
                "error"
            } else {
                "succeed"
            },
            retry: stats.retries,
        };
        self.record(labels, latency.as_micros() as u64);
    }
}

/// Sums of one set of labels over every core.
#[derive(Default)]
struct Sum {
    count: u64,
    sum_us: u64,
    buckets: Vec<u64>,
}

#[derive(Debug)]
struct Collector(Arc<Inner>);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inner")
    }
}

/// A label set as `prometheus-client` encodes it.
type LabelPairs = Vec<(&'static str, String)>;

fn label_pairs(l: &Labels) -> LabelPairs {
    vec![
        ("type", l.kind.to_owned()),
        ("caller", l.caller.clone()),
        ("callee", l.callee.clone()),
        ("method", l.method.clone()),
        ("status", l.status.to_owned()),
        ("retry", l.retry.to_string()),
    ]
}

/// A histogram's samples, for `prometheus-client`.
struct Hist<'a> {
    sum: &'a Sum,
    bounds: &'a [f64],
}

impl std::fmt::Debug for Hist<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hist")
    }
}

impl EncodeMetric for Hist<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Counts per bucket (the encoder sums them up), then the rest in
        // +Inf.
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.sum.buckets)
            .map(|(b, n)| (*b, *n))
            .collect();
        let below: u64 = self.sum.buckets.iter().sum();
        buckets.push((f64::INFINITY, self.sum.count.saturating_sub(below)));
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum.sum_us as f64,
            self.sum.count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// A plain number sample.
#[derive(Debug)]
struct Value(u64, MetricType);

impl EncodeMetric for Value {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self.1 {
            MetricType::Counter => encoder
                .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&self.0, None),
            _ => encoder.encode_gauge(&(self.0 as i64)),
        }
    }

    fn metric_type(&self) -> MetricType {
        self.1
    }
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.0;
        // Copy each core's list of series (the only lock a core also
        // takes, and only to add a series), then read the counters.
        let cores: Vec<Arc<CoreSeries>> = inner.cores.lock().map(|c| c.clone()).unwrap_or_default();
        let mut sums: std::collections::BTreeMap<Labels, Sum> = Default::default();
        for core in &cores {
            let list: Vec<Arc<Series>> = core.series.lock().map(|l| l.clone()).unwrap_or_default();
            for s in list {
                let e = sums.entry(s.labels.clone()).or_insert_with(|| Sum {
                    buckets: vec![0; inner.buckets.len()],
                    ..Sum::default()
                });
                e.count += s.count.load(Ordering::Relaxed);
                e.sum_us += s.sum_us.load(Ordering::Relaxed);
                for (a, b) in e.buckets.iter_mut().zip(s.buckets.iter()) {
                    *a += b.load(Ordering::Relaxed);
                }
            }
        }
        for (side, prefix, help) in [
            (
                SideKey::Server,
                "kitex_server",
                "RPCs completed by the server, regardless of success or failure.",
            ),
            (
                SideKey::Client,
                "kitex_client",
                "RPCs completed by the client, regardless of success or failure.",
            ),
        ] {
            let mine: Vec<(&Labels, &Sum)> = sums.iter().filter(|(l, _)| l.side == side).collect();
            if mine.is_empty() {
                continue;
            }
            let name = format!("{prefix}_throughput");
            let mut family = encoder.encode_descriptor(&name, help, None, MetricType::Unknown)?;
            for (l, s) in &mine {
                let pairs = label_pairs(l);
                Value(s.count, MetricType::Unknown).encode(family.encode_family(&pairs)?)?;
            }
            let name = format!("{prefix}_latency_us");
            let mut family = encoder.encode_descriptor(
                &name,
                "Latency (microseconds) of RPCs, from start to finish.",
                None,
                MetricType::Histogram,
            )?;
            for (l, s) in &mine {
                let pairs = label_pairs(l);
                Hist {
                    sum: s,
                    bounds: &inner.buckets,
                }
                .encode(family.encode_family(&pairs)?)?;
            }
        }
        let servers: Vec<LimitHandle> = inner.servers.lock().map(|s| s.clone()).unwrap_or_default();
        if !servers.is_empty() {
            server_families(&mut encoder, &servers)?;
        }
        let clients: Vec<(String, Arc<Counters>)> =
            inner.clients.lock().map(|c| c.clone()).unwrap_or_default();
        if !clients.is_empty() {
            client_families(&mut encoder, &clients)?;
        }
        Ok(())
    }
}

/// The engine's own client families (see the module docs).
fn client_families(
    encoder: &mut DescriptorEncoder,
    clients: &[(String, Arc<Counters>)],
) -> Result<(), std::fmt::Error> {
    let mut by_callee: std::collections::BTreeMap<&str, Vec<CallCounters>> = Default::default();
    for (callee, c) in clients {
        by_callee.entry(callee).or_default().push(c.get());
    }
    type Family = (&'static str, &'static str, fn(&CallCounters) -> u64);
    let families: [Family; 6] = [
        (
            "ringrpc_client_retries",
            "Attempts sent again after a failure or a retryable result.",
            |c| c.retries,
        ),
        (
            "ringrpc_client_result_retries",
            "Of the retries, those sent because a reply matched a result retry rule.",
            |c| c.result_retries,
        ),
        (
            "ringrpc_client_backups",
            "Backup requests sent because no answer came in time.",
            |c| c.backups,
        ),
        (
            "ringrpc_client_breaker_rejected",
            "Attempts a service circuit breaker refused.",
            |c| c.rejected,
        ),
        (
            "ringrpc_client_breakers_opened",
            "Times a circuit breaker (service or instance) opened.",
            |c| c.breakers_opened,
        ),
        (
            "ringrpc_client_fallbacks",
            "Failed calls a fallback answered.",
            |c| c.fallbacks,
        ),
    ];
    for (name, help, f) in families {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (callee, counts) in &by_callee {
            let v = counts.iter().map(f).sum::<u64>();
            let labels = [("callee", (*callee).to_owned())];
            Value(v, MetricType::Counter).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// The engine's own server families (see the module docs).
fn server_families(
    encoder: &mut DescriptorEncoder,
    servers: &[LimitHandle],
) -> Result<(), std::fmt::Error> {
    let per_core: Vec<(usize, crate::server::CoreStats)> = servers
        .iter()
        .flat_map(|s| s.core_stats().into_iter().enumerate())
        .collect();
    let gauge = |encoder: &mut DescriptorEncoder,
                 name: &str,
                 help: &str,
                 f: fn(&crate::server::CoreStats) -> u64|
     -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (core, s) in &per_core {
            let labels = [("core", core.to_string())];
            Value(f(s), MetricType::Gauge).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    };
    gauge(
        encoder,
        "ringrpc_server_connections",
        "Connections open, per core.",
        |s| s.connections,
    )?;
    gauge(
        encoder,
        "ringrpc_server_inflight",
        "Calls being served, per core.",
        |s| s.inflight,
    )?;
    let total = |f: fn(&crate::server::CoreStats) -> u64| per_core.iter().map(|(_, s)| f(s)).sum();
    let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64| {
        let family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        Value(v, MetricType::Counter).encode(family)
    };
    counter(
        encoder,
        "ringrpc_server_read_bytes",
        "Bytes read from connections.",
        total(|s| s.bytes_read),
    )?;
    counter(
        encoder,
        "ringrpc_server_written_bytes",
        "Bytes written to connections.",
        total(|s| s.bytes_written),
    )?;
    counter(
        encoder,
        "ringrpc_server_malformed_metainfo",
        "Malformed metainfo values that arrived and were ignored.",
        total(|s| s.malformed_metainfo),
    )?;
    counter(
        encoder,
        "ringrpc_server_tls_handshakes",
        "TLS handshakes completed.",
        total(|s| s.tls_handshakes),
    )?;
    counter(
        encoder,
        "ringrpc_server_tls_resumed",
        "TLS handshakes that resumed a session.",
        total(|s| s.tls_resumed),
    )?;
    counter(
        encoder,
        "ringrpc_server_tls_handshake_failures",
        "TLS handshakes that failed (bad or missing certificate, plaintext on a TLS-only port, a stall).",
        total(|s| s.tls_handshake_failures),
    )?;
    counter(
        encoder,
        "ringrpc_server_grpc_connections",
        "HTTP/2 (gRPC) connections accepted.",
        total(|s| s.grpc_connections),
    )?;
    counter(
        encoder,
        "ringrpc_server_grpc_rapid_resets",
        "gRPC connections closed with GOAWAY ENHANCE_YOUR_CALM for resetting too many streams.",
        total(|s| s.grpc_rapid_resets),
    )?;
    let mut stats = crate::server::LimitStats::default();
    for s in servers {
        let l = s.stats();
        stats.rejected_qps += l.rejected_qps;
        stats.rejected_concurrency += l.rejected_concurrency;
        stats.rejected_limiter += l.rejected_limiter;
        stats.rejected_connections += l.rejected_connections;
        stats.expired += l.expired;
        stats.timed_out += l.timed_out;
    }
    let mut family = encoder.encode_descriptor(
        "ringrpc_server_rejected",
        "Calls (or connections) refused by the server's limits.",
        None,
        MetricType::Counter,
    )?;
    for (reason, v) in [
        ("qps", stats.rejected_qps),
        ("concurrency", stats.rejected_concurrency),
        ("limiter", stats.rejected_limiter),
        ("connections", stats.rejected_connections),
    ] {
        let labels = [("reason", reason.to_owned())];
        Value(v, MetricType::Counter).encode(family.encode_family(&labels)?)?;
    }
    counter(
        encoder,
        "ringrpc_server_expired",
        "Calls answered without running the handler: the caller's deadline had passed.",
        stats.expired,
    )?;
    counter(
        encoder,
        "ringrpc_server_timed_out",
        "Calls whose handler was stopped at the caller's deadline.",
        stats.timed_out,
    )
}

/// A running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connections served at once; more are closed at once.
const MAX_SCRAPERS: usize = 16;
/// A request's head may take this many bytes.
const MAX_HEAD: usize = 8 * 1024;
/// An idle or slow connection is closed after this long.
const IDLE: Duration = Duration::from_secs(5);

fn accept_loop(listener: TcpListener, metrics: Metrics, stop: Arc<AtomicBool>) {
    let busy = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_SCRAPERS {
            busy.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (m, b) = (metrics.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name("ringrpc-metrics-conn".into())
            .spawn(move || {
                serve_conn(conn, &m);
                b.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Answers requests on one connection until it closes, idles or errs.
fn serve_conn(mut conn: TcpStream, metrics: &Metrics) {
    let _ = conn.set_read_timeout(Some(IDLE));
    let _ = conn.set_write_timeout(Some(IDLE));
    let mut buf = vec![0u8; MAX_HEAD];
    let mut have = 0;
    loop {
        // A whole request may already be buffered (pipelined requests).
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(&buf[..have]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if have < MAX_HEAD => {
                match conn.read(&mut buf[have..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => have += n,
                }
                continue;
            }
            // Too long or not HTTP: say so and close.
            _ => {
                let _ = respond(
                    &mut conn,
                    "400 Bad Request",
                    "text/plain",
                    "bad request\n",
                    false,
                );
                return;
            }
        };
        let keep = req.version == Some(1)
            && !req.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
            });
        let path = req.path.unwrap_or("").split('?').next().unwrap_or("");
        let sent = match (req.method, path) {
            (Some("GET"), "/metrics") => respond(
                &mut conn,
                "200 OK",
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                &metrics.encode(),
                keep,
            ),
            (Some(_), "/metrics") => respond(
                &mut conn,
                "405 Method Not Allowed",
                "text/plain",
                "only GET\n",
                keep,
            ),
            _ => respond(
                &mut conn,
                "404 Not Found",
                "text/plain",
                "not found\n",
                keep,
            ),
        };
        if sent.is_err() || !keep {
            return;
        }
        // A request body is not expected; what follows the head is the
        // next request.
        buf.copy_within(head_len..have, 0);
        have -= head_len;
    }
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    keep: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}{}\r\n",
        body.len(),
        if status.starts_with("405") {
            "Allow: GET\r\n"
        } else {
            ""
        },
        if keep { "" } else { "Connection: close\r\n" },
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())
}
