//! A connection that opened with the HTTP/2 preface, served as gRPC on its
//! core: monoio-http's h2 port speaks HTTP/2 (flow control, settings,
//! GOAWAY); this file accepts its streams, runs their calls on the
//! connection's own task (each call polled with its own waker), and bounds
//! what a peer can make the server do.
//!
//! Bounds, besides HTTP/2's own (window, frame size, header list size,
//! concurrent streams, all from [`GrpcConfig`]):
//! - the handshake (preface and SETTINGS) must finish within the read
//!   timeout, and a connection with no open stream closes after the idle
//!   timeout (a slowloris that dribbles a frame never opens a stream);
//! - a peer that resets more than `max_peer_resets_per_sec` streams in a
//!   second gets GOAWAY `ENHANCE_YOUR_CALM` (CVE-2023-44487);
//! - a handler's panic ends its call with `INTERNAL`; the deadline from
//!   `grpc-timeout` ends it with `DEADLINE_EXCEEDED`; a reset from the peer
//!   drops (cancels) it.

use std::any::Any;
use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use monoio::net::TcpStream;
use monoio_http::h2::{self, Reason, RecvStream, server::SendResponse};

use super::ServerConfig;
use super::connection::ConnShared;
use super::core::CoreState;
use super::counters::bump;
use super::router::{panic_message, poll_caught};
use crate::grpc::metadata::Metadata;
use crate::grpc::middleware::{GrpcContext, ServerCall, ServerNext};
use crate::grpc::router::{Call, GrpcServer, Outcome};
use crate::grpc::status::Status;
use crate::grpc::streaming::Reply;
use crate::grpc::wire::{self, Encoding, names};
use crate::middleware::Service;
use http::uri::PathAndQuery;

/// Streams the peer reset in the current second, and when it started.
#[derive(Default)]
struct Resets {
    count: u32,
    window: Option<Instant>,
}

impl Resets {
    /// Counts a stream the peer reset; true when that is one too many.
    fn peer_reset(&mut self, limit: u32) -> bool {
        let now = Instant::now();
        match self.window {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                self.count += 1;
            }
            _ => {
                self.window = Some(now);
                self.count = 1;
            }
        }
        self.count > limit
    }
}

/// What h2's accept gives: a new stream, or the connection's end or error.
type Accepted = Option<Result<(http::Request<RecvStream>, SendResponse<Bytes>), h2::Error>>;

/// What the connection's loop waits for (an event lives for one turn of
/// the loop, on the stack: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Event {
    /// A new stream (or the connection's end, or its error).
    Accepted(Accepted),
    /// A call ended; true when the peer had reset its stream.
    CallDone(bool),
    /// The sweeper or the server: a timeout, a drain.
    Interrupted,
}

