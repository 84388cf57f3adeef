//! The gRPC client: a [`Channel`] to a service, one HTTP/2 connection per
//! address per core, every call a stream on it.
//!
//! A call on a channel goes through the steps of the Thrift client's
//! chain, in its order:
//! 1. **timeout**: the call's ([`Request::set_timeout`]) or the channel's
//!    ([`ChannelBuilder::timeout`]) bounds a unary or client-streaming call
//!    here, and is sent as `grpc-timeout` so the server bounds it too
//!    (streams the caller reads are bounded by the server);
//! 2. **middleware**: the channel's layers ([`ChannelBuilder::layer`], see
//!    [`middleware`](super::middleware)), around
//! 3. **resolve**: the instances come from the channel's fixed targets or
//!    from a shared resolver cache ([`ChannelBuilder::resolver`]), read
//!    through this core's view (one atomic load when nothing changed), and
//!    this core's balancer picks one ([`ChannelBuilder::balancer`]);
//! 4. **connect**: this core's HTTP/2 connection to the address, opened on
//!    first use (calls that arrive meanwhile wait for it, so a burst opens
//!    one connection) and dropped when it breaks; a connection that cannot
//!    be opened is retried on another instance
//!    ([`ChannelBuilder::connect_retries`]), since nothing was sent;
//! 5. **stream**: the request goes out as a stream on the connection; the
//!    response's status comes from its trailers;
//! 6. **retry** (unary and server-streaming calls, until the response
//!    headers arrive): a stream the server never processed
//!    (`REFUSED_STREAM`, or past its GOAWAY) is sent again; a method marked
//!    [`idempotent`](ChannelBuilder::idempotent) also after `UNAVAILABLE`;
//!    on another instance when there is one, at most
//!    [`retries`](ChannelBuilder::retries) times, within the deadline and
//!    this core's retry budget ([`ChannelBuilder::retry_budget`]). Client-
//!    and bidi-streaming calls are not resent: their messages are the
//!    caller's to send again.
//!
//! Dropping a call's future (or its [`Streaming`]/[`RequestSink`]) resets
//! the stream with `CANCEL`, which cancels the call on the server.
//!
//! Not yet: TLS.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::net::TcpStream;
use monoio_http::h2::{self, RecvStream, SendStream, client::ResponseFuture, client::SendRequest};
use prost::Message;
use ringrpc_discovery::balance::{AnyBalancer, Balancer, BalancerKind, PickRequest};
use ringrpc_discovery::retry::{BudgetOptions, RetryBudget};
use ringrpc_discovery::{EndpointInfo, LocalView, ResolverCache, ViewUpdate};
use rustc_hash::FxHashMap;

use super::message::{Request, Response};
use super::metadata::Metadata;
use super::middleware::{
    AnswerKind, ClientAnswer, ClientCall, ClientLayer, ClientNext, GrpcContext, IntoPath,
    MethodKind, client_chain, client_layer,
};
use super::status::{Code, Status};
use super::streaming::{Streaming, h2_status, send_flow_controlled};
use super::wire::{self, Encoding};
use crate::middleware::{Layer, Service};

/// Channels get an id, the key of their per-core state.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`Channel`].
#[derive(Debug, Clone)]
pub struct ChannelBuilder {
    targets: Vec<SocketAddr>,
    resolver: Option<(Arc<ResolverCache>, EndpointInfo)>,
    balancer: BalancerKind,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    connect_retries: usize,
    retries: usize,
    idempotent: Vec<String>,
    authority: Option<String>,
    max_recv_message: usize,
    max_send_message: usize,
    gzip: bool,
    initial_stream_window: u32,
    initial_connection_window: u32,
    retry_budget: BudgetOptions,
    layers: Layers,
}

/// A channel's layers, outermost last.
#[derive(Clone, Default)]
struct Layers(Vec<ClientLayer>);

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layers", self.0.len())
    }
}

