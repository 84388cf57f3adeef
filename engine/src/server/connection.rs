//! One connection's life on its core: read from the socket into the
//! LinkBuffer, hand the bytes to the connection's [`Requests`] (detection,
//! frames, dispatch), and write the replies.
//!
//! Replies go into the connection's [`LinkWriter`] (its [`ReplySink`]). For
//! in-order transports (Framed, Buffered) the connection task writes them
//! itself after each batch of requests, one vectored write for the batch;
//! for TTHeader, whose requests finish in any order, a writer task flushes
//! whatever is ready, so replies finished in the same turn share a syscall.
//! Requests in flight make progress while the task waits for a read or a
//! flush.
//!
//! Timeouts cost no timer per read: the core's sweeper (see
//! [`super::core::CoreState`]) cancels reads past their deadline.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use monoio::io::CancelableAsyncReadRent;
use monoio::io::Canceller;
use monoio::net::TcpStream;
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::transport::Codec;

use super::ServerConfig;
use super::core::CoreState;
use super::counters::{CoreCounters, bump};
use super::limit::CoreLimits;
use super::reply::ReplySink;
use super::requests::{Requests, is_ttheader, requests};
use super::router::Route;
use crate::context::PeerIdentity;
use crate::io::{OutChain, ReadHalf, WriteHalf};
use crate::notify::LocalNotify;

/// What a connection's tasks share on its core.
pub(crate) struct ConnShared {
    writer: RefCell<LinkWriter>,
    wake_writer: LocalNotify,
    /// The read must end by then (set before each read).
    pub(crate) deadline: Cell<Option<Instant>>,
    pub(crate) timed_out: Cell<bool>,
    pub(crate) canceller: RefCell<Canceller>,
    /// The server is shutting down: replies carry `crrst`.
    pub(crate) draining: Cell<bool>,
    /// The writer must finish and stop.
    closing: Cell<bool>,
    broken: Cell<bool>,
    /// Bytes the writer took and has not finished writing.
    unflushed: Cell<usize>,
    /// Woken after each write completes.
    flushed: LocalNotify,
    /// Reads completed, and the count the sweeper saw last: equal across a
    /// sweep means the connection has been quiet for a tick.
    pub(crate) reads: Cell<u64>,
    pub(crate) swept_reads: Cell<u64>,
    /// The posted read waits with nothing buffered and nothing in flight,
    /// so parking it would lose nothing.
    pub(crate) parkable: Cell<bool>,
    /// The sweeper asks the connection to give its read buffer back and
    /// wait for readiness instead.
    pub(crate) park: Cell<bool>,
    /// Wakes a parked connection for a timeout or draining.
    pub(crate) interrupt: LocalNotify,
    /// The core's limits, and through them its counters.
    limits: Rc<CoreLimits>,
}

impl std::fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnShared")
            .field("draining", &self.draining.get())
            .finish_non_exhaustive()
    }
}

impl ReplySink for ConnShared {
    fn write_reply(&self, encode: impl FnOnce(&mut LinkWriter)) {
        encode(&mut self.writer.borrow_mut());
        self.wake_writer.notify();
    }

    fn draining(&self) -> bool {
        self.draining.get()
    }
}

impl ConnShared {
    fn new(limits: Rc<CoreLimits>) -> Self {
        Self {
            writer: RefCell::new(LinkWriter::new()),
            wake_writer: LocalNotify::new(),
            deadline: Cell::new(None),
            timed_out: Cell::new(false),
            canceller: RefCell::new(Canceller::new()),
            draining: Cell::new(false),
            closing: Cell::new(false),
            broken: Cell::new(false),
            unflushed: Cell::new(0),
            flushed: LocalNotify::new(),
            reads: Cell::new(0),
            swept_reads: Cell::new(0),
            parkable: Cell::new(false),
            park: Cell::new(false),
            interrupt: LocalNotify::new(),
            limits,
        }
    }

    fn counters(&self) -> &CoreCounters {
        self.limits.slot()
    }

    /// Reply bytes not yet written to the socket.
    pub(crate) fn backlog(&self) -> usize {
        self.writer.borrow().len() + self.unflushed.get()
    }

    /// Cancels the pending read, or wakes the parked wait (timeout,
    /// shutdown, parking).
    pub(crate) fn cancel_read(&self) {
        self.cancel_op();
        self.interrupt.notify();
    }

