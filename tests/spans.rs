//! One span per call on each side, with the fields an operator filters
//! on, and a trace that continues from the client's span to the server's:
//! the server's span names the client's as its parent. A process of its
//! own: it installs a global subscriber (the server's cores are threads of
//! their own).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::Result;
use ringrpc::engine::client::ClientBuilder;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

type Fields = HashMap<String, String>;

/// Keeps the fields of every `rpc` span, by target, once it closes.
#[derive(Clone, Default)]
struct Capture {
    open: Arc<Mutex<HashMap<u64, (String, Fields)>>>,
    closed: Arc<Mutex<Vec<(String, Fields)>>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S>
    for Capture
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _cx: Context<'_, S>) {
        if attrs.metadata().name() != "rpc" {
            return;
        }
        let mut f = Fields::new();
        attrs.record(&mut Collect(&mut f));
        self.open
            .lock()
            .expect("lock")
            .insert(id.into_u64(), (attrs.metadata().target().to_owned(), f));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _cx: Context<'_, S>) {
        if let Some((_, f)) = self.open.lock().expect("lock").get_mut(&id.into_u64()) {
            values.record(&mut Collect(f));
        }
    }

    fn on_close(&self, id: Id, _cx: Context<'_, S>) {
        if let Some(s) = self.open.lock().expect("lock").remove(&id.into_u64()) {
            self.closed.lock().expect("lock").push(s);
        }
    }
}

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

#[test]
fn each_side_has_a_span_and_the_trace_continues_across_the_hop() {
    let capture = Capture::default();
    tracing_subscriber::registry()
        .with(
            capture.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("ringrpc::client", tracing::Level::DEBUG)
                    .with_target("ringrpc::server", tracing::Level::DEBUG),
            ),
        )
        .init();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(Echo))
        .start()
        .expect("start");
    let b = ClientBuilder::new("EchoService")
        .target(server.local_addr())
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("span-test")
        .rpc_timeout(Duration::from_secs(5));
    ringrpc::engine::runtime::block_on(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        c.echo(EchoRequest { msg: "hi".into() })
            .await
            .expect("echo");
    });
    server.shutdown();
    let closed = capture.closed.lock().expect("lock").clone();
    let find = |target: &str| {
        closed
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("a {target} span in {closed:?}"))
    };
    let client = find("ringrpc::client");
    let server = find("ringrpc::server");
    for (side, f) in [("client", &client), ("server", &server)] {
        assert_eq!(f["side"], side);
        assert_eq!(f["service"], "EchoService");
        assert_eq!(f["method"], "echo");
        assert_eq!(f["status"], "succeed");
        assert!(f.contains_key("latency_us"), "{side}: {f:?}");
        assert!(f["reply_bytes"].parse::<u64>().expect("a number") > 0);
        assert_eq!(f["seqid"], client["seqid"]);
    }
    assert_eq!(client["peer"], server_addr_of(&client));
    assert_eq!(server["caller"], "span-test");
    assert_eq!(client["trace_id"].len(), 32);
    assert_eq!(server["trace_id"], client["trace_id"], "one trace");
    assert_eq!(
        server["parent_span_id"], client["span_id"],
        "the server's span is the client's child"
    );
    assert_ne!(server["span_id"], client["span_id"]);
}

/// The peer a client span names is an address (the server's).
fn server_addr_of(f: &Fields) -> String {
    let peer = &f["peer"];
    assert!(peer.parse::<std::net::SocketAddr>().is_ok(), "{peer}");
    peer.clone()
}
