//! The harness's own HTTP/2 load for the unary comparison: a closed loop
//! over N connections, each keeping `streams` echo calls in flight, on one
//! event loop pinned to the load core.
//!
//! Why not only h2load: one h2load thread tops out near 45k requests per
//! second on this kind of machine, below what one server core can answer,
//! so a faster server cannot show it. This client does what any gRPC
//! client does on the wire and no more: the connection preface, SETTINGS,
//! one HEADERS and one DATA frame per request (its header block indexed in
//! the HPACK dynamic table after the first request, as gRPC clients and
//! h2load do), WINDOW_UPDATE for what it reads, PING and SETTINGS
//! acknowledged. It is the same client for every server.
//!
//! Every reply is checked, not just counted: HTTP status 200, the echoed
//! message's length, and `grpc-status: 0` in the trailers (the header
//! blocks are decoded with HPACK, the fork's decoder). Anything else is an
//! error, and a protocol error ends the run.

use std::cell::RefCell;
use std::io::Cursor;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio_http::h2::hpack::{Decoder, Header};

use super::{Failure, Mark, Window};
use crate::cpu::CpuClock;
use crate::load::new_histogram;
use crate::measure::Timing;
use crate::peers::ChildServer;

/// What to run.
#[derive(Debug, Clone)]
pub struct GenSpec {
    /// The server.
    pub addr: SocketAddr,
    /// The method's path.
    pub path: String,
    /// The whole request body (its length-prefixed message).
    pub body: Vec<u8>,
    /// The length of the reply body an echo must send back.
    pub reply_len: usize,
    /// Connections.
    pub connections: usize,
    /// Calls in flight per connection.
    pub streams: usize,
    /// Warm-up and window.
    pub timing: Timing,
    /// The CPU the load runs on.
    pub cpu: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct GenRun {
    /// Good replies per second in the window.
    pub qps: f64,
    /// Latency of the good replies in the window, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Replies that were not a good echo (wrong status, length or
    /// grpc-status, or a reset stream), over the whole run.
    pub errors: u64,
    /// Server CPU time per reply in the window (µs).
    pub server_cpu_us_per_req: Option<f64>,
    /// Server CPU over wall time in the window.
    pub server_cpu_busy: Option<f64>,
    /// Server heap allocations per reply in the window, when it counts them.
    pub server_allocs_per_req: Option<f64>,
    /// The load thread's CPU over wall time in the window (1.0: the load
    /// is the limit, not the server).
    pub load_cpu_busy: Option<f64>,
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// What the load thread shares with the thread timing it.
#[derive(Default)]
struct Shared {
    phase: AtomicU8,
    done: AtomicU64,
    errors: AtomicU64,
    connected: AtomicUsize,
    failure: Failure,
}

impl Shared {
    fn fail(&self, why: String) {
        self.failure.set(why);
        self.phase.store(STOP, Ordering::Release);
    }

    fn failure(&self) -> Option<String> {
        self.failure.get()
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }
}

/// Runs the load against `spec.addr` and returns what it measured; the CPU
/// clock and allocation counters of `server`, when given, are read at the
/// window's ends.
pub fn run(spec: &GenSpec, server: Option<&ChildServer>) -> std::io::Result<GenRun> {
    let shared = Arc::new(Shared::default());
    let (clock_tx, clock_rx) = std::sync::mpsc::channel();
    let (sh, sp) = (shared.clone(), Arc::new(spec.clone()));
    let thread = std::thread::Builder::new()
        .name("ringrpc-grpc-load".into())
        .spawn(move || -> Histogram<u64> {
            if let Some(id) = core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.id == sp.cpu)
            {
                core_affinity::set_for_current(id);
            }
            let _ = clock_tx.send(CpuClock::this_thread().ok());
            let hist = Rc::new(RefCell::new(new_histogram()));
            match crate::uring::build(1024, crate::uring::UringMode::Coop) {
                Ok(mut rt) => rt.block_on(drive(sp, sh, hist.clone())),
                Err(e) => sh.fail(format!("an event loop for the load: {e}")),
            }
            Rc::try_unwrap(hist)
                .map(RefCell::into_inner)
                .unwrap_or_else(|h| h.borrow().clone())
        })?;
    let load = clock_rx.recv().ok().flatten();
    let started = Instant::now();
    while shared.connected.load(Ordering::Acquire) < spec.connections && shared.failure().is_none()
    {
        if started.elapsed() > Duration::from_secs(10) {
            shared.fail("the connections did not open within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(spec.timing.warmup);
    let mark = || Mark::take(shared.done.load(Ordering::Acquire), server, load);
    shared
        .phase
        .compare_exchange(WARMUP, MEASURE, Ordering::AcqRel, Ordering::Acquire)
        .ok();
    let a = mark();
    let t = Instant::now();
    while t.elapsed() < spec.timing.duration && shared.failure().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = mark();
    shared.phase.store(STOP, Ordering::Release);
    let hist = thread
        .join()
        .map_err(|_| std::io::Error::other("the load thread panicked"))?;
    if let Some(why) = shared.failure() {
        return Err(std::io::Error::other(format!("gRPC load: {why}")));
    }
    let w = Window::between(&a, &b);
    Ok(GenRun {
        qps: w.rate(),
        hist,
        errors: shared.errors.load(Ordering::Acquire),
        server_cpu_us_per_req: w.server_cpu_us_per,
        server_cpu_busy: w.server_cpu_busy,
        server_allocs_per_req: w.server_allocs_per,
        load_cpu_busy: w.load_cpu_busy,
    })
}

/// Opens every connection and runs them until the phase says stop.
async fn drive(spec: Arc<GenSpec>, shared: Arc<Shared>, hist: Rc<RefCell<Histogram<u64>>>) {
    let template = Rc::new(Template::new(&spec));
    let mut tasks = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections.max(1) {
        let (spec, shared, hist, t) =
            (spec.clone(), shared.clone(), hist.clone(), template.clone());
        tasks.push(monoio::spawn(async move {
            if let Err(why) = connection(&spec, &shared, &hist, &t).await {
                shared.fail(why);
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

/// The bytes every request shares.
struct Template {
    /// The header block of a connection's first request: the path, the
    /// authority, `content-type` and `te` as literals added to the dynamic
    /// table.
    first_block: Vec<u8>,
    /// The header block of every later request: indexes only.
    indexed_block: Vec<u8>,
    /// The same headers as literals not indexed (a server whose dynamic
    /// table is too small for them).
    literal_block: Vec<u8>,
    body: Vec<u8>,
    reply_len: usize,
}

/// HPACK's static table indexes (RFC 7541, appendix A).
const STATIC_AUTHORITY: usize = 1;
const STATIC_METHOD_POST: usize = 3;
const STATIC_PATH: usize = 4;
const STATIC_SCHEME_HTTP: usize = 6;
const STATIC_CONTENT_TYPE: usize = 31;
const STATIC_USER_AGENT: usize = 58;

impl Template {
    fn new(spec: &GenSpec) -> Template {
        let authority = spec.addr.to_string();
        // What every gRPC client sends (user-agent included: grpc-go,
        // grpc-java and grpcio all do).
        let headers: [(Name, &[u8]); 5] = [
            (Name::Indexed(STATIC_PATH), spec.path.as_bytes()),
            (Name::Indexed(STATIC_AUTHORITY), authority.as_bytes()),
            (Name::Indexed(STATIC_CONTENT_TYPE), b"application/grpc"),
            (Name::Literal(b"te"), b"trailers"),
            (Name::Indexed(STATIC_USER_AGENT), b"ringrpc-perf-h2gen/0.1"),
        ];
        let head = |out: &mut Vec<u8>| {
            int(out, 0x80, 7, STATIC_METHOD_POST);
            int(out, 0x80, 7, STATIC_SCHEME_HTTP);
        };
        let (mut first, mut indexed, mut literal) = (Vec::new(), Vec::new(), Vec::new());
        head(&mut first);
        head(&mut indexed);
        head(&mut literal);
        for (name, value) in &headers {
            literal_header(&mut first, 0x40, 6, name, value);
            literal_header(&mut literal, 0x00, 4, name, value);
        }
        // Entries go in at index 62 and push older ones up: after the five
        // above, the first (the path) is 66 and the last (user-agent) 62.
        for k in 0..headers.len() {
            int(&mut indexed, 0x80, 7, 62 + headers.len() - 1 - k);
        }
        Template {
            first_block: first,
            indexed_block: indexed,
            literal_block: literal,
            body: spec.body.clone(),
            reply_len: spec.reply_len,
        }
    }

    /// At least the bytes the indexed entries take in the server's dynamic
    /// table (RFC 7541 4.1: name + value + 32 each).
    fn table_bytes(&self) -> usize {
        self.first_block.len() + 5 * 32
    }
}

/// A header's name: a static table index or a literal.
enum Name<'a> {
    Indexed(usize),
    Literal(&'a [u8]),
}

/// An HPACK integer with an `n`-bit prefix under `flags` (RFC 7541 5.1).
fn int(out: &mut Vec<u8>, flags: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A literal header field (raw strings, no Huffman).
fn literal_header(out: &mut Vec<u8>, flags: u8, n: u32, name: &Name<'_>, value: &[u8]) {
    match name {
        Name::Indexed(i) => int(out, flags, n, *i),
        Name::Literal(s) => {
            int(out, flags, n, 0);
            int(out, 0, 7, s.len());
            out.extend_from_slice(s);
        }
    }
    int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

// HTTP/2 (RFC 9113): frame types, flags, settings.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The window this client gives the server, per stream and for the
/// connection; it hands back what it reads once half is used.
const RECV_WINDOW: u32 = 16 << 20;

fn frame_head(out: &mut Vec<u8>, len: usize, ty: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(ty);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// A call in flight.
struct Slot {
    stream: u32,
    since: Instant,
    status: u16,
    grpc_ok: Option<bool>,
    data: usize,
}

/// One connection's state.
struct Conn<'a> {
    t: &'a Template,
    shared: &'a Shared,
    hist: &'a RefCell<Histogram<u64>>,
    out: Vec<u8>,
    slots: Vec<Slot>,
    want: usize,
    next_stream: u32,
    settings_seen: bool,
    first_sent: bool,
    /// The server's dynamic table holds this client's request headers.
    indexed: bool,
    /// What the connection's window lets this client send (RFC 9113 6.9).
    send_window: i64,
    /// A new stream's window, from the server's SETTINGS: every call
    /// sends one body on a new stream, so no stream's window is tracked.
    stream_window: i64,
    max_frame: usize,
    unacked: u32,
    decoder: Decoder,
    /// A header block still waiting for its CONTINUATION frames.
    block: BytesMut,
    block_stream: u32,
    block_end_stream: bool,
}

async fn connection(
    spec: &GenSpec,
    shared: &Shared,
    hist: &RefCell<Histogram<u64>>,
    t: &Template,
) -> Result<(), String> {
    let mut tcp = monoio::net::TcpStream::connect(spec.addr)
        .await
        .map_err(|e| format!("connect to {}: {e}", spec.addr))?;
    let _ = tcp.set_nodelay(true);
    shared.connected.fetch_add(1, Ordering::AcqRel);
    let mut c = Conn {
        t,
        shared,
        hist,
        out: Vec::with_capacity(4096 + spec.streams * (t.body.len() + 64)),
        slots: Vec::with_capacity(spec.streams),
        want: spec.streams.max(1),
        next_stream: 1,
        settings_seen: false,
        first_sent: false,
        indexed: false,
        send_window: 65_535,
        stream_window: 65_535,
        max_frame: 16_384,
        unacked: 0,
        decoder: Decoder::new(4096),
        block: BytesMut::new(),
        block_stream: 0,
        block_end_stream: false,
    };
    c.out.extend_from_slice(PREFACE);
    let settings: [(u16, u32); 2] = [
        (SETTINGS_ENABLE_PUSH, 0),
        (SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW),
    ];
    frame_head(&mut c.out, settings.len() * 6, SETTINGS, 0, 0);
    for (id, v) in settings {
        c.out.extend_from_slice(&id.to_be_bytes());
        c.out.extend_from_slice(&v.to_be_bytes());
    }
    frame_head(&mut c.out, 4, WINDOW_UPDATE, 0, 0);
    c.out
        .extend_from_slice(&(RECV_WINDOW - 65_535).to_be_bytes());
    let mut rbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut pos = 0;
    loop {
        if !c.out.is_empty() {
            let (res, out) = tcp.write_all(std::mem::take(&mut c.out)).await;
            c.out = out;
            c.out.clear();
            if let Err(e) = res {
                return stopped_or(shared, format!("write: {e}"));
            }
        }
        if shared.phase() == STOP && c.slots.is_empty() {
            return Ok(());
        }
        // Read more, keeping what is not a whole frame yet.
        if pos > 0 {
            rbuf.copy_within(pos.., 0);
            rbuf.truncate(rbuf.len() - pos);
            pos = 0;
        }
        if rbuf.capacity() - rbuf.len() < 16 * 1024 {
            rbuf.reserve(64 * 1024);
        }
        let len = rbuf.len();
        let cap = rbuf.capacity();
        let (res, slice) = tcp.read(rbuf.slice_mut(len..cap)).await;
        rbuf = slice.into_inner();
        match res {
            Ok(0) => return stopped_or(shared, "the server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return stopped_or(shared, format!("read: {e}")),
        }
        let now = Instant::now();
        while rbuf.len() - pos >= 9 {
            let h = &rbuf[pos..pos + 9];
            let flen = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            if rbuf.len() - pos - 9 < flen {
                break;
            }
            let (ty, flags) = (h[3], h[4]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            let payload = &rbuf[pos + 9..pos + 9 + flen];
            c.frame(ty, flags, stream, payload, now)?;
            pos += 9 + flen;
        }
        c.issue(Instant::now())?;
    }
}

/// Ok once the run is stopping (the server may close first), else `why`.
fn stopped_or(shared: &Shared, why: String) -> Result<(), String> {
    if shared.phase() == STOP {
        Ok(())
    } else {
        Err(why)
    }
}

impl Conn<'_> {
    /// Handles one frame from the server.
    fn frame(
        &mut self,
        ty: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        if self.block_stream != 0 && ty != CONTINUATION {
            return Err("a header block was cut by another frame".into());
        }
        match ty {
            DATA => {
                self.unacked += payload.len() as u32;
                let data = unpad(flags, payload)?.len();
                let slot = self.slot(stream)?;
                slot.data += data;
                if flags & END_STREAM != 0 {
                    self.complete(stream, now);
                }
                if self.unacked >= RECV_WINDOW / 2 {
                    frame_head(&mut self.out, 4, WINDOW_UPDATE, 0, 0);
                    self.out.extend_from_slice(&self.unacked.to_be_bytes());
                    self.unacked = 0;
                }
            }
            HEADERS => {
                let mut p = unpad(flags, payload)?;
                if flags & PRIORITY != 0 {
                    p = p.get(5..).ok_or("a HEADERS frame too short")?;
                }
                self.block.clear();
                self.block.extend_from_slice(p);
                self.block_stream = stream;
                self.block_end_stream = flags & END_STREAM != 0;
                if flags & END_HEADERS != 0 {
                    self.headers_done(now)?;
                }
            }
            CONTINUATION => {
                if stream != self.block_stream {
                    return Err("CONTINUATION on another stream".into());
                }
                self.block.extend_from_slice(payload);
                if flags & END_HEADERS != 0 {
                    self.headers_done(now)?;
                }
            }
            RST_STREAM if self.slots.iter().any(|s| s.stream == stream) => {
                self.slots.retain(|s| s.stream != stream);
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            SETTINGS if flags & ACK == 0 => {
                let mut table = None;
                for s in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    match id {
                        SETTINGS_HEADER_TABLE_SIZE => table = Some(v as usize),
                        SETTINGS_MAX_CONCURRENT_STREAMS => {
                            self.want = self.want.min(v.max(1) as usize);
                        }
                        SETTINGS_INITIAL_WINDOW_SIZE => self.stream_window = v as i64,
                        SETTINGS_MAX_FRAME_SIZE => self.max_frame = v as usize,
                        _ => {}
                    }
                }
                if !self.settings_seen {
                    // The first request waits for the server's first
                    // SETTINGS: its table is 4096 bytes unless they say
                    // otherwise, and the header blocks are chosen once.
                    self.settings_seen = true;
                    self.indexed = table.unwrap_or(4096) >= self.t.table_bytes();
                }
                frame_head(&mut self.out, 0, SETTINGS, ACK, 0);
            }
            PING if flags & ACK == 0 => {
                frame_head(&mut self.out, payload.len(), PING, ACK, 0);
                self.out.extend_from_slice(payload);
            }
            GOAWAY if self.shared.phase() != STOP => {
                let code = payload
                    .get(4..8)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                return Err(format!("the server sent GOAWAY (code {code:?})"));
            }
            WINDOW_UPDATE if stream == 0 => {
                let inc = payload
                    .get(..4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) & 0x7fff_ffff)
                    .ok_or("a WINDOW_UPDATE frame too short")?;
                self.send_window += inc as i64;
            }
            _ => {}
        }
        Ok(())
    }

    fn slot(&mut self, stream: u32) -> Result<&mut Slot, String> {
        self.slots
            .iter_mut()
            .find(|s| s.stream == stream)
            .ok_or_else(|| format!("a frame on stream {stream}, which has no call"))
    }

    /// A whole header block: the reply's head or its trailers.
    fn headers_done(&mut self, now: Instant) -> Result<(), String> {
        let stream = std::mem::take(&mut self.block_stream);
        let mut block = std::mem::take(&mut self.block);
        let (mut status, mut grpc) = (None, None);
        self.decoder
            .decode(&mut Cursor::new(&mut block), |h| match h {
                Header::Status(s) => status = Some(s.as_u16()),
                Header::Field { name, value } if name == "grpc-status" => {
                    grpc = Some(value == "0");
                }
                _ => {}
            })
            .map_err(|e| format!("HPACK: {e:?}"))?;
        self.block = block;
        let slot = self.slot(stream)?;
        if let Some(s) = status {
            slot.status = s;
        }
        if grpc.is_some() {
            slot.grpc_ok = grpc;
        }
        if self.block_end_stream {
            self.complete(stream, now);
        }
        Ok(())
    }

    /// The call on `stream` ended: a good echo is timed, anything else is
    /// an error.
    fn complete(&mut self, stream: u32, now: Instant) {
        let Some(i) = self.slots.iter().position(|s| s.stream == stream) else {
            return;
        };
        let s = self.slots.swap_remove(i);
        let good = s.status == 200 && s.grpc_ok == Some(true) && s.data == self.t.reply_len;
        if !good {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.shared.phase() == MEASURE {
            let ns = now.saturating_duration_since(s.since).as_nanos() as u64;
            self.hist.borrow_mut().saturating_record(ns.max(1));
        }
        self.shared.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends new calls up to the streams wanted, as the windows allow.
    fn issue(&mut self, now: Instant) -> Result<(), String> {
        if !self.settings_seen || self.shared.phase() == STOP {
            return Ok(());
        }
        let body = &self.t.body;
        if body.len() as i64 > self.stream_window {
            return Err(format!(
                "a request of {} bytes does not fit the server's stream window ({})",
                body.len(),
                self.stream_window
            ));
        }
        while self.slots.len() < self.want && self.send_window >= body.len() as i64 {
            let stream = self.next_stream;
            if stream > 0x7fff_ffff - 2 {
                return Err("out of stream ids on a connection".into());
            }
            self.next_stream += 2;
            let block = if !self.indexed {
                &self.t.literal_block
            } else if self.first_sent {
                &self.t.indexed_block
            } else {
                &self.t.first_block
            };
            self.first_sent = true;
            frame_head(&mut self.out, block.len(), HEADERS, END_HEADERS, stream);
            self.out.extend_from_slice(block);
            let mut chunks = body.chunks(self.max_frame.max(1)).peekable();
            while let Some(chunk) = chunks.next() {
                let end = if chunks.peek().is_none() {
                    END_STREAM
                } else {
                    0
                };
                frame_head(&mut self.out, chunk.len(), DATA, end, stream);
                self.out.extend_from_slice(chunk);
            }
            self.send_window -= body.len() as i64;
            self.slots.push(Slot {
                stream,
                since: now,
                status: 0,
                grpc_ok: None,
                data: 0,
            });
        }
        Ok(())
    }
}

/// A frame's payload without its padding.
fn unpad(flags: u8, p: &[u8]) -> Result<&[u8], String> {
    if flags & PADDED == 0 {
        return Ok(p);
    }
    let pad = *p.first().ok_or("a padded frame with no pad length")? as usize;
    p.len()
        .checked_sub(1 + pad)
        .map(|end| &p[1..1 + end])
        .ok_or_else(|| "padding longer than the frame".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::wire;

    #[test]
    fn hpack_integers_follow_rfc_7541() {
        // C.1.1-C.1.3: 10 in a 5-bit prefix, 1337 in a 5-bit prefix, 42 in 8.
        let mut v = Vec::new();
        int(&mut v, 0, 5, 10);
        assert_eq!(v, [10]);
        v.clear();
        int(&mut v, 0, 5, 1337);
        assert_eq!(v, [31, 154, 10]);
        v.clear();
        int(&mut v, 0, 8, 42);
        assert_eq!(v, [42]);
    }

    #[test]
    fn the_request_blocks_decode_to_the_same_headers() {
        let spec = GenSpec {
            addr: "127.0.0.1:5000".parse().unwrap(),
            path: "/echo.Echo/Echo".into(),
            body: vec![0; 10],
            reply_len: 10,
            connections: 1,
            streams: 1,
            timing: Timing {
                warmup: Duration::ZERO,
                duration: Duration::ZERO,
            },
            cpu: 0,
        };
        let t = Template::new(&spec);
        let decode = |d: &mut Decoder, block: &[u8]| {
            let mut b = BytesMut::from(block);
            let mut seen = Vec::new();
            d.decode(&mut Cursor::new(&mut b), |h| seen.push(format!("{h:?}")))
                .unwrap();
            seen
        };
        let mut d = Decoder::new(4096);
        let first = decode(&mut d, &t.first_block);
        assert_eq!(first.len(), 7);
        assert!(first.iter().any(|h| h.contains("ringrpc-perf-h2gen")));
        assert!(first.iter().any(|h| h.contains("/echo.Echo/Echo")));
        assert!(first.iter().any(|h| h.contains("127.0.0.1:5000")));
        assert!(first.iter().any(|h| h.contains("trailers")));
        // Later requests index the entries the first one added.
        assert_eq!(decode(&mut d, &t.indexed_block), first);
        assert_eq!(decode(&mut d, &t.indexed_block), first);
        assert_eq!(decode(&mut Decoder::new(0), &t.literal_block), first);
        assert!(t.indexed_block.len() <= 7);
    }

    fn spec(addr: SocketAddr, payload: usize) -> GenSpec {
        GenSpec {
            addr,
            path: super::super::client::ECHO.into(),
            body: wire::echo_request(&vec![b'x'; payload]),
            reply_len: wire::echo_message_len(payload) + wire::PREFIX,
            connections: 4,
            streams: 3,
            timing: Timing {
                warmup: Duration::from_millis(50),
                duration: Duration::from_millis(200),
            },
            cpu: 0,
        }
    }

    #[test]
    fn the_load_times_good_echoes_over_loopback() {
        let server = crate::peers::grpc::start("127.0.0.1:0".parse().unwrap(), 1, 0).unwrap();
        // 40 KB: DATA frames of the default 16 KiB size, a window update.
        for payload in [1024, 40_000] {
            let run = run(&spec(server.local_addr(), payload), None).unwrap();
            assert_eq!(run.errors, 0, "{payload}: {run:?}");
            assert!(run.qps > 0.0 && !run.hist.is_empty(), "{payload}: {run:?}");
            assert!(run.server_cpu_us_per_req.is_none() && run.load_cpu_busy.is_some());
        }
        server.shutdown();
    }

    #[test]
    fn replies_with_a_grpc_error_are_errors_not_throughput() {
        use crate::peers::grpc::EchoMessage;
        use ringrpc::engine::grpc::{GrpcConfig, Request, Response, Router, Status};
        // HTTP 200 and the echoed length would pass h2load; grpc-status 13
        // in the trailers does not pass this load.
        let router = Router::new().unary(
            super::super::client::ECHO,
            |req: Request<EchoMessage>| async move {
                let _ = req;
                Err::<Response<EchoMessage>, _>(Status::internal("broken"))
            },
        );
        let server = ringrpc::engine::server::Server::builder()
            .addr("127.0.0.1:0".parse().unwrap())
            .cores(1)
            .service(ringrpc_example_idl::echo::EchoServiceServer::new(
                crate::peers::ringrpc::Echo,
            ))
            .grpc_router(router, GrpcConfig::default())
            .start()
            .unwrap();
        let run = run(&spec(server.local_addr(), 64), None).unwrap();
        assert!(run.errors > 0, "{run:?}");
        assert_eq!(run.qps, 0.0);
        server.shutdown();
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        assert_eq!(unpad(0, b"abc").unwrap(), b"abc");
        assert_eq!(unpad(PADDED, &[2, b'a', 0, 0]).unwrap(), b"a");
        assert!(unpad(PADDED, &[5, b'a']).is_err());
        assert!(unpad(PADDED, &[]).is_err());
    }
}
