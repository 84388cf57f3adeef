//! A call on one core: encode the arguments once, run the client chain,
//! decode the reply.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use bytes::Bytes;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, CompactReader, CompactWriter, ExceptionKind,
    Message, MessageIdent, MessageType, Protocol, ProtocolReader, ProtocolWriter, TType, Utf8Bytes,
};
use ringrpc_codec::transport::{Codec, Frame};

use super::fallback::Fallback;
use super::governance::{Counters, Governance};
use super::options::{CallOptions, ClientConfig};
use super::retry::MethodRetry;
use crate::context::{ClientContext, Endpoint, RpcInfo};
use crate::metainfo::TraceContext;
use crate::middleware::Service;
use crate::stats::{Event, Observers, Outcome, RpcStats, Side, StatsLevel};
use crate::{BizStatus, Error, Result};
use tracing::Instrument;
use tracing::field::Empty;

/// A call, encoded, as it travels the client chain.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The method.
    pub method: Utf8Bytes,
    /// Whether no reply is expected.
    pub oneway: bool,
    /// The Thrift message (header and arguments struct), encoded once.
    pub payload: Bytes,
    /// The transport and protocol it goes in.
    pub codec: Codec,
    /// Time limit for connecting.
    pub connect_timeout: Duration,
    /// The key consistent hashing places the call by (`None`: the seq id,
    /// which spreads calls).
    pub hash_key: Option<u64>,
    /// Retry settings for this call instead of its method's.
    pub retry: Option<MethodRetry>,
}

/// A reply frame, before the typed layer decodes it.
#[derive(Debug)]
pub struct ClientReply {
    /// The frame (`None` for a oneway call).
    pub frame: Option<Frame>,
}

/// A client on one core. `S` is its chain (context middleware around
/// [`Resolve`](super::Resolve)).
#[derive(Debug)]
pub struct Client<S = super::Resolve> {
    chain: S,
    cfg: Rc<ClientConfig>,
    governance: Governance,
    /// Fallbacks by method (`"*"`: any method without its own).
    fallbacks: HashMap<String, Fallback>,
    seq: Cell<i32>,
    scratch: RefCell<LinkWriter>,
    /// Reused by `encode` to collect the encoded pieces.
    parts: RefCell<Vec<Bytes>>,
    /// The length of the last message encoded (room made for the next).
    last_len: Cell<usize>,
    /// This core's tracers and stats level.
    observers: Observers,
    /// The caller's and the callee's names, for each call's [`RpcInfo`].
    caller: Option<Utf8Bytes>,
    callee: Option<Utf8Bytes>,
}

/// Runs the chain for a prepared call: within its RPC timeout, and inside
/// its span when that is enabled. A macro rather than an async helper: each
/// level of nesting would copy the whole call's future once more.
macro_rules! run_chain {
    ($self:ident, $cx:ident, $req:ident, $timeout:ident, $span:ident) => {
        match ($timeout, $span.is_disabled()) {
            (None, true) => $self.chain.call(&mut $cx, $req).await,
            (Some(t), true) => {
                match monoio::time::timeout(t, $self.chain.call(&mut $cx, $req)).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::Timeout(t)),
                }
            }
            (None, false) => {
                $self
                    .chain
                    .call(&mut $cx, $req)
                    .instrument($span.clone())
                    .await
            }
            (Some(t), false) => {
                match monoio::time::timeout(t, $self.chain.call(&mut $cx, $req))
                    .instrument($span.clone())
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(Error::Timeout(t)),
                }
            }
        }
    };
}

impl<S> Client<S> {
    pub(super) fn new(
        chain: S,
        cfg: Rc<ClientConfig>,
        governance: Governance,
        fallbacks: HashMap<String, Fallback>,
        observers: Observers,
    ) -> Self {
        let name = |s: &str| (!s.is_empty()).then(|| Utf8Bytes::from(s.to_owned()));
        let caller = name(&cfg.caller);
        let callee = name(governance.callee());
        Self {
            chain,
            cfg,
            governance,
            fallbacks,
            seq: Cell::new(0),
            scratch: RefCell::new(LinkWriter::new()),
            parts: RefCell::new(Vec::new()),
            last_len: Cell::new(0),
            observers,
            caller,
            callee,
        }
    }
}