    /// Cancels the pending read only.
    fn cancel_op(&self) {
        let mut c = self.canceller.borrow_mut();
        let old = std::mem::take(&mut *c);
        *c = old.cancel();
    }
}

/// What a connection keeps while it is parked: the socket halves and what
/// detection found. Everything else (the read buffer, the request state)
/// lives in the active phase and is dropped when the connection goes quiet.
struct Conn {
    rd: ReadHalf,
    out: Out,
    codec: Option<Codec>,
    /// The client's verified TLS certificate (mutual TLS).
    identity: Option<Rc<PeerIdentity>>,
}

/// Slices of a vectored reply write, allocated with the connection.
const OUT_SLICES: usize = 4;

/// How an active phase ended.
enum Phase {
    /// Quiet: nothing buffered or in flight; park until readable.
    Quiet,
    /// The connection is done (closed, broken, timed out, drained).
    Closed,
}

/// Serves one accepted connection until the peer closes it, it breaks, it
/// times out, or the server drains.
///
/// A connection alternates between two phases. *Active*: a boxed future
/// that owns the read buffer and the requests, reads and serves; it ends
/// when the sweeper finds the connection quiet (or when it closes). *Parked*:
/// no buffer and no request state, only a readiness wait on the socket; the
/// next bytes start a new active phase. So an idle connection costs the
/// small state of this function, not a read buffer or a handler's future,
/// and a busy one never parks (one allocation per wake-up, none per
/// request).
pub(crate) async fn serve<R: Route>(
    (rd, wr): (TcpOwnedReadHalf, TcpOwnedWriteHalf),
    peer: SocketAddr,
    routes: Rc<R>,
    cfg: Rc<ServerConfig>,
    core: Rc<CoreState>,
) {
    let shared = Rc::new(ConnShared::new(core.limits.clone()));
    let key = core.register(shared.clone());
    // Replies of in-order transports are written inline, after each batch of
    // requests; TTHeader replies finish in any order, so a writer task
    // flushes them as they come. Which one is known once the codec is. The
    // connection's long-lived allocations happen now, before any buffer it
    // will let go, so they do not pin pages among those.
    let mut conn = Conn {
        rd: ReadHalf::plain(rd),
        out: Out::Undecided(WriteHalf::plain(wr), OutChain::with_capacity(OUT_SLICES)),
        codec: None,
        identity: None,
    };
    prime_canceller(&mut conn.rd, &shared).await;
    // A new connection starts parked: it takes no buffer until its first
    // bytes arrive (at once, for a client that calls right away).
    shared
        .deadline
        .set(Some(core.read_deadline(cfg.idle_timeout)));
    let mut go = park(conn.rd.tcp(), None, &shared, &core).await;
    #[cfg(feature = "grpc")]
    if go
        && let Some(grpc) = &cfg.grpc
        && matches!(peek_byte(conn.rd.tcp()), Ok(Some(b'P')))
    {
        // The HTTP/2 preface (no Thrift frame starts with `P`: a Framed or
        // TTHeader length that large is refused anyway): the connection is
        // gRPC's, whole. Boxed: its state is not every connection's.
        let Conn { rd, out, .. } = conn;
        if let (Some(rd), Out::Undecided(wr, _)) = (rd.into_plain(), out)
            && let Ok(stream) = rd.reunite(wr.into_plain())
        {
            Box::pin(super::grpc::serve(stream, peer, grpc, &cfg, &shared, &core)).await;
        }
        shared.deadline.set(None);
        core.unregister(key);
        return;
    }
    #[cfg(feature = "tls")]
    if go && let Some(tls) = &cfg.tls {
        // Boxed: a one-off step whose state would otherwise size every
        // connection's future for its life.
        go = Box::pin(start_tls(&mut conn, tls, peer, &cfg, &shared, &core)).await;
    }
    while go {
        let phase = Box::pin(active(
            &mut conn,
            routes.clone(),
            &shared,
            &cfg,
            &core,
            peer,
        ))
        .await;
        if matches!(phase, Phase::Closed) {
            break;
        }
        core.parked();
        bump(&shared.counters().parks, 1);
        shared
            .deadline
            .set(Some(core.read_deadline(cfg.idle_timeout)));
        go = park(conn.rd.tcp(), conn.codec, &shared, &core).await;
    }
    shared.deadline.set(None);
    shared.closing.set(true);
    match conn.out {
        Out::Task(writer) => {
            shared.wake_writer.notify();
            let _ = writer.await;
        }
        Out::Inline(mut wr, mut chain) => {
            let _ = Box::pin(async {
                let _ = flush_inline(&mut wr, &mut chain, &shared).await;
                wr.close().await;
            })
            .await;
        }
        Out::Undecided(..) | Out::Deciding => {}
    }
    core.unregister(key);
}

