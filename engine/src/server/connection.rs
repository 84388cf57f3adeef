//! One connection's life on its core: read into the LinkBuffer, detect the
//! protocol once, cut frames, route them, and write the replies.
//!
//! Framed and Buffered requests are handled one after another, inline in the
//! read loop, so pipelined requests are answered in order. TTHeader requests
//! (which carry their own seq id, and may come from a multiplexing client)
//! are served concurrently and answered as they finish: the connection's own
//! task polls them next to its read, from reusable slots, so no task is
//! spawned per request. Replies go into the connection's [`LinkWriter`]. For
//! in-order transports the connection task writes them itself after each
//! batch of requests, one vectored write for the batch; for TTHeader a
//! writer task flushes whatever is ready, so replies finished in the same
//! turn share a syscall.
//!
//! Timeouts cost no timer per read: the core's sweeper (see
//! [`super::CoreState`]) cancels reads past their deadline.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use monoio::io::Canceller;
use monoio::io::{CancelableAsyncReadRent, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::TcpOwnedWriteHalf;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::thrift::{
    ApplicationException, BinaryWriter, CompactWriter, Message, MessageIdent, MessageType,
    Protocol, ProtocolWriter, Utf8Bytes,
};
use ringrpc_codec::transport::{self, Codec, Decoded, Transport, TtHeader};

use super::router::{Incoming, Route};
use super::{CoreState, ServerConfig};
use crate::BizStatus;
use crate::io::{OutChain, write_all};
use crate::signal::LocalNotify;

/// What a connection's tasks share on its core.
pub struct ConnShared {
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

    /// Encodes a reply frame in `codec` (payload written by `payload`) and
    /// wakes the writer. The TTHeader reply echoes the request's seq id and
    /// protocol, and carries a business status and `crrst` when due.
    pub fn reply<P: ReplyPayload>(
        &self,
        codec: Codec,
        req_header: Option<&TtHeader>,
        biz: Option<&BizStatus>,
        payload: P,
    ) {
        let header = req_header.map(|h| reply_header(h, biz, self.draining.get()));
        let mut w = self.writer.borrow_mut();
        transport::encode_frame(&mut w, codec, header.as_ref(), |out| match codec.protocol {
            Protocol::Binary => payload.write(&mut BinaryWriter::new(out)),
            Protocol::Compact => payload.write(&mut CompactWriter::new(out)),
        });
        drop(w);
        self.wake_writer.notify();
    }

    /// Answers a heartbeat: the same seq id, `MsgType` heartbeat, no payload.
    pub(crate) fn reply_heartbeat(&self, codec: Codec, req: &TtHeader) {
        let mut h = TtHeader::new(req.seq_id);
        h.flags = req.flags;
        h.protocol = req.protocol;
        let _ = h.set_int(
            ringrpc_codec::transport::ttheader::int_key::MSG_TYPE,
            bytes::Bytes::from_static(HEARTBEAT),
        );
        if self.draining.get() {
            let _ = h.set_connection_ready_to_reset();
        }
        transport::encode_frame(&mut self.writer.borrow_mut(), codec, Some(&h), |_| {});
        self.wake_writer.notify();
    }

    /// Replies with an application exception, in the request's transport.
    pub(crate) fn reply_exception(&self, req: &Incoming, seqid: i32, ex: &ApplicationException) {
        let name = Utf8Bytes::default();
        self.reply_exception_with(req.frame.codec, req.frame.header.as_ref(), &name, seqid, ex)
    }

    /// Replies with an application exception for `method`.
    pub(crate) fn reply_exception_with(
        &self,
        codec: Codec,
        req_header: Option<&TtHeader>,
        method: &Utf8Bytes,
        seqid: i32,
        ex: &ApplicationException,
    ) {
        self.reply(
            codec,
            req_header,
            None,
            ExceptionReply { method, seqid, ex },
        )
    }
}

/// The payload of a reply frame, written with either protocol.
pub trait ReplyPayload {
    /// Writes the message (header, struct, end).
    fn write<W: ProtocolWriter>(self, w: &mut W);
}

struct ExceptionReply<'a> {
    method: &'a Utf8Bytes,
    seqid: i32,
    ex: &'a ApplicationException,
}