impl<S> Client<S>
where
    S: Service<ClientContext, ClientRequest, Response = ClientReply, Error = Error>,
{
    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// This client's governance state on this core: its breakers (per
    /// method and per instance) and what retry, the breakers and fallback
    /// did.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// The client's chain: its outermost service ([`Resolve`](super::Resolve)
    /// for a client without middleware, whose
    /// [`Resolve::invoke`](super::Resolve::invoke) shows the pools).
    pub fn chain(&self) -> &S {
        &self.chain
    }

    fn next_seq(&self) -> i32 {
        let s = self.seq.get().wrapping_add(1).max(1);
        self.seq.set(s);
        s
    }

    /// Calls `method` with the arguments struct `args`, and decodes the
    /// reply's result struct `R` (success or a declared exception; typed
    /// clients unwrap it). An application exception or a business status
    /// in the reply becomes the matching [`Error`]. A failed call goes to
    /// the method's [`Fallback`], if it has one for `A` and `R`.
    pub async fn call<A: Message + 'static, R: Message + 'static>(
        &self,
        method: &'static str,
        args: &A,
        opts: &CallOptions,
    ) -> Result<R> {
        // The chain is awaited here rather than in a shared async helper:
        // every level of nesting copies the whole call's future once more.
        let name = Utf8Bytes::from_static(method);
        let span = self.span(&name);
        let (mut cx, req, rpc_timeout) = self.prepare(name, false, Typed(args), opts, &span);
        let reply = run_chain!(self, cx, req, rpc_timeout, span);
        let r = match reply {
            Ok(ClientReply { frame: Some(frame) }) => {
                cx.stats.reply_bytes = frame.size;
                cx.stats.record(Event::DecodeStart);
                let r = decode_reply(&frame, method);
                cx.stats.record(Event::DecodeFinish);
                r
            }
            // Only a middleware that answers a call itself can leave the
            // frame out; the caller waited for a reply and got none.
            Ok(ClientReply { frame: None }) => Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client chain answered a call with no reply frame",
            ))),
            Err(e) => Err(e),
        };
        self.finish(&mut cx, &span, outcome_of(&r));
        match r {
            Err(e) if !self.fallbacks.is_empty() => self.fall_back(&cx, args, e),
            r => r,
        }
    }

    /// The call's span (disabled unless a subscriber enables
    /// `ringrpc::client` at `DEBUG`).
    #[inline]
    fn span(&self, method: &Utf8Bytes) -> tracing::Span {
        tracing::debug_span!(
            target: "ringrpc::client",
            "rpc",
            side = "client",
            service = self.callee.as_ref().map_or("", |s| s.as_str()),
            method = %method,
            seqid = Empty,
            peer = Empty,
            trace_id = Empty,
            span_id = Empty,
            parent_span_id = Empty,
            status = Empty,
            retries = Empty,
            request_bytes = Empty,
            reply_bytes = Empty,
            latency_us = Empty,
        )
    }

    /// Ends a call's stats and span: its tracers see it finish.
    #[inline]
    fn finish(&self, cx: &mut ClientContext, span: &tracing::Span, outcome: Outcome) {
        if cx.stats.level() == StatsLevel::Disabled {
            return;
        }
        self.finish_observed(cx, span, outcome);
    }

    #[inline(never)]
    fn finish_observed(&self, cx: &mut ClientContext, span: &tracing::Span, outcome: Outcome) {
        let stats = &mut cx.stats;
        stats.record(Event::RpcFinish);
        stats.outcome = outcome;
        stats.retries = cx.attempt;
        self.observers.finish(Side::Client, &cx.info, stats);
        if !span.is_disabled() {
            let status = if outcome.is_error() {
                "error"
            } else {
                "succeed"
            };
            span.record("status", status);
            span.record("retries", cx.attempt);
            span.record("reply_bytes", stats.reply_bytes);
            if let Some(addr) = cx.info.callee.addr {
                span.record("peer", tracing::field::display(addr));
            }
            if let Some(l) = stats.latency() {
                span.record("latency_us", l.as_micros() as u64);
            }
        }
    }

    /// Answers a failed call with its method's fallback, if it has one.
    #[cold]
    #[inline(never)]
    fn fall_back<A: 'static, R: 'static>(
        &self,
        cx: &ClientContext,
        args: &A,
        e: Error,
    ) -> Result<R> {
        let fallback = self
            .fallbacks
            .get(cx.info.method.as_str())
            .or_else(|| self.fallbacks.get(ringrpc_discovery::policy::WILDCARD));
        let Some(fallback) = fallback else {
            return Err(e);
        };
        let r = fallback.apply(cx, args, e);
        if r.is_ok() {
            Counters::bump(&self.governance.0.counters.fallbacks);
        }
        r
    }

    /// Sends a oneway call: returns once it is written.
    pub async fn call_oneway<A: Message>(
        &self,
        method: &'static str,
        args: &A,
        opts: &CallOptions,
    ) -> Result<()> {
        let name = Utf8Bytes::from_static(method);
        let span = self.span(&name);
        let (mut cx, req, rpc_timeout) = self.prepare(name, true, Typed(args), opts, &span);
        let r = run_chain!(self, cx, req, rpc_timeout, span).map(drop);
        self.finish(&mut cx, &span, outcome_of(&r));
        r
    }

    /// The transport and protocol a call with `opts` goes in: the options'
    /// own, else the client's. What [`call_raw`](Self::call_raw)'s
    /// arguments must be encoded in.
    pub fn codec_for(&self, opts: &CallOptions) -> Codec {
        Codec {
            transport: opts.transport.unwrap_or(self.cfg.transport),
            protocol: opts.protocol.unwrap_or(self.cfg.protocol),
        }
    }

    /// Calls `method` with its arguments struct already encoded (`args`,
    /// in the protocol [`codec_for`](Self::codec_for) gives: a generic
    /// call's encoder wrote it, or a proxy forwards it), and returns the
    /// reply's result struct unread: a zero-copy slice of the reply frame,
    /// in the same protocol. The message header around `args` is written
    /// here (the client owns the seq id); `args` is copied into the
    /// message, or linked when large. An application exception or a
    /// business status in the reply becomes the matching [`Error`], as in
    /// [`call`](Self::call).
    pub async fn call_raw(
        &self,
        method: Utf8Bytes,
        args: Bytes,
        opts: &CallOptions,
    ) -> Result<RawReply> {
        let span = self.span(&method);
        let (mut cx, req, rpc_timeout) =
            self.prepare(method.clone(), false, Raw(args), opts, &span);
        let reply = run_chain!(self, cx, req, rpc_timeout, span);
        let r = reply.and_then(|reply| {
            let frame = reply.frame.ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client chain answered a call with no reply frame",
                ))
            })?;
            cx.stats.reply_bytes = frame.size;
            decode_raw_reply(&frame, &method)
        });
        self.finish(&mut cx, &span, outcome_of(&r));
        r
    }

    /// Sends a oneway call whose arguments struct is already encoded (see
    /// [`call_raw`](Self::call_raw)): returns once it is written.
    pub async fn call_raw_oneway(
        &self,
        method: Utf8Bytes,
        args: Bytes,
        opts: &CallOptions,
    ) -> Result<()> {
        let span = self.span(&method);
        let (mut cx, req, rpc_timeout) = self.prepare(method, true, Raw(args), opts, &span);
        let r = run_chain!(self, cx, req, rpc_timeout, span).map(drop);
        self.finish(&mut cx, &span, outcome_of(&r));
        r
    }

    /// Encodes the call and builds its context and request; returns them
    /// with the call's RPC timeout.
    fn prepare<A: Args>(
        &self,
        name: Utf8Bytes,
        oneway: bool,
        args: A,
        opts: &CallOptions,
        span: &tracing::Span,
    ) -> (ClientContext, ClientRequest, Option<Duration>) {
        let traced = !span.is_disabled();
        // A traced call needs its start and finish even with no tracer.
        let level = match self.observers.level() {
            StatsLevel::Disabled if traced => StatsLevel::Base,
            l => l,
        };
        let stats = RpcStats::new(level);
        stats.record(Event::RpcStart);
        let codec = self.codec_for(opts);
        let seqid = self.next_seq();
        let msg_type = if oneway {
            MessageType::Oneway
        } else {
            MessageType::Call
        };
        let payload = self.encode(
            &MessageIdent::new(name.clone(), msg_type, seqid),
            codec.protocol,
            args,
        );
        let rpc_timeout = opts.rpc_timeout.or(self.cfg.rpc_timeout);
        // Inside a handler the call continues the handler's trace; a traced
        // call outside one starts a trace.
        let parent = crate::metainfo::current_trace();
        let trace = match parent {
            Some(p) => Some(p.child()),
            None if traced => Some(TraceContext::new_root()),
            None => None,
        };
        let mut stats = stats;
        stats.oneway = oneway;
        stats.request_bytes = payload.len();
        if traced {
            span.record("seqid", seqid);
            span.record("request_bytes", payload.len());
            if let Some(t) = &trace {
                span.record(
                    "trace_id",
                    tracing::field::display(format_args!("{:032x}", t.trace_id)),
                );
                span.record(
                    "span_id",
                    tracing::field::display(format_args!("{:016x}", t.span_id)),
                );
            }
            if let Some(p) = &parent {
                span.record(
                    "parent_span_id",
                    tracing::field::display(format_args!("{:016x}", p.span_id)),
                );
            }
        }
        let cx = ClientContext {
            info: RpcInfo {
                caller: Endpoint {
                    service: self.caller.clone(),
                    addr: None,
                },
                callee: Endpoint {
                    service: self.callee.clone(),
                    addr: opts.addr,
                },
                method: name.clone(),
                seqid,
                deadline: rpc_timeout.map(|t| Instant::now() + t),
                timeout: rpc_timeout,
                codec,
            },
            request_keys: Vec::new(),
            reply_header: None,
            attempt: 0,
            stats,
            trace,
        };
        if level != StatsLevel::Disabled {
            self.observers.start(Side::Client, &cx.info);
        }
        let req = ClientRequest {
            method: name,
            oneway,
            payload,
            codec,
            connect_timeout: opts.connect_timeout.unwrap_or(self.cfg.connect_timeout),
            hash_key: opts.hash_key,
            retry: opts.retry,
        };
        (cx, req, rpc_timeout)
    }

    /// Encodes the message into one contiguous `Bytes`: zero copy unless a
    /// large binary was linked in (then one copy joins the pieces, into a
    /// pooled buffer). The scratch writer first makes room for as much as
    /// the last message took, so a message rarely straddles two chunks.
    fn encode<A: Args>(&self, ident: &MessageIdent, protocol: Protocol, args: A) -> Bytes {
        let mut w = self.scratch.borrow_mut();
        w.make_room(self.last_len.get());
        match protocol {
            Protocol::Binary => write_message(&mut BinaryWriter::new(&mut w), ident, args),
            Protocol::Compact => write_message(&mut CompactWriter::new(&mut w), ident, args),
        }
        self.last_len.set(w.len().min(MAX_ROOM));
        let mut parts = self.parts.borrow_mut();
        parts.clear();
        w.take_chain(&mut parts);
        if parts.len() == 1 {
            return parts.pop().unwrap_or_default();
        }
        let total = parts.iter().map(Bytes::len).sum();
        let mut joined = ringrpc_codec::buffer::pool::take(total);
        for p in parts.drain(..) {
            joined.extend_from_slice(&p);
        }
        joined.freeze()
    }
}