/// Sets a new connection up on a TLS port, once its first bytes arrived:
/// plaintext as they are (if the port takes it), or TLS after the
/// handshake. False: the connection closes (the handshake failed, or a
/// plaintext client reached a TLS-only port).
#[cfg(feature = "tls")]
async fn start_tls(
    conn: &mut Conn,
    tls: &crate::tls::ServerTls,
    peer: SocketAddr,
    cfg: &ServerConfig,
    shared: &ConnShared,
    core: &CoreState,
) -> bool {
    let plaintext = match peek_byte(conn.rd.tcp()) {
        Ok(Some(b)) => b != crate::tls::TLS_HANDSHAKE_BYTE,
        // Closed before a byte: nothing to serve.
        Ok(None) => return false,
        Err(_) => false,
    };
    if plaintext {
        if !tls.accepts_plaintext() {
            // Not a ClientHello on a TLS-only port: closed without a word
            // (a TLS alert would only confuse a plaintext client's framing).
            tracing::debug!(%peer, "closing: plaintext on a TLS-only port");
            bump(&shared.counters().tls_handshake_failures, 1);
            return false;
        }
        return true;
    }
    let Out::Undecided(wr, _) = &mut conn.out else {
        return false;
    };
    // Bounded by the read timeout: the core's sweeper cancels a handshake
    // that stalls, as it does a read.
    shared
        .deadline
        .set(Some(core.read_deadline(cfg.read_timeout)));
    let res = crate::tls::server_handshake(
        conn.rd.socket(),
        wr.socket(),
        tls.config(),
        Some(&shared.canceller),
    )
    .await;
    shared.deadline.set(None);
    match res {
        Ok(a) => {
            bump(&shared.counters().tls_handshakes, 1);
            if a.resumed {
                bump(&shared.counters().tls_resumed, 1);
            }
            conn.rd.set_tls(a.reader);
            wr.set_tls(a.writer);
            conn.identity = a.identity.map(Rc::new);
            true
        }
        Err(e) => {
            let why = if shared.timed_out.get() {
                "timed out".to_owned()
            } else {
                e.to_string()
            };
            tracing::debug!(%peer, "closing: TLS handshake failed: {why}");
            bump(&shared.counters().tls_handshake_failures, 1);
            false
        }
    }
}

