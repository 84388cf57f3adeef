//! Calls `EchoService.echo` once and prints the reply.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:9000 \
//!     --transport ttheader|framed|buffered --protocol binary|compact --msg hello
//! ```

mod common;

use std::time::Duration;

use ringrpc::engine::client::{CallOptions, ClientBuilder};
use ringrpc::idl::echo::{EchoRequest, EchoServiceClient};

fn main() {
    common::init_logging();
    let args = common::Args::from_env();
    let addr = args
        .get_or("addr", "127.0.0.1:9000")
        .parse()
        .unwrap_or_else(|e| common::die(&format!("bad --addr: {e}")));
    let builder = ClientBuilder::new("EchoService")
        .target(addr)
        .transport(common::transport(args.get_or("transport", "framed")))
        .protocol(common::protocol(args.get_or("protocol", "binary")))
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(args.parse_or("timeout-secs", 3)));
    let msg = args.get_or("msg", "hello").to_string();
    let out = ringrpc::engine::runtime::block_on(async move {
        let client = EchoServiceClient::new(builder.build()?);
        client
            .echo(EchoRequest { msg: msg.into() }, &CallOptions::new())
            .await
    });
    match out {
        Ok(resp) => println!("{}", resp.msg),
        Err(e) => common::die(&e.to_string()),
    }
}
