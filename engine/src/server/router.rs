//! Routing a decoded frame to a service and method, and the descriptor a
//! Thrift service gives the server.
//!
//! A server holds one or more services. Each is a descriptor (how to decode
//! a method's arguments and encode its result: a [`ThriftService`] that
//! generated code implements, or a [`ServiceDescriptor`] value for a
//! service known only at run time, such as a generic server's) plus a
//! handler: a
//! [`Service`](crate::middleware::Service) over the descriptor's request and
//! response types, wrapped in the server's layers at build time. The
//! services of a server compose into one static type ([`Route`]), so routing
//! is a chain of string comparisons, with no boxing and no dynamic dispatch.
//!
//! Routing writes its replies into a [`ReplySink`]; it knows nothing of the
//! connection or socket the frame came from.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, CompactReader, DecodeLimits, ExceptionKind, MessageIdent,
    MessageType, Protocol, ProtocolReader, ProtocolWriter, Utf8Bytes,
};
use ringrpc_codec::transport::Frame;

use super::counters::{bump, drop_by};
use super::limit::{CallInfo, CoreLimits, EXPIRED, TIMED_OUT};
use super::reply::{ReplyPayload, ReplySink, reply, reply_exception};
use crate::Error;
use crate::context::{Endpoint, RpcInfo, ServerContext};
use crate::metainfo::{self, Kind, Scope, Scoped, TRACEPARENT, TraceContext};
use crate::middleware::{Layer, Service};
use crate::stats::{Event, Observers, Outcome, RpcStats, Side, StatsLevel};
use std::sync::atomic::AtomicU64;
use tracing::Instrument;

/// Whether a method expects a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// A call with a reply.
    Call,
    /// A call without a reply.
    Oneway,
}

/// How the server decodes a service's calls and encodes its replies.
/// Generated code implements it for each IDL service.
pub trait ThriftService: 'static {
    /// The decoded arguments of any of the service's methods.
    type Request;
    /// The result of any of the service's methods (the `<Method>Result`
    /// struct: success or a declared exception).
    type Response;
    /// The service's name in the IDL (what Kitex sends as `isn`).
    const NAME: &'static str;
    /// Whether the service has `method`, and its kind.
    fn method(method: &str) -> Option<MethodKind>;
    /// Decodes the arguments struct of `method` (the message header has been
    /// read; this reads the struct only).
    fn decode_request<R: ProtocolReader>(
        method: &str,
        r: &mut R,
    ) -> ringrpc_codec::Result<Self::Request>;
    /// Encodes a result struct.
    fn encode_response<W: ProtocolWriter>(resp: &Self::Response, w: &mut W);
}

/// A service descriptor as a value: what [`ThriftService`] is for generated
/// code, for a service known only at run time (a generic server, whose
/// methods come from IDL loaded at run time, or from no IDL at all).
/// [`Static`] adapts a [`ThriftService`] to it at no cost.
pub trait ServiceDescriptor: 'static {
    /// The decoded arguments of any of the service's methods.
    type Request;
    /// The result of any of the service's methods.
    type Response;
    /// The service's name (what Kitex sends as `isn`).
    fn name(&self) -> &Utf8Bytes;
    /// Whether the service has `method`, called with a message of
    /// `msg_type` (`Call` or `Oneway`), and its kind.
    fn method(&self, method: &str, msg_type: MessageType) -> Option<MethodKind>;
    /// Decodes the arguments struct of `method` (the message header has
    /// been read; this reads the struct only).
    fn decode_request<R: ProtocolReader>(
        &self,
        method: &Utf8Bytes,
        r: &mut R,
    ) -> ringrpc_codec::Result<Self::Request>;
    /// Encodes a result struct.
    fn encode_response<W: ProtocolWriter>(&self, resp: &Self::Response, w: &mut W);
}