/// How a call ended, for its stats.
fn outcome_of<T>(r: &Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(Error::Biz(b)) => Outcome::Biz(b.code),
        Err(Error::Application(ex)) => Outcome::Exception(ex.kind),
        Err(_) => Outcome::Failed,
    }
}

/// The most room `encode` makes ahead of a message: larger ones link
/// their big fields anyway.
const MAX_ROOM: usize = 4 * 1024;

/// A call's arguments struct, as `encode` writes it.
trait Args {
    fn write<W: ProtocolWriter>(self, w: &mut W);
}

/// A typed arguments struct.
struct Typed<'a, A>(&'a A);

impl<A: Message> Args for Typed<'_, A> {
    #[inline]
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        self.0.encode(w)
    }
}

/// An arguments struct already encoded in the call's protocol.
struct Raw(Bytes);

impl Args for Raw {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_raw(self.0)
    }
}

fn write_message<W: ProtocolWriter, A: Args>(w: &mut W, ident: &MessageIdent, args: A) {
    w.write_message_begin(ident);
    args.write(w);
    w.write_message_end();
}

/// A reply's result struct, unread ([`Client::call_raw`]).
#[derive(Debug, Clone)]
pub struct RawReply {
    /// The protocol the reply is in (the call's).
    pub protocol: Protocol,
    /// The result struct: a zero-copy slice of the reply frame.
    pub result: Bytes,
}

