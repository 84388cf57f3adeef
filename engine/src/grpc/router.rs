//! The server side's table of methods: which handler answers which path,
//! and how each kind of call (unary, server-, client- and bidi-streaming)
//! turns a stream into a typed handler call.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio_http::h2::RecvStream;
use prost::Message;
use rustc_hash::FxHashMap;

use super::message::{Request, Response};
use super::metadata::Metadata;
use super::middleware::{
    GrpcContext, MethodKind, ServerAnswer, ServerCall, ServerLayer, ServerNext, server_chain,
    server_layer,
};
use super::status::Status;
use super::streaming::{Reply, ResponseSink, Streaming};
use super::wire::{self, Encoding};
use crate::middleware::{Layer, Service};

/// What a handler's call produces: for a unary reply, its metadata and
/// encoded message; `None` when a sink already sent the messages.
pub(crate) type Outcome = Result<Option<(Metadata, Bytes)>, Status>;

/// One incoming call, as the router hands it to a method.
pub(crate) struct Call {
    pub(crate) metadata: Metadata,
    pub(crate) deadline: Option<Instant>,
    pub(crate) peer: SocketAddr,
    pub(crate) body: RecvStream,
    pub(crate) recv_enc: Encoding,
    /// The largest message received.
    pub(crate) max_recv: usize,
    pub(crate) reply: Rc<RefCell<Reply>>,
}

/// A method, with its kind and message types erased.
pub(crate) trait Method: Send + Sync {
    fn kind(&self) -> MethodKind;
    fn call(&self, call: Call) -> Pin<Box<dyn Future<Output = Outcome>>>;
}

/// gRPC settings of a server, with documented defaults.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// The largest message received (before decompression and after).
    /// Default 4 MiB (gRPC's default receive limit). A larger one ends the
    /// call with `RESOURCE_EXHAUSTED` before it is buffered.
    pub max_recv_message: usize,
    /// The largest message sent. Default 4 MiB (as received).
    pub max_send_message: usize,
    /// HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Default 1024 (the Thrift side's in-flight limit per connection).
    pub max_concurrent_streams: u32,
    /// A stream's receive window. Default 1 MiB (hyper's default; HTTP/2's
    /// own 64 KiB makes a large message wait for round trips).
    pub initial_stream_window: u32,
    /// The connection's receive window. Default 2 MiB.
    pub initial_connection_window: u32,
    /// The largest header list (metadata) accepted (SETTINGS_MAX_HEADER_LIST_SIZE).
    /// Default 16 KiB (gRPC core's hard metadata limit).
    pub max_header_list_size: u32,
    /// Streams the peer may reset in one second before the connection is
    /// closed with GOAWAY `ENHANCE_YOUR_CALM` (CVE-2023-44487, "rapid
    /// reset"). Default 200.
    pub max_peer_resets_per_sec: u32,
    /// The longest a deadline from `grpc-timeout` may be; longer ones are
    /// cut to it. Default: none.
    pub max_deadline: Option<Duration>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            max_recv_message: wire::DEFAULT_MAX_MESSAGE,
            max_send_message: wire::DEFAULT_MAX_MESSAGE,
            max_concurrent_streams: 1024,
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 2 * 1024 * 1024,
            max_header_list_size: 16 * 1024,
            max_peer_resets_per_sec: 200,
            max_deadline: None,
        }
    }
}

/// A service a [`Router`] can take: what generated `<Service>Server` types
/// are.
pub trait GrpcService: Send + Sync + 'static {
    /// The service's full name (`package.Service`).
    const NAME: &'static str;
    /// Adds the service's methods to `router`.
    fn register(self, router: Router) -> Router;
}

