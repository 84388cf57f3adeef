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
use std::time::Instant;

use monoio::io::Canceller;
use monoio::io::{CancelableAsyncReadRent, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::TcpOwnedWriteHalf;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};

use super::ServerConfig;
use super::core::CoreState;
use super::reply::ReplySink;
use super::requests::{Requests, is_ttheader, requests};
use super::router::Route;
use crate::io::{OutChain, write_all};
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
    fn new() -> Self {
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
        }
    }

    /// Reply bytes not yet written to the socket.
    fn backlog(&self) -> usize {
        self.writer.borrow().len() + self.unflushed.get()
    }

    /// Cancels the pending read (timeout or shutdown).
    pub(crate) fn cancel_read(&self) {
        let mut c = self.canceller.borrow_mut();
        let old = std::mem::take(&mut *c);
        *c = old.cancel();
    }
}

/// Serves one accepted connection until the peer closes it, it breaks, it
/// times out, or the server drains.
pub(crate) async fn serve<R: Route>(
    stream: TcpStream,
    peer: SocketAddr,
    routes: Rc<R>,
    cfg: Rc<ServerConfig>,
    core: Rc<CoreState>,
) {
    let shared = Rc::new(ConnShared::new());
    let key = core.register(shared.clone());
    let (rd, wr) = stream.into_split();
    let mut reqs = requests(
        routes,
        shared.clone(),
        peer,
        cfg.frame_limits,
        cfg.max_inflight_per_conn,
    );
    // Replies of in-order transports are written inline, after each batch of
    // requests; TTHeader replies finish in any order, so a writer task
    // flushes them as they come. Which one is known once the codec is.
    let out = read_loop(
        rd,
        &mut reqs,
        Out::Undecided(wr),
        &shared,
        &cfg,
        &core,
        peer,
    )
    .await;
    // Finish what was accepted, then flush and close.
    reqs.finish().await;
    shared.closing.set(true);
    match out {
        Out::Task(writer) => {
            shared.wake_writer.notify();
            let _ = writer.await;
        }
        Out::Inline(mut wr, mut chain) => {
            let _ = flush_inline(&mut wr, &mut chain, &shared).await;
        }
        Out::Undecided(_) => {}
    }
    core.unregister(key);
}

/// Reads and handles requests until the connection should close; returns
/// the writer, to flush what is left.
async fn read_loop<R, F>(
    mut rd: monoio::net::tcp::TcpOwnedReadHalf,
    reqs: &mut Requests<R, ConnShared, F>,
    mut out: Out,
    shared: &Rc<ConnShared>,
    cfg: &ServerConfig,
    core: &CoreState,
    peer: SocketAddr,
) -> Out
where
    R: Route,
    F: Future<Output = ()>,
{
    let mut buf = LinkBuffer::new();
    loop {
        // Handle every whole frame already buffered.
        if let Err(e) = reqs.handle(&mut buf).await {
            // The stream can't be re-synchronised after a broken frame.
            tracing::debug!(%peer, "closing: {e}");
            return out;
        }
        if let Some(c) = reqs.codec() {
            out = out.decide(is_ttheader(c), shared);
        }
        if let Out::Inline(wr, chain) = &mut out
            && flush_inline(wr, chain, shared).await.is_err()
        {
            return out;
        }
        if shared.broken.get()
            || (shared.draining.get() && reqs.codec().is_none_or(|c| !is_ttheader(c)))
        {
            return out;
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
            return out;
        }
        let timeout = if buf.is_empty() {
            cfg.idle_timeout
        } else {
            cfg.read_timeout
        };
        shared.deadline.set(Some(core.read_deadline(timeout)));
        let handle = shared.canceller.borrow().handle();
        let read = rd.cancelable_read(buf.read_target(), handle);
        let mut read = pin!(read);
        // Handlers in flight make progress while the read waits.
        let (res, chunk) = poll_fn(|cx| {
            reqs.poll_inflight(cx);
            read.as_mut().poll(cx)
        })
        .await;
        buf.commit_read(chunk);
        shared.deadline.set(None);
        match res {
            Ok(0) => return out,
            // Bytes arrived: a time-out raced with them does not count.
            Ok(_) => shared.timed_out.set(false),
            Err(_) if shared.timed_out.get() => {
                tracing::debug!(%peer, partial = !buf.is_empty(), "closing: read timed out");
                return out;
            }
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
                return out;
            }
            Err(e) => {
                tracing::debug!(%peer, "closing: read error {e}");
                return out;
            }
        }
    }
}

/// Who writes a connection's replies.
enum Out {
    /// The codec is not known yet (nothing to write yet).
    Undecided(TcpOwnedWriteHalf),
    /// The connection task itself, after each batch (in-order transports).
    Inline(TcpOwnedWriteHalf, OutChain),
    /// A writer task (TTHeader: replies finish in any order).
    Task(monoio::task::JoinHandle<()>),
}

impl Out {
    /// Picks the writer once the codec is known.
    fn decide(self, concurrent: bool, shared: &Rc<ConnShared>) -> Out {
        match self {
            Out::Undecided(wr) if concurrent => {
                Out::Task(monoio::spawn(write_loop(wr, shared.clone())))
            }
            Out::Undecided(wr) => Out::Inline(wr, OutChain::default()),
            decided => decided,
        }
    }
}

/// Writes the replies of the batch just handled, with one vectored write.
async fn flush_inline(
    wr: &mut TcpOwnedWriteHalf,
    chain: &mut OutChain,
    shared: &ConnShared,
) -> std::io::Result<()> {
    if shared.writer.borrow().is_empty() {
        return Ok(());
    }
    chain.fill(&mut shared.writer.borrow_mut());
    let (res, c) = write_all(wr, std::mem::take(chain)).await;
    *chain = c;
    if let Err(e) = &res {
        tracing::debug!("write failed: {e}");
        shared.broken.set(true);
        shared.writer.borrow_mut().clear();
    }
    res
}

async fn write_loop(mut wr: TcpOwnedWriteHalf, shared: Rc<ConnShared>) {
    let mut chain = OutChain::default();
    loop {
        if shared.writer.borrow().is_empty() {
            if shared.closing.get() {
                break;
            }
            shared.wake_writer.notified().await;
            continue;
        }
        {
            let mut w = shared.writer.borrow_mut();
            shared.unflushed.set(w.len());
            chain.fill(&mut w);
        }
        let (res, c) = write_all(&mut wr, chain).await;
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