impl Default for ChannelBuilder {
    fn default() -> Self {
        ChannelBuilder {
            targets: Vec::new(),
            resolver: None,
            balancer: BalancerKind::default(),
            timeout: None,
            connect_timeout: Duration::from_secs(1),
            connect_retries: 2,
            retries: 2,
            idempotent: Vec::new(),
            authority: None,
            max_recv_message: wire::DEFAULT_MAX_MESSAGE,
            max_send_message: wire::DEFAULT_MAX_MESSAGE,
            gzip: false,
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 2 * 1024 * 1024,
            retry_budget: BudgetOptions::default(),
            layers: Layers::default(),
        }
    }
}

impl ChannelBuilder {
    /// A fixed address to call (repeat for several; the balancer spreads
    /// calls over them).
    pub fn target(mut self, addr: SocketAddr) -> Self {
        self.targets.push(addr);
        self
    }

    /// Instances from a shared resolver cache (discovery), for `endpoint`;
    /// takes precedence over fixed targets.
    pub fn resolver(mut self, cache: Arc<ResolverCache>, endpoint: EndpointInfo) -> Self {
        self.resolver = Some((cache, endpoint));
        self
    }

    /// The per-core balancer. Default weighted round robin.
    pub fn balancer(mut self, kind: BalancerKind) -> Self {
        self.balancer = kind;
        self
    }

    /// The default timeout of every call (a request's own wins). Default
    /// none.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// How long a connection may take to open. Default 1 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Other instances tried when a connection cannot be opened. Default 2.
    pub fn connect_retries(mut self, n: usize) -> Self {
        self.connect_retries = n;
        self
    }

    /// Attempts a unary call may make after its first: a stream the server
    /// never processed (refused, or past its GOAWAY) is always sent again;
    /// a call to an [`idempotent`](Self::idempotent) method also after
    /// `UNAVAILABLE` (the connection lost, the server unavailable). Each on
    /// another instance when there is one, never past the deadline.
    /// Default 2.
    pub fn retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }

    /// The per-core retry budget: retries allowed per 100 calls, as the
    /// Thrift client's (Kitex's retry circuit: a failing server is not
    /// sent a second wave of every call). Default 10 per 100, 10 tokens to
    /// start, 100 at most.
    pub fn retry_budget(mut self, options: BudgetOptions) -> Self {
        self.retry_budget = options;
        self
    }

    /// Wraps the channel's calls in `layer` (middleware; see
    /// [`middleware`](super::middleware)), around the layers added before:
    /// the last added runs first. Each core builds its own chain.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<ClientNext> + Clone + Send + Sync + 'static,
        L::Service:
            Service<GrpcContext, ClientCall, Response = ClientAnswer, Error = Status> + 'static,
    {
        self.layers.0.push(client_layer(layer));
        self
    }

    /// Marks a method (`/package.Service/Method`, or `*` for every one)
    /// safe to send again after a failure that may have reached the server
    /// (as Kitex's failure retry asks a method to be).
    pub fn idempotent(mut self, path: impl Into<String>) -> Self {
        self.idempotent.push(path.into());
        self
    }

    /// The `:authority` sent. Default: the address called.
    pub fn authority(mut self, a: impl Into<String>) -> Self {
        self.authority = Some(a.into());
        self
    }

    /// The largest message received. Default 4 MiB.
    pub fn max_recv_message(mut self, n: usize) -> Self {
        self.max_recv_message = n;
        self
    }

    /// The largest message sent. Default 4 MiB.
    pub fn max_send_message(mut self, n: usize) -> Self {
        self.max_send_message = n;
        self
    }

    /// Compresses requests with gzip (and asks for gzip replies). Default
    /// off.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// The channel. Errors when it has neither a target nor a resolver.
    pub fn build(self) -> crate::Result<Channel> {
        if self.targets.is_empty() && self.resolver.is_none() {
            return Err(crate::Error::Config(crate::ConfigError::NoTarget));
        }
        RetryBudget::new(self.retry_budget).map_err(|source| crate::ConfigError::Invalid {
            what: "gRPC retry budget",
            source,
        })?;
        Ok(Channel {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                cfg: self,
            }),
        })
    }
}

