//! Calls `EchoService.echo` once and prints the reply.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:9000 \
//!     --transport ttheader|framed|buffered --protocol binary|compact --msg hello
//! ```
//! With `--tls-ca ca.pem` it connects with TLS (verifying the server's
//! certificate for `--tls-server-name`, default the address's IP); add
//! `--tls-cert client.pem --tls-key client.key` for mutual TLS.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::tls::ClientTls;
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
    /// Connect with TLS, trusting this CA (PEM).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry (default: its IP).
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// A client certificate (PEM), for mutual TLS; needs --tls-key.
    #[arg(long, requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = Args::parse();
    let mut builder = EchoServiceClient::builder()
        .target(args.addr)
        .transport(args.transport)
        .protocol(args.protocol)
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(args.timeout_secs));
    if let Some(ca) = &args.tls_ca {
        let mut tls = ClientTls::builder().ca_file(ca);
        if let Some(name) = &args.tls_server_name {
            tls = tls.server_name(name);
        }
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            tls = tls.cert_file(cert).key_file(key);
        }
        builder = builder.tls(tls.build()?);
    }
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