/// A [`ThriftService`] as a [`ServiceDescriptor`]: its name, and calls to
/// its static functions.
pub struct Static<T> {
    name: Utf8Bytes,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: ThriftService> Static<T> {
    /// The descriptor of `T`. No allocation.
    pub const fn new() -> Self {
        Self {
            name: Utf8Bytes::from_static(T::NAME),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: ThriftService> Default for Static<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Static<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Static").field(&self.name).finish()
    }
}

impl<T: ThriftService> ServiceDescriptor for Static<T> {
    type Request = T::Request;
    type Response = T::Response;
    #[inline]
    fn name(&self) -> &Utf8Bytes {
        &self.name
    }
    #[inline]
    fn method(&self, method: &str, _msg_type: MessageType) -> Option<MethodKind> {
        T::method(method)
    }
    #[inline]
    fn decode_request<R: ProtocolReader>(
        &self,
        method: &Utf8Bytes,
        r: &mut R,
    ) -> ringrpc_codec::Result<Self::Request> {
        T::decode_request(method, r)
    }
    #[inline]
    fn encode_response<W: ProtocolWriter>(&self, resp: &Self::Response, w: &mut W) {
        T::encode_response(resp, w)
    }
}

/// A handler adapter that knows which IDL service it serves. The generated
/// `<Service>Server<H>` implements it for any handler `H`, which is what
/// lets [`ServerBuilder::service`](super::ServerBuilder::service) take the
/// adapter alone.
pub trait Described {
    /// The IDL service's descriptor.
    type Descriptor: ThriftService;
}

/// A [`Service`] that answers the decoded calls of the IDL service `T`:
/// what a server runs per core (a handler adapter, wrapped in layers).
pub trait Handler<T: ThriftService>:
    Service<ServerContext, T::Request, Response = T::Response, Error = Error> + 'static
{
}

impl<T: ThriftService, S> Handler<T> for S where
    S: Service<ServerContext, T::Request, Response = T::Response, Error = Error> + 'static
{
}

/// A frame as it reaches routing.
#[derive(Debug)]
pub struct Incoming {
    /// The frame, with its transport header.
    pub frame: Frame,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
    /// The peer's verified TLS certificate, read (mutual TLS).
    pub identity: Option<std::rc::Rc<crate::context::PeerIdentity>>,
    /// When the frame was read: the caller's deadline (TTHeader
    /// `RPCTimeout`) counts from here.
    pub received: Instant,
}

/// Splits an Apache Thrift multiplexed message name (`TMultiplexedProtocol`
/// writes `Service:method`, `lib/*/TMultiplexedProtocol` with `:` as
/// `SEPARATOR`) into the service and the method.
pub(crate) fn split_multiplexed(name: &str) -> Option<(&str, &str)> {
    name.split_once(':')
}

impl Incoming {
    /// The service the caller asked for (TTHeader `isn`), if it said.
    pub fn service_name(&self) -> Option<&str> {
        self.frame
            .header
            .as_ref()
            .and_then(|h| h.idl_service_name())
            .filter(|s| !s.is_empty())
    }

    /// The called method's name, read from the message header (zero copy;
    /// `None` if the header doesn't decode). Only multi-service routing
    /// without a service name needs it.
    pub fn method_name(&self) -> Option<Utf8Bytes> {
        let payload = self.frame.payload.clone();
        let ident = match self.frame.codec.protocol {
            Protocol::Binary => BinaryReader::new(payload).read_message_begin(),
            Protocol::Compact => CompactReader::new(payload).read_message_begin(),
        };
        ident.ok().map(|m| m.name)
    }

    /// The seqid to answer with when the payload can't be read.
    fn fallback_seqid(&self) -> i32 {
        self.frame.header.as_ref().map(|h| h.seq_id).unwrap_or(0)
    }

    /// Replies with an exception that names no method (the payload could
    /// not be read, or the service is unknown).
    fn reply_exception<K: ReplySink>(&self, sink: &K, ex: &ApplicationException) {
        reply_exception(
            sink,
            self.frame.codec,
            self.frame.header.as_ref(),
            &Utf8Bytes::default(),
            self.fallback_seqid(),
            ex,
        );
    }
}

/// One or more services on one core: finds the service a frame is for and
/// runs it. Built per core by a [`RouteFactory`].
pub trait Route: 'static {
    /// Whether one of these services is called `name`.
    fn serves(&self, name: &str) -> bool;
    /// Whether one of these services has a method called `method`.
    fn has_method(&self, method: &str) -> bool;
    /// Handles a frame, writing its reply (if any) into `sink`: the service
    /// it names (TTHeader `isn`); when it names none, the first service that
    /// has the called method (the first service if none has it), as Kitex's
    /// multi-service server searches by method name.
    async fn dispatch<K: ReplySink>(&self, req: Incoming, sink: &K);
}

/// What every route of one core shares: decoding bounds, the core's share
/// of the server's limits, and the deadline policy.
#[derive(Debug, Clone)]
pub struct CoreRouting {
    pub(crate) decode: DecodeLimits,
    pub(crate) limits: Rc<CoreLimits>,
    pub(crate) enforce_deadline: bool,
    pub(crate) observers: Observers,
}

/// Makes a core's [`Route`]; shared by every core at start.
pub trait RouteFactory: Send + Sync + 'static {
    /// The per-core routes.
    type Route: Route;
    /// Builds this core's routes (handler instances are per core).
    fn build(&self, core: &CoreRouting) -> Self::Route;
}