/// Serves an HTTP/2 connection until the peer closes it, it breaks, it
/// idles out, or the server drains (GOAWAY, then the streams finish).
pub(crate) async fn serve(
    io: TcpStream,
    peer: SocketAddr,
    grpc: &GrpcServer,
    cfg: &ServerConfig,
    shared: &Rc<ConnShared>,
    core: &CoreState,
) {
    let g = &grpc.config;
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(g.initial_stream_window)
        .initial_connection_window_size(g.initial_connection_window)
        .max_concurrent_streams(g.max_concurrent_streams)
        .max_header_list_size(g.max_header_list_size)
        // Resets this side sends (a stream it refused or cancelled) kept
        // to tell late frames apart: h2's default.
        .max_concurrent_reset_streams(H2_LOCAL_RESETS);
    // The preface and SETTINGS within the read timeout: the sweeper
    // interrupts a handshake that stalls, as it does a read.
    shared
        .deadline
        .set(Some(core.read_deadline(cfg.read_timeout)));
    let hs = builder.handshake::<_, Bytes>(io);
    let mut conn = monoio::select! {
        c = hs => match c {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%peer, "closing: HTTP/2 handshake failed: {e}");
                return;
            }
        },
        _ = shared.interrupt.notified() => {
            tracing::debug!(%peer, "closing: HTTP/2 handshake timed out or server draining");
            return;
        }
    };
    bump(&core.counters().grpc_connections, 1);
    // The router's layers, as this core's chain (built on its first call).
    let chain = core
        .grpc_chain
        .get_or_init(|| grpc.router.chain().map(Rc::new))
        .clone();
    // The calls under way on this connection, polled by this task: a
    // call's first poll comes right after its HEADERS (and the frames
    // that came with them) were read, so a handler that needs nothing more
    // answers before this task writes, in the same write as other replies;
    // a call that waits is woken on its own (each has its own waker), and
    // never leaves this task, so never this core.
    let mut calls = FuturesUnordered::new();
    let mut resets = Resets::default();
    let limit = g.max_peer_resets_per_sec;
    let mut draining = false;
    loop {
        // Idle (no stream open): the idle timeout runs; busy: no timeout
        // (each call has its own deadline).
        if calls.is_empty() && !draining {
            shared
                .deadline
                .set(Some(core.read_deadline(cfg.idle_timeout)));
        } else if !draining {
            shared.deadline.set(None);
        }
        let mut interrupt = std::pin::pin!(shared.interrupt.notified());
        let next = poll_fn(|cx| {
            if !calls.is_empty()
                && let Poll::Ready(Some(reset)) = calls.poll_next_unpin(cx)
            {
                return Poll::Ready(Event::CallDone(reset));
            }
            if let Poll::Ready(a) = conn.poll_accept(cx) {
                return Poll::Ready(Event::Accepted(a));
            }
            match interrupt.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Event::Interrupted),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match next {
            Event::Accepted(Some(Ok((req, respond)))) => {
                shared.timed_out.set(false);
                if let Some(call) = start_call(req, respond, peer, grpc, chain.as_ref()) {
                    calls.push(call.run());
                }
            }
            Event::CallDone(reset) => {
                if reset && resets.peer_reset(limit) {
                    tracing::debug!(%peer, "closing: too many streams reset by the peer");
                    bump(&core.counters().grpc_rapid_resets, 1);
                    conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                    break;
                }
            }
            Event::Accepted(Some(Err(e))) => {
                // h2 already sent GOAWAY with the reason (a protocol or flow
                // control error, a header list too large, ...).
                tracing::debug!(%peer, "closing: HTTP/2 error: {e}");
                break;
            }
            Event::Accepted(None) => break,
            Event::Interrupted if shared.draining.get() && !draining => {
                // GOAWAY: no new streams; the open ones finish (until the
                // drain deadline, which the sweeper enforces).
                draining = true;
                conn.graceful_shutdown();
                shared
                    .deadline
                    .set(Some(core.read_deadline(cfg.shutdown_timeout)));
            }
            Event::Interrupted if shared.timed_out.get() => {
                if draining {
                    tracing::debug!(%peer, "closing: drain deadline passed");
                    break;
                }
                if calls.is_empty() {
                    tracing::debug!(%peer, "closing: idle timeout");
                    conn.graceful_shutdown();
                    break;
                }
                shared.timed_out.set(false);
            }
            Event::Interrupted => {}
        }
    }
    // Calls still under way when the connection ends (an error, a drain
    // past its deadline) are dropped: their streams are gone.
    drop(calls);
    shared.deadline.set(None);
    // Send what is queued (GOAWAY, the last replies) and let the peer see
    // the close; bounded, so a peer that stops reading cannot hold it.
    let _ = monoio::time::timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// Streams this side reset that h2 remembers: h2's own default (10).
const H2_LOCAL_RESETS: usize = 10;

/// A call under way: the handler's future (behind the layers, if any),
/// boxed (every method boxes its future anyway, and what is polled stays
/// small: a stream's task is moved and its state rewritten a few times over
/// its life, so its size costs on every call), the reply it answers
/// through, and the deadline's timer, made only when the caller sent
/// `grpc-timeout`.
struct Running {
    handled: Pin<Box<dyn Future<Output = Outcome>>>,
    reply: Rc<RefCell<Reply>>,
    expired: Option<Pin<Box<monoio::time::Sleep>>>,
    peer: SocketAddr,
}

/// How a call ended.
enum End {
    Handled(Result<Outcome, Box<dyn Any + Send>>),
    Reset,
    Expired,
}

impl Running {
    /// Polls the handler, then the peer's reset, then the deadline.
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<End> {
        // A panic in the handler (or a layer) while polling is caught here.
        if let Poll::Ready(out) = poll_caught(self.handled.as_mut(), cx) {
            return Poll::Ready(End::Handled(out));
        }
        let mut reply = self.reply.borrow_mut();
        // The handler waits: what it streamed so far goes to h2 (one DATA
        // frame for the messages it produced in one go).
        reply.flush();
        if reply.poll_reset(cx).is_ready() {
            return Poll::Ready(End::Reset);
        }
        drop(reply);
        match self.expired.as_mut().map(|s| s.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(End::Expired),
            _ => Poll::Pending,
        }
    }

    /// The whole call: true when the peer reset the stream before it
    /// finished.
    async fn run(mut self) -> bool {
        let end = poll_fn(|cx| self.poll(cx)).await;
        self.finish(end)
    }

    /// Answers the call the way it ended. True when the peer reset the
    /// stream before the call finished.
    fn finish(self, end: End) -> bool {
        let Running {
            handled,
            reply,
            peer,
            ..
        } = self;
        drop(handled);
        let outcome = match end {
            End::Handled(out) => out,
            End::Reset => {
                tracing::debug!(%peer, "call reset by the peer");
                return true;
            }
            End::Expired => Ok(Err(Status::deadline_exceeded(
                "the deadline passed before the call finished",
            ))),
        };
        let mut r = reply.borrow_mut();
        // A handler that ended because its stream was reset (its read
        // failed) is a reset too, whichever the poll saw first.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if r.poll_reset(&mut cx).is_ready() {
            return true;
        }
        match outcome {
            Ok(Ok(Some((md, msg)))) => r.finish_unary(md, msg),
            Ok(Ok(None)) => r.finish(&Status::new(crate::grpc::Code::Ok, "")),
            Ok(Err(st)) => r.finish(&st),
            Err(p) => {
                let why = panic_message(&*p);
                tracing::error!(%peer, "gRPC handler panicked: {why}");
                r.finish(&Status::internal(format!("handler panicked: {why}")));
            }
        }
        false
    }
}