/// Decodes a reply frame's header and returns its result struct unread,
/// or the error the reply carries (as [`decode_reply`] does).
pub fn decode_raw_reply(frame: &Frame, method: &str) -> Result<RawReply> {
    check_biz_status(frame)?;
    let protocol = frame.codec.protocol;
    let result = match protocol {
        Protocol::Binary => {
            let mut r = BinaryReader::new(frame.payload.clone());
            read_reply_header(&mut r, method)?;
            r.read_raw(TType::Struct)?
        }
        Protocol::Compact => {
            let mut r = CompactReader::new(frame.payload.clone());
            read_reply_header(&mut r, method)?;
            r.read_raw(TType::Struct)?
        }
    };
    Ok(RawReply { protocol, result })
}

/// A business status in the reply's TTHeader, as an error.
fn check_biz_status(frame: &Frame) -> Result<()> {
    if let Some(h) = &frame.header
        && let Some(code) = h.biz_status()
        && code != 0
    {
        return Err(Error::Biz(BizStatus {
            code,
            message: Utf8Bytes::from(h.biz_message().unwrap_or("")),
            extra: h.biz_extra().map(Utf8Bytes::from),
        }));
    }
    Ok(())
}

/// Decodes a reply frame: the result struct, or the error it carries.
pub fn decode_reply<R: Message>(frame: &Frame, method: &str) -> Result<R> {
    check_biz_status(frame)?;
    match frame.codec.protocol {
        Protocol::Binary => read_reply(&mut BinaryReader::new(frame.payload.clone()), method),
        Protocol::Compact => read_reply(&mut CompactReader::new(frame.payload.clone()), method),
    }
}

fn read_reply<P: ProtocolReader, R: Message>(r: &mut P, method: &str) -> Result<R> {
    read_reply_header(r, method)?;
    let out = R::decode(r)?;
    r.read_message_end()?;
    Ok(out)
}

/// Reads a reply's message header: a reply to `method`, or the error an
/// exception message or a wrong header means.
#[inline]
fn read_reply_header<P: ProtocolReader>(r: &mut P, method: &str) -> Result<()> {
    let ident = r.read_message_begin()?;
    match ident.msg_type {
        MessageType::Reply => {}
        MessageType::Exception => {
            let ex = ApplicationException::decode(r)?;
            return Err(Error::Application(ex));
        }
        other => {
            return Err(Error::Application(ApplicationException::new(
                ExceptionKind::InvalidMessageType,
                format!("expected a reply, got {other:?}"),
            )));
        }
    }
    if !ident.name.is_empty() && ident.name.as_str() != method {
        return Err(Error::Application(ApplicationException::new(
            ExceptionKind::WrongMethodName,
            format!("reply for {} to a call of {method}", ident.name),
        )));
    }
    Ok(())
}
