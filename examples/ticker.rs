//! A server-streaming call: the greeter's ticker.
//!
//! ```text
//! cargo run --example ticker -- serve --addr 127.0.0.1:50052
//! cargo run --example ticker -- watch --addr 127.0.0.1:50052 --count 5 --interval-ms 200
//! ```
//! `watch` prints each tick as it arrives; the server sends the next one
//! only as fast as the client reads (HTTP/2 flow control). Ctrl-C on the
//! client resets the stream, which stops the server's handler.

#[path = "grpc/greeter.rs"]
mod greeter;

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use ringrpc::engine::grpc::Channel;
use ringrpc_example_idl::helloworld::{GreeterClient, TickRequest};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serves the greeter (its `Ticks` method).
    Serve {
        #[arg(long, default_value = "127.0.0.1:50052")]
        addr: SocketAddr,
        #[arg(long)]
        cores: Option<usize>,
    },
    /// Watches `count` ticks.
    Watch {
        #[arg(long, default_value = "127.0.0.1:50052")]
        addr: SocketAddr,
        #[arg(long, default_value_t = 5)]
        count: u32,
        #[arg(long, default_value_t = 200)]
        interval_ms: u32,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().cmd {
        Cmd::Serve { addr, cores } => greeter::serve(addr, cores)?,
        Cmd::Watch {
            addr,
            count,
            interval_ms,
        } => {
            let client = GreeterClient::new(Channel::builder().target(addr).build()?);
            ringrpc::engine::runtime::block_on(async {
                let mut ticks = client
                    .ticks(TickRequest { count, interval_ms })
                    .await?
                    .into_inner();
                while let Some(t) = ticks.message().await? {
                    println!("tick {}", t.seq);
                }
                Ok::<_, ringrpc::engine::grpc::Status>(())
            })?;
        }
    }
    Ok(())
}
