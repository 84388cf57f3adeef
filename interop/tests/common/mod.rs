//! Live peers for the loopback interop tests (`live_echo.rs`, `live_shop.rs`):
//! a real volo-thrift server on a tokio runtime of its own thread, volo-thrift
//! clients for each transport Volo offers, and ringrpc servers and clients,
//! with both sides' handlers recording what they saw (transport, protocol,
//! peer address) so a test can check it was not a fallback.
//!
//! Volo servers are never stopped: each lives on its thread until the test
//! binary exits (volo's `Server::run` only returns on SIGINT/SIGTERM/SIGHUP,
//! which it installs handlers for, so a test binary that started one exits
//! on those signals only after volo's graceful shutdown; bound every call
//! with a timeout instead of relying on a signal).

#![allow(dead_code)] // each test file uses part of it

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::{Codec, Transport};
use ringrpc::engine::client::ClientBuilder;
use ringrpc::engine::context::ServerContext as OurServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::{BizStatus, Error};
use ringrpc_example_idl::echo::{EchoRequest, EchoResponse, EchoService, EchoServiceServer};
use ringrpc_example_idl::item::{GetItemReq, GetItemResp, Item, ItemService, ItemServiceServer};
use ringrpc_interop::{echo as vecho, item as vitem};
use volo::FastStr;
use volo::context::Context as _;
use volo::net::incoming::DefaultIncoming;
use volo_thrift::codec::default::DefaultMakeCodec;
use volo_thrift::codec::default::framed::{HasFramed, MakeFramedCodec};
use volo_thrift::codec::default::thrift::{MakeThriftCodec, Protocol as VoloProtocol};
use volo_thrift::codec::default::ttheader::{HasTTHeader, MakeTTHeaderCodec};
use volo_thrift::context::ServerContext as VoloServerContext;
use volo_thrift::{
    ApplicationException, ApplicationExceptionKind, BizError, ProtocolApacheCompact, ServerError,
};

/// The bound on every call a test makes: no test waits longer on one call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The business status both sides' handlers return for the magic request.
pub const BIZ_CODE: i32 = 4001;
/// Its message.
pub const BIZ_MESSAGE: &str = "out of stock";
/// Its extra pairs, as Kitex encodes them (a JSON object of strings).
pub const BIZ_EXTRA_JSON: &str = r#"{"sku":"42"}"#;

/// How a request arrived, as the serving side saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Detected a TTHeader.
    pub ttheader: bool,
    /// Detected a Framed length prefix (inside the TTHeader, if any).
    pub framed: bool,
    /// Detected the compact protocol (else binary).
    pub compact: bool,
    /// The caller's address (which connection it came on).
    pub peer: Option<SocketAddr>,
}

/// What a serving side recorded, one entry per request, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn push(&self, s: Seen) {
        self.0.lock().expect("log lock").push(s);
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

/// What our transports look like to a detecting peer.
pub fn seen_as(t: Transport, p: Protocol) -> (bool, bool, bool) {
    let (ttheader, framed) = match t {
        Transport::TtHeader => (true, false),
        Transport::TtHeaderFramed => (true, true),
        Transport::Framed => (false, true),
        Transport::Buffered => (false, false),
    };
    (ttheader, framed, p == Protocol::Compact)
}

/// The distinct peers (connections) in a log.
pub fn peers(seen: &[Seen]) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = seen.iter().filter_map(|s| s.peer).collect();
    v.sort_unstable();
    v.dedup();
    v
}

// ---------------------------------------------------------------- Volo side

/// A volo-thrift server running on its own thread.
#[derive(Debug)]
pub struct VoloServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub log: Log,
}

/// Starts a volo-thrift server on a free loopback port: `serve` gets the
/// bound listener and the recording layer and returns the server's `run`
/// future, which a 2-worker tokio runtime on a new thread drives.
pub fn spawn_volo<F, Fut, E>(serve: F) -> VoloServer
where
    F: FnOnce(DefaultIncoming, Record) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    spawn_volo_with(DefaultIncoming::from, serve)
}

