//! The load generator: one pinned monoio event loop per load core, each
//! driving its share of the connections.
//!
//! The request path is lean on purpose, so that the generator is not what
//! is measured: a connection encodes its call frame once
//! ([`request::RequestTemplate`]) and only patches the seq ids before each
//! write; it cuts reply frames with the codec and reads only their message
//! header (seq id and type), never the body. Latencies go into one
//! HDR histogram per core, merged at the end.
//!
//! Two load models:
//! - **closed loop** ([`closed`]): each connection keeps `depth` requests in
//!   flight; a reply is answered with the next request. Depth above one is
//!   pipelining on Framed/Buffered (replies in order) and multiplexing on
//!   TTHeader (replies in any order, matched by seq id).
//! - **open loop** ([`open`]): requests are due at a fixed rate, whatever
//!   the replies do, and latency counts from when a request was *due*, not
//!   from when it could be sent: wrk2's correction for coordinated omission.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringrpc::codec::thrift::MessageType;
use ringrpc::codec::transport::Codec;

use crate::alloc;
use crate::cpu::ThreadGroup;
use crate::uring::UringMode;

pub mod closed;
pub mod open;
pub mod request;
pub mod slots;

/// What to send, where, and how.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Transport and protocol of the requests.
    pub codec: Codec,
    /// The echoed message's length in bytes.
    pub payload: usize,
    /// Connections, spread over the load cores.
    pub connections: usize,
    /// Requests in flight per connection at most.
    pub depth: usize,
    /// Requests per second in total (open loop); `None` for the closed loop.
    pub rate: Option<f64>,
    /// Load cores.
    pub cores: usize,
    /// The CPU the first load core is pinned to.
    pub first_core: usize,
    /// The message type a good reply has: `Reply`, or `Call` against a server
    /// that echoes frames back verbatim.
    pub expect: MessageType,
    /// The load cores' io_uring task-run mode.
    pub uring: UringMode,
    /// Connect with TLS (closed loop only).
    pub tls: Option<ringrpc::engine::tls::ClientTls>,
}

/// One load connection: plain TCP or TLS.
pub(crate) enum Conn {
    Plain(monoio::net::TcpStream),
    Tls(Box<ringrpc::engine::tls::TlsStream>),
}

impl Conn {
    /// Writes all of `out`; returns it for reuse.
    pub(crate) async fn write_all(&mut self, out: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        use monoio::io::AsyncWriteRentExt;
        match self {
            Conn::Plain(s) => {
                let (r, out) = s.write_all(out).await;
                (r.map(drop), out)
            }
            Conn::Tls(s) => (s.write_all(&out).await, out),
        }
    }

    /// Reads into `buf`: the bytes added, 0 when the server closed.
    pub(crate) async fn read(
        &mut self,
        buf: &mut ringrpc::codec::buffer::LinkBuffer,
    ) -> std::io::Result<usize> {
        use monoio::io::AsyncReadRent;
        match self {
            Conn::Plain(s) => {
                let (r, chunk) = s.read(buf.read_target()).await;
                buf.commit_read(chunk);
                r
            }
            Conn::Tls(s) => s.read(buf).await,
        }
    }
}

/// The phases of a run, flipped by the controlling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Load runs, nothing is recorded.
    Warmup = 0,
    /// Load runs, replies are recorded.
    Measure = 1,
    /// Connections stop.
    Stop = 2,
}

/// Errors seen by the generator, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCounts {
    /// Connections that could not be opened.
    pub connect: u64,
    /// Connections that failed or were closed by the server mid-run.
    pub io: u64,
    /// Reply frames that did not decode (the connection is then closed).
    pub decode: u64,
    /// Application exceptions.
    pub exception: u64,
    /// Replies of an unexpected message type.
    pub wrong_type: u64,
    /// Replies whose seq id matches no request in flight.
    pub bad_seqid: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect + self.io + self.decode + self.exception + self.wrong_type + self.bad_seqid
    }

    fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.io += o.io;
        self.decode += o.decode;
        self.exception += o.exception;
        self.wrong_type += o.wrong_type;
        self.bad_seqid += o.bad_seqid;
    }
}

/// One load core's counters, on their own cache line.
#[repr(align(128))]
#[derive(Debug, Default)]
struct CoreProgress {
    done: AtomicU64,
    errors: AtomicU64,
}