/// The methods a server answers, by path (`/package.Service/Method`).
///
/// Handlers are `Send + Sync` (one router serves every core); the futures
/// they return need not be `Send`: a call runs on the core of its
/// connection, start to end.
#[derive(Clone, Default)]
pub struct Router {
    methods: FxHashMap<Box<str>, Arc<dyn Method>>,
    services: Vec<Box<str>>,
    layers: Vec<ServerLayer>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut paths: Vec<_> = self.methods.keys().collect();
        paths.sort();
        f.debug_struct("Router")
            .field("services", &self.services)
            .field("methods", &paths)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a service (a generated `<Service>Server`).
    pub fn add_service<S: GrpcService>(mut self, svc: S) -> Router {
        if !self.services.iter().any(|s| &**s == S::NAME) {
            self.services.push(S::NAME.into());
        }
        svc.register(self)
    }

    /// Wraps every call's handler in `layer` (middleware; see
    /// [`middleware`](super::middleware)), around the layers added before:
    /// the last added runs first. Each core builds its own chain.
    pub fn layer<L>(mut self, layer: L) -> Router
    where
        L: Layer<ServerNext> + Clone + Send + Sync + 'static,
        L::Service:
            Service<GrpcContext, ServerCall, Response = ServerAnswer, Error = Status> + 'static,
    {
        self.layers.push(server_layer(layer));
        self
    }

    /// This core's chain of layers, when there are any.
    pub(crate) fn chain(&self) -> Option<ServerNext> {
        (!self.layers.is_empty()).then(|| server_chain(&self.layers))
    }

