//! The client: one per core, made from a shareable [`ClientBuilder`].
//!
//! A call goes through Kitex's client chain, in its order:
//!
//! 1. **RPC timeout**: the whole call (every attempt, retries and backups
//!    included, and the first resolve) is bounded by the call's or the
//!    client's RPC timeout ([`Error::Timeout`]).
//! 2. **Context middleware**: the user's [`Layer`]s, around
//! 3. **Resolve** ([`Resolve`]): finds the instances, picks one, and
//!    retries or backs up.
//!    * *Instances* come from the call's own address
//!      ([`CallOptions::addr`]), else from a shared
//!      [`ResolverCache`] ([`ClientBuilder::resolver`]), read through this
//!      core's `LocalView` (one atomic load per call when nothing changed),
//!      else from the fixed [`ClientConfig::targets`]. The first call on a
//!      core awaits the first resolve. When discovery reports a change, the
//!      core rebuilds its balancer (O(instances)) and closes its pooled
//!      connections to removed instances ([`Invoke::forget`]).
//!    * *Picking* is the core's own balancer ([`ClientBuilder::balancer`]:
//!      weighted round robin by default, weighted random, consistent
//!      hashing by [`CallOptions::hash_key`], or power of two choices fed
//!      with each attempt's start, latency and outcome), skipping instances
//!      whose per-instance circuit breaker is open.
//!    * *Retry* follows the method's [`MethodRetry`]
//!      ([`ClientBuilder::method_retry`], or [`CallOptions::retry`] for one
//!      call): failure retry of errors safe to resend (connect failures
//!      always; a broken connection or an attempt timeout only for methods
//!      marked idempotent; see [`retry`](MethodRetry#structfield.idempotent)),
//!      on another instance, never past the deadline, within a per-core
//!      retry budget; or backup requests (the same encoded request to
//!      another instance after a delay; the first answer wins, the others
//!      are dropped). Each attempt's outcome goes to its instance's breaker.
//! 4. **IO-error handling**: a connection that failed is dropped, not
//!    returned to the pool, then
//! 5. **Invoke** ([`Invoke`]): frames the request in the call's transport,
//!    sends it on a pooled connection (long or multiplexed) and waits for
//!    the reply.
//!
//! The request is encoded once, before the chain, into a [`ClientRequest`]
//! whose payload is shared `Bytes`, so a retry or a backup request resends
//! it without encoding again.
//!
//! Everything a call touches is this core's: the view, the balancer, the
//! breakers, the budget and the pools are plain per-core values (`RefCell`,
//! borrowed only between awaits); the only shared state read is the
//! resolver cache's generation, lock-free.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! use ringrpc_discovery::backends::StaticResolver;
//! use ringrpc_discovery::retry::FailurePolicy;
//! use ringrpc_discovery::{CacheOptions, EndpointInfo, Instance, ResolverCache};
//! use ringrpc_engine::client::{ClientBuilder, MethodRetry};
//!
//! let resolver = StaticResolver::new().with_service(
//!     "echo",
//!     vec![Instance::new("127.0.0.1:9001".parse().unwrap())],
//! );
//! let cache = Arc::new(ResolverCache::new(Arc::new(resolver), CacheOptions::default()).unwrap());
//! let builder = ClientBuilder::new("EchoService")
//!     .resolver(cache, EndpointInfo::new("echo"))
//!     .rpc_timeout(Duration::from_secs(1))
//!     .method_retry("echo", MethodRetry::failure(FailurePolicy::new()).idempotent(true));
//! // On each core: `let client = builder.build()?;`
//! # let _ = builder;
//! ```

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, CompactReader, CompactWriter, ExceptionKind,
    Message, MessageIdent, MessageType, Protocol, ProtocolReader, ProtocolWriter, Utf8Bytes,
};
use ringrpc_codec::transport::{self, Codec, Frame, Transport, TtHeader};

use ringrpc_discovery::balance::BalancerKind;
use ringrpc_discovery::breaker::BreakerOptions;
use ringrpc_discovery::retry::BudgetOptions;
use ringrpc_discovery::{EndpointInfo, PolicyTable, ResolverCache};

use crate::context::{ClientContext, Endpoint, RpcInfo};
use crate::middleware::{Layer, Service};
use crate::{BizStatus, Error, Result};

mod discover;
mod mux;
mod options;
mod pool;
mod resolve;
mod retry;

pub use discover::DiscoveryConfig;
pub use options::{CallOptions, ClientConfig, PoolKind};
pub use resolve::Resolve;
pub use retry::{MethodRetry, RetryConfig};

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