/// [`spawn_volo`] with the listener turned into the server's incoming
/// connections by `incoming` (called on the server's runtime, so it may
/// spawn tasks): TLS, for one.
pub fn spawn_volo_with<M, I, F, Fut, E>(incoming: M, serve: F) -> VoloServer
where
    M: FnOnce(tokio::net::TcpListener) -> I + Send + 'static,
    F: FnOnce(I, Record) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let log = Log::default();
    let record = Record(log.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("volo-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                tx.send(listener.local_addr().expect("local addr"))
                    .expect("send addr");
                if let Err(e) = serve(incoming(listener), record).await {
                    panic!("volo server failed: {e}");
                }
            });
        })
        .expect("spawn volo server thread");
    let addr = rx
        .recv_timeout(CALL_TIMEOUT)
        .expect("volo server listening");
    VoloServer { addr, log }
}

/// A volo server layer recording what volo's codec detected for each
/// request (the `HasTTHeader` / `HasFramed` / protocol markers it leaves in
/// the context) and the caller's address.
#[derive(Clone, Debug)]
pub struct Record(Log);

impl<S> volo::Layer<S> for Record {
    type Service = Recording<S>;

    fn layer(self, inner: S) -> Recording<S> {
        Recording { inner, log: self.0 }
    }
}

/// The service [`Record`] wraps around volo's handler.
#[derive(Clone, Debug)]
pub struct Recording<S> {
    inner: S,
    log: Log,
}

impl<S, Req> volo::Service<VoloServerContext, Req> for Recording<S>
where
    S: volo::Service<VoloServerContext, Req> + Send + Sync,
    Req: Send,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(
        &self,
        cx: &mut VoloServerContext,
        req: Req,
    ) -> Result<Self::Response, Self::Error> {
        let peer = match cx.rpc_info().caller().address() {
            Some(volo::net::Address::Ip(a)) => Some(a),
            _ => None,
        };
        self.log.push(Seen {
            ttheader: cx.extensions().contains::<HasTTHeader>(),
            framed: cx.extensions().contains::<HasFramed>(),
            compact: cx.extensions().contains::<ProtocolApacheCompact>(),
            peer,
        });
        self.inner.call(cx, req).await
    }
}

/// Volo's echo handler, with the failure paths the tests exercise:
/// `fail` → an application exception, `biz` → a business error (with
/// extra), `sleep:N` → answers after N ms.
#[derive(Clone, Debug)]
pub struct VoloEcho;

impl vecho::EchoService for VoloEcho {
    async fn echo(&self, req: vecho::EchoRequest) -> Result<vecho::EchoResponse, ServerError> {
        match req.msg.as_str() {
            "fail" => Err(ApplicationException::new(
                ApplicationExceptionKind::INTERNAL_ERROR,
                "no luck",
            )
            .into()),
            "biz" => Err(volo_biz_error().into()),
            m if m.starts_with("sleep:") => {
                let ms: u64 = m[6..].parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(vecho::EchoResponse { msg: req.msg })
            }
            _ => Ok(vecho::EchoResponse { msg: req.msg }),
        }
    }
}

/// Volo's shop: every item in stock; id 0 → a business error, a negative
/// id → an application exception.
#[derive(Clone, Debug)]
pub struct VoloShop;

impl vitem::ItemService for VoloShop {
    async fn get_item(&self, req: vitem::GetItemReq) -> Result<vitem::GetItemResp, ServerError> {
        match req.id {
            0 => Err(volo_biz_error().into()),
            id if id < 0 => Err(ApplicationException::new(
                ApplicationExceptionKind::INTERNAL_ERROR,
                "negative id",
            )
            .into()),
            id => Ok(vitem::GetItemResp {
                item: Some(vitem::Item {
                    id: Some(id),
                    title: Some(FastStr::from_static_str("Volo")),
                    description: Some(FastStr::new(format!("item {id} served by volo"))),
                    stock: Some(id * 10),
                }),
            }),
        }
    }
}

fn volo_biz_error() -> BizError {
    let mut extra = pilota::AHashMap::default();
    extra.insert(
        FastStr::from_static_str("sku"),
        FastStr::from_static_str("42"),
    );
    BizError::with_extra(BIZ_CODE, FastStr::from_static_str(BIZ_MESSAGE), extra)
}