/// Makes one service instance per core.
pub trait MakeService: Send + Sync + 'static {
    /// The service made.
    type Service;
    /// Makes this core's instance.
    fn make(&self) -> Self::Service;
}

impl<F: Fn() -> S + Send + Sync + 'static, S> MakeService for F {
    type Service = S;
    fn make(&self) -> S {
        self()
    }
}

/// Makes each core's instance by cloning one value.
#[derive(Debug, Clone)]
pub struct Cloned<S>(pub S);

impl<S: Clone + Send + Sync + 'static> MakeService for Cloned<S> {
    type Service = S;
    fn make(&self) -> S {
        self.0.clone()
    }
}

/// One service on one core: its descriptor `D` (a [`ServiceDescriptor`]
/// value) and its handler `S`.
pub struct Served<D, S> {
    desc: D,
    handler: S,
    core: CoreRouting,
}

impl<D, S> std::fmt::Debug for Served<D, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").finish_non_exhaustive()
    }
}

/// A factory of one service's per-core handler: `make` builds the service,
/// `layer` wraps it.
pub struct ServiceFactory<T, M, L> {
    make: M,
    layer: L,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, M, L> std::fmt::Debug for ServiceFactory<T, M, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceFactory").finish_non_exhaustive()
    }
}

impl<T, M, L> ServiceFactory<T, M, L> {
    /// A factory calling `make` on each core and wrapping the result in
    /// `layer`.
    pub fn new(make: M, layer: L) -> Self {
        Self {
            make,
            layer,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T, M, L> RouteFactory for ServiceFactory<T, M, L>
where
    T: ThriftService,
    M: MakeService,
    L: Layer<M::Service> + Clone + Send + Sync + 'static,
    L::Service: Handler<T>,
{
    type Route = Served<Static<T>, L::Service>;
    fn build(&self, core: &CoreRouting) -> Self::Route {
        Served {
            desc: Static::new(),
            handler: self.layer.clone().layer(self.make.make()),
            core: core.clone(),
        }
    }
}
/// A factory of one service described by a value (a
/// [`ServiceDescriptor`], cloned onto each core) and its per-core handler:
/// `make` builds the service, `layer` wraps it.
pub struct DescribedFactory<D, M, L> {
    desc: D,
    make: M,
    layer: L,
}

impl<D, M, L> std::fmt::Debug for DescribedFactory<D, M, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DescribedFactory").finish_non_exhaustive()
    }
}

impl<D, M, L> DescribedFactory<D, M, L> {
    /// A factory cloning `desc` and calling `make` on each core, and
    /// wrapping the service in `layer`.
    pub fn new(desc: D, make: M, layer: L) -> Self {
        Self { desc, make, layer }
    }
}

impl<D, M, L> RouteFactory for DescribedFactory<D, M, L>
where
    D: ServiceDescriptor + Clone + Send + Sync,
    M: MakeService,
    L: Layer<M::Service> + Clone + Send + Sync + 'static,
    L::Service: Service<ServerContext, D::Request, Response = D::Response, Error = Error> + 'static,
{
    type Route = Served<D, L::Service>;
    fn build(&self, core: &CoreRouting) -> Self::Route {
        Served {
            desc: self.desc.clone(),
            handler: self.layer.clone().layer(self.make.make()),
            core: core.clone(),
        }
    }
}

/// Two route factories: `head` first.
#[derive(Debug)]
pub struct ChainFactory<H, T> {
    pub(crate) head: H,
    pub(crate) tail: T,
}

impl<H: RouteFactory, T: RouteFactory> RouteFactory for ChainFactory<H, T> {
    type Route = Chain<H::Route, T::Route>;
    fn build(&self, core: &CoreRouting) -> Self::Route {
        Chain {
            head: self.head.build(core),
            tail: self.tail.build(core),
        }
    }
}

/// Two routes: `head` first; `None` names go to `head`.
#[derive(Debug)]
pub struct Chain<H, T> {
    head: H,
    tail: T,
}

/// No Thrift service: a server of gRPC services alone. A Thrift call that
/// reaches it anyway is answered `UNKNOWN_METHOD`.
#[derive(Debug, Clone, Copy)]
pub struct NoThrift;

impl Route for NoThrift {
    fn serves(&self, _name: &str) -> bool {
        false
    }