/// A client of one service: cheap to clone, usable on any core (each core
/// keeps its own connections).
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    cfg: ChannelBuilder,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("targets", &self.inner.cfg.targets)
            .field("resolver", &self.inner.cfg.resolver.is_some())
            .finish_non_exhaustive()
    }
}

/// This core's side of a channel.
struct CoreChannel {
    view: Option<LocalView>,
    balancer: AnyBalancer,
    built: bool,
    conns: FxHashMap<SocketAddr, Slot>,
    budget: RetryBudget,
    /// The layers around this core's resolve step, when there are any.
    chain: Option<Rc<ClientNext>>,
}

enum Slot {
    Ready(Rc<Conn>),
    Connecting(Rc<Connecting>),
}

#[derive(Default)]
struct Connecting {
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Connecting {
    fn finish(&self) {
        self.done.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// One HTTP/2 connection of this core.
struct Conn {
    send: RefCell<SendRequest<Bytes>>,
    broken: Rc<Cell<bool>>,
    /// The `:authority` its requests carry, made once per connection.
    authority: http::uri::Authority,
}

thread_local! {
    static CORES: RefCell<FxHashMap<u64, CoreChannel>> = RefCell::default();
}

impl Channel {
    /// A builder.
    pub fn builder() -> ChannelBuilder {
        ChannelBuilder::default()
    }

    fn cfg(&self) -> &ChannelBuilder {
        &self.inner.cfg
    }

    /// Runs `f` on this core's side of the channel, set up on first use.
    fn with_core<R>(&self, f: impl FnOnce(&mut CoreChannel) -> R) -> R {
        CORES.with_borrow_mut(|m| {
            let c = m.entry(self.inner.id).or_insert_with(|| {
                let cfg = self.cfg();
                CoreChannel {
                    view: cfg
                        .resolver
                        .as_ref()
                        .map(|(cache, ep)| LocalView::new(cache.subscribe(ep))),
                    balancer: cfg.balancer.build(),
                    built: false,
                    conns: FxHashMap::default(),
                    budget: RetryBudget::new(cfg.retry_budget).expect("checked by build"),
                    chain: None,
                }
            });
            f(c)
        })
    }

    /// This core's chain of layers; `None` when the channel has none (the
    /// call goes straight to resolve).
    fn chain(&self) -> Option<Rc<ClientNext>> {
        let layers = &self.cfg().layers.0;
        if layers.is_empty() {
            return None;
        }
        let chain = self.with_core(|c| c.chain.clone());
        Some(chain.unwrap_or_else(|| {
            // Built outside the core's borrow: a layer's constructor may
            // touch the channel.
            let chain = Rc::new(client_chain(
                Resolve {
                    channel: self.clone(),
                },
                layers,
            ));
            self.with_core(|c| c.chain.get_or_insert(chain).clone())
        }))
    }

    /// Picks an instance on this core (awaiting the first resolve).
    async fn pick(&self, tried: &[SocketAddr]) -> Result<SocketAddr, Status> {
        loop {
            let picked = self.with_core(|c| {
                match c.view.as_mut() {
                    Some(view) => match view.update() {
                        ViewUpdate::Pending => return Err(Some(view.subscription().clone())),
                        ViewUpdate::Changed(change) => {
                            for gone in &change.removed {
                                c.conns.remove(&gone.addr());
                            }
                            let snap = view.current().expect("changed to a snapshot");
                            c.balancer.rebuild(snap.instances());
                        }
                        _ => {}
                    },
                    None if !c.built => {
                        let insts: Vec<_> = self
                            .cfg()
                            .targets
                            .iter()
                            .map(|a| Arc::new(ringrpc_discovery::Instance::new(*a)))
                            .collect();
                        c.balancer.rebuild(&insts);
                        c.built = true;
                    }
                    None => {}
                }
                let req = PickRequest::default();
                let addr = match c
                    .balancer
                    .pick_admitted(&req, |i| !tried.contains(&i.addr()))
                {
                    Some(i) => Some(i.addr()),
                    None => c.balancer.pick(&req).map(|i| i.addr()),
                };
                addr.ok_or(None)
            });
            match picked {
                Ok(addr) => return Ok(addr),
                Err(None) => return Err(Status::unavailable("no instance to call")),
                // The first resolve on this core: wait for it, then pick.
                Err(Some(sub)) => {
                    sub.ready()
                        .await
                        .map_err(|e| Status::unavailable(format!("resolving: {e}")))?;
                }
            }
        }
    }

    /// This core's connection to `addr`, opened if there is none.
    async fn connection(&self, addr: SocketAddr) -> Result<Rc<Conn>, Status> {
        let id = self.inner.id;
        loop {
            let slot = CORES.with_borrow_mut(|m| {
                let c = m.get_mut(&id).expect("set up by pick");
                match c.conns.get(&addr) {
                    Some(Slot::Ready(conn)) if !conn.broken.get() => Ok(conn.clone()),
                    Some(Slot::Connecting(w)) => Err(Some(w.clone())),
                    _ => {
                        c.conns
                            .insert(addr, Slot::Connecting(Rc::new(Connecting::default())));
                        Err(None)
                    }
                }
            });
            match slot {
                Ok(conn) => return Ok(conn),
                Err(Some(wait)) => {
                    poll_fn(|cx| {
                        if wait.done.get() {
                            return Poll::Ready(());
                        }
                        wait.waiters.borrow_mut().push(cx.waker().clone());
                        Poll::Pending
                    })
                    .await;
                    // Look again: connected, or failed (and this call tries).
                    let failed = CORES.with_borrow(|m| {
                        !matches!(
                            m.get(&id).and_then(|c| c.conns.get(&addr)),
                            Some(Slot::Ready(_))
                        )
                    });
                    if failed {
                        return Err(Status::unavailable(format!("cannot connect to {addr}")));
                    }
                }
                Err(None) => {
                    let res = self.connect(addr).await;
                    return CORES.with_borrow_mut(|m| {
                        let c = m.get_mut(&id).expect("set up by pick");
                        let prev = match &res {
                            Ok(conn) => c.conns.insert(addr, Slot::Ready(conn.clone())),
                            Err(_) => c.conns.remove(&addr),
                        };
                        if let Some(Slot::Connecting(w)) = prev {
                            w.finish();
                        }
                        res
                    });
                }
            }
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Result<Rc<Conn>, Status> {
        let cfg = self.cfg();
        let unavailable =
            |e: &dyn fmt::Display| Status::unavailable(format!("cannot connect to {addr}: {e}"));
        let tcp = monoio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| unavailable(&"timed out"))?
            .map_err(|e| unavailable(&e))?;
        let _ = tcp.set_nodelay(true);
        let mut b = h2::client::Builder::new();
        b.initial_window_size(cfg.initial_stream_window)
            .initial_connection_window_size(cfg.initial_connection_window);
        let (send, mut conn) =
            monoio::time::timeout(cfg.connect_timeout, b.handshake::<_, Bytes>(tcp))
                .await
                .map_err(|_| unavailable(&"HTTP/2 handshake timed out"))?
                .map_err(|e| unavailable(&e))?;
        let mut ping = conn.ping_pong();
        let broken = Rc::new(Cell::new(false));
        let flag = broken.clone();
        // The connection's driver: a task on this core, as long as it lives.
        monoio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%addr, "gRPC connection ended: {e}");
            }
            flag.set(true);
        });
        // The server's SETTINGS come first on its side of the connection: a
        // PING answered means they were read, so a burst of calls respects
        // its stream limit (h2 queues the calls past it) rather than being
        // refused (`REFUSED_STREAM`) for going over a limit not yet known.
        if let Some(p) = ping.as_mut() {
            monoio::time::timeout(cfg.connect_timeout, p.ping(h2::Ping::opaque()))
                .await
                .map_err(|_| unavailable(&"no answer to the first PING"))?
                .map_err(|e| unavailable(&e))?;
        }
        let authority = match &cfg.authority {
            Some(a) => a.parse(),
            None => addr.to_string().parse(),
        }
        .map_err(|e| Status::invalid_argument(format!("bad authority: {e}")))?;
        Ok(Rc::new(Conn {
            send: RefCell::new(send),
            broken,
            authority,
        }))
    }

