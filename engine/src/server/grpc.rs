//! A connection that opened with the HTTP/2 preface, served as gRPC on its
//! core: monoio-http's h2 port speaks HTTP/2 (flow control, settings,
//! GOAWAY); this file accepts its streams, runs each call as a task on
//! this core, and bounds what a peer can make the server do.
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
use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::net::TcpStream;
use monoio_http::h2::{self, Reason, RecvStream, server::SendResponse};

use super::ServerConfig;
use super::connection::ConnShared;
use super::core::CoreState;
use super::counters::bump;
use super::router::panic_message;
use crate::grpc::metadata::Metadata;
use crate::grpc::middleware::{GrpcContext, ServerCall, ServerNext};
use crate::grpc::router::{Call, GrpcServer, Outcome};
use crate::grpc::status::Status;
use crate::grpc::streaming::Reply;
use crate::grpc::wire::{self, Encoding, names};
use crate::middleware::Service;
use http::uri::PathAndQuery;

/// What a connection's stream tasks share with its accept loop.
#[derive(Default)]
struct Streams {
    /// Streams whose task is running.
    open: Cell<usize>,
    /// Resets by the peer in the current second, and when it started.
    resets: Cell<u32>,
    window: Cell<Option<Instant>>,
    /// Too many resets: the loop sends GOAWAY and closes.
    calm: Cell<bool>,
}

impl Streams {
    /// Counts a stream the peer reset; true when that is one too many.
    fn peer_reset(&self, limit: u32) -> bool {
        let now = Instant::now();
        match self.window.get() {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                self.resets.set(self.resets.get() + 1);
            }
            _ => {
                self.window.set(Some(now));
                self.resets.set(1);
            }
        }
        self.resets.get() > limit
    }
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
    let streams = Rc::new(Streams::default());
    let mut draining = false;
    loop {
        // Idle (no stream open): the idle timeout runs; busy: no timeout
        // (each call has its own deadline).
        if streams.open.get() == 0 && !draining {
            shared
                .deadline
                .set(Some(core.read_deadline(cfg.idle_timeout)));
        } else if !draining {
            shared.deadline.set(None);
        }
        let next = monoio::select! {
            a = conn.accept() => Some(a),
            _ = shared.interrupt.notified() => None,
        };
        match next {
            Some(Some(Ok((req, respond)))) => {
                shared.timed_out.set(false);
                streams.open.set(streams.open.get() + 1);
                let (grpc, streams) = (grpc.clone(), streams.clone());
                let (shared, limit) = (shared.clone(), g.max_peer_resets_per_sec);
                let idle = cfg.idle_timeout;
                let chain = chain.clone();
                monoio::spawn(async move {
                    let reset = run_call(req, respond, peer, &grpc, chain.as_deref()).await;
                    streams.open.set(streams.open.get() - 1);
                    if reset && streams.peer_reset(limit) && !streams.calm.replace(true) {
                        // Wake the accept loop to send GOAWAY.
                        shared.cancel_read();
                    } else if streams.open.get() == 0 && !shared.draining.get() {
                        // The last open stream ended: the idle timeout
                        // starts counting (the sweeper enforces it; no wake
                        // of the accept loop, no allocation per call).
                        shared.deadline.set(Some(Instant::now() + idle));
                    }
                });
            }
            Some(Some(Err(e))) => {
                // h2 already sent GOAWAY with the reason (a protocol or flow
                // control error, a header list too large, ...).
                tracing::debug!(%peer, "closing: HTTP/2 error: {e}");
                break;
            }
            Some(None) => break,
            None if streams.calm.get() => {
                tracing::debug!(%peer, "closing: too many streams reset by the peer");
                bump(&core.counters().grpc_rapid_resets, 1);
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                break;
            }
            None if shared.draining.get() && !draining => {
                // GOAWAY: no new streams; the open ones finish (until the
                // drain deadline, which the sweeper enforces).
                draining = true;
                conn.graceful_shutdown();
                shared
                    .deadline
                    .set(Some(core.read_deadline(cfg.shutdown_timeout)));
            }
            None if shared.timed_out.get() => {
                if draining {
                    tracing::debug!(%peer, "closing: drain deadline passed");
                    break;
                }
                if streams.open.get() == 0 {
                    tracing::debug!(%peer, "closing: idle timeout");
                    conn.graceful_shutdown();
                    break;
                }
                shared.timed_out.set(false);
            }
            None => {}
        }
    }
    shared.deadline.set(None);
    // Send what is queued (GOAWAY, the last replies) and let the peer see
    // the close; bounded, so a peer that stops reading cannot hold it.
    let _ = monoio::time::timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// Streams this side reset that h2 remembers: h2's own default (10).
