//! Asks the shop for an item and prints it.
//!
//! ```text
//! cargo run --release --example shop_client -- --addr 127.0.0.1:8888 --id 1024
//! ```

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc_example_idl::item::{GetItemReq, ItemServiceClient};

/// Asks the shop for one item.
#[derive(Parser)]
struct Args {
    /// The shop.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// ttheader, ttheader-framed, framed or buffered.
    #[arg(long, default_value = "ttheader")]
    transport: Transport,
    /// binary or compact.
    #[arg(long, default_value = "binary")]
    protocol: Protocol,
    /// The item's id.
    #[arg(long, default_value_t = 1024)]
    id: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let builder = ItemServiceClient::builder()
        .target(args.addr)
        .transport(args.transport)
        .protocol(args.protocol)
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(3));
    let resp = ringrpc::engine::runtime::block_on(async move {
        let client = ItemServiceClient::new(builder.build()?);
        client.get_item(GetItemReq { id: args.id }).await
    })?;
    println!("{:?}", resp.item);
    Ok(())
}