    /// Opens a stream for the call in `cx`: picks an instance (avoiding
    /// those in `tried` when others are there, and adding the one it used
    /// to it and to `cx`), connects (retrying other instances when a
    /// connection cannot be opened), sends the headers.
    async fn open_on(
        &self,
        cx: &mut GrpcContext,
        tried: &mut Vec<SocketAddr>,
    ) -> Result<(ResponseFuture, SendStream<Bytes>), Status> {
        let first = tried.len();
        loop {
            let addr = self.pick(tried).await?;
            let conn = match self.connection(addr).await {
                Ok(c) => c,
                Err(e) if tried.len() - first < self.cfg().connect_retries => {
                    tracing::debug!(%addr, "gRPC connect failed, trying another instance: {e}");
                    tried.push(addr);
                    continue;
                }
                Err(e) => return Err(e),
            };
            tried.push(addr);
            cx.peer = Some(addr);
            let head = self.head(&conn.authority, cx)?;
            let send = conn.send.borrow().clone();
            let mut ready = send.ready().await.map_err(|e| {
                conn.broken.set(true);
                h2_status(&e)
            })?;
            return ready.send_request(head, false).map_err(|e| h2_status(&e));
        }
    }

    fn head(
        &self,
        authority: &http::uri::Authority,
        cx: &GrpcContext,
    ) -> Result<http::Request<()>, Status> {
        let cfg = self.cfg();
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query(cx.path_and_query().clone())
            .build()
            .map_err(|e| Status::internal(format!("bad path {:?}: {e}", cx.path())))?;
        let mut req = http::Request::new(());
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        h.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
        h.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("ringrpc-grpc/", env!("CARGO_PKG_VERSION"))),
        );
        if cfg.gzip {
            h.insert(
                wire::names::GRPC_ENCODING,
                http::HeaderValue::from_static("gzip"),
            );
        }
        h.insert(
            wire::names::GRPC_ACCEPT_ENCODING,
            http::HeaderValue::from_static(wire::ACCEPT_ENCODING),
        );
        if let Some(d) = cx.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if let Ok(v) = http::HeaderValue::from_str(&wire::format_timeout(left)) {
                h.insert(wire::names::GRPC_TIMEOUT, v);
            }
        }
        cx.metadata.write_into(h);
        Ok(req)
    }

    fn deadline(&self, d: Option<Instant>) -> Option<Instant> {
        d.or_else(|| self.cfg().timeout.map(|t| Instant::now() + t))
    }

    fn enc(&self) -> Encoding {
        if self.cfg().gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    /// Runs a call through this core's chain: the layers, then resolve.
    async fn dispatch(
        &self,
        cx: &mut GrpcContext,
        req: ClientCall,
    ) -> Result<ClientAnswer, Status> {
        match self.chain() {
            None => self.resolve_call(cx, req).await,
            Some(chain) => chain.call(cx, req).await,
        }
    }

    /// The context of a call on this channel.
    fn context(
        &self,
        path: impl IntoPath,
        kind: MethodKind,
        md: Metadata,
        deadline: Option<Instant>,
    ) -> Result<GrpcContext, Status> {
        Ok(GrpcContext::new(
            path.into_path()?,
            kind,
            md,
            self.deadline(deadline),
            None,
        ))
    }

    /// A unary call. Retried as [`ChannelBuilder::retries`] says. `path`
    /// is `/package.Service/Method`.
    pub async fn unary<Req, Resp>(
        &self,
        path: impl IntoPath,
        req: Request<Req>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        match self.send_one(path, MethodKind::Unary, req).await? {
            AnswerKind::Unary(md, msg) => Ok(Response::from_parts(md, wire::decode(msg)?)),
            _ => Err(answer_mismatch()),
        }
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<Req, Resp>(
        &self,
        path: impl IntoPath,
        req: Request<Req>,
    ) -> Result<Response<Streaming<Resp>>, Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        match self
            .send_one(path, MethodKind::ServerStreaming, req)
            .await?
        {
            AnswerKind::Stream(md, s) => Ok(Response::from_parts(md, s.cast())),
            _ => Err(answer_mismatch()),
        }
    }

    /// Sends a unary or server-streaming call's one request through the
    /// chain, within its deadline.
    async fn send_one<Req: Message>(
        &self,
        path: impl IntoPath,
        kind: MethodKind,
        req: Request<Req>,
    ) -> Result<AnswerKind, Status> {
        let (md, msg, deadline) = req.into_parts();
        let mut cx = self.context(path, kind, md, deadline)?;
        let body = wire::encode(&msg, self.enc(), self.cfg().max_send_message)?;
        let deadline = cx.deadline;
        let answer = within(
            deadline,
            self.dispatch(
                &mut cx,
                ClientCall {
                    body: Some(body),
                    timer: deadline,
                },
            ),
        )
        .await?;
        Ok(answer.kind)
    }

    /// A client-streaming call: send requests through the returned call,
    /// then [`finish`](ClientStreamingCall::finish) it for the response.
    pub async fn client_streaming<Req, Resp>(
        &self,
        path: impl IntoPath,
        req: Request<()>,
    ) -> Result<ClientStreamingCall<Req, Resp>, Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let (md, (), deadline) = req.into_parts();
        let (resp, stream, deadline) = self
            .open_streaming(path, MethodKind::ClientStreaming, md, deadline)
            .await?;
        Ok(ClientStreamingCall {
            sink: self.sink(stream),
            resp,
            channel: self.clone(),
            deadline,
            _msg: PhantomData,
        })
    }

    /// A bidirectional-streaming call: requests go into the sink, responses
    /// come from the stream, independently.
    pub async fn bidi_streaming<Req, Resp>(
        &self,
        path: impl IntoPath,
        req: Request<()>,
    ) -> Result<(RequestSink<Req>, Streaming<Resp>), Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let (md, (), deadline) = req.into_parts();
        let (resp, stream, _) = self
            .open_streaming(path, MethodKind::BidiStreaming, md, deadline)
            .await?;
        let s = Streaming::pending(resp, self.cfg().max_recv_message);
        Ok((self.sink(stream), s))
    }

    /// Opens a client- or bidi-streaming call through the chain.
    async fn open_streaming(
        &self,
        path: impl IntoPath,
        kind: MethodKind,
        md: Metadata,
        deadline: Option<Instant>,
    ) -> Result<(ResponseFuture, SendStream<Bytes>, Option<Instant>), Status> {
        let mut cx = self.context(path, kind, md, deadline)?;
        let deadline = cx.deadline;
        let call = ClientCall {
            body: None,
            timer: deadline,
        };
        let answer = within(deadline, self.dispatch(&mut cx, call)).await?;
        match answer.kind {
            // The stream's sends and reads keep the deadline as the layers
            // left it.
            AnswerKind::Open(resp, stream) => Ok((resp, stream, cx.deadline)),
            _ => Err(answer_mismatch()),
        }
    }

    /// The resolve step: picks, connects, sends, and retries what may be
    /// sent again; within the deadline a layer moved earlier, if one did
    /// (it is sent as `grpc-timeout` too).
    async fn resolve_call(
        &self,
        cx: &mut GrpcContext,
        req: ClientCall,
    ) -> Result<ClientAnswer, Status> {
        match cx.deadline {
            Some(d) if req.timer.is_none_or(|t| d < t) => {
                within(Some(d), self.resolve_within(cx, req)).await
            }
            _ => self.resolve_within(cx, req).await,
        }
    }

    async fn resolve_within(
        &self,
        cx: &mut GrpcContext,
        req: ClientCall,
    ) -> Result<ClientAnswer, Status> {
        let kind = cx.kind();
        let body = match (kind, req.body) {
            (MethodKind::Unary | MethodKind::ServerStreaming, Some(body)) => body,
            (MethodKind::Unary | MethodKind::ServerStreaming, None) => {
                return Err(Status::internal(
                    "a unary or server-streaming call without its request",
                ));
            }
            _ => {
                let (resp, stream) = self.open_on(cx, &mut Vec::new()).await?;
                return Ok(ClientAnswer {
                    kind: AnswerKind::Open(resp, stream),
                });
            }
        };
        let cfg = self.cfg();
        let idempotent = cfg.idempotent.iter().any(|p| p == cx.path() || p == "*");
        self.with_core(|c| c.budget.on_call());
        let mut tried = Vec::new();
        loop {
            let r = self.attempt(cx, body.clone(), &mut tried).await;
            match r {
                Ok(kind) => return Ok(ClientAnswer { kind }),
                Err((st, unprocessed))
                    if (cx.retries as usize) < cfg.retries
                        && (unprocessed || (idempotent && st.code() == Code::Unavailable))
                        && self.with_core(|c| c.budget.try_spend()) =>
                {
                    tracing::debug!(
                        path = cx.path(),
                        retries = cx.retries,
                        "gRPC call sent again: {st}"
                    );
                    cx.retries += 1;
                }
                Err((st, _)) => return Err(st),
            }
        }
    }

    /// One attempt of a unary or server-streaming call, up to its reply
    /// (unary) or its response headers (server-streaming); on failure,
    /// whether the server surely did not process it.
    async fn attempt(
        &self,
        cx: &mut GrpcContext,
        body: Bytes,
        tried: &mut Vec<SocketAddr>,
    ) -> Result<AnswerKind, (Status, bool)> {
        let (resp, mut stream) = self.open_on(cx, tried).await.map_err(|st| (st, false))?;
        // One message: h2 sends it as the window allows.
        stream
            .send_data(body, true)
            .map_err(|e| (h2_status(&e), unprocessed(&e)))?;
        let resp = resp.await.map_err(|e| (h2_status(&e), unprocessed(&e)))?;
        let (md, s) =
            response_stream::<()>(resp, self.cfg().max_recv_message).map_err(|st| (st, false))?;
        if cx.kind() == MethodKind::ServerStreaming {
            return Ok(AnswerKind::Stream(md, s));
        }
        let msg = only_message(s).await.map_err(|st| (st, false))?;
        Ok(AnswerKind::Unary(md, msg))
    }

    fn sink<Req: Message>(&self, stream: SendStream<Bytes>) -> RequestSink<Req> {
        RequestSink {
            stream: RefCell::new(Some(stream)),
            enc: self.enc(),
            max: self.cfg().max_send_message,
            _msg: PhantomData,
        }
    }

    /// Waits for the response headers; a trailers-only response with an
    /// error is that error.
    async fn response(&self, resp: ResponseFuture) -> Result<(Metadata, Streaming<()>), Status> {
        let resp = resp.await.map_err(|e| h2_status(&e))?;
        response_stream(resp, self.cfg().max_recv_message)
    }
}

