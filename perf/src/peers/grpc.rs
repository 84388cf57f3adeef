//! ringrpc's side of `ringrpc-perf grpc`: the service of `perf/echo.proto`
//! on the engine's gRPC router, as the tonic peer (`perf/tonic-echo`)
//! serves it. Messages are written by hand with prost's derive, like the
//! peer's, so both sides decode and encode the same types the same way.

use bytes::Bytes;
use ringrpc::engine::grpc::{GrpcService, Request, Response, ResponseSink, Router, Status};

use super::ringrpc::SERVER_THREADS;
use crate::alloc;

/// `echo.EchoMessage`: a unary request and reply, and each streamed reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoMessage {
    /// The echoed bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: Bytes,
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

/// The largest `size` a stream request may ask for (gRPC's default limit
/// on a message, as the peer has it).
const MAX_STREAM_MESSAGE: u32 = 4 << 20;

/// The `echo.Echo` service.
#[derive(Debug, Clone, Copy)]
pub struct GrpcEcho;

impl GrpcService for GrpcEcho {
    const NAME: &'static str = "echo.Echo";

    fn register(self, router: Router) -> Router {
        router
            .unary("/echo.Echo/Echo", |req: Request<EchoMessage>| async move {
                Ok(Response::new(req.into_inner()))
            })
            .server_streaming(
                "/echo.Echo/Stream",
                |req: Request<StreamRequest>, mut tx: ResponseSink<EchoMessage>| async move {
                    let StreamRequest { count, size } = req.into_inner();
                    if size > MAX_STREAM_MESSAGE {
                        return Err(Status::invalid_argument("size over 4 MiB"));
                    }
                    // One payload, shared by every message (a clone is a
                    // reference count).
                    let msg = EchoMessage {
                        payload: vec![0u8; size as usize].into(),
                    };
                    for _ in 0..count {
                        tx.send(msg.clone()).await?;
                    }
                    Ok(())
                },
            )
    }
}

/// Starts ringrpc's server with [`GrpcEcho`] on `cores` cores from CPU
/// `first_core`, beside the Thrift echo on the same port (so its core
/// threads join [`SERVER_THREADS`] and count their allocations as the
/// server's, as the Thrift echo's do).
pub fn start(
    addr: std::net::SocketAddr,
    cores: usize,
    first_core: usize,
) -> std::io::Result<ringrpc::engine::server::ServerHandle> {
    use ringrpc::engine::server::Server;
    use ringrpc_example_idl::echo::EchoServiceServer;
    SERVER_THREADS.clear();
    Server::builder()
        .addr(addr)
        .cores(cores)
        .first_core(first_core)
        .service_per_core(|| {
            // Runs once on each core's own thread, as the core starts.
            alloc::set_role(alloc::Role::Server);
            SERVER_THREADS.join();
            EchoServiceServer::new(super::ringrpc::Echo)
        })
        .grpc(GrpcEcho)
        .start()
        .map_err(std::io::Error::other)
}
