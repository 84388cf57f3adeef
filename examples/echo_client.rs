//! Calls `EchoService.echo` once and prints the reply.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:9000 \
//!     --transport ttheader|framed|buffered --protocol binary|compact --msg hello
//! ```

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceClient};

/// Calls the echo server once.
#[derive(Parser)]
struct Args {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// ttheader, ttheader-framed, framed or buffered.
    #[arg(long, default_value = "framed")]
    transport: Transport,
    /// binary or compact.
    #[arg(long, default_value = "binary")]
    protocol: Protocol,
    /// The message to echo.
    #[arg(long, default_value = "hello")]
    msg: String,
    /// The RPC timeout, in seconds.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let builder = EchoServiceClient::builder()
        .target(args.addr)
        .transport(args.transport)
        .protocol(args.protocol)
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(args.timeout_secs));
    let reply = ringrpc::engine::runtime::block_on(async move {
        let client = EchoServiceClient::new(builder.build()?);
        client
            .echo(EchoRequest {
                msg: args.msg.into(),
            })
            .await
    })?;
    println!("{}", reply.msg);
    Ok(())
}