/// Builds clients: shareable across threads; [`build`](Self::build) on each
/// core that calls.
#[derive(Debug, Clone)]
pub struct ClientBuilder<L = crate::middleware::Identity> {
    cfg: ClientConfig,
    discovery: DiscoveryConfig,
    retry: RetryConfig,
    layer: L,
}

impl ClientBuilder {
    /// A builder for calling `service` (its IDL name).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            cfg: ClientConfig {
                service: service.into(),
                ..ClientConfig::default()
            },
            discovery: DiscoveryConfig::default(),
            retry: RetryConfig::default(),
            layer: crate::middleware::Identity,
        }
    }
}

impl<L> ClientBuilder<L> {
    /// Replaces the whole configuration (keeps the service name if the new
    /// one has none).
    pub fn config(mut self, mut cfg: ClientConfig) -> Self {
        if cfg.service.is_empty() {
            cfg.service = std::mem::take(&mut self.cfg.service);
        }
        self.cfg = cfg;
        self
    }

    /// Adds a target address (a fixed instance, weight
    /// [`DEFAULT_WEIGHT`](ringrpc_discovery::DEFAULT_WEIGHT)). Ignored once
    /// a [`resolver`](Self::resolver) is set.
    pub fn target(mut self, addr: SocketAddr) -> Self {
        self.cfg.targets.push(addr);
        self
    }

    /// Resolves the callee through `cache` (shared by every core) as
    /// `endpoint` (its service name, e.g. `EndpointInfo::new("echo")`),
    /// instead of the fixed targets. Each core subscribes once, at
    /// [`build`](Self::build), and its first call waits for the first
    /// resolve, within the RPC timeout.
    pub fn resolver(mut self, cache: Arc<ResolverCache>, endpoint: EndpointInfo) -> Self {
        self.discovery.resolver = Some((cache, endpoint));
        self
    }

    /// Sets the load balancer each core builds. Default weighted round
    /// robin.
    pub fn balancer(mut self, kind: BalancerKind) -> Self {
        self.discovery.balancer = kind;
        self
    }

    /// Sets the per-instance circuit breakers' options (default: on, with
    /// [`BreakerOptions::default`]).
    pub fn instance_breakers(mut self, options: BreakerOptions) -> Self {
        self.discovery.instance_breakers = Some(options);
        self
    }

    /// Turns the per-instance circuit breakers off.
    pub fn no_instance_breakers(mut self) -> Self {
        self.discovery.instance_breakers = None;
        self
    }

    /// Replaces the retry settings per method (default: none for any
    /// method).
    pub fn retry(mut self, methods: PolicyTable<MethodRetry>) -> Self {
        self.retry.methods = methods;
        self
    }

    /// Sets one method's retry settings (`"*"`: every method without its
    /// own).
    pub fn method_retry(mut self, method: impl Into<String>, retry: MethodRetry) -> Self {
        self.retry.methods = std::mem::take(&mut self.retry.methods).with_method(method, retry);
        self
    }

    /// Sets the per-core retry budget (default: 10 % of calls, reserve 10).
    pub fn retry_budget(mut self, options: BudgetOptions) -> Self {
        self.retry.budget = options;
        self
    }

    /// Sets the RPC timeout.
    pub fn rpc_timeout(mut self, t: Duration) -> Self {
        self.cfg.rpc_timeout = Some(t);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.cfg.connect_timeout = t;
        self
    }

    /// Sets the transport.
    pub fn transport(mut self, t: Transport) -> Self {
        self.cfg.transport = t;
        self
    }

    /// Sets the protocol.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.cfg.protocol = p;
        self
    }

    /// Sets the connection pool.
    pub fn pool(mut self, p: PoolKind) -> Self {
        self.cfg.pool = p;
        self
    }

    /// Sets the caller's service name.
    pub fn caller(mut self, name: impl Into<String>) -> Self {
        self.cfg.caller = name.into();
        self
    }

    /// Wraps the client's context middleware in `outer` (the last added runs
    /// first).
    pub fn layer<O>(self, outer: O) -> ClientBuilder<crate::middleware::Stack<L, O>> {
        ClientBuilder {
            cfg: self.cfg,
            discovery: self.discovery,
            retry: self.retry,
            layer: crate::middleware::Stack::new(self.layer, outer),
        }
    }

    /// The configuration.
    pub fn client_config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// How instances are found and chosen.
    pub fn discovery_config(&self) -> &DiscoveryConfig {
        &self.discovery
    }

    /// The retry settings.
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// Builds this core's client: its pools, balancer, breakers and retry
    /// budget, and (with a resolver) its subscription to the cache.
    pub fn build(&self) -> Result<Client<L::Service>>
    where
        L: Layer<Resolve> + Clone,
    {
        let cfg = Rc::new(self.cfg.clone());
        if matches!(cfg.pool, PoolKind::Mux { .. })
            && !matches!(
                cfg.transport,
                Transport::TtHeader | Transport::TtHeaderFramed
            )
        {
            return Err(Error::Handler(
                "a multiplexed pool needs the TTHeader transport".into(),
            ));
        }
        let invoke = Invoke::new(cfg.clone());
        let resolve = Resolve::new(
            discover::Instances::new(&self.discovery, &cfg.targets)?,
            self.retry.methods.clone(),
            retry::RetryState::new(&self.retry)?,
            invoke,
        );
        Ok(Client {
            chain: self.layer.clone().layer(resolve),
            cfg,
            seq: Cell::new(0),
            scratch: std::cell::RefCell::new(LinkWriter::new()),
            parts: std::cell::RefCell::new(Vec::new()),
        })
    }
}