    fn has_method(&self, _method: &str) -> bool {
        false
    }

    async fn dispatch<K: ReplySink>(&self, req: Incoming, sink: &K) {
        let method = req.method_name().unwrap_or_default();
        let msg = format!("no Thrift service on this server (method {method:?})");
        req.reply_exception(
            sink,
            &ApplicationException::new(ExceptionKind::UnknownMethod, msg),
        );
    }
}

impl RouteFactory for NoThrift {
    type Route = NoThrift;
    fn build(&self, _core: &CoreRouting) -> Self::Route {
        NoThrift
    }
}

impl<H: Route, T: Route> Route for Chain<H, T> {
    fn serves(&self, name: &str) -> bool {
        self.head.serves(name) || self.tail.serves(name)
    }

    fn has_method(&self, method: &str) -> bool {
        self.head.has_method(method) || self.tail.has_method(method)
    }

    async fn dispatch<K: ReplySink>(&self, req: Incoming, sink: &K) {
        let to_tail = match req.service_name() {
            Some(n) => !self.head.serves(n),
            None => req
                .method_name()
                .is_some_and(|m| match split_multiplexed(&m) {
                    // Apache's multiplexed name: the service it names.
                    Some((svc, _)) => !self.head.serves(svc) && self.tail.serves(svc),
                    None => !self.head.has_method(&m) && self.tail.has_method(&m),
                }),
        };
        if to_tail {
            self.tail.dispatch(req, sink).await
        } else {
            self.head.dispatch(req, sink).await
        }
    }
}

impl<D, S> Route for Served<D, S>
where
    D: ServiceDescriptor,
    S: Service<ServerContext, D::Request, Response = D::Response, Error = Error> + 'static,
{
    fn serves(&self, name: &str) -> bool {
        name == self.desc.name().as_str()
    }

    fn has_method(&self, method: &str) -> bool {
        self.desc.method(method, MessageType::Call).is_some()
    }

    async fn dispatch<K: ReplySink>(&self, req: Incoming, sink: &K) {
        if let Some(n) = req.service_name()
            && n != self.desc.name().as_str()
        {
            let msg = format!("unknown service {n}");
            req.reply_exception(
                sink,
                &ApplicationException::new(ExceptionKind::UnknownService, msg),
            );
            return;
        }
        let payload = req.frame.payload.clone();
        match req.frame.codec.protocol {
            Protocol::Binary => {
                let r = BinaryReader::with_limits(payload, self.core.decode);
                self.run(r, req, sink).await
            }
            Protocol::Compact => {
                let r = CompactReader::with_limits(payload, self.core.decode);
                self.run(r, req, sink).await
            }
        }
    }
}

impl<D, S> Served<D, S>
where
    D: ServiceDescriptor,
    S: Service<ServerContext, D::Request, Response = D::Response, Error = Error> + 'static,
{
    async fn run<R: ProtocolReader, K: ReplySink>(&self, mut r: R, req: Incoming, sink: &K) {
        let mut ident = match r.read_message_begin() {
            Ok(m) => m,
            Err(e) => {
                let ex = ApplicationException::new(ExceptionKind::ProtocolError, e.to_string());
                req.reply_exception(sink, &ex);
                return;
            }
        };
        // Apache's multiplexed protocol names the service in the message:
        // `Service:method`. The reply names the method alone, as Apache's
        // `TMultiplexedProcessor` answers.
        if let Some((svc, _)) = split_multiplexed(&ident.name) {
            if svc != self.desc.name().as_str() {
                let msg = format!("unknown service {svc}");
                req.reply_exception(
                    sink,
                    &ApplicationException::new(ExceptionKind::UnknownService, msg),
                );
                return;
            }
            let at = svc.len() + 1;
            let bare = ident.name.as_bytes().slice(at..);
            ident.name = Utf8Bytes::try_from_bytes(bare).unwrap_or_default();
        }
        let (codec, header) = (req.frame.codec, req.frame.header.as_ref());
        let refuse = |kind: ExceptionKind, msg: String| {
            let ex = ApplicationException::new(kind, msg);
            reply_exception(sink, codec, header, &ident.name, ident.seqid, &ex);
        };
        let kind = match (
            ident.msg_type,
            self.desc.method(&ident.name, ident.msg_type),
        ) {
            (MessageType::Call | MessageType::Oneway, Some(k)) => k,
            (MessageType::Call | MessageType::Oneway, None) => {
                return refuse(
                    ExceptionKind::UnknownMethod,
                    format!("unknown method {}", ident.name),
                );
            }
            (other, _) => {
                return refuse(
                    ExceptionKind::InvalidMessageType,
                    format!("a server takes calls, not {other:?}"),
                );
            }
        };
        let counters = self.core.limits.slot();
        bump(&counters.requests, 1);
        if let Some(h) = header {
            let bad = metainfo::malformed(h);
            if bad > 0 {
                bump(&counters.malformed_metainfo, bad as u64);
            }
        }
        let call = CallInfo {
            service: self.desc.name().as_str(),
            method: &ident.name,
            peer: req.peer,
            header,
        };
        // Over a limit: answered now, before the arguments are decoded.
        let _admitted = match self.core.limits.admit(&call) {
            Ok(a) => a,
            Err(_) if kind == MethodKind::Oneway => return,
            Err(refusal) => {
                return refuse(ExceptionKind::InternalError, refusal.message().to_owned());
            }
        };
        let _inflight = InFlight::new(&counters.inflight);
        let obs = &self.core.observers;
        let mut stats = RpcStats::new(obs.level());
        stats.record_at(Event::RpcStart, req.received);
        stats.record_at(Event::ReadFinish, req.received);
        stats.request_bytes = req.frame.size;
        stats.oneway = kind == MethodKind::Oneway;
        stats.record(Event::DecodeStart);
        let decoded = self.desc.decode_request(&ident.name, &mut r).and_then(|a| {
            r.read_message_end()?;
            Ok(a)
        });
        stats.record(Event::DecodeFinish);
        let args = match decoded {
            Ok(a) => a,
            Err(e) => return refuse(ExceptionKind::ProtocolError, e.to_string()),
        };
        let mut cx = server_context(self.desc.name(), &req, &ident);
        let deadline = cx.info.deadline;
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            // The caller has given up: do not run the handler.
            self.core.limits.expired();
            if kind == MethodKind::Call {
                refuse(ExceptionKind::InternalError, EXPIRED.to_owned());
            }
            return;
        }
        // A trace that arrived continues under a span of its own; the
        // calls the handler makes are children of that span.
        let trace = header
            .and_then(|h| metainfo::value(h, Kind::Transient, TRACEPARENT))
            .and_then(TraceContext::parse)
            .map(|t| t.child());
        let span = tracing::debug_span!(
            target: "ringrpc::server",
            "rpc",
            side = "server",
            service = self.desc.name().as_str(),
            method = %ident.name,
            seqid = ident.seqid,
            peer = %req.peer,
            caller = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
            parent_span_id = tracing::field::Empty,
            status = tracing::field::Empty,
            request_bytes = req.frame.size,
            reply_bytes = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        );
        let trace = if span.is_disabled() {
            trace
        } else {
            // The span's latency needs the call's start and finish.
            stats.raise_to(StatsLevel::Base);
            stats.record_at(Event::RpcStart, req.received);
            // Traced here: a call that brought no trace starts one.
            let t = trace.unwrap_or_else(TraceContext::new_root);
            span.record(
                "trace_id",
                tracing::field::display(format_args!("{:032x}", t.trace_id)),
            );
            span.record(
                "span_id",
                tracing::field::display(format_args!("{:016x}", t.span_id)),
            );
            if let Some(c) = &cx.info.caller.service {
                span.record("caller", c.as_str());
            }
            if let Some(p) = header
                .and_then(|h| metainfo::value(h, Kind::Transient, TRACEPARENT))
                .and_then(TraceContext::parse)
            {
                span.record(
                    "parent_span_id",
                    tracing::field::display(format_args!("{:016x}", p.span_id)),
                );
            }
            Some(t)
        };
        obs.start(Side::Server, &cx.info);
        let Incoming { frame, peer, .. } = req;
        let Frame { codec, header, .. } = frame;
        let scope = Scope {
            incoming: header.clone(),
            added: Default::default(),
            trace,
            backward: Default::default(),
        };
        cx.request_header = header;
        stats.record(Event::ServerHandleStart);
        let handled = Scoped {
            scope: &scope,
            fut: self.handler.call(&mut cx, args),
        };
        let out = match deadline.filter(|_| self.core.enforce_deadline) {
            // Instrumented only when the span is on: the wrapper moves the
            // handler's future once more.
            None if span.is_disabled() => catch_unwind(handled).await,
            None => catch_unwind(handled.instrument(span.clone())).await,
            Some(d) => match monoio::time::timeout_at(
                d.into(),
                catch_unwind(handled.instrument(span.clone())),
            )
            .await
            {
                Ok(out) => out,
                Err(_) => {
                    self.core.limits.timed_out();
                    stats.outcome = Outcome::Exception(ExceptionKind::InternalError);
                    if kind == MethodKind::Call {
                        let ex = ApplicationException::new(
                            ExceptionKind::InternalError,
                            TIMED_OUT.to_owned(),
                        );
                        let header = cx.request_header.as_ref();
                        stats.reply_bytes =
                            reply_exception(sink, codec, header, &ident.name, ident.seqid, &ex);
                    }
                    finish(obs, &span, &cx.info, &mut stats);
                    return;
                }
            },
        };
        stats.record(Event::ServerHandleFinish);
        if kind == MethodKind::Oneway {
            stats.outcome = match &out {
                Ok(Ok(_)) => Outcome::Success,
                Ok(Err(_)) | Err(_) => Outcome::Exception(ExceptionKind::InternalError),
            };
            if let Err(p) = out {
                tracing::error!(method = %ident.name, "oneway handler panicked: {}", panic_message(&*p));
            }
            finish(obs, &span, &cx.info, &mut stats);
            return;
        }
        let seqid = ident.seqid;
        let header = cx.request_header.as_ref();
        stats.record(Event::WriteStart);
        let (size, outcome) = match out {
            Ok(Ok(resp)) => {
                let outcome = match &cx.biz_status {
                    Some(b) if b.code != 0 => Outcome::Biz(b.code),
                    _ => Outcome::Success,
                };
                let size = reply(
                    sink,
                    codec,
                    header,
                    cx.biz_status.as_ref(),
                    &cx.backward,
                    ResultReply {
                        desc: &self.desc,
                        method: &ident.name,
                        seqid,
                        resp: &resp,
                    },
                );
                (size, outcome)
            }
            // Kitex carries a business status in the TTHeader of a reply
            // whose result struct is empty.
            Ok(Err(Error::Biz(status))) => {
                let size = reply(
                    sink,
                    codec,
                    header,
                    Some(&status),
                    &cx.backward,
                    EmptyReply {
                        method: &ident.name,
                        seqid,
                    },
                );
                (size, Outcome::Biz(status.code))
            }
            Ok(Err(Error::Application(ex))) => (
                reply_exception(sink, codec, header, &ident.name, seqid, &ex),
                Outcome::Exception(ex.kind),
            ),
            Ok(Err(e)) => {
                let ex = ApplicationException::new(ExceptionKind::InternalError, e.to_string());
                (
                    reply_exception(sink, codec, header, &ident.name, seqid, &ex),
                    Outcome::Exception(ex.kind),
                )
            }
            Err(p) => {
                let msg = format!("handler panicked: {}", panic_message(&*p));
                tracing::error!(method = %ident.name, peer = %peer, "{msg}");
                let ex = ApplicationException::new(ExceptionKind::InternalError, msg);
                (
                    reply_exception(sink, codec, header, &ident.name, seqid, &ex),
                    Outcome::Exception(ex.kind),
                )
            }
        };
        stats.record(Event::WriteFinish);
        stats.reply_bytes = size;
        stats.outcome = outcome;
        finish(obs, &span, &cx.info, &mut stats);
    }
}