/// The transports a volo-thrift client can be built with
/// (`volo_thrift::codec::default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoloTransport {
    /// `DefaultMakeCodec::ttheader_framed()`: Volo's default,
    /// `TTHeader<Framed<Thrift>>`.
    TtHeaderFramed,
    /// `MakeTTHeaderCodec` straight over the message.
    TtHeader,
    /// `DefaultMakeCodec::framed()`.
    Framed,
    /// `DefaultMakeCodec::buffered()`: the bare message.
    Buffered,
}

impl VoloTransport {
    /// All of them.
    pub const ALL: [VoloTransport; 4] = [
        VoloTransport::TtHeaderFramed,
        VoloTransport::TtHeader,
        VoloTransport::Framed,
        VoloTransport::Buffered,
    ];

    /// What ringrpc's detection should make of it.
    pub fn ours(self) -> Transport {
        match self {
            VoloTransport::TtHeaderFramed => Transport::TtHeaderFramed,
            VoloTransport::TtHeader => Transport::TtHeader,
            VoloTransport::Framed => Transport::Framed,
            VoloTransport::Buffered => Transport::Buffered,
        }
    }

    /// Whether it carries TTHeader (and so business status).
    pub fn has_ttheader(self) -> bool {
        matches!(
            self,
            VoloTransport::TtHeaderFramed | VoloTransport::TtHeader
        )
    }
}

fn volo_protocol(p: Protocol) -> VoloProtocol {
    match p {
        Protocol::Binary => VoloProtocol::Binary,
        Protocol::Compact => VoloProtocol::ApacheCompact,
    }
}

/// Builds a volo client with the codec stack for `$t` / `$p`: the builder
/// types differ per stack, the built client's type does not.
macro_rules! volo_client {
    ($builder:expr, $addr:expr, $t:expr, $p:expr) => {{
        let thrift = MakeThriftCodec::default().with_protocol(volo_protocol($p));
        let b = $builder
            .address($addr)
            .rpc_timeout(Some(CALL_TIMEOUT))
            .connect_timeout(Some(CALL_TIMEOUT));
        match $t {
            VoloTransport::TtHeaderFramed => b
                .make_codec(DefaultMakeCodec::new(MakeTTHeaderCodec::new(
                    MakeFramedCodec::new(thrift),
                )))
                .build(),
            VoloTransport::TtHeader => b
                .make_codec(DefaultMakeCodec::new(MakeTTHeaderCodec::new(thrift)))
                .build(),
            VoloTransport::Framed => b
                .make_codec(DefaultMakeCodec::new(MakeFramedCodec::new(thrift)))
                .build(),
            VoloTransport::Buffered => b.make_codec(DefaultMakeCodec::new(thrift)).build(),
        }
    }};
}

/// A volo echo client. Call inside a tokio runtime.
pub fn volo_echo_client(
    addr: SocketAddr,
    t: VoloTransport,
    p: Protocol,
) -> vecho::EchoServiceClient {
    volo_client!(
        vecho::EchoServiceClientBuilder::new("echo-server"),
        addr,
        t,
        p
    )
}

/// A volo echo client over TLS (`tls` names the server and holds the
/// rustls settings), ping-pong or multiplexed (volo-thrift's `multiplex`:
/// many calls in flight on a connection, TTHeader only). Call inside a tokio
/// runtime.
pub fn volo_echo_client_tls(
    addr: SocketAddr,
    t: VoloTransport,
    p: Protocol,
    tls: volo::net::tls::ClientTlsConfig,
    multiplex: bool,
) -> vecho::EchoServiceClient {
    let transport = volo::net::tls::TlsMakeTransport::new(volo::net::dial::Config::default(), tls);
    volo_client!(
        vecho::EchoServiceClientBuilder::new("echo-server")
            .make_transport(transport)
            .multiplex(multiplex),
        addr,
        t,
        p
    )
}

/// A volo item client. Call inside a tokio runtime.
pub fn volo_item_client(
    addr: SocketAddr,
    t: VoloTransport,
    p: Protocol,
) -> vitem::ItemServiceClient {
    volo_client!(
        vitem::ItemServiceClientBuilder::new("shop-server"),
        addr,
        t,
        p
    )
}

