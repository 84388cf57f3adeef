//! Middleware on gRPC calls, on both sides, with the engine's
//! [`Service`]/[`Layer`] (the traits Thrift's chains use): a middleware
//! written generically over the context and request (`impl<S, Cx, Req>
//! Service<Cx, Req> for Log<S>`) wraps Thrift and gRPC calls alike; one
//! written for [`GrpcContext`] sees a gRPC call's path, kind, metadata,
//! deadline and peer.
//!
//! - **Client**: [`ChannelBuilder::layer`](super::ChannelBuilder::layer).
//!   A call goes timeout → the layers → resolve (pick, connect, retry) →
//!   the stream, the order of the Thrift client's chain. The request is
//!   the encoded message ([`ClientCall`]); the answer ([`ClientAnswer`])
//!   is the unary reply, or the opened stream of a streaming call (its
//!   messages are read by the caller after the chain returned).
//! - **Server**: [`Router::layer`](super::Router::layer). A call goes
//!   the layers → the method's handler; a layer may answer in its place
//!   (an `Err(Status)`: unauthenticated, over a limit). The request's
//!   metadata is in the context until the innermost step hands it to the
//!   handler. The deadline from `grpc-timeout` bounds the whole chain, and
//!   a panic in a layer is `INTERNAL`, as in a handler.
//!
//! Each core builds its own chain from the layers (a layer is `Clone +
//! Send + Sync`; the service it makes need not be). Layers are composed
//! at build time; each layer added costs one boxed future per call (a
//! [`Stack`](crate::middleware::Stack) of several added at once costs
//! one), and a channel or router without layers calls straight through.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::PathAndQuery;

use super::metadata::Metadata;
use super::status::Status;
use crate::middleware::{Layer, Service};

/// The kind of a gRPC method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    BidiStreaming,
}

/// What a gRPC middleware knows about one call (client or server).
#[derive(Debug)]
pub struct GrpcContext {
    path: PathAndQuery,
    kind: MethodKind,
    /// The request's metadata. Client: what will be sent (a layer may add
    /// to it: a token, a trace header). Server: what arrived; the
    /// innermost step moves it into the handler's request, so read it
    /// before calling the inner service.
    pub metadata: Metadata,
    /// When the call's caller stops waiting. Client: from the call's or
    /// the channel's timeout, sent as `grpc-timeout` (a layer may shorten
    /// it). Server: from the request's `grpc-timeout`.
    pub deadline: Option<Instant>,
    /// The other side. Client: the instance the last attempt went to, once
    /// resolve picked one. Server: the caller.
    pub peer: Option<SocketAddr>,
    /// Client: the attempts made after the first (retries); 0 on the
    /// server.
    pub retries: u32,
}

impl GrpcContext {
    pub(crate) fn new(
        path: PathAndQuery,
        kind: MethodKind,
        metadata: Metadata,
        deadline: Option<Instant>,
        peer: Option<SocketAddr>,
    ) -> GrpcContext {
        GrpcContext {
            path,
            kind,
            metadata,
            deadline,
            peer,
            retries: 0,
        }
    }

    /// The method's path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.path()
    }

    pub(crate) fn path_and_query(&self) -> &PathAndQuery {
        &self.path
    }

    /// The service's full name (`package.Service`).
    pub fn service(&self) -> &str {
        let p = self.path();
        let end = p.rfind('/').unwrap_or(0);
        p.get(1..end).unwrap_or("")
    }

    /// The method's name.
    pub fn method(&self) -> &str {
        let p = self.path();
        &p[p.rfind('/').map_or(0, |i| i + 1)..]
    }

    /// The method's kind.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// The time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// A method path a [`Channel`](super::Channel) call takes: a `&'static
/// str` (what generated clients pass; used without copying) or a `String`
/// made at run time.
pub trait IntoPath {
    /// The path, checked.
    fn into_path(self) -> Result<PathAndQuery, Status>;
}

fn bad_path(e: impl fmt::Display) -> Status {
    Status::internal(format!("bad method path: {e}"))
}

impl IntoPath for &'static str {
    fn into_path(self) -> Result<PathAndQuery, Status> {
        PathAndQuery::from_maybe_shared(Bytes::from_static(self.as_bytes())).map_err(bad_path)
    }
}

