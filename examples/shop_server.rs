//! The item shop of Kitex's example (`example_shop`): `ItemService.GetItem`.
//!
//! ```text
//! cargo run --release --example shop_server -- --addr 127.0.0.1:8888 --cores 1
//! ```

mod common;

use std::net::SocketAddr;

use clap::Parser;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::item::{GetItemReq, GetItemResp, Item, ItemService, ItemServiceServer};

/// A shop whose every item is in stock, as in Kitex's example.
#[derive(Clone)]
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

/// The shop server.
#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// Cores to serve on.
    #[arg(long, default_value_t = 1)]
    cores: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let server = Server::builder()
        .addr(args.addr)
        .cores(args.cores)
        .service(ItemServiceServer::new(Shop))
        .start()?;
    println!("listening on {}", server.local_addr());
    server.run_until_signal()?;
    println!("stopped");
    Ok(())
}
