//! A logging middleware on both sides, like the one in Kitex's docs: it logs
//! each call's method, peer and duration, and whether it failed.
//!
//! ```text
//! cargo run --release --example middleware
//! ```
//! Starts an echo server on a free loopback port, calls it three times
//! through a client with the same middleware, and stops.

mod common;

use std::time::{Duration, Instant};

use ringrpc::engine::context::{ClientContext, ServerContext};
use ringrpc::engine::middleware::{Layer, Service};
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

/// The middleware: wraps any service and logs around each call.
#[derive(Clone)]
struct LogLayer(&'static str);

struct Log<S> {
    side: &'static str,
    inner: S,
}

impl<S> Layer<S> for LogLayer {
    type Service = Log<S>;
    fn layer(self, inner: S) -> Log<S> {
        Log {
            side: self.0,
            inner,
        }
    }
}

impl<S, Req> Service<ServerContext, Req> for Log<S>
where
    S: Service<ServerContext, Req>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, S::Error> {
        let start = Instant::now();
        let out = self.inner.call(cx, req).await;
        let took = start.elapsed();
        match &out {
            Ok(_) => {
                tracing::info!(side = self.side, method = %cx.info.method, peer = ?cx.info.caller.addr, ?took, "ok")
            }
            Err(e) => {
                tracing::warn!(side = self.side, method = %cx.info.method, ?took, "failed: {e}")
            }
        }
        out
    }
}

impl<S, Req> Service<ClientContext, Req> for Log<S>
where
    S: Service<ClientContext, Req>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, S::Error> {
        let start = Instant::now();
        let out = self.inner.call(cx, req).await;
        let took = start.elapsed();
        match &out {
            Ok(_) => {
                tracing::info!(side = self.side, method = %cx.info.method, callee = ?cx.info.callee.addr, ?took, "ok")
            }
            Err(e) => {
                tracing::warn!(side = self.side, method = %cx.info.method, ?took, "failed: {e}")
            }
        }
        out
    }
}

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse()?)
        .cores(1)
        .layer(LogLayer("server"))
        .service(EchoServiceServer::new(Echo))
        .start()?;
    let addr = server.local_addr();
    println!("listening on {addr}");
    let builder = EchoServiceClient::builder()
        .target(addr)
        .rpc_timeout(Duration::from_secs(2))
        .layer(LogLayer("client"));
    ringrpc::engine::runtime::block_on(async move {
        let client = EchoServiceClient::new(builder.build()?);
        for i in 0..3 {
            let msg = format!("hello {i}").into();
            let r = client.echo(EchoRequest { msg }).await?;
            println!("reply: {}", r.msg);
        }
        Ok::<_, ringrpc::engine::Error>(())
    })?;
    server.shutdown();
    Ok(())
}