/// A tokio runtime for volo clients.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Bounds a volo call.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_TIMEOUT * 2, f)
        .await
        .expect("volo call finished in time")
}

// ----------------------------------------------------------- ringrpc side

/// Our echo handler: `fail` → a handler error (an `InternalError`
/// application exception on the wire), `biz` → a business status with
/// extra, `sleep:N` → answers after N ms.
pub struct OurEcho(Log);

fn record(log: &Log, cx: &OurServerContext) {
    let (ttheader, framed, compact) = seen_as(cx.info.codec.transport, cx.info.codec.protocol);
    log.push(Seen {
        ttheader,
        framed,
        compact,
        peer: cx.info.caller.addr,
    });
}

fn our_biz() -> Error {
    Error::Biz(BizStatus {
        code: BIZ_CODE,
        message: BIZ_MESSAGE.into(),
        extra: Some(BIZ_EXTRA_JSON.into()),
    })
}

impl EchoService for OurEcho {
    async fn echo(
        &self,
        cx: &mut OurServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        record(&self.0, cx);
        match req.msg.as_str() {
            "fail" => Err(Error::handler("no luck")),
            "biz" => Err(our_biz()),
            m if m.starts_with("sleep:") => {
                let ms: u64 = m[6..].parse().unwrap_or(0);
                monoio::time::sleep(Duration::from_millis(ms)).await;
                Ok(EchoResponse { msg: req.msg })
            }
            _ => Ok(EchoResponse { msg: req.msg }),
        }
    }
}

/// Our shop: id 0 → a business status, a negative id → a handler error.
pub struct OurShop(Log);

impl ItemService for OurShop {
    async fn get_item(
        &self,
        cx: &mut OurServerContext,
        req: GetItemReq,
    ) -> ringrpc::engine::Result<GetItemResp> {
        record(&self.0, cx);
        match req.id {
            0 => Err(our_biz()),
            id if id < 0 => Err(Error::handler("negative id")),
            id => Ok(GetItemResp {
                item: Item {
                    id,
                    title: "ringrpc".into(),
                    description: format!("item {id} served by ringrpc").into(),
                    stock: id * 10,
                },
            }),
        }
    }
}

/// Which services our server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// Echo only.
    Echo,
    /// The shop only.
    Shop,
    /// Echo first, then the shop (calls without a TTHeader `isn`, i.e.
    /// Framed and Buffered ones, go to echo).
    EchoAndShop,
}

/// One of our servers on a free loopback port, one unpinned core.
pub struct OurServer {
    /// Dropped (and so shut down) with the fixture.
    pub handle: ServerHandle,
    /// What its handlers saw.
    pub log: Log,
}

impl OurServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
}

/// Starts our server.
pub fn start_ours(services: Services) -> OurServer {
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let b = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false);
    let echo = move || EchoServiceServer::new(OurEcho(l1.clone()));
    let shop = move || ItemServiceServer::new(OurShop(l2.clone()));
    let handle = match services {
        Services::Echo => b.service_per_core(echo).start(),
        Services::Shop => b.service_per_core(shop).start(),
        Services::EchoAndShop => b.service_per_core(echo).service_per_core(shop).start(),
    };
    OurServer {
        handle: handle.expect("our server starts"),
        log,
    }
}

/// Our client for `service` at `addr`.
pub fn our_client(service: &str, addr: SocketAddr, t: Transport, p: Protocol) -> ClientBuilder {
    ClientBuilder::new(service)
        .target(addr)
        .transport(t)
        .protocol(p)
        .connect_timeout(CALL_TIMEOUT)
        .rpc_timeout(CALL_TIMEOUT)
}

/// Runs `f` on a fresh monoio core.
pub fn on_core<F: Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

/// Every transport our client speaks.
pub const OUR_TRANSPORTS: [Transport; 4] = [
    Transport::TtHeader,
    Transport::TtHeaderFramed,
    Transport::Framed,
    Transport::Buffered,
];

/// Both protocols.
pub const PROTOCOLS: [Protocol; 2] = [Protocol::Binary, Protocol::Compact];

/// The codec a detecting server should report for our client's choice.
pub fn codec(t: Transport, p: Protocol) -> Codec {
    Codec {
        transport: t,
        protocol: p,
    }
}