/// The resolve step of a channel's calls, as the innermost service of its
/// chain ([`ClientNext`] wraps it): picks an instance, connects, sends,
/// retries.
pub(crate) struct Resolve {
    channel: Channel,
}

impl Service<GrpcContext, ClientCall> for Resolve {
    type Response = ClientAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ClientCall) -> Result<ClientAnswer, Status> {
        self.channel.resolve_call(cx, req).await
    }
}

fn answer_mismatch() -> Status {
    Status::internal("a middleware answered with another kind of call's answer")
}

/// The headers of a response, checked, and its body as a stream.
pub(crate) fn response_stream<Resp>(
    resp: http::Response<RecvStream>,
    max: usize,
) -> Result<(Metadata, Streaming<Resp>), Status> {
    let (parts, body) = resp.into_parts();
    if parts.status != http::StatusCode::OK {
        return Err(Status::new(
            Code::from_http(parts.status.as_u16()),
            format!("HTTP status {} from the server", parts.status),
        ));
    }
    let grpc = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc {
        return Err(Status::unknown("the response is not gRPC (content-type)"));
    }
    if let Some(st) = Status::from_headers(&parts.headers) {
        // Trailers-only.
        if st.code() != Code::Ok {
            return Err(st);
        }
        return Ok((
            Metadata::from_headers(&parts.headers),
            Streaming::ended(st.metadata().clone()),
        ));
    }
    let enc = Encoding::from_header(parts.headers.get("grpc-encoding"))?;
    Ok((
        Metadata::from_headers(&parts.headers),
        Streaming::new(body, max, enc, true),
    ))
}