/// A client on one core. `S` is its chain (context middleware around
/// [`Resolve`]).
#[derive(Debug)]
pub struct Client<S = Resolve> {
    chain: S,
    cfg: Rc<ClientConfig>,
    seq: Cell<i32>,
    scratch: std::cell::RefCell<LinkWriter>,
    /// Reused by `encode` to collect the encoded pieces.
    parts: std::cell::RefCell<Vec<Bytes>>,
}

impl<S> Client<S>
where
    S: Service<ClientContext, ClientRequest, Response = ClientReply, Error = Error>,
{
    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The client's chain: its outermost service ([`Resolve`] for a client
    /// without middleware, whose [`Resolve::invoke`] shows the pools).
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
    /// in the reply becomes the matching [`Error`].
    pub async fn call<A: Message, R: Message>(
        &self,
        method: &'static str,
        args: &A,
        opts: &CallOptions,
    ) -> Result<R> {
        let reply = self.call_raw(method, false, args, opts).await?;
        let frame = reply
            .frame
            .ok_or_else(|| Error::Handler("no reply frame".into()))?;
        decode_reply(&frame, method)
    }

    /// Sends a oneway call: returns once it is written.
    pub async fn call_oneway<A: Message>(
        &self,
        method: &'static str,
        args: &A,
        opts: &CallOptions,
    ) -> Result<()> {
        self.call_raw(method, true, args, opts).await.map(drop)
    }

    async fn call_raw<A: Message>(
        &self,
        method: &'static str,
        oneway: bool,
        args: &A,
        opts: &CallOptions,
    ) -> Result<ClientReply> {
        let codec = Codec {
            transport: opts.transport.unwrap_or(self.cfg.transport),
            protocol: opts.protocol.unwrap_or(self.cfg.protocol),
        };
        let seqid = self.next_seq();
        let name = Utf8Bytes::from_static(method);
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
        let mut cx = ClientContext {
            info: RpcInfo {
                caller: Endpoint::default(),
                callee: Endpoint {
                    service: None,
                    addr: opts.addr,
                },
                method: name.clone(),
                seqid,
                deadline: rpc_timeout.map(|t| Instant::now() + t),
                codec,
            },
            request_keys: Vec::new(),
            reply_header: None,
            attempt: 0,
        };
        let req = ClientRequest {
            method: name,
            oneway,
            payload,
            codec,
            connect_timeout: opts.connect_timeout.unwrap_or(self.cfg.connect_timeout),
            hash_key: opts.hash_key,
            retry: opts.retry,
        };
        match rpc_timeout {
            Some(t) => match monoio::time::timeout(t, self.chain.call(&mut cx, req)).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout(t)),
            },
            None => self.chain.call(&mut cx, req).await,
        }
    }

    /// Encodes the message into one contiguous `Bytes`: zero copy unless a
    /// large binary was linked in (then one copy joins the pieces).
    fn encode<A: Message>(&self, ident: &MessageIdent, protocol: Protocol, args: &A) -> Bytes {
        let mut w = self.scratch.borrow_mut();
        match protocol {
            Protocol::Binary => write_message(&mut BinaryWriter::new(&mut w), ident, args),
            Protocol::Compact => write_message(&mut CompactWriter::new(&mut w), ident, args),
        }
        let mut parts = self.parts.borrow_mut();
        parts.clear();
        w.take_chain(&mut parts);
        if parts.len() == 1 {
            return parts.pop().unwrap_or_default();
        }
        let mut joined = bytes::BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
        for p in parts.drain(..) {
            joined.extend_from_slice(&p);
        }
        joined.freeze()
    }
}

fn write_message<W: ProtocolWriter, A: Message>(w: &mut W, ident: &MessageIdent, args: &A) {
    w.write_message_begin(ident);
    args.encode(w);
    w.write_message_end();
}

