//! Multiplexed connections: many calls in flight on one TTHeader connection,
//! each reply matched to its call by seq id. A reader task per connection
//! hands replies to waiting calls; a writer task flushes requests queued in
//! the same turn with one vectored write.
//!
//! Each call notes where its frame starts in the connection's byte stream,
//! and the writer counts the bytes the socket took; a call whose connection
//! fails before any byte of its frame was written gets [`Error::NotSent`]
//! (safe to send again), the others [`Error::Io`].
//!
//! A connection the pool forgets (its instance left discovery) is *retired*:
//! it takes no new calls, the calls in flight on it finish, and the last one
//! to finish closes it (both tasks end, the socket closes).

use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::transport::{self, Codec, Decoded, Frame, FrameLimits};
use slab::Slab;

use crate::io::{OutChain, ReadHalf, WriteHalf};
use crate::notify::LocalNotify;
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Slot {
    reply: Option<Result<Frame>>,
    waker: Option<Waker>,
    /// Bytes queued on the connection before this call's frame.
    from: u64,
}

/// Why a mux connection stopped carrying calls. Each call waiting on it gets
/// its own [`Error`] made from this: the same variant a long connection
/// gives for the same failure, so retry decides alike on both pools.
#[derive(Debug)]
enum Failure {
    /// The peer closed the connection.
    Closed,
    /// A read or write failed.
    Io(std::io::Error),
    /// A reply frame could not be cut (the stream is broken).
    BadFrame(ringrpc_codec::Error),
    /// The pool retired the connection (its instance left discovery).
    Retired,
}

impl Failure {
    /// The error of a call whose frame never left: [`Error::NotSent`], with
    /// a cause of the same kind as [`to_error`](Self::to_error)'s.
    fn not_sent(&self, addr: SocketAddr) -> Error {
        let source = match self {
            Failure::Closed => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by peer",
            ),
            Failure::Io(e) => std::io::Error::new(e.kind(), e.to_string()),
            Failure::BadFrame(e) => std::io::Error::new(std::io::ErrorKind::InvalidData, e.clone()),
            Failure::Retired => {
                std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection retired")
            }
        };
        Error::NotSent { addr, source }
    }

    fn to_error(&self) -> Error {
        match self {
            Failure::Closed => Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by peer",
            )),
            // `io::Error` is not `Clone`: each call gets one of the same
            // kind and message.
            Failure::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Failure::BadFrame(e) => Error::Protocol(e.clone()),
            Failure::Retired => Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "connection retired",
            )),
        }
    }
}

/// What the tasks of one mux connection share.
#[derive(Debug)]
struct Shared {
    /// The peer.
    addr: SocketAddr,
    writer: RefCell<LinkWriter>,
    /// Bytes ever queued into `writer`.
    queued: Cell<u64>,
    /// Bytes the socket took.
    flushed: Cell<u64>,
    wake_writer: LocalNotify,
    slots: RefCell<Slab<Slot>>,
    by_seq: RefCell<HashMap<i32, usize>>,
    broken: Cell<bool>,
    /// Retired: close once no call is in flight.
    retired: Cell<bool>,
    /// Wakes the reader to stop reading and end.
    stop_reader: LocalNotify,
}

impl Shared {
    fn new(addr: SocketAddr) -> Self {
        Shared {
            addr,
            writer: RefCell::new(LinkWriter::new()),
            queued: Cell::new(0),
            flushed: Cell::new(0),
            wake_writer: LocalNotify::new(),
            slots: RefCell::new(Slab::new()),
            by_seq: RefCell::new(HashMap::default()),
            broken: Cell::new(false),
            retired: Cell::new(false),
            stop_reader: LocalNotify::new(),
        }
    }

    /// Closes the connection: fails what is in flight, ends both tasks.
    fn close(&self, why: Failure) {
        self.fail_all(why);
        self.stop_reader.notify();
    }

    /// Closes a retired connection once its last call is done.
    fn close_if_retired_and_idle(&self) {
        if self.retired.get() && !self.broken.get() && self.slots.borrow().is_empty() {
            self.close(Failure::Retired);
        }
    }

    fn fail_all(&self, why: Failure) {
        tracing::debug!(?why, "mux connection failed");
        self.broken.set(true);
        self.by_seq.borrow_mut().clear();
        let flushed = self.flushed.get();
        for (_, s) in self.slots.borrow_mut().iter_mut() {
            if s.reply.is_none() {
                s.reply = Some(Err(if flushed <= s.from {
                    why.not_sent(self.addr)
                } else {
                    why.to_error()
                }));
            }
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        self.wake_writer.notify();
    }
}

/// One multiplexed connection.
#[derive(Debug, Clone)]
pub(crate) struct MuxConn {
    shared: Rc<Shared>,
}

impl MuxConn {
    /// Connects and starts the connection's reader and writer tasks.
    pub(crate) async fn connect(
        addr: SocketAddr,
        connect_timeout: std::time::Duration,
        codec: Codec,
        limits: FrameLimits,
        tls: Option<&super::Tls>,
    ) -> Result<Self> {
        let (rd, wr) = super::pool::connect(addr, connect_timeout, tls).await?;
        let shared = Rc::new(Shared::new(addr));
        monoio::spawn(read_loop(rd, shared.clone(), codec, limits));
        monoio::spawn(write_loop(wr, shared.clone()));
        Ok(Self { shared })
    }

