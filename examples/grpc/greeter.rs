//! The greeter service of the gRPC examples (`idl/greeter.proto`, package
//! `helloworld`): one method of each kind, and the server every example
//! starts with `serve`.

use std::net::SocketAddr;
use std::time::Duration;

use ringrpc::engine::grpc::health::{HealthReporter, ServingStatus};
use ringrpc::engine::grpc::reflection::{Reflection, ReflectionService};
use ringrpc::engine::grpc::{Request, Response, ResponseSink, Status, Streaming};
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc_example_idl::helloworld::{
    ChatMessage, Chunk, Greeter, GreeterServer, HelloReply, HelloRequest, Summary, Tick,
    TickRequest,
};

// README grpc: begin
/// Greets, ticks, counts uploads and answers chat lines.
pub struct Hello;

impl Greeter for Hello {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = req.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("a name, please"));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }

    async fn ticks(
        &self,
        req: Request<TickRequest>,
        mut tx: ResponseSink<Tick>,
    ) -> Result<(), Status> {
        let TickRequest { count, interval_ms } = req.into_inner();
        for seq in 0..count {
            if seq > 0 {
                monoio::time::sleep(Duration::from_millis(interval_ms.into())).await;
            }
            // Waits for the caller to read (HTTP/2 flow control); ends when
            // the caller goes away.
            tx.send(Tick { seq }).await?;
        }
        Ok(())
    }

    async fn upload(&self, req: Request<Streaming<Chunk>>) -> Result<Response<Summary>, Status> {
        let mut chunks = req.into_inner();
        let mut sum = Summary::default();
        while let Some(c) = chunks.message().await? {
            sum.chunks += 1;
            sum.bytes += c.data.len() as u64;
        }
        Ok(Response::new(sum))
    }

    async fn chat(
        &self,
        req: Request<Streaming<ChatMessage>>,
        mut tx: ResponseSink<ChatMessage>,
    ) -> Result<(), Status> {
        let mut rx = req.into_inner();
        while let Some(m) = rx.message().await? {
            tx.send(ChatMessage {
                from: "greeter".into(),
                text: format!("{} said: {}", m.from, m.text),
            })
            .await?;
        }
        Ok(())
    }
}
// README grpc: end

/// Starts the greeter (and the health and reflection services) on `addr`, prints
/// `listening on ADDR`, and serves until SIGINT or SIGTERM: then GOAWAY,
/// the open calls finish, and it stops.
pub fn serve(addr: SocketAddr, cores: Option<usize>) -> ringrpc::engine::Result<()> {
    let health = HealthReporter::new();
    health.set("helloworld.Greeter", ServingStatus::Serving);
    let mut b = Server::builder()
        .addr(addr)
        .grpc(GreeterServer::new(Hello))
        .grpc(health.service())
        .grpc(reflection());
    if let Some(n) = cores {
        b = b.cores(n);
    }
    let server: ServerHandle = b.start()?;
    println!("listening on {}", server.local_addr());
    let code = server.run_until_signal()?;
    eprintln!("drained (signal {code})");
    Ok(())
}

/// Server reflection over the greeter's descriptors (what `grpcurl list`
/// and `grpcurl describe` ask).
pub fn reflection() -> ReflectionService {
    Reflection::new()
        .file_descriptor_set(ringrpc_example_idl::helloworld::FILE_DESCRIPTOR_SET)
        .expect("the descriptors ringrpc-build wrote decode")
        .service()
}