impl ReplyPayload for ExceptionReply<'_> {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_message_begin(&MessageIdent::new(
            self.method.clone(),
            MessageType::Exception,
            self.seqid,
        ));
        self.ex.encode(w);
        w.write_message_end();
    }
}

/// The TTHeader of a reply: the request's seq id and protocol, plus a
/// business status and the `crrst` (connection reset) mark while draining.
fn reply_header(req: &TtHeader, biz: Option<&BizStatus>, draining: bool) -> TtHeader {
    let mut h = TtHeader::new(req.seq_id);
    h.flags = req.flags;
    h.protocol = req.protocol;
    // The values are bounded by our own types (a status message longer than
    // a TTHeader value allows is dropped, not sent half-written).
    if let Some(b) = biz {
        let extra = b.extra.clone().map(Utf8Bytes::into_bytes);
        if h.set_biz_status(b.code, b.message.clone().into_bytes(), extra)
            .is_err()
        {
            tracing::warn!("business status too long for a TTHeader; sent without it");
        }
    }
    if draining {
        let _ = h.set_connection_ready_to_reset();
    }
    h
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
    let (mut rd, wr) = stream.into_split();
    // Replies of in-order transports are written inline, after each batch of
    // requests; TTHeader replies finish in any order, so a writer task
    // flushes them as they come. Which one is known once the codec is.
    let mut out = Out::Undecided(wr);
    let mut buf = LinkBuffer::new();
    let mut codec: Option<Codec> = None;
    let mut inflight = Inflight::new();
    'conn: loop {
        // Handle every whole frame already buffered.
        loop {
            let c = match codec {
                Some(c) => c,
                None => {
                    let n = buf.len().min(8);
                    let head = match buf.peek(n) {
                        Ok(h) => h,
                        Err(_) => break,
                    };
                    match transport::detect(head) {
                        Ok(Decoded::Ready(c)) => {
                            out = out.decide(is_ttheader(c), &shared);
                            *codec.insert(c)
                        }
                        Ok(Decoded::NeedMore(_)) => break,
                        Err(e) => {
                            tracing::debug!(%peer, "closing: {e}");
                            break 'conn;
                        }
                    }
                }
            };
            let frame = match transport::decode_frame(&mut buf, c, &cfg.frame_limits) {
                Ok(Decoded::Ready(f)) => f,
                Ok(Decoded::NeedMore(_)) => break,
                Err(e) => {
                    // The stream can't be re-synchronised after a broken frame.
                    tracing::debug!(%peer, "closing after a bad frame: {e}");
                    break 'conn;
                }
            };
            if let Some(h) = frame.header.as_ref().filter(|_| is_heartbeat(&frame)) {
                shared.reply_heartbeat(c, h);
                continue;
            }
            let incoming = Incoming { frame, peer };
            if is_ttheader(c) {
                let mut fut = Some(dispatch_owned(routes.clone(), shared.clone(), incoming));
                poll_fn(|cx| {
                    if let Some(f) = fut.take() {
                        inflight.push(f, cx);
                    }
                    Poll::Ready(())
                })
                .await;
                // Back-pressure: stop reading while too many are in flight.
                if inflight.len() >= cfg.max_inflight_per_conn {
                    poll_fn(|cx| {
                        inflight.poll_all(cx);
                        if inflight.len() < cfg.max_inflight_per_conn {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                }
            } else {
                routes.dispatch(incoming, &shared).await;
            }
        }
        if let Out::Inline(wr, chain) = &mut out
            && flush_inline(wr, chain, &shared).await.is_err()
        {
            break;
        }
        if shared.broken.get() || (shared.draining.get() && codec.is_none_or(|c| !is_ttheader(c))) {
            break;
        }
        // Write back-pressure: a peer that sends but does not read its
        // replies gets no more requests read until the replies drain.
        while !shared.broken.get() && shared.backlog() > cfg.max_unflushed_bytes {
            let mut flushed = pin!(shared.flushed.notified());
            poll_fn(|cx| {
                inflight.poll_all(cx);
                flushed.as_mut().poll(cx)
            })
            .await;
        }
        if shared.broken.get() {
            break;
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
            inflight.poll_all(cx);
            read.as_mut().poll(cx)
        })
        .await;
        buf.commit_read(chunk);
        shared.deadline.set(None);
        match res {
            Ok(0) => break,
            // Bytes arrived: a time-out raced with them does not count.
            Ok(_) => shared.timed_out.set(false),
            Err(_) if shared.timed_out.get() => {
                tracing::debug!(%peer, partial = !buf.is_empty(), "closing: read timed out");
                break;
            }
            // Cancelled for draining: loop once more to handle what arrived.
            Err(_) if shared.draining.get() => {
                if !buf.is_empty() {
                    continue;
                }
                if codec.is_some_and(is_ttheader) && core.before_deadline() {
                    // A TTHeader peer closes once it sees `crrst`; keep
                    // serving it until then or the deadline.
                    continue;
                }
                break;
            }
            Err(e) => {
                tracing::debug!(%peer, "closing: read error {e}");
                break;
            }
        }
    }
    // Finish what was accepted, then flush and close.
    poll_fn(|cx| {
        inflight.poll_all(cx);
        if inflight.len() == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
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

/// Routes one request; owns what it needs, so it can sit in [`Inflight`].
async fn dispatch_owned<R: Route>(routes: Rc<R>, shared: Rc<ConnShared>, req: Incoming) {
    routes.dispatch(req, &shared).await
}

/// The requests one connection serves concurrently, polled by the
/// connection's own task (no task spawned per request). Each future lives in
/// a boxed slot that is reused for later requests, so once the connection
/// has seen its peak concurrency, serving allocates nothing.
struct Inflight<F> {
    slots: Vec<Pin<Box<Option<F>>>>,
    free: Vec<usize>,
    active: usize,
}

impl<F: Future<Output = ()>> Inflight<F> {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            active: 0,
        }
    }

    fn len(&self) -> usize {
        self.active
    }

    /// Adds a request and polls it once (most finish right away).
    fn push(&mut self, fut: F, cx: &mut Context<'_>) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i].set(Some(fut));
                i
            }
            None => {
                self.slots.push(Box::pin(Some(fut)));
                self.slots.len() - 1
            }
        };
        self.active += 1;
        self.poll_slot(i, cx);
    }

    fn poll_slot(&mut self, i: usize, cx: &mut Context<'_>) {
        let done = match self.slots[i].as_mut().as_pin_mut() {
            Some(f) => f.poll(cx).is_ready(),
            None => return,
        };
        if done {
            self.slots[i].set(None);
            self.free.push(i);
            self.active -= 1;
        }
    }

    /// Polls every request in flight.
    fn poll_all(&mut self, cx: &mut Context<'_>) {
        if self.active == 0 {
            return;
        }
        for i in 0..self.slots.len() {
            self.poll_slot(i, cx);
        }
    }
}

/// Kitex's heartbeat: a TTHeader frame whose `MsgType` int key is
/// `remote.Heartbeat` (6; kitex `pkg/remote/message.go`, written as decimal
/// text by `pkg/transmeta/ttheader.go`) and whose payload is empty.
fn is_heartbeat(frame: &transport::Frame) -> bool {
    frame.payload.is_empty()
        && frame
            .header
            .as_ref()
            .and_then(|h| h.int(ringrpc_codec::transport::ttheader::int_key::MSG_TYPE))
            .is_some_and(|v| v[..] == *HEARTBEAT)
}

/// Kitex's `remote.Heartbeat` message type, as the `MsgType` value.
const HEARTBEAT: &[u8] = b"6";

fn is_ttheader(c: Codec) -> bool {
    matches!(c.transport, Transport::TtHeader | Transport::TtHeaderFramed)
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