impl IntoPath for String {
    fn into_path(self) -> Result<PathAndQuery, Status> {
        PathAndQuery::from_maybe_shared(Bytes::from(self)).map_err(bad_path)
    }
}

impl IntoPath for PathAndQuery {
    fn into_path(self) -> Result<PathAndQuery, Status> {
        Ok(self)
    }
}

// ---- client ----

/// A client call as middleware sees it: the encoded request message of a
/// unary or server-streaming call (a streaming request's messages are
/// sent after the chain returned).
#[derive(Debug, Clone)]
pub struct ClientCall {
    pub(crate) body: Option<Bytes>,
    /// The deadline the channel's own timer bounds the call by (the one
    /// the call started with): a layer that moves `cx.deadline` earlier
    /// gets a timer of its own at the resolve step.
    pub(crate) timer: Option<Instant>,
}

impl ClientCall {
    /// The request as it goes on the wire (the 5-byte prefix and the
    /// message, compressed when the channel compresses); `None` for client-
    /// and bidi-streaming calls.
    pub fn encoded(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }
}

/// What a client call's chain returns.
pub struct ClientAnswer {
    pub(crate) kind: AnswerKind,
}

pub(crate) enum AnswerKind {
    /// A unary call's reply: the response headers' metadata and the
    /// message, decoded from the wire but not yet into its type.
    Unary(Metadata, Bytes),
    /// A server-streaming call's response headers and its stream.
    Stream(Metadata, super::Streaming<()>),
    /// A client- or bidi-streaming call's opened stream.
    Open(
        monoio_http::h2::client::ResponseFuture,
        monoio_http::h2::SendStream<Bytes>,
    ),
}

impl ClientAnswer {
    /// The response headers' metadata, when they arrived inside the chain
    /// (unary and server-streaming calls).
    pub fn metadata(&self) -> Option<&Metadata> {
        match &self.kind {
            AnswerKind::Unary(md, _) | AnswerKind::Stream(md, _) => Some(md),
            AnswerKind::Open(..) => None,
        }
    }

    /// The unary reply's message as it arrived (decompressed, not decoded).
    pub fn message(&self) -> Option<&Bytes> {
        match &self.kind {
            AnswerKind::Unary(_, m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Debug for ClientAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAnswer")
            .field("metadata", &self.metadata())
            .field("message_len", &self.message().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

/// A boxed-future service, for a chain whose type is erased per core.
trait DynService<Req, Resp> {
    fn call_boxed<'a>(
        &'a self,
        cx: &'a mut GrpcContext,
        req: Req,
    ) -> Pin<Box<dyn Future<Output = Result<Resp, Status>> + 'a>>;
}

impl<S, Req, Resp> DynService<Req, Resp> for S
where
    S: Service<GrpcContext, Req, Response = Resp, Error = Status>,
    Req: 'static,
{
    fn call_boxed<'a>(
        &'a self,
        cx: &'a mut GrpcContext,
        req: Req,
    ) -> Pin<Box<dyn Future<Output = Result<Resp, Status>> + 'a>> {
        Box::pin(self.call(cx, req))
    }
}

/// The rest of a client call's chain, as a layer wraps it: the layers
/// added before, then resolve (pick an instance, connect, send, retry).
pub struct ClientNext(ClientStep);

enum ClientStep {
    Resolve(super::client::Resolve),
    Layered(Rc<dyn DynService<ClientCall, ClientAnswer>>),
}

impl fmt::Debug for ClientNext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            ClientStep::Resolve(_) => "ClientNext(resolve)",
            ClientStep::Layered(_) => "ClientNext(layered)",
        })
    }
}

impl Service<GrpcContext, ClientCall> for ClientNext {
    type Response = ClientAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ClientCall) -> Result<ClientAnswer, Status> {
        match &self.0 {
            ClientStep::Resolve(r) => r.call(cx, req).await,
            ClientStep::Layered(s) => s.call_boxed(cx, req).await,
        }
    }
}

/// One layer added to a channel, its type erased: wraps the rest of the
/// chain on a core.
pub(crate) type ClientLayer = Arc<dyn Fn(ClientNext) -> ClientNext + Send + Sync>;