    /// The services added (their full names).
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| &**s)
    }

    fn add(mut self, path: &str, m: Arc<dyn Method>) -> Router {
        assert!(
            path.starts_with('/') && path[1..].contains('/'),
            "a gRPC path is /package.Service/Method, not {path:?}"
        );
        let service = &path[1..path.rfind('/').unwrap_or(0)];
        if !self.services.iter().any(|s| &**s == service) {
            // A method added by hand: its service is known by its path.
            self.services.push(service.into());
        }
        self.methods.insert(path.into(), m);
        self
    }

    /// The method at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&Arc<dyn Method>> {
        self.methods.get(path)
    }

    /// Adds a unary method: one request, one response.
    pub fn unary<Req, Resp, F, Fut>(self, path: &str, f: F) -> Router
    where
        Req: Message + Default + 'static,
        Resp: Message + 'static,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + 'static,
    {
        self.add(path, Arc::new(Unary(Arc::new(f), PhantomData)))
    }

    /// Adds a server-streaming method: one request, a stream of responses
    /// sent through the sink.
    pub fn server_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Router
    where
        Req: Message + Default + 'static,
        Resp: Message + 'static,
        F: Fn(Request<Req>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + 'static,
    {
        self.add(path, Arc::new(ServerStreaming(Arc::new(f), PhantomData)))
    }

    /// Adds a client-streaming method: a stream of requests, one response.
    pub fn client_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Router
    where
        Req: Message + Default + 'static,
        Resp: Message + 'static,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + 'static,
    {
        self.add(path, Arc::new(ClientStreaming(Arc::new(f), PhantomData)))
    }

    /// Adds a bidirectional-streaming method: streams both ways.
    pub fn bidi_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Router
    where
        Req: Message + Default + 'static,
        Resp: Message + 'static,
        F: Fn(Request<Streaming<Req>>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + 'static,
    {
        self.add(path, Arc::new(BidiStreaming(Arc::new(f), PhantomData)))
    }
}

type Types<Req, Resp> = PhantomData<fn(Req) -> Resp>;

struct Unary<F, Req, Resp>(Arc<F>, Types<Req, Resp>);
struct ServerStreaming<F, Req, Resp>(Arc<F>, Types<Req, Resp>);
struct ClientStreaming<F, Req, Resp>(Arc<F>, Types<Req, Resp>);
struct BidiStreaming<F, Req, Resp>(Arc<F>, Types<Req, Resp>);

/// The incoming stream of a call, typed.
fn incoming<Req: Message + Default>(body: RecvStream, enc: Encoding, max: usize) -> Streaming<Req> {
    Streaming::new(body, max, enc, false)
}

/// A call's one request message (unary and server-streaming calls).
async fn one<Req: Message + Default>(mut s: Streaming<Req>) -> Result<Req, Status> {
    s.message()
        .await?
        .ok_or_else(|| Status::internal("the call ended before its request message"))
}

fn unary_reply<Resp: Message>(r: Response<Resp>, reply: &RefCell<Reply>) -> Outcome {
    let (md, msg) = r.into_parts();
    let (enc, max) = {
        let r = reply.borrow();
        (r.enc, r.max_send)
    };
    Ok(Some((md, wire::encode(&msg, enc, max)?)))
}

impl<F, Fut, Req, Resp> Method for Unary<F, Req, Resp>
where
    Req: Message + Default + 'static,
    Resp: Message + 'static,
    F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + 'static,
{
    fn kind(&self) -> MethodKind {
        MethodKind::Unary
    }

    fn call(&self, c: Call) -> Pin<Box<dyn Future<Output = Outcome>>> {
        let f = self.0.clone();
        let max = c.max_recv;
        Box::pin(async move {
            let msg = one::<Req>(incoming(c.body, c.recv_enc, max)).await?;
            let req = Request::from_parts(c.metadata, msg, c.deadline, Some(c.peer));
            unary_reply(f(req).await?, &c.reply)
        })
    }
}

impl<F, Fut, Req, Resp> Method for ServerStreaming<F, Req, Resp>
where
    Req: Message + Default + 'static,
    Resp: Message + 'static,
    F: Fn(Request<Req>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + 'static,
{
    fn kind(&self) -> MethodKind {
        MethodKind::ServerStreaming
    }

    fn call(&self, c: Call) -> Pin<Box<dyn Future<Output = Outcome>>> {
        let f = self.0.clone();
        let max = c.max_recv;
        Box::pin(async move {
            let msg = one::<Req>(incoming(c.body, c.recv_enc, max)).await?;
            let req = Request::from_parts(c.metadata, msg, c.deadline, Some(c.peer));
            f(req, ResponseSink::new(c.reply.clone())).await?;
            Ok(None)
        })
    }
}

impl<F, Fut, Req, Resp> Method for ClientStreaming<F, Req, Resp>
where
    Req: Message + Default + 'static,
    Resp: Message + 'static,
    F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + 'static,
{
    fn kind(&self) -> MethodKind {
        MethodKind::ClientStreaming
    }

    fn call(&self, c: Call) -> Pin<Box<dyn Future<Output = Outcome>>> {
        let f = self.0.clone();
        let max = c.max_recv;
        Box::pin(async move {
            let s = incoming::<Req>(c.body, c.recv_enc, max);
            let req = Request::from_parts(c.metadata, s, c.deadline, Some(c.peer));
            unary_reply(f(req).await?, &c.reply)
        })
    }
}

impl<F, Fut, Req, Resp> Method for BidiStreaming<F, Req, Resp>
where
    Req: Message + Default + 'static,
    Resp: Message + 'static,
    F: Fn(Request<Streaming<Req>>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + 'static,
{
    fn kind(&self) -> MethodKind {
        MethodKind::BidiStreaming
    }

    fn call(&self, c: Call) -> Pin<Box<dyn Future<Output = Outcome>>> {
        let f = self.0.clone();
        let max = c.max_recv;
        Box::pin(async move {
            // The response headers go out now: callers (tonic's among them)
            // wait for them before sending, while a handler may wait for a
            // request before answering.
            c.reply.borrow_mut().send_headers()?;
            let s = incoming::<Req>(c.body, c.recv_enc, max);
            let req = Request::from_parts(c.metadata, s, c.deadline, Some(c.peer));
            f(req, ResponseSink::new(c.reply.clone())).await?;
            Ok(None)
        })
    }
}

/// A server's gRPC side: its router and settings, shared by every core.
#[derive(Debug, Clone, Default)]
pub struct GrpcServer {
    pub(crate) router: Arc<Router>,
    pub(crate) config: GrpcConfig,
}

impl GrpcServer {
    /// A gRPC side answering `router`'s methods with `config`.
    pub fn new(router: Router, config: GrpcConfig) -> GrpcServer {
        GrpcServer {
            router: Arc::new(router),
            config,
        }
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The settings.
    pub fn config(&self) -> &GrpcConfig {
        &self.config
    }
}