/// What the controlling thread and the load cores share.
#[derive(Debug)]
pub struct Control {
    phase: AtomicU8,
    cores: Vec<CoreProgress>,
    connected: AtomicUsize,
    failed: AtomicUsize,
}

impl Control {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Warmup,
            1 => Phase::Measure,
            _ => Phase::Stop,
        }
    }
}

/// The threads of the load cores (their CPU time is the generator's cost).
pub static LOAD_THREADS: ThreadGroup = ThreadGroup::new();

/// One load core's state, shared by its connection tasks.
pub(crate) struct Core {
    pub(crate) spec: Arc<LoadSpec>,
    control: Arc<Control>,
    index: usize,
    hist: std::cell::RefCell<Histogram<u64>>,
    /// Latencies of the application-exception replies (a server's refusals
    /// under its limits), in the window.
    exception_hist: std::cell::RefCell<Histogram<u64>>,
    ok: std::cell::Cell<u64>,
    errors: std::cell::RefCell<ErrorCounts>,
    pub(crate) live: std::cell::Cell<usize>,
}

impl Core {
    pub(crate) fn phase(&self) -> Phase {
        self.control.phase()
    }

    pub(crate) fn stopped(&self) -> bool {
        self.phase() == Phase::Stop
    }

    /// Records a good reply whose latency started at `since`.
    #[inline]
    pub(crate) fn record(&self, since: Instant, now: Instant, phase: Phase) {
        if phase == Phase::Measure {
            let ns = now.saturating_duration_since(since).as_nanos() as u64;
            self.hist.borrow_mut().saturating_record(ns.max(1));
            self.ok.set(self.ok.get() + 1);
        }
        self.control.cores[self.index]
            .done
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records the latency of an application-exception reply (counted as an
    /// error through [`error`](Self::error) too).
    #[inline]
    pub(crate) fn record_exception(&self, since: Instant, now: Instant, phase: Phase) {
        if phase == Phase::Measure {
            let ns = now.saturating_duration_since(since).as_nanos() as u64;
            self.exception_hist
                .borrow_mut()
                .saturating_record(ns.max(1));
        }
    }

    /// Counts an error.
    pub(crate) fn error(&self, f: impl FnOnce(&mut ErrorCounts)) {
        f(&mut self.errors.borrow_mut());
        self.control.cores[self.index]
            .errors
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// What one run of the generator measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Latencies of the good replies in the measurement window, in ns.
    pub hist: Histogram<u64>,
    /// Good replies in the window.
    pub ok: u64,
    /// Errors over the whole run.
    pub errors: ErrorCounts,
    /// Latencies of the application-exception replies in the window, in ns.
    pub exception_hist: Histogram<u64>,
}

/// A running generator.
#[derive(Debug)]
pub struct Generator {
    control: Arc<Control>,
    threads: Vec<std::thread::JoinHandle<()>>,
    results: crossbeam_channel::Receiver<CoreResult>,
}

/// A new histogram for latencies in nanoseconds (1 ns to 100 s, 3 digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

impl Generator {
    /// Starts the load cores and opens every connection; returns once all
    /// are open (load is already flowing, in the warm-up phase).
    pub fn start(spec: LoadSpec) -> std::io::Result<Generator> {
        LOAD_THREADS.clear();
        let cores = spec.cores.max(1).min(spec.connections.max(1));
        let control = Arc::new(Control {
            phase: AtomicU8::new(Phase::Warmup as u8),
            cores: (0..cores).map(|_| CoreProgress::default()).collect(),
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        });
        let spec = Arc::new(spec);
        let cpus = core_affinity::get_core_ids().unwrap_or_default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for i in 0..cores {
            // Connections i, i + cores, i + 2 * cores, ...
            let n = (spec.connections + cores - 1 - i) / cores;
            let (spec, control, tx) = (spec.clone(), control.clone(), tx.clone());
            let cpu = (!cpus.is_empty()).then(|| cpus[(spec.first_core + i) % cpus.len()]);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ringrpc-load-{i}"))
                    .spawn(move || {
                        if let Some(cpu) = cpu {
                            core_affinity::set_for_current(cpu);
                        }
                        alloc::set_role(alloc::Role::Load);
                        LOAD_THREADS.join();
                        let out = run_core(i, n, spec, control);
                        let _ = tx.send(out);
                    })?,
            );
        }
        let gen_ = Generator {
            control,
            threads,
            results: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let c = &gen_.control;
            let opened = c.connected.load(Ordering::SeqCst);
            let failed = c.failed.load(Ordering::SeqCst);
            if opened + failed >= spec.connections {
                if failed > 0 {
                    gen_.stop_threads();
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        format!(
                            "{failed} of {} connections to {} failed",
                            spec.connections, spec.addr
                        ),
                    ));
                }
                break;
            }
            if Instant::now() > deadline {
                gen_.stop_threads();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "only {opened} of {} connections opened in 10 s",
                        spec.connections
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(gen_)
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.control.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Replies and errors so far, all cores (for progress display).
    pub fn progress(&self) -> (u64, u64) {
        self.control.cores.iter().fold((0, 0), |(d, e), c| {
            (
                d + c.done.load(Ordering::Relaxed),
                e + c.errors.load(Ordering::Relaxed),
            )
        })
    }

    fn stop_threads(&self) {
        self.set_phase(Phase::Stop);
    }

    /// Stops the load and merges what every core measured.
    pub fn finish(self) -> LoadResult {
        self.stop_threads();
        let mut hist = new_histogram();
        let mut exception_hist = new_histogram();
        let mut ok = 0;
        let mut errors = ErrorCounts::default();
        for _ in 0..self.threads.len() {
            match self.results.recv_timeout(Duration::from_secs(10)) {
                Ok((h, n, e, x)) => {
                    let _ = hist.add(&h);
                    let _ = exception_hist.add(&x);
                    ok += n;
                    errors.add(&e);
                }
                Err(_) => break,
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        LoadResult {
            hist,
            ok,
            errors,
            exception_hist,
        }
    }
}

fn run_core(index: usize, conns: usize, spec: Arc<LoadSpec>, control: Arc<Control>) -> CoreResult {
    let mut rt = match crate::uring::build(4096, spec.uring) {
        Ok(rt) => rt,
        Err(_) => {
            control.failed.fetch_add(conns, Ordering::SeqCst);
            let errors = ErrorCounts {
                connect: conns as u64,
                ..Default::default()
            };
            return (new_histogram(), 0, errors, new_histogram());
        }
    };
    let core = Rc::new(Core {
        spec: spec.clone(),
        control: control.clone(),
        index,
        hist: std::cell::RefCell::new(new_histogram()),
        exception_hist: std::cell::RefCell::new(new_histogram()),
        ok: std::cell::Cell::new(0),
        errors: std::cell::RefCell::new(ErrorCounts::default()),
        live: std::cell::Cell::new(0),
    });
    rt.block_on(async {
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let conn = match &spec.tls {
                None => monoio::net::TcpStream::connect(spec.addr).await.map(|s| {
                    let _ = s.set_nodelay(true);
                    Conn::Plain(s)
                }),
                Some(tls) => ringrpc::engine::tls::TlsStream::connect(
                    spec.addr,
                    tls,
                    Duration::from_secs(10),
                )
                .await
                .map(|s| Conn::Tls(Box::new(s))),
            };
            match conn {
                Ok(c) => {
                    streams.push(c);
                    control.connected.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {
                    core.error(|e| e.connect += 1);
                    control.failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        core.live.set(streams.len());
        match spec.rate {
            None => {
                for s in streams {
                    monoio::spawn(closed::run(s, core.clone()));
                }
            }
            Some(rate) => {
                let streams = streams
                    .into_iter()
                    .filter_map(|c| match c {
                        Conn::Plain(s) => Some(s),
                        Conn::Tls(_) => None,
                    })
                    .collect();
                let share = rate * conns as f64 / spec.connections.max(1) as f64;
                open::start(streams, share, core.clone());
            }
        }
        // Wait for the stop, then give the connections a moment to notice.
        while !core.stopped() {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        let grace = Instant::now() + Duration::from_millis(500);
        while core.live.get() > 0 && Instant::now() < grace {
            monoio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let hist = core.hist.borrow().clone();
    let exceptions = core.exception_hist.borrow().clone();
    let ok = core.ok.get();
    let errors = *core.errors.borrow();
    (hist, ok, errors, exceptions)
}

/// What one load core measured: good latencies, good replies, errors, and
/// exception latencies.
type CoreResult = (Histogram<u64>, u64, ErrorCounts, Histogram<u64>);

/// Decrements the core's live-connection count when a connection task ends.
pub(crate) struct LiveGuard(pub(crate) Rc<Core>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.set(self.0.live.get().saturating_sub(1));
    }
}