    /// Whether the connection broke (it is then dropped from the pool).
    pub(crate) fn is_broken(&self) -> bool {
        self.shared.broken.get()
    }

    /// Takes no new calls; closes once the calls in flight are done.
    pub(crate) fn retire(&self) {
        self.shared.retired.set(true);
        self.shared.close_if_retired_and_idle();
    }

    /// Sends the frame `encode` writes and waits for the reply with `seq`.
    /// Dropping the future (a timeout) forgets the call; a late reply is
    /// discarded.
    pub(crate) async fn call(
        &self,
        seq: i32,
        oneway: bool,
        encode: impl FnOnce(&mut LinkWriter),
    ) -> Result<Option<Frame>> {
        if self.shared.broken.get() {
            return Err(Error::NotSent {
                addr: self.shared.addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "mux connection is broken",
                ),
            });
        }
        let from = self.shared.queued.get();
        {
            let mut w = self.shared.writer.borrow_mut();
            let before = w.len();
            encode(&mut w);
            self.shared.queued.set(from + (w.len() - before) as u64);
        }
        self.shared.wake_writer.notify();
        if oneway {
            return Ok(None);
        }
        let key = self.shared.slots.borrow_mut().insert(Slot {
            from,
            ..Slot::default()
        });
        self.shared.by_seq.borrow_mut().insert(seq, key);
        let guard = SlotGuard {
            shared: &self.shared,
            key,
            seq,
        };
        let reply = poll_fn(|cx| {
            let mut slots = guard.shared.slots.borrow_mut();
            let slot = &mut slots[guard.key];
            match slot.reply.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    match &slot.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => slot.waker = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        drop(guard);
        reply.map(Some)
    }
}

/// Removes a call's slot however the call ends.
struct SlotGuard<'a> {
    shared: &'a Shared,
    key: usize,
    seq: i32,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        {
            let mut by_seq = self.shared.by_seq.borrow_mut();
            if by_seq.get(&self.seq) == Some(&self.key) {
                by_seq.remove(&self.seq);
            }
        }
        self.shared.slots.borrow_mut().try_remove(self.key);
        self.shared.close_if_retired_and_idle();
    }
}

async fn read_loop(mut rd: ReadHalf, shared: Rc<Shared>, codec: Codec, limits: FrameLimits) {
    let mut buf = LinkBuffer::new();
    loop {
        // Hand every whole reply over; then the length the next one needs.
        let want = loop {
            match transport::decode_frame(&mut buf, codec, &limits) {
                Ok(Decoded::Ready(frame)) => {
                    let seq = frame.header.as_ref().map_or(0, |h| h.seq_id);
                    let key = shared.by_seq.borrow_mut().remove(&seq);
                    match key {
                        Some(key) => {
                            let mut slots = shared.slots.borrow_mut();
                            if let Some(slot) = slots.get_mut(key) {
                                slot.reply = Some(Ok(frame));
                                if let Some(w) = slot.waker.take() {
                                    w.wake();
                                }
                            }
                        }
                        None => tracing::debug!(seq, "reply for a call no longer waiting"),
                    }
                }
                Ok(Decoded::NeedMore(n)) => break buf.len() + n,
                Err(e) => {
                    shared.fail_all(Failure::BadFrame(e));
                    return;
                }
            }
        };
        if shared.broken.get() {
            return;
        }
        buf.reserve_contiguous(want);
        let res = monoio::select! {
            r = rd.read(&mut buf, None) => r,
            // Retired and idle (or broken): stop reading, which closes the
            // read half; the writer has stopped too.
            _ = shared.stop_reader.notified() => return,
        };
        if rd.wants_write() {
            // The TLS layer has records of its own to send.
            shared.wake_writer.notify();
        }
        match res {
            Ok(0) => {
                shared.fail_all(Failure::Closed);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.fail_all(Failure::Io(e));
                return;
            }
        }
    }
}

async fn write_loop(mut wr: WriteHalf, shared: Rc<Shared>) {
    let mut chain = OutChain::default();
    loop {
        if shared.broken.get() {
            return;
        }
        if shared.writer.borrow().is_empty() && !wr.wants_write() {
            shared.wake_writer.notified().await;
            continue;
        }
        chain.fill(&mut shared.writer.borrow_mut());
        let (res, c) = wr.write(chain).await;
        chain = c;
        shared
            .flushed
            .set(shared.flushed.get() + chain.written() as u64);
        if let Err(e) = res {
            shared.fail_all(Failure::Io(e));
            return;
        }
    }
}

/// The mux connections of one core, per address.
#[derive(Debug)]
pub(crate) struct MuxPool {
    conns: RefCell<HashMap<SocketAddr, AddrConns>>,
    per_addr: usize,
}