/// Decodes a reply frame: the result struct, or the error it carries.
pub fn decode_reply<R: Message>(frame: &Frame, method: &str) -> Result<R> {
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
    match frame.codec.protocol {
        Protocol::Binary => read_reply(&mut BinaryReader::new(frame.payload.clone()), method),
        Protocol::Compact => read_reply(&mut CompactReader::new(frame.payload.clone()), method),
    }
}

fn read_reply<P: ProtocolReader, R: Message>(r: &mut P, method: &str) -> Result<R> {
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
    let out = R::decode(r)?;
    r.read_message_end()?;
    Ok(out)
}

/// The IO-error handling and invoke steps, over this core's pools.
#[derive(Debug)]
pub struct Invoke {
    cfg: Rc<ClientConfig>,
    /// The service and caller names as `Bytes`, made once: a TTHeader
    /// carries them on every call.
    service_name: Bytes,
    caller_name: Bytes,
    long: pool::LongPool,
    mux: mux::MuxPool,
}

impl Invoke {
    fn new(cfg: Rc<ClientConfig>) -> Self {
        let (max_idle, idle_timeout, per_addr) = match cfg.pool {
            PoolKind::Long {
                max_idle_per_addr,
                idle_timeout,
            } => (max_idle_per_addr, idle_timeout, 1),
            PoolKind::Mux { conns_per_addr } => (0, Duration::ZERO, conns_per_addr),
        };
        Self {
            long: pool::LongPool::new(max_idle, idle_timeout),
            mux: mux::MuxPool::new(per_addr),
            service_name: Bytes::from(cfg.service.clone()),
            caller_name: Bytes::from(cfg.caller.clone()),
            cfg,
        }
    }

    /// Closes pooled connections to an instance that went away.
    pub fn forget(&self, addr: &SocketAddr) {
        self.long.remove_addr(addr);
        self.mux.remove_addr(addr);
    }

    /// Idle long connections to `addr` (tests and metrics).
    pub fn idle_connections(&self, addr: &SocketAddr) -> usize {
        self.long.idle_count(addr)
    }

    /// Live multiplexed connections to `addr` in the pool (tests and
    /// metrics).
    pub fn mux_connections(&self, addr: &SocketAddr) -> usize {
        self.mux.live_count(addr)
    }

    fn request_header(&self, cx: &ClientContext, req: &ClientRequest) -> Option<TtHeader> {
        if !matches!(
            req.codec.transport,
            Transport::TtHeader | Transport::TtHeaderFramed
        ) {
            return None;
        }
        let mut h = TtHeader::new(cx.info.seqid);
        h.protocol = req.codec.protocol;
        let _ = h.set_to_method(req.method.clone().into_bytes());
        if !self.service_name.is_empty() {
            let _ = h.set_idl_service_name(self.service_name.clone());
        }
        if !self.caller_name.is_empty() {
            let _ = h.set_from_service(self.caller_name.clone());
        }
        if let Some(left) = cx.info.remaining() {
            let _ = h.set_rpc_timeout(left);
        }
        for (k, v) in &cx.request_keys {
            let _ = h.set_str(k.clone().into_bytes(), v.clone().into_bytes());
        }
        Some(h)
    }

    /// Sends `req` to `addr` and waits for the reply. Takes the context
    /// shared, so a backup request can run beside the first attempt.
    async fn call(
        &self,
        cx: &ClientContext,
        addr: SocketAddr,
        req: &ClientRequest,
    ) -> Result<ClientReply> {
        let header = self.request_header(cx, req);
        let encode = |w: &mut LinkWriter| {
            transport::encode_frame(w, req.codec, header.as_ref(), |out| {
                out.write_bytes(req.payload.clone())
            })
        };
        match self.cfg.pool {
            PoolKind::Mux { .. } => {
                let conn = self
                    .mux
                    .get(addr, req.connect_timeout, req.codec, self.cfg.frame_limits)
                    .await?;
                let frame = conn.call(cx.info.seqid, req.oneway, encode).await?;
                Ok(ClientReply { frame })
            }
            PoolKind::Long { .. } => {
                let mut conn = self.long.get(addr, req.connect_timeout).await?;
                encode(conn.writer());
                // IO-error handling: on any error the connection is dropped
                // here instead of going back to the pool.
                conn.send().await?;
                if req.oneway {
                    self.long.put(addr, conn);
                    return Ok(ClientReply { frame: None });
                }
                let frame = conn.recv(req.codec, &self.cfg.frame_limits).await?;
                let reset = frame
                    .header
                    .as_ref()
                    .is_some_and(TtHeader::connection_ready_to_reset);
                if !reset {
                    self.long.put(addr, conn);
                }
                Ok(ClientReply { frame: Some(frame) })
            }
        }
    }
}
