//! Asks the shop for an item and prints it.
//!
//! ```text
//! cargo run --release --example shop_client -- --addr 127.0.0.1:8888 --id 1024
//! ```

mod common;

use std::time::Duration;

use ringrpc::engine::client::{CallOptions, ClientBuilder};
use ringrpc::idl::item::{GetItemReq, ItemServiceClient};

fn main() {
    common::init_logging();
    let args = common::Args::from_env();
    let addr = args
        .get_or("addr", "127.0.0.1:8888")
        .parse()
        .unwrap_or_else(|e| common::die(&format!("bad --addr: {e}")));
    let builder = ClientBuilder::new("ItemService")
        .target(addr)
        .transport(common::transport(args.get_or("transport", "ttheader")))
        .protocol(common::protocol(args.get_or("protocol", "binary")))
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(3));
    let id = args.parse_or("id", 1024i64);
    let out = ringrpc::engine::runtime::block_on(async move {
        let client = ItemServiceClient::new(builder.build()?);
        client
            .get_item(GetItemReq { id }, &CallOptions::new())
            .await
    });
    match out {
        Ok(resp) => println!("{:?}", resp.item),
        Err(e) => common::die(&e.to_string()),
    }
}