/// The mux connections to one address, and the connects under way.
#[derive(Debug, Default)]
struct AddrConns {
    list: Vec<MuxConn>,
    next: usize,
    /// Connects started and not finished.
    connecting: usize,
    /// Bumped when a connect finishes; waiters watch it.
    generation: u64,
    waiters: Vec<Waker>,
}

impl AddrConns {
    fn finish_connect(&mut self) {
        self.connecting -= 1;
        self.generation += 1;
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }
}

/// Ends a connect however its future ends (done, failed, or dropped by a
/// timeout), so waiters never wait on a connect nobody makes.
struct Connecting<'a> {
    pool: &'a MuxPool,
    addr: SocketAddr,
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.pool.conns.borrow_mut().get_mut(&self.addr) {
            e.finish_connect();
        }
    }
}

enum Next {
    Use(MuxConn),
    Connect,
    Wait(u64),
}

impl MuxPool {
    pub(crate) fn new(per_addr: usize) -> Self {
        Self {
            conns: RefCell::new(HashMap::default()),
            per_addr: per_addr.max(1),
        }
    }

    /// A live connection to `addr`, in turn. Connects while fewer than
    /// `per_addr` are live or being connected; a caller that finds none live
    /// but one being connected waits for it, so a cold burst opens one
    /// connection, not one per call.
    pub(crate) async fn get(
        &self,
        addr: SocketAddr,
        connect_timeout: std::time::Duration,
        codec: Codec,
        limits: FrameLimits,
        tls: Option<&super::Tls>,
    ) -> Result<MuxConn> {
        loop {
            let next = {
                let mut conns = self.conns.borrow_mut();
                let e = conns.entry(addr).or_default();
                e.list.retain(|c| !c.is_broken());
                if e.list.len() + e.connecting < self.per_addr {
                    e.connecting += 1;
                    Next::Connect
                } else if !e.list.is_empty() {
                    e.next = (e.next + 1) % e.list.len();
                    Next::Use(e.list[e.next].clone())
                } else {
                    Next::Wait(e.generation)
                }
            };
            match next {
                Next::Use(c) => return Ok(c),
                Next::Connect => {
                    let _guard = Connecting { pool: self, addr };
                    // Boxed: a rare step whose state (a timer, a connect)
                    // would otherwise size every call's future.
                    let conn =
                        Box::pin(MuxConn::connect(addr, connect_timeout, codec, limits, tls))
                            .await?;
                    self.conns
                        .borrow_mut()
                        .entry(addr)
                        .or_default()
                        .list
                        .push(conn.clone());
                    return Ok(conn);
                }
                Next::Wait(generation) => {
                    poll_fn(|cx| {
                        let mut conns = self.conns.borrow_mut();
                        match conns.get_mut(&addr) {
                            Some(e) if e.generation == generation => {
                                e.waiters.push(cx.waker().clone());
                                Poll::Pending
                            }
                            _ => Poll::Ready(()),
                        }
                    })
                    .await
                }
            }
        }
    }

    /// Closes the connections to `addr` (the instance went away): calls in
    /// flight on them still finish, then the connection closes; new calls
    /// connect afresh.
    pub(crate) fn remove_addr(&self, addr: &SocketAddr) {
        let gone = match self.conns.borrow_mut().get_mut(addr) {
            Some(e) => std::mem::take(&mut e.list),
            None => return,
        };
        for conn in gone {
            conn.retire();
        }
    }

    /// Live connections to `addr` (tests and metrics).
    pub(crate) fn live_count(&self, addr: &SocketAddr) -> usize {
        self.conns
            .borrow()
            .get(addr)
            .map_or(0, |e| e.list.iter().filter(|c| !c.is_broken()).count())
    }
}

impl Drop for MuxPool {
    /// A client that goes away closes its connections once the calls in
    /// flight on them are done (their tasks would otherwise keep them open).
    fn drop(&mut self) {
        for (_, e) in self.conns.get_mut().drain() {
            for conn in e.list {
                conn.retire();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_tells_frames_never_written_from_written_ones() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let shared = Shared::new(addr);
        // Three frames queued at 0, 100 and 150; the socket took 120 bytes:
        // the first whole, the second in part, the third not at all.
        shared.flushed.set(120);
        let keys: Vec<usize> = [0, 100, 150]
            .into_iter()
            .map(|from| {
                shared.slots.borrow_mut().insert(Slot {
                    from,
                    ..Slot::default()
                })
            })
            .collect();
        shared.fail_all(Failure::Closed);
        let mut slots = shared.slots.borrow_mut();
        let mut take = |k: usize| {
            slots[k]
                .reply
                .take()
                .expect("failed")
                .expect_err("an error")
        };
        assert!(matches!(take(keys[0]), Error::Io(_)));
        assert!(matches!(take(keys[1]), Error::Io(_)));
        match take(keys[2]) {
            Error::NotSent { addr: a, source } => {
                assert_eq!(a, addr);
                assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
            }
            e => panic!("{e:?}"),
        }
    }
}