/// Whether a stream's error means the server never processed it: refused
/// (RFC 9113 §8.7), or past the last stream a GOAWAY said it would handle.
fn unprocessed(e: &h2::Error) -> bool {
    e.reason() == Some(h2::Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote())
}

/// The one message of a unary (or client-streaming) response, read to the
/// end of the stream so its status is known.
async fn only_message(mut s: Streaming<()>) -> Result<Bytes, Status> {
    let msg = s
        .next_bytes()
        .await?
        .ok_or_else(|| Status::internal("the response has no message"))?;
    if s.next_bytes().await?.is_some() {
        return Err(Status::internal(
            "a unary response with more than one message",
        ));
    }
    Ok(msg)
}

/// Runs `f` until `deadline`, when there is one.
async fn within<T>(
    deadline: Option<Instant>,
    f: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        None => f.await,
        Some(d) => monoio::time::timeout_at(d.into(), f)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("the deadline passed"))),
    }
}

/// A client's outgoing messages (client- and bidi-streaming calls). Each
/// [`send`](RequestSink::send) waits for HTTP/2 window (back-pressure);
/// [`finish`](RequestSink::finish) (or dropping the sink) ends the request
/// stream.
pub struct RequestSink<T> {
    stream: RefCell<Option<SendStream<Bytes>>>,
    enc: Encoding,
    max: usize,
    _msg: PhantomData<fn(T)>,
}