/// Ends a server call's observation: `RpcFinish`, the tracers, the span's
/// closing fields.
fn finish(obs: &Observers, span: &tracing::Span, info: &RpcInfo, stats: &mut RpcStats) {
    stats.record(Event::RpcFinish);
    if obs.level() != StatsLevel::Disabled {
        obs.finish(Side::Server, info, stats);
    }
    if !span.is_disabled() {
        span.record(
            "status",
            if stats.outcome.is_error() {
                "error"
            } else {
                "succeed"
            },
        );
        span.record("reply_bytes", stats.reply_bytes);
        let latency = stats
            .latency()
            .or_else(|| stats.at(Event::RpcStart).map(|s| s.elapsed()));
        if let Some(l) = latency {
            span.record("latency_us", l.as_micros() as u64);
        }
    }
}

/// Counts a call in flight on its core until dropped.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a AtomicU64) -> Self {
        bump(gauge, 1);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        drop_by(self.0, 1);
    }
}

/// The context a handler of the service `service` sees for the call
/// `ident` in `req`.
fn server_context(service: &Utf8Bytes, req: &Incoming, ident: &MessageIdent) -> ServerContext {
    let header = req.frame.header.as_ref();
    ServerContext::new(RpcInfo {
        caller: Endpoint {
            service: header.and_then(|h| {
                let b = h.int(ringrpc_codec::transport::ttheader::int_key::FROM_SERVICE)?;
                Utf8Bytes::try_from_bytes(b).ok()
            }),
            addr: Some(req.peer),
        },
        callee: Endpoint {
            service: Some(service.clone()),
            addr: None,
        },
        method: ident.name.clone(),
        seqid: ident.seqid,
        deadline: header
            .and_then(|h| h.rpc_timeout())
            .filter(|t| !t.is_zero())
            .map(|t| req.received + t),
        timeout: None,
        codec: req.frame.codec,
    })
    .with_peer_identity(req.identity.clone())
}

