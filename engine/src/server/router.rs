//! Routing a decoded frame to a service and method, and the descriptor a
//! Thrift service gives the server.
//!
//! A server holds one or more services. Each is a [`ThriftService`]
//! descriptor (how to decode a method's arguments and encode its result;
//! generated code implements it) plus a handler: a
//! [`Service`](crate::middleware::Service) over the descriptor's request and
//! response types, wrapped in middleware at build time. The services of a
//! server compose into one static type ([`Route`]), so routing is a chain of
//! string comparisons, with no boxing and no dynamic dispatch.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::Poll;

use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, CompactReader, DecodeLimits, ExceptionKind, MessageIdent,
    MessageType, Protocol, ProtocolReader, ProtocolWriter, Utf8Bytes,
};
use ringrpc_codec::transport::Frame;

use super::connection::{ConnShared, ReplyPayload};
use crate::Error;
use crate::context::{Endpoint, RpcInfo, ServerContext};
use crate::middleware::Service;

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

/// A frame as it reaches routing.
#[derive(Debug)]
pub struct Incoming {
    /// The frame, with its transport header.
    pub frame: Frame,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
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
}

/// One or more services on one core: finds the service a frame is for and
/// runs it. Built per core by a [`RouteFactory`].
pub trait Route: 'static {
    /// Whether one of these services is called `name`.
    fn serves(&self, name: &str) -> bool;
    /// Whether one of these services has a method called `method`.
    fn has_method(&self, method: &str) -> bool;
    /// Handles a frame: the service it names (TTHeader `isn`); when it names
    /// none, the first service that has the called method (the first
    /// service if none has it), as Kitex's multi-service server searches by
    /// method name.
    async fn dispatch(&self, req: Incoming, conn: &ConnShared);
}

/// Makes a core's [`Route`]; shared by every core at start.
pub trait RouteFactory: Send + Sync + 'static {
    /// The per-core routes.
    type Route: Route;
    /// Builds this core's routes (handler instances are per core).
    fn build(&self, limits: DecodeLimits) -> Self::Route;
}

/// One service: its descriptor `T` and its handler `S`.
pub struct Served<T, S> {
    handler: S,
    limits: DecodeLimits,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, S> std::fmt::Debug for Served<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").finish_non_exhaustive()
    }
}

/// A factory of one service's per-core handler.
pub struct ServiceFactory<T, F> {
    make: F,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> std::fmt::Debug for ServiceFactory<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceFactory").finish_non_exhaustive()
    }
}