pub(crate) fn client_layer<L>(layer: L) -> ClientLayer
where
    L: Layer<ClientNext> + Clone + Send + Sync + 'static,
    L::Service: Service<GrpcContext, ClientCall, Response = ClientAnswer, Error = Status> + 'static,
{
    Arc::new(move |next| ClientNext(ClientStep::Layered(Rc::new(layer.clone().layer(next)))))
}

/// A core's chain: `layers` (the last added outermost) around `resolve`.
pub(crate) fn client_chain(resolve: super::client::Resolve, layers: &[ClientLayer]) -> ClientNext {
    layers
        .iter()
        .fold(ClientNext(ClientStep::Resolve(resolve)), |next, l| l(next))
}

// ---- server ----

/// A server call as middleware sees it, on its way to the method's
/// handler.
pub struct ServerCall {
    pub(crate) method: Arc<dyn super::router::Method>,
    pub(crate) call: super::router::Call,
}

impl fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCall").finish_non_exhaustive()
    }
}

/// What a server call's chain returns: for a unary or client-streaming
/// call, its reply (metadata and encoded message), to go out when the
/// chain returns; for a streaming reply, nothing (the handler's sink sent
/// the messages).
#[derive(Debug)]
pub struct ServerAnswer {
    pub(crate) reply: Option<(Metadata, Bytes)>,
}

impl ServerAnswer {
    /// The reply's header metadata, to add to (unary and client-streaming
    /// calls; a streaming reply's headers already went out).
    pub fn metadata_mut(&mut self) -> Option<&mut Metadata> {
        self.reply.as_mut().map(|(md, _)| md)
    }

    /// The encoded reply message's length, for a reply still to go out.
    pub fn encoded_len(&self) -> Option<usize> {
        self.reply.as_ref().map(|(_, b)| b.len())
    }
}

/// The rest of a server call's chain, as a layer wraps it: the layers
/// added before, then the method's handler.
pub struct ServerNext(ServerStep);

enum ServerStep {
    Handler,
    Layered(Rc<dyn DynService<ServerCall, ServerAnswer>>),
}

impl fmt::Debug for ServerNext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            ServerStep::Handler => "ServerNext(handler)",
            ServerStep::Layered(_) => "ServerNext(layered)",
        })
    }
}

impl Service<GrpcContext, ServerCall> for ServerNext {
    type Response = ServerAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ServerCall) -> Result<ServerAnswer, Status> {
        match &self.0 {
            ServerStep::Handler => {
                let ServerCall { method, mut call } = req;
                call.metadata = std::mem::take(&mut cx.metadata);
                call.deadline = cx.deadline;
                let reply = method.call(call).await?;
                Ok(ServerAnswer { reply })
            }
            ServerStep::Layered(s) => s.call_boxed(cx, req).await,
        }
    }
}

/// One layer added to a router, its type erased.
pub(crate) type ServerLayer = Arc<dyn Fn(ServerNext) -> ServerNext + Send + Sync>;

pub(crate) fn server_layer<L>(layer: L) -> ServerLayer
where
    L: Layer<ServerNext> + Clone + Send + Sync + 'static,
    L::Service: Service<GrpcContext, ServerCall, Response = ServerAnswer, Error = Status> + 'static,
{
    Arc::new(move |next| ServerNext(ServerStep::Layered(Rc::new(layer.clone().layer(next)))))
}

/// A core's server chain: `layers` (the last added outermost) around the
/// handler.
pub(crate) fn server_chain(layers: &[ServerLayer]) -> ServerNext {
    layers
        .iter()
        .fold(ServerNext(ServerStep::Handler), |next, l| l(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_splits_into_service_and_method() {
        let cx = GrpcContext::new(
            "/helloworld.Greeter/SayHello".into_path().unwrap(),
            MethodKind::Unary,
            Metadata::new(),
            None,
            None,
        );
        assert_eq!(cx.path(), "/helloworld.Greeter/SayHello");
        assert_eq!(cx.service(), "helloworld.Greeter");
        assert_eq!(cx.method(), "SayHello");
        assert_eq!(cx.kind(), MethodKind::Unary);
        assert_eq!(cx.remaining(), None);
    }

    #[test]
    fn a_path_with_bad_characters_is_an_error_not_a_panic() {
        let e = "/a b/c".into_path().unwrap_err();
        assert_eq!(e.code(), super::super::Code::Internal);
        assert!(String::from("/x.Y/Z").into_path().is_ok());
    }
}