impl<T> fmt::Debug for RequestSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSink").finish_non_exhaustive()
    }
}

impl<T: Message> RequestSink<T> {
    /// Sends one message, once flow control lets it go.
    pub async fn send(&mut self, msg: T) -> Result<(), Status> {
        let data = wire::encode(&msg, self.enc, self.max)?;
        let cell = &self.stream;
        send_flow_controlled(|| cell.borrow_mut(), data).await
    }

    /// Ends the request stream (the server sees the end of its input).
    pub fn finish(self) {
        // Drop does it.
    }
}

impl<T> Drop for RequestSink<T> {
    fn drop(&mut self) {
        if let Some(mut s) = self.stream.get_mut().take() {
            let _ = s.send_data(Bytes::new(), true);
        }
    }
}

/// A client-streaming call in progress.
pub struct ClientStreamingCall<Req, Resp> {
    sink: RequestSink<Req>,
    resp: ResponseFuture,
    channel: Channel,
    deadline: Option<Instant>,
    _msg: PhantomData<fn() -> Resp>,
}

impl<Req, Resp> fmt::Debug for ClientStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStreamingCall")
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message + Default> ClientStreamingCall<Req, Resp> {
    /// Sends one request message.
    pub async fn send(&mut self, msg: Req) -> Result<(), Status> {
        within(self.deadline, self.sink.send(msg)).await
    }

    /// Ends the requests and waits for the response.
    pub async fn finish(self) -> Result<Response<Resp>, Status> {
        let ClientStreamingCall {
            sink,
            resp,
            channel,
            deadline,
            ..
        } = self;
        drop(sink);
        within(deadline, async move {
            let (md, s) = channel.response(resp).await?;
            let msg = wire::decode(only_message(s).await?)?;
            Ok(Response::from_parts(md, msg))
        })
        .await
    }
}