/// Checks the request and starts its method; `None` when the request was
/// answered here (not gRPC, no such method, a bad header). Nothing of the
/// request that the call does not need outlives this.
fn start_call(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: SocketAddr,
    grpc: &GrpcServer,
    chain: Option<&Rc<ServerNext>>,
) -> Option<Running> {
    let received = Instant::now();
    let (mut parts, body) = req.into_parts();
    let g = &grpc.config;
    if parts.method != http::Method::POST {
        plain_http(&mut respond, http::StatusCode::METHOD_NOT_ALLOWED);
        return None;
    }
    let grpc_content = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc_content {
        // gRPC's PROTOCOL-HTTP2.md: 415 for a content-type that is not gRPC.
        plain_http(&mut respond, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        return None;
    }
    let path = parts.uri.path();
    let Some(method) = grpc.router.get(path) else {
        let st = Status::unimplemented(format!("unknown method {path}"));
        answer(respond, &st);
        return None;
    };
    let recv_enc = match Encoding::from_header(parts.headers.get(names::GRPC_ENCODING)) {
        Ok(e) => e,
        Err(st) => {
            answer(respond, &st);
            return None;
        }
    };
    let deadline = match parts.headers.get(names::GRPC_TIMEOUT) {
        None => None,
        Some(v) => match wire::parse_timeout(v.as_bytes()) {
            Some(d) => Some(received + g.max_deadline.map_or(d, |m| d.min(m))),
            None => {
                answer(respond, &Status::internal("malformed grpc-timeout"));
                return None;
            }
        },
    };
    // Replies are compressed the way the request was, when it was.
    let send_enc = if recv_enc == Encoding::Gzip
        && Encoding::accepts_gzip(parts.headers.get(names::GRPC_ACCEPT_ENCODING))
    {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let reply = Rc::new(RefCell::new(Reply::new(
        respond,
        send_enc,
        g.max_send_message,
    )));
    // The request's header map becomes the metadata (no copy).
    let metadata = Metadata::from_request_headers(std::mem::take(&mut parts.headers));
    let call = Call {
        metadata: Metadata::new(),
        deadline,
        peer,
        body,
        recv_enc,
        max_recv: g.max_recv_message,
        reply: reply.clone(),
    };
    // Starting the method (or the first layer) runs user code too: a panic
    // there is the handler's, as one while it is polled is.
    let started = std::panic::catch_unwind(AssertUnwindSafe(
        || -> Pin<Box<dyn Future<Output = Outcome>>> {
            match chain {
                None => {
                    let mut call = call;
                    call.metadata = metadata;
                    method.call(call)
                }
                Some(chain) => {
                    let path = parts
                        .uri
                        .path_and_query()
                        .cloned()
                        .unwrap_or_else(|| PathAndQuery::from_static("/"));
                    let mut cx =
                        GrpcContext::new(path, method.kind(), metadata, deadline, Some(peer));
                    let call = ServerCall {
                        method: method.clone(),
                        call,
                    };
                    let chain = chain.clone();
                    Box::pin(async move { chain.call(&mut cx, call).await.map(|a| a.reply) })
                }
            }
        },
    ));
    let handled = started.unwrap_or_else(|p| {
        let st = Status::internal(format!("handler panicked: {}", panic_message(&*p)));
        Box::pin(std::future::ready(Err(st)))
    });
    Some(Running {
        handled,
        reply,
        expired: deadline.map(|d| Box::pin(monoio::time::sleep_until(d.into()))),
        peer,
    })
}

/// A trailers-only answer with `st`.
fn answer(respond: SendResponse<Bytes>, st: &Status) {
    let mut reply = Reply::new(respond, Encoding::Identity, 0);
    reply.finish(st);
}

/// A plain HTTP answer to a request that is not gRPC.
fn plain_http(respond: &mut SendResponse<Bytes>, status: http::StatusCode) {
    let mut r = http::Response::new(());
    *r.status_mut() = status;
    let _ = respond.send_response(r, true);
}