struct ResultReply<'a, D: ServiceDescriptor> {
    desc: &'a D,
    method: &'a Utf8Bytes,
    seqid: i32,
    resp: &'a D::Response,
}

impl<D: ServiceDescriptor> ReplyPayload for ResultReply<'_, D> {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_message_begin(&MessageIdent::new(
            self.method.clone(),
            MessageType::Reply,
            self.seqid,
        ));
        self.desc.encode_response(self.resp, w);
        w.write_message_end();
    }
}

struct EmptyReply<'a> {
    method: &'a Utf8Bytes,
    seqid: i32,
}

impl ReplyPayload for EmptyReply<'_> {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_message_begin(&MessageIdent::new(
            self.method.clone(),
            MessageType::Reply,
            self.seqid,
        ));
        w.write_struct_begin("");
        w.write_field_stop();
        w.write_struct_end();
        w.write_message_end();
    }
}

/// Runs a future, turning a panic in any of its polls into an `Err`.
pub(crate) async fn catch_unwind<F: Future>(f: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut f = pin!(f);
    poll_fn(|cx| poll_caught(f.as_mut(), cx)).await
}

/// Polls `f` once, a panic in the poll becoming a ready `Err`.
pub(crate) fn poll_caught<F: Future + ?Sized>(
    f: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Box<dyn Any + Send>>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| f.poll(cx))) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(p) => Poll::Ready(Err(p)),
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