impl<T, F> ServiceFactory<T, F> {
    /// A factory calling `make` on each core.
    pub fn new(make: F) -> Self {
        Self {
            make,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T, F, S> RouteFactory for ServiceFactory<T, F>
where
    T: ThriftService,
    F: Fn() -> S + Send + Sync + 'static,
    S: Service<ServerContext, T::Request, Response = T::Response, Error = Error> + 'static,
{
    type Route = Served<T, S>;
    fn build(&self, limits: DecodeLimits) -> Self::Route {
        Served {
            handler: (self.make)(),
            limits,
            _t: std::marker::PhantomData,
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
    fn build(&self, limits: DecodeLimits) -> Self::Route {
        Chain {
            head: self.head.build(limits),
            tail: self.tail.build(limits),
        }
    }
}

/// Two routes: `head` first; `None` names go to `head`.
#[derive(Debug)]
pub struct Chain<H, T> {
    head: H,
    tail: T,
}

impl<H: Route, T: Route> Route for Chain<H, T> {
    fn serves(&self, name: &str) -> bool {
        self.head.serves(name) || self.tail.serves(name)
    }

    fn has_method(&self, method: &str) -> bool {
        self.head.has_method(method) || self.tail.has_method(method)
    }

    async fn dispatch(&self, req: Incoming, conn: &ConnShared) {
        let to_tail = match req.service_name() {
            Some(n) => !self.head.serves(n),
            None => req
                .method_name()
                .is_some_and(|m| !self.head.has_method(&m) && self.tail.has_method(&m)),
        };
        if to_tail {
            self.tail.dispatch(req, conn).await
        } else {
            self.head.dispatch(req, conn).await
        }
    }
}

impl<T, S> Route for Served<T, S>
where
    T: ThriftService,
    S: Service<ServerContext, T::Request, Response = T::Response, Error = Error> + 'static,
{
    fn serves(&self, name: &str) -> bool {
        name == T::NAME
    }

    fn has_method(&self, method: &str) -> bool {
        T::method(method).is_some()
    }

    async fn dispatch(&self, req: Incoming, conn: &ConnShared) {
        if let Some(n) = req.service_name()
            && n != T::NAME
        {
            let seqid = req.fallback_seqid();
            let msg = format!("unknown service {n}");
            conn.reply_exception(
                &req,
                seqid,
                &ApplicationException::new(ExceptionKind::UnknownService, msg),
            );
            return;
        }
        let payload = req.frame.payload.clone();
        match req.frame.codec.protocol {
            Protocol::Binary => {
                let r = BinaryReader::with_limits(payload, self.limits);
                self.run(r, req, conn).await
            }
            Protocol::Compact => {
                let r = CompactReader::with_limits(payload, self.limits);
                self.run(r, req, conn).await
            }
        }
    }
}

impl<T, S> Served<T, S>
where
    T: ThriftService,
    S: Service<ServerContext, T::Request, Response = T::Response, Error = Error> + 'static,
{
    async fn run<R: ProtocolReader>(&self, mut r: R, req: Incoming, conn: &ConnShared) {
        let ident = match r.read_message_begin() {
            Ok(m) => m,
            Err(e) => {
                let ex = ApplicationException::new(ExceptionKind::ProtocolError, e.to_string());
                conn.reply_exception(&req, req.fallback_seqid(), &ex);
                return;
            }
        };
        let kind = match (ident.msg_type, T::method(&ident.name)) {
            (MessageType::Call | MessageType::Oneway, Some(k)) => k,
            (MessageType::Call | MessageType::Oneway, None) => {
                let msg = format!("unknown method {}", ident.name);
                let ex = ApplicationException::new(ExceptionKind::UnknownMethod, msg);
                conn.reply_exception_with(
                    req.frame.codec,
                    req.frame.header.as_ref(),
                    &ident.name,
                    ident.seqid,
                    &ex,
                );
                return;
            }
            (other, _) => {
                let msg = format!("a server takes calls, not {other:?}");
                let ex = ApplicationException::new(ExceptionKind::InvalidMessageType, msg);
                conn.reply_exception_with(
                    req.frame.codec,
                    req.frame.header.as_ref(),
                    &ident.name,
                    ident.seqid,
                    &ex,
                );
                return;
            }
        };
        let args = match T::decode_request(&ident.name, &mut r).and_then(|a| {
            r.read_message_end()?;
            Ok(a)
        }) {
            Ok(a) => a,
            Err(e) => {
                let ex = ApplicationException::new(ExceptionKind::ProtocolError, e.to_string());
                conn.reply_exception_with(
                    req.frame.codec,
                    req.frame.header.as_ref(),
                    &ident.name,
                    ident.seqid,
                    &ex,
                );
                return;
            }
        };
        let deadline = req
            .frame
            .header
            .as_ref()
            .and_then(|h| h.rpc_timeout())
            .map(|t| std::time::Instant::now() + t);
        let mut cx = ServerContext {
            info: RpcInfo {
                caller: Endpoint {
                    service: req.frame.header.as_ref().and_then(|h| {
                        let b = h.int(ringrpc_codec::transport::ttheader::int_key::FROM_SERVICE)?;
                        Utf8Bytes::try_from_bytes(b.clone()).ok()
                    }),
                    addr: Some(req.peer),
                },
                callee: Endpoint {
                    service: Some(ringrpc_codec::thrift::Utf8Bytes::from_static(T::NAME)),
                    addr: None,
                },
                method: ident.name.clone(),
                seqid: ident.seqid,
                deadline,
                codec: req.frame.codec,
            },
            request_header: None,
            biz_status: None,
        };
        let Incoming { frame, peer } = req;
        let Frame { codec, header, .. } = frame;
        cx.request_header = header;
        let out = catch_unwind(self.handler.call(&mut cx, args)).await;
        if kind == MethodKind::Oneway {
            if let Err(p) = out {
                tracing::error!(method = %ident.name, "oneway handler panicked: {}", panic_message(&*p));
            }
            return;
        }
        let seqid = ident.seqid;
        let header = cx.request_header.as_ref();
        match out {
            Ok(Ok(resp)) => conn.reply(
                codec,
                header,
                cx.biz_status.as_ref(),
                ResultReply::<T> {
                    method: &ident.name,
                    seqid,
                    resp: &resp,
                },
            ),
            // Kitex carries a business status in the TTHeader of a reply
            // whose result struct is empty.
            Ok(Err(Error::Biz(status))) => conn.reply(
                codec,
                header,
                Some(&status),
                EmptyReply {
                    method: &ident.name,
                    seqid,
                },
            ),
            Ok(Err(Error::Application(ex))) => {
                conn.reply_exception_with(codec, header, &ident.name, seqid, &ex)
            }
            Ok(Err(e)) => {
                let ex = ApplicationException::new(ExceptionKind::InternalError, e.to_string());
                conn.reply_exception_with(codec, header, &ident.name, seqid, &ex)
            }
            Err(p) => {
                let msg = format!("handler panicked: {}", panic_message(&*p));
                tracing::error!(method = %ident.name, peer = %peer, "{msg}");
                let ex = ApplicationException::new(ExceptionKind::InternalError, msg);
                conn.reply_exception_with(codec, header, &ident.name, seqid, &ex)
            }
        }
    }
}

struct ResultReply<'a, T: ThriftService> {
    method: &'a Utf8Bytes,
    seqid: i32,
    resp: &'a T::Response,
}

impl<T: ThriftService> ReplyPayload for ResultReply<'_, T> {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_message_begin(&MessageIdent::new(
            self.method.clone(),
            MessageType::Reply,
            self.seqid,
        ));
        T::encode_response(self.resp, w);
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
    poll_fn(
        |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        },
    )
    .await
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
