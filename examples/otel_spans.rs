//! The engine's spans exported through OpenTelemetry: a server and a
//! client in one process, `tracing-opentelemetry` bridging their `rpc`
//! spans to OpenTelemetry's SDK, and its stdout exporter printing them.
//! Swap the exporter for an OTLP one to send them to a collector.
//!
//! ```text
//! cargo run --example otel_spans
//! ```
//!
//! Each call gives two spans: `ringrpc::client` and `ringrpc::server`, with
//! the fields an operator filters on (service, method, peer, seqid,
//! status, sizes, latency) as attributes. The ids that travel on the wire
//! (the W3C `traceparent` in TTHeader, which Kitex's obs-opentelemetry
//! and other ringrpc hops read) are the `trace_id`, `span_id` and
//! `parent_span_id` attributes: the server's `parent_span_id` is the
//! client's `span_id`, in the same `trace_id`.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::ClientBuilder;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

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
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    // Only the engine's per-call spans, at DEBUG: with no subscriber
    // enabling them, they cost one cached check per call.
    let rpc_spans = Targets::new()
        .with_target("ringrpc::client", tracing::Level::DEBUG)
        .with_target("ringrpc::server", tracing::Level::DEBUG);
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("ringrpc-example"))
                .with_filter(rpc_spans),
        )
        .init();

    let server = Server::builder()
        .addr("127.0.0.1:0".parse()?)
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(Echo))
        .start()?;
    let client = ClientBuilder::new("EchoService")
        .target(server.local_addr())
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("otel-example")
        .rpc_timeout(Duration::from_secs(5));
    ringrpc::engine::runtime::block_on(async move {
        let c = EchoServiceClient::new(client.build()?);
        for msg in ["one", "two"] {
            c.echo(EchoRequest { msg: msg.into() }).await?;
        }
        Ok::<_, ringrpc::engine::Error>(())
    })?;
    server.shutdown();
    // Flushes what the exporter still holds.
    provider.shutdown()?;
    Ok(())
}