const H2_LOCAL_RESETS: usize = 10;

/// The handler's future (behind the layers, if any), boxed: every method
/// boxes its future anyway, and the task's own future stays small (a
/// stream's task is moved and its state rewritten a few times over its life,
/// so its size costs on every call).
type Handled<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// One call: checks the request, runs the method, answers. True when the
/// peer reset the stream before the call finished.
async fn run_call(
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    peer: SocketAddr,
    grpc: &GrpcServer,
    chain: Option<&ServerNext>,
) -> bool {
    let (mut handled, reply, deadline) = match start_call(req, respond, peer, grpc, chain) {
        Ok(started) => started,
        Err(reset) => return reset,
    };
    // The deadline's timer exists only when the caller sent one.
    let mut expired = deadline.map(|d| Box::pin(monoio::time::sleep_until(d.into())));
    enum End {
        Handled(Result<Outcome, Box<dyn Any + Send>>),
        Reset,
        Expired,
    }
    let end = poll_fn(|cx| {
        // A panic in the handler (or a layer) while polling is caught here.
        match std::panic::catch_unwind(AssertUnwindSafe(|| handled.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => return Poll::Ready(End::Handled(Ok(out))),
            Err(p) => return Poll::Ready(End::Handled(Err(p))),
            Ok(Poll::Pending) => {}
        }
        if reply.borrow_mut().poll_reset(cx).is_ready() {
            return Poll::Ready(End::Reset);
        }
        match expired.as_mut().map(|s| s.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(End::Expired),
            _ => Poll::Pending,
        }
    })
    .await;
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
    // A handler that ended because its stream was reset (its read failed)
    // is a reset too, whichever the poll saw first.
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

/// Checks the request and starts its method: the handler's future, the
/// reply it answers through, and the call's deadline; or, when the request
/// was answered here (not gRPC, no such method, a bad header), whether it
/// was reset (never: these answer at once). Nothing of the request that
/// the call does not need outlives this (it would stay in the task).
#[allow(clippy::type_complexity)]
fn start_call<'a>(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: SocketAddr,
    grpc: &'a GrpcServer,
    chain: Option<&'a ServerNext>,
) -> Result<(Handled<'a>, Rc<RefCell<Reply>>, Option<Instant>), bool> {
    let received = Instant::now();
    let (parts, body) = req.into_parts();
    let g = &grpc.config;
    if parts.method != http::Method::POST {
        return Err(plain_http(
            &mut respond,
            http::StatusCode::METHOD_NOT_ALLOWED,
        ));
    }
    let grpc_content = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc_content {
        // gRPC's PROTOCOL-HTTP2.md: 415 for a content-type that is not gRPC.
        return Err(plain_http(
            &mut respond,
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ));
    }
    let path = parts.uri.path();
    let Some(method) = grpc.router.get(path) else {
        let st = Status::unimplemented(format!("unknown method {path}"));
        return Err(answer(respond, &st));
    };
    let recv_enc = match Encoding::from_header(parts.headers.get(names::GRPC_ENCODING)) {
        Ok(e) => e,
        Err(st) => return Err(answer(respond, &st)),
    };
    let deadline = match parts.headers.get(names::GRPC_TIMEOUT) {
        None => None,
        Some(v) => match wire::parse_timeout(v.as_bytes()) {
            Some(d) => Some(received + g.max_deadline.map_or(d, |m| d.min(m))),
            None => {
                let st = Status::internal("malformed grpc-timeout");
                return Err(answer(respond, &st));
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
    let metadata = Metadata::from_headers(&parts.headers);
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
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| -> Handled<'a> {
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
                let mut cx = GrpcContext::new(path, method.kind(), metadata, deadline, Some(peer));
                let call = ServerCall {
                    method: method.clone(),
                    call,
                };
                Box::pin(async move { chain.call(&mut cx, call).await.map(|a| a.reply) })
            }
        }
    }));
    let handled: Handled<'a> = match started {
        Ok(f) => f,
        Err(p) => Box::pin(std::future::ready(Err(Status::internal(format!(
            "handler panicked: {}",
            panic_message(&*p)
        ))))),
    };
    Ok((handled, reply, deadline))
}

/// A trailers-only answer with `st`.
fn answer(respond: SendResponse<Bytes>, st: &Status) -> bool {
    let mut reply = Reply::new(respond, Encoding::Identity, 0);
    reply.finish(st);
    false
}

/// A plain HTTP answer to a request that is not gRPC.
fn plain_http(respond: &mut SendResponse<Bytes>, status: http::StatusCode) -> bool {
    let mut r = http::Response::new(());
    *r.status_mut() = status;
    let _ = respond.send_response(r, true);
    false
}
