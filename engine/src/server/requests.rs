//! The request side of one connection, without its socket: detect the
//! protocol once, cut whole frames off the read buffer, answer heartbeats,
//! and dispatch each request to the routes, whose replies go into a
//! [`ReplySink`].
//!
//! Every request runs in a reusable worker of the connection's [`Inflight`]
//! set, so the connection's own future never carries a handler's state,
//! and a request's dispatch future is never moved.
//! Framed and Buffered requests run one at a time, so pipelined requests
//! are answered in order. TTHeader requests (which carry their own seq id,
//! and may come from a multiplexing client) run concurrently and are
//! answered as they finish. The connection task ([`super::connection`]) drives this with
//! socket reads; the in-memory [`Pair`](crate::testing::Pair) drives it
//! with bytes handed over in a test.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use ringrpc_codec::buffer::LinkBuffer;
use ringrpc_codec::transport::{self, Codec, Decoded, FrameLimits, Transport};

use super::inflight::{Inflight, Mailbox};
use super::reply::{ReplySink, is_heartbeat, reply_heartbeat};
use super::router::{Incoming, Route};
use crate::context::PeerIdentity;

/// Makes the worker that serves the requests of one in-flight slot.
pub(crate) type Worker<R, K, F> = fn(Rc<R>, Rc<K>, Rc<Mailbox<Incoming>>) -> F;

/// One connection's requests: the detected codec, and what is in flight.
pub(crate) struct Requests<R, K, F> {
    routes: Rc<R>,
    sink: Rc<K>,
    peer: SocketAddr,
    /// The client's verified TLS certificate (mutual TLS).
    identity: Option<Rc<PeerIdentity>>,
    codec: Option<Codec>,
    limits: FrameLimits,
    max_inflight: usize,
    worker: Worker<R, K, F>,
    inflight: Inflight<Incoming, F>,
    /// The buffered length below which the frame at the front cannot be
    /// whole (what the decoder last said it needed); 0 when nothing waits.
    waiting: usize,
}

/// Serves the requests handed to one in-flight slot, one after another;
/// owns what it needs, so it can sit in [`Inflight`].
async fn worker<R: Route, K: ReplySink>(routes: Rc<R>, sink: Rc<K>, slot: Rc<Mailbox<Incoming>>) {
    loop {
        let req = slot.recv().await;
        routes.dispatch(req, &*sink).await;
        slot.done();
    }
}

/// Whether `c` is a TTHeader transport (requests served concurrently).
pub(crate) fn is_ttheader(c: Codec) -> bool {
    matches!(c.transport, Transport::TtHeader | Transport::TtHeaderFramed)
}

/// A connection's request side, serving `routes` for `peer` and replying
/// into `sink`.
pub(crate) fn requests<R: Route, K: ReplySink + 'static>(
    routes: Rc<R>,
    sink: Rc<K>,
    peer: SocketAddr,
    limits: FrameLimits,
    max_inflight: usize,
) -> Requests<R, K, impl Future<Output = ()>> {
    Requests {
        routes,
        sink,
        peer,
        identity: None,
        codec: None,
        limits,
        max_inflight: max_inflight.max(1),
        worker: worker::<R, K>,
        inflight: Inflight::new(),
        waiting: 0,
    }
}

impl<R, K, F> Requests<R, K, F> {
    /// Starts with `codec` already detected (a connection waking from a
    /// park).
    pub(crate) fn with_codec(mut self, codec: Option<Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Calls on this connection come from `identity` (mutual TLS).
    pub(crate) fn with_identity(mut self, identity: Option<Rc<PeerIdentity>>) -> Self {
        self.identity = identity;
        self
    }
}

impl<R: Route, K: ReplySink, F: Future<Output = ()>> Requests<R, K, F> {
    /// The transport and protocol, once detected.
    pub(crate) fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// Requests in flight (TTHeader only; in-order requests finish inside
    /// [`handle`](Self::handle)).
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// How long the frame at the front of the buffer is, at least, when a
    /// partial frame waits for its bytes (exact once its length field has
    /// arrived): what the buffer should make room for, in one piece.
    pub(crate) fn pending_frame(&self) -> Option<usize> {
        (self.waiting > 0).then_some(self.waiting)
    }

    /// Polls the requests in flight, so they progress while the caller
    /// waits for something else (a read, a flush).
    pub(crate) fn poll_inflight(&mut self, cx: &mut Context<'_>) {
        self.inflight.poll_all(cx)
    }

    /// Waits until every request in flight has finished.
    pub(crate) async fn finish(&mut self) {
        poll_fn(|cx| {
            self.inflight.poll_all(cx);
            if self.inflight.len() == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Handles every whole frame in `buf`: answers heartbeats, runs
    /// in-order requests to completion, and adds TTHeader requests to the
    /// in-flight set (waiting while it is full). Leaves a partial frame in
    /// `buf`.
    ///
    /// An error means the byte stream is broken (no protocol ringrpc knows,
    /// or a frame that cannot be cut): the connection must close, since it
    /// cannot be re-synchronised.
    pub(crate) async fn handle(&mut self, buf: &mut LinkBuffer) -> ringrpc_codec::Result<()> {
        if buf.len() < self.waiting {
            // The decoder said how much it needs; it would say so again.
            return Ok(());
        }
        self.waiting = 0;
        // One clock read per batch of frames read together: a caller's
        // deadline counts from here.
        let received = std::time::Instant::now();
        loop {
            let c = match self.codec {
                Some(c) => c,
                None => {
                    let Ok(head) = buf.peek(buf.len().min(8)) else {
                        return Ok(());
                    };
                    match transport::detect(head)? {
                        Decoded::Ready(c) => *self.codec.insert(c),
                        Decoded::NeedMore(_) => return Ok(()),
                    }
                }
            };
            let frame = match transport::decode_frame(buf, c, &self.limits)? {
                Decoded::Ready(f) => f,
                Decoded::NeedMore(n) => {
                    self.waiting = buf.len() + n;
                    return Ok(());
                }
            };
            if let Some(h) = frame.header.as_ref().filter(|_| is_heartbeat(&frame)) {
                reply_heartbeat(&*self.sink, c, h);
                continue;
            }
            let incoming = Incoming {
                frame,
                peer: self.peer,
                identity: self.identity.clone(),
                received,
            };
            // Every request runs in a reusable worker of the in-flight
            // set, so the connection's own future does not carry a
            // handler's state (an idle connection stays small).
            let (routes, sink, make) = (&self.routes, &self.sink, self.worker);
            let slot = self
                .inflight
                .insert(incoming, |m| make(routes.clone(), sink.clone(), m));
            poll_fn(|cx| {
                self.inflight.poll_slot(slot, cx);
                Poll::Ready(())
            })
            .await;
            // In-order transports: the request finishes before the next is
            // cut. TTHeader: stop cutting frames while too many are in
            // flight (back-pressure).
            let limit = if is_ttheader(c) { self.max_inflight } else { 1 };
            if self.inflight.len() >= limit {
                poll_fn(|cx| {
                    self.inflight.poll_all(cx);
                    if self.inflight.len() < limit {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }
        }
    }
}