/// The first byte waiting on the socket, left there (`MSG_PEEK`); `None`
/// when the peer closed.
#[cfg(any(feature = "tls", feature = "grpc"))]
fn peek_byte(stream: &TcpStream) -> std::io::Result<Option<u8>> {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: `recv` writes at most 1 byte into `byte`, which lives for the
    // call; the fd is the stream's, open while it is borrowed.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Ok(None),
        1 => Ok(Some(byte)),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// monoio's canceller allocates its set of operations on the first read a
/// connection makes. A read registered and cancelled at once makes that
/// allocation now, with the connection's other long-lived state, rather
/// than among the buffers it lets go later (where it would pin a page).
/// The read asks for no bytes, so none can be lost. Boxed: a one-off step
/// whose state would otherwise size the connection's future for its life.
async fn prime_canceller(rd: &mut ReadHalf, shared: &ConnShared) {
    let handle = shared.canceller.borrow().handle();
    let mut read = Box::pin(rd.socket().cancelable_read(bytes::BytesMut::new(), handle));
    let mut done = false;
    poll_fn(|cx| {
        done = read.as_mut().poll(cx).is_ready();
        Poll::Ready(())
    })
    .await;
    if !done {
        shared.cancel_op();
        let _ = read.await;
    }
}

/// The active phase: reads and serves until the connection goes quiet or
/// closes. Requests accepted are finished before it returns.
async fn active<R: Route>(
    conn: &mut Conn,
    routes: Rc<R>,
    shared: &Rc<ConnShared>,
    cfg: &ServerConfig,
    core: &CoreState,
    peer: SocketAddr,
) -> Phase {
    let mut reqs = requests(
        routes,
        shared.clone(),
        peer,
        cfg.frame_limits,
        cfg.max_inflight_per_conn,
    )
    .with_codec(conn.codec)
    .with_identity(conn.identity.clone());
    let mut buf = LinkBuffer::new();
    let phase = read_loop(conn, &mut buf, &mut reqs, shared, cfg, core, peer).await;
    // Finish what was accepted (a closing connection flushes it after).
    reqs.finish().await;
    conn.codec = reqs.codec();
    if matches!(phase, Phase::Quiet) {
        shared.writer.borrow_mut().release();
        conn.rd.release();
        if let Out::Inline(wr, _) = &mut conn.out {
            wr.release();
        }
    }
    phase
}

/// Reads and handles requests until the connection should park or close.
async fn read_loop<R, F>(
    conn: &mut Conn,
    buf: &mut LinkBuffer,
    reqs: &mut Requests<R, ConnShared, F>,
    shared: &Rc<ConnShared>,
    cfg: &ServerConfig,
    core: &CoreState,
    peer: SocketAddr,
) -> Phase
where
    R: Route,
    F: Future<Output = ()>,
{
    loop {
        // Handle every whole frame already buffered.
        if let Err(e) = reqs.handle(buf).await {
            // The stream can't be re-synchronised after a broken frame.
            tracing::debug!(%peer, "closing: {e}");
            return Phase::Closed;
        }
        if let Some(c) = reqs.codec() {
            let out = std::mem::replace(&mut conn.out, Out::Deciding);
            conn.out = out.decide(is_ttheader(c), shared);
        }
        if let Out::Inline(wr, chain) = &mut conn.out
            && flush_inline(wr, chain, shared).await.is_err()
        {
            return Phase::Closed;
        }
        if shared.broken.get()
            || (shared.draining.get() && reqs.codec().is_none_or(|c| !is_ttheader(c)))
        {
            return Phase::Closed;
        }
        // Write back-pressure: a peer that sends but does not read its
        // replies gets no more requests read until the replies drain.
        while !shared.broken.get() && shared.backlog() > cfg.max_unflushed_bytes {
            let mut flushed = pin!(shared.flushed.notified());
            poll_fn(|cx| {
                reqs.poll_inflight(cx);
                flushed.as_mut().poll(cx)
            })
            .await;
        }
        if shared.broken.get() {
            return Phase::Closed;
        }
        let quiet = buf.is_empty() && reqs.inflight() == 0 && shared.backlog() == 0;
        if quiet && shared.park.get() {
            return Phase::Quiet;
        }
        let timeout = if buf.is_empty() {
            cfg.idle_timeout
        } else {
            cfg.read_timeout
        };
        shared.deadline.set(Some(core.read_deadline(timeout)));
        // A frame whose length is known is read into one buffer that fits it.
        if let Some(total) = reqs.pending_frame() {
            buf.reserve_contiguous(total);
        }
        // Parkable while the read waits with nothing buffered and nothing
        // in flight; re-checked as handlers finish (a TTHeader reply is
        // often still running when the read is posted), and the sweeper
        // also waits for the replies to be written.
        let idle = buf.is_empty() && conn.rd.can_park();
        shared.parkable.set(idle && reqs.inflight() == 0);
        let res = {
            let read = conn.rd.read(buf, Some(&shared.canceller));
            let mut read = pin!(read);
            // Handlers in flight make progress while the read waits.
            poll_fn(|cx| {
                reqs.poll_inflight(cx);
                shared.parkable.set(idle && reqs.inflight() == 0);
                read.as_mut().poll(cx)
            })
            .await
        };
        if conn.rd.wants_write() {
            // The TLS layer has records of its own to send.
            shared.wake_writer.notify();
        }
        shared.parkable.set(false);
        shared.deadline.set(None);
        match res {
            Ok(0) => return Phase::Closed,
            // Bytes arrived: a time-out raced with them does not count.
            Ok(n) => {
                bump(&shared.counters().bytes_read, n as u64);
                shared.reads.set(shared.reads.get() + 1);
                shared.timed_out.set(false);
                shared.park.set(false);
            }
            Err(_) if shared.timed_out.get() => {
                tracing::debug!(%peer, partial = !buf.is_empty(), "closing: read timed out");
                return Phase::Closed;
            }
            // Cancelled to park: loop, and end the active phase.
            Err(_) if shared.park.get() && !shared.draining.get() => {}
            // Cancelled for draining: loop once more to handle what arrived.
            Err(_) if shared.draining.get() => {
                if !buf.is_empty() {
                    continue;
                }
                if reqs.codec().is_some_and(is_ttheader) && core.before_deadline() {
                    // A TTHeader peer closes once it sees `crrst`; keep
                    // serving it until then or the deadline.
                    continue;
                }
                return Phase::Closed;
            }
            Err(e) => {
                tracing::debug!(%peer, "closing: read error {e}");
                return Phase::Closed;
            }
        }
    }
}

/// The parked phase: waits, holding no buffer, until the socket is
/// readable (true: go active) or the sweeper interrupts (a timeout, or
/// draining: false unless a TTHeader peer should be served until it
/// closes).
async fn park(
    stream: &TcpStream,
    codec: Option<Codec>,
    shared: &ConnShared,
    core: &CoreState,
) -> bool {
    loop {
        // `readable` takes `&self` and polls the descriptor only.
        let ready = monoio::select! {
            r = stream.readable(true) => Some(r),
            _ = shared.interrupt.notified() => None,
        };
        match ready {
            Some(Ok(())) => {
                shared.park.set(false);
                shared.timed_out.set(false);
                return true;
            }
            Some(Err(e)) => {
                tracing::debug!("closing: poll error {e}");
                return false;
            }
            None if shared.timed_out.get() => {
                tracing::debug!("closing: idle timeout");
                return false;
            }
            None if shared.draining.get() => {
                return codec.is_some_and(is_ttheader) && core.before_deadline();
            }
            // The interrupt that asked to park, seen late: wait on.
            None => {}
        }
    }
}

/// Who writes a connection's replies.
enum Out {
    /// The codec is not known yet (nothing to write yet); the chain is
    /// allocated with the connection.
    Undecided(WriteHalf, OutChain),
    /// Only while `decide` runs.
    Deciding,
    /// The connection task itself, after each batch (in-order transports).
    Inline(WriteHalf, OutChain),
    /// A writer task (TTHeader: replies finish in any order).
    Task(monoio::task::JoinHandle<()>),
}

impl Out {
    /// Picks the writer once the codec is known.
    fn decide(self, concurrent: bool, shared: &Rc<ConnShared>) -> Out {
        match self {
            Out::Undecided(wr, chain) if concurrent => {
                Out::Task(monoio::spawn(write_loop(wr, chain, shared.clone())))
            }
            Out::Undecided(wr, chain) => Out::Inline(wr, chain),
            decided => decided,
        }
    }
}

/// Writes the replies of the batch just handled, with one vectored write.
async fn flush_inline(
    wr: &mut WriteHalf,
    chain: &mut OutChain,
    shared: &ConnShared,
) -> std::io::Result<()> {
    if shared.writer.borrow().is_empty() && !wr.wants_write() {
        return Ok(());
    }
    let n = shared.writer.borrow().len() as u64;
    chain.fill(&mut shared.writer.borrow_mut());
    bump(&shared.counters().bytes_written, n);
    let (res, c) = wr.write(std::mem::take(chain)).await;
    *chain = c;
    if let Err(e) = &res {
        tracing::debug!("write failed: {e}");
        shared.broken.set(true);
        shared.writer.borrow_mut().clear();
    }
    res
}

async fn write_loop(mut wr: WriteHalf, mut chain: OutChain, shared: Rc<ConnShared>) {
    loop {
        if shared.writer.borrow().is_empty() && !wr.wants_write() {
            if shared.closing.get() {
                wr.close().await;
                break;
            }
            shared.wake_writer.notified().await;
            continue;
        }
        {
            let mut w = shared.writer.borrow_mut();
            shared.unflushed.set(w.len());
            bump(&shared.counters().bytes_written, w.len() as u64);
            chain.fill(&mut w);
        }
        let (res, c) = wr.write(chain).await;
        chain = c;
        shared.unflushed.set(0);
        shared.flushed.notify();
        if let Err(e) = res {
            tracing::debug!("write failed: {e}");
            shared.broken.set(true);
            shared.writer.borrow_mut().clear();
            // Wake the reader so the connection closes.
            shared.cancel_read();
            if shared.closing.get() {
                break;
            }
            // Keep discarding replies until the reader closes.
            while !shared.closing.get() {
                shared.wake_writer.notified().await;
                shared.writer.borrow_mut().clear();
            }
            break;
        }
    }
}
