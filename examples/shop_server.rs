//! The item shop of Kitex's example (`example_shop`): `ItemService.GetItem`.
//!
//! ```text
//! cargo run --release --example shop_server -- --addr 127.0.0.1:8888 --cores 1
//! ```

mod common;

use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, wait_for_termination};
use ringrpc::idl::item::{
    GetItemReq, GetItemResp, Item, ItemService, ItemServiceDescriptor, ItemServiceServer,
};

/// A shop whose every item is in stock, as in Kitex's example.
struct Shop;

impl ItemService for Shop {
    async fn get_item(
        &self,
        _cx: &mut ServerContext,
        req: GetItemReq,
    ) -> ringrpc::engine::Result<GetItemResp> {
        Ok(GetItemResp {
            item: Item {
                id: req.id,
                title: "Kitex".into(),
                description: "Kitex is an excellent framework!".into(),
                stock: 1000,
            },
        })
    }
}

fn main() {
    common::init_logging();
    let args = common::Args::from_env();
    let addr = args
        .get_or("addr", "127.0.0.1:8888")
        .parse()
        .unwrap_or_else(|e| common::die(&format!("bad --addr: {e}")));
    ringrpc::engine::server::block_termination_signals();
    let server = Server::builder()
        .addr(addr)
        .cores(args.parse_or("cores", 1))
        .service::<ItemServiceDescriptor, _, _>(|| ItemServiceServer(Shop))
        .start()
        .unwrap_or_else(|e| common::die(&format!("cannot listen on {addr}: {e}")));
    println!("listening on {}", server.local_addr());
    wait_for_termination();
    server.shutdown();
    println!("stopped");
}
