//! tonic's gRPC echo server for `ringrpc-perf grpc`: the service of
//! `perf/echo.proto` (`/echo.Echo/Echo`, unary, and `/echo.Echo/Stream`,
//! server streaming) on tonic's own HTTP/2 server (hyper), with its
//! defaults except that nothing is compressed.
//!
//! ```text
//! ringrpc-tonic-echo --addr 127.0.0.1:9002 --first-core 0
//! ```
//!
//! The service is written by hand over `tonic::server::Grpc` (what
//! tonic-build would generate, minus the code generation), and the messages
//! with prost's derive, so building it needs no protoc. One core: tokio's
//! current-thread runtime with the process pinned to `--first-core` (the
//! fastest tokio setup on one core, as the Volo peer runs). Prints
//! `listening on ADDR`; stops on SIGTERM or SIGINT.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http, tokio_stream};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// `echo.EchoMessage`: a unary request and reply, and each streamed reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoMessage {
    /// The echoed bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: prost::bytes::Bytes,
}

/// `echo.StreamRequest`: how many messages of what size to stream back.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct StreamRequest {
    /// Messages to send.
    #[prost(uint32, tag = "1")]
    pub count: u32,
    /// Payload bytes in each.
    #[prost(uint32, tag = "2")]
    pub size: u32,
}

/// The largest `size` a stream request may ask for (tonic's default limit
/// on an encoded message is 4 MiB).
const MAX_STREAM_MESSAGE: u32 = 4 << 20;

/// `Echo`: the request back.
#[derive(Debug, Clone, Copy)]
struct Echo;

impl UnaryService<EchoMessage> for Echo {
    type Response = EchoMessage;
    type Future = std::future::Ready<Result<Response<EchoMessage>, Status>>;

    fn call(&mut self, request: Request<EchoMessage>) -> Self::Future {
        std::future::ready(Ok(Response::new(request.into_inner())))
    }
}

/// The stream of `Stream`'s replies: one message, cloned `count` times
/// (a clone shares the payload's bytes).
type Replies = tokio_stream::Iter<
    std::iter::Map<std::iter::RepeatN<EchoMessage>, fn(EchoMessage) -> Result<EchoMessage, Status>>,
>;

/// `Stream`: `count` messages of `size` bytes.
#[derive(Debug, Clone, Copy)]
struct Streamer;

impl ServerStreamingService<StreamRequest> for Streamer {
    type Response = EchoMessage;
    type ResponseStream = Replies;
    type Future = std::future::Ready<Result<Response<Replies>, Status>>;

    fn call(&mut self, request: Request<StreamRequest>) -> Self::Future {
        let StreamRequest { count, size } = request.into_inner();
        if size > MAX_STREAM_MESSAGE {
            return std::future::ready(Err(Status::invalid_argument("size over 4 MiB")));
        }
        let msg = EchoMessage {
            payload: vec![0u8; size as usize].into(),
        };
        let ok: fn(EchoMessage) -> Result<EchoMessage, Status> = Ok;
        let replies = tokio_stream::iter(std::iter::repeat_n(msg, count as usize).map(ok));
        std::future::ready(Ok(Response::new(replies)))
    }
}

/// The `echo.Echo` service: routes by path, as generated code would.
#[derive(Debug, Clone, Copy)]
struct EchoServer;

impl NamedService for EchoServer {
    const NAME: &'static str = "echo.Echo";
}

impl Service<http::Request<tonic::body::Body>> for EchoServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            "/echo.Echo/Echo" => Box::pin(async move {
                let mut grpc = Grpc::new(ProstCodec::<EchoMessage, EchoMessage>::default());
                Ok(grpc.unary(Echo, req).await)
            }),
            "/echo.Echo/Stream" => Box::pin(async move {
                let mut grpc = Grpc::new(ProstCodec::<EchoMessage, StreamRequest>::default());
                Ok(grpc.server_streaming(Streamer, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = arg(&args, "--addr")
        .unwrap_or_else(|| "127.0.0.1:9002".into())
        .parse()
        .expect("--addr HOST:PORT");
    let first: usize = arg(&args, "--first-core")
        .map(|v| v.parse().expect("--first-core N"))
        .unwrap_or(0);
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    // Pin before the runtime starts: every thread it makes inherits it.
    if !cpus.is_empty() {
        core_affinity::set_for_current(cpus[first % cpus.len()]);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async move {
        // Bind first, so `listening on` is true when printed.
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| {
                eprintln!("tonic echo server: bind {addr}: {e}");
                std::process::exit(1);
            });
        let local = listener.local_addr().expect("a bound address");
        println!("listening on {local}");
        let incoming = Incoming(listener);
        let served = tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(EchoServer, incoming, stop())
            .await;
        if let Err(e) = served {
            eprintln!("tonic echo server: {e}");
            std::process::exit(1);
        }
    });
}

/// Accepted connections with `TCP_NODELAY` set (tonic's default, which it
/// only applies to listeners it binds itself).
struct Incoming(tokio::net::TcpListener);

impl tokio_stream::Stream for Incoming {
    type Item = std::io::Result<tokio::net::TcpStream>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.poll_accept(cx) {
            Poll::Ready(Ok((s, _))) => Poll::Ready(Some(s.set_nodelay(true).map(|()| s))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

async fn stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
