//! The README's example: a server and a client of `echo.thrift` in one
//! process. `tests/readme.rs` checks that the README shows this file's code.
//!
//! ```text
//! cargo run --release --example hello
//! ```

// README: begin
use ringrpc::engine::Result;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::runtime::block_on;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

fn main() -> Result<()> {
    // A server on every core, one listener per core on the same port.
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .service(EchoServiceServer::new(Echo))
        .start()?;
    // A client, built on the core that calls (here: this thread).
    let client = EchoServiceClient::builder().target(server.local_addr());
    let reply = block_on(async {
        let client = EchoServiceClient::new(client.build()?);
        client
            .echo(EchoRequest {
                msg: "hello".into(),
            })
            .await
    })?;
    println!("{}", reply.msg);
    server.shutdown(); // or `server.run_until_signal()?` to serve until Ctrl-C
    Ok(())
}
// README: end
