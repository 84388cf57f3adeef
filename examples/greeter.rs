//! gRPC's greeter: a unary call.
//!
//! ```text
//! cargo run --example greeter -- serve --addr 127.0.0.1:50051
//! cargo run --example greeter -- hello --addr 127.0.0.1:50051 --name Ann
//! ```
//! `serve` prints `listening on ADDR` and drains on SIGINT/SIGTERM (GOAWAY,
//! then the open calls finish). Any gRPC client can call it too, e.g.
//! grpcio's: `/helloworld.Greeter/SayHello` of `idl/greeter.proto`.

#[path = "grpc/greeter.rs"]
mod greeter;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringrpc::engine::grpc::Channel;
use ringrpc_example_idl::helloworld::{GreeterClient, HelloRequest};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serves the greeter.
    Serve {
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
        /// Cores to serve on (default: every core).
        #[arg(long)]
        cores: Option<usize>,
    },
    /// Says hello.
    Hello {
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
        #[arg(long, default_value = "world")]
        name: String,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().cmd {
        Cmd::Serve { addr, cores } => greeter::serve(addr, cores)?,
        Cmd::Hello { addr, name } => {
            let channel = Channel::builder()
                .target(addr)
                .timeout(Duration::from_secs(5))
                .build()?;
            let client = GreeterClient::new(channel);
            let reply =
                ringrpc::engine::runtime::block_on(client.say_hello(HelloRequest { name }))?;
            println!("{}", reply.into_inner().message);
        }
    }
    Ok(())
}
