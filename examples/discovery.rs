//! Discovery, load balancing and failover in one process.
//!
//! ```text
//! cargo run --release --example discovery
//! ```
//! Starts three echo servers on free loopback ports, publishes them through a
//! static resolver into the shared resolver cache (weights 10, 20 and 30),
//! and calls them from a client with weighted round robin and failure retry.
//! Halfway through, one server shuts down: the retries carry its calls to the
//! other two. Prints how the calls spread.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringrpc::discovery::backends::StaticResolver;
use ringrpc::discovery::retry::{BudgetOptions, FailurePolicy};
use ringrpc::discovery::{CacheOptions, EndpointInfo, Instance, ResolverCache};
use ringrpc::engine::client::MethodRetry;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

/// Counts the calls it serves.
#[derive(Clone)]
struct Echo(Arc<AtomicUsize>);

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(EchoResponse { msg: req.msg })
    }
}

fn start(served: Arc<AtomicUsize>) -> ringrpc::engine::Result<ServerHandle> {
    Server::builder()
        .addr("127.0.0.1:0".parse().expect("a loopback address"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(Echo(served)))
        .start()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let counters: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let mut servers = Vec::new();
    for c in &counters {
        servers.push(Some(start(c.clone())?));
    }
    let addrs: Vec<_> = servers
        .iter()
        .flatten()
        .map(ServerHandle::local_addr)
        .collect();
    let instances = addrs
        .iter()
        .zip([10, 20, 30])
        .map(|(a, w)| Instance::new(*a).with_weight(w))
        .collect();
    let resolver = StaticResolver::new().with_service("EchoService", instances);
    let cache = Arc::new(ResolverCache::new(
        Arc::new(resolver),
        CacheOptions::default(),
    )?);
    let retry = FailurePolicy::new().max_retries(2)?;
    let builder = EchoServiceClient::builder()
        .resolver(cache, EndpointInfo::new("EchoService"))
        .rpc_timeout(Duration::from_secs(2))
        .method_retry("echo", MethodRetry::failure(retry).idempotent(true))
        .retry_budget(BudgetOptions {
            percent: 50.0,
            ..BudgetOptions::default()
        });
    let calls = 600;
    let (mut ok, mut failed) = (0, 0);
    ringrpc::engine::runtime::block_on(async {
        let client = EchoServiceClient::new(builder.build()?);
        for i in 0..calls {
            if i == calls / 2 {
                println!("shutting down {} (weight 30)", addrs[2]);
                if let Some(s) = servers[2].take() {
                    s.shutdown();
                }
            }
            let req = EchoRequest {
                msg: format!("call {i}").into(),
            };
            match client.echo(req).await {
                Ok(_) => ok += 1,
                Err(e) => {
                    failed += 1;
                    eprintln!("call {i} failed: {e}");
                }
            }
        }
        Ok::<_, ringrpc::engine::Error>(())
    })?;
    println!("{ok} calls answered, {failed} failed");
    for (addr, c) in addrs.iter().zip(&counters) {
        println!("  {addr} served {}", c.load(Ordering::Relaxed));
    }
    for s in servers.into_iter().flatten() {
        s.shutdown();
    }
    Ok(())
}
