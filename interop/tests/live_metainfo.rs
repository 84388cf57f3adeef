//! Metainfo across real volo-thrift hops, both ways, over TTHeader:
//!
//! - a Volo client → a ringrpc server → a Volo server: the client's
//!   persistent value reaches the Volo server through the ringrpc hop, its
//!   transient value stops at the ringrpc hop, the ringrpc handler's own
//!   transient value reaches the Volo server, and backward values travel
//!   back (Volo server → ringrpc handler, ringrpc server → Volo client);
//! - a ringrpc client → a Volo server → a ringrpc server: the same through
//!   the Volo hop.
//!
//! Volo keeps metainfo in its `METAINFO` task-local (the `metainfo`
//! crate): persistent values it received are sent on by its clients,
//! upstream transient ones are not.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use common::*;
use metainfo::{Backward, Forward, MetaInfo};
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::context::ServerContext as OurServerContext;
use ringrpc::engine::metainfo as our_metainfo;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};
use ringrpc_interop::echo as vecho;
use volo::FastStr;
use volo_thrift::ServerError;

/// What a Volo server saw, as its reply.
#[derive(Clone, Debug)]
struct VoloReporter;

impl vecho::EchoService for VoloReporter {
    async fn echo(&self, _req: vecho::EchoRequest) -> Result<vecho::EchoResponse, ServerError> {
        let msg = volo::METAINFO.with(|m| {
            let mut m = m.borrow_mut();
            let msg = format!(
                "p={:?} t={:?} hop={:?}",
                m.get_persistent("p").as_deref(),
                m.get_upstream("t").as_deref(),
                m.get_upstream("hop").as_deref(),
            );
            m.set_backward_transient("from-volo", "b1");
            msg
        });
        Ok(vecho::EchoResponse {
            msg: FastStr::new(msg),
        })
    }
}

/// A ringrpc relay: adds its own transient value, calls on, passes the
/// answer and the downstream's backward value back.
struct OurRelay(Rc<EchoServiceClient>);

impl EchoService for OurRelay {
    async fn echo(
        &self,
        cx: &mut OurServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        our_metainfo::set_transient("hop", "ringrpc")?;
        let got = self.0.echo(req).await?;
        let back = our_metainfo::backward("from-volo");
        cx.set_backward("relayed", back.as_deref().unwrap_or("none"))?;
        Ok(got)
    }
}

#[test]
fn volo_client_to_ringrpc_server_to_volo_server() {
    let volo_b = spawn_volo(|incoming, record| {
        vecho::EchoServiceServer::new(VoloReporter)
            .layer_front(record)
            .run(incoming)
    });
    let to_b = our_client(
        "EchoService",
        volo_b.addr,
        Transport::TtHeader,
        Protocol::Binary,
    );
    let relay = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service_per_core(move || {
            let c = Rc::new(EchoServiceClient::new(to_b.build().expect("client")));
            EchoServiceServer::new(OurRelay(c))
        })
        .start()
        .expect("relay starts");
    let rt = tokio_rt();
    let (msg, relayed) = rt.block_on(async {
        let c = volo_echo_client(
            relay.local_addr(),
            VoloTransport::TtHeaderFramed,
            Protocol::Binary,
        );
        let mut mi = MetaInfo::new();
        mi.set_persistent("p", "1");
        mi.set_transient("t", "only-one-hop");
        volo::METAINFO
            .scope(RefCell::new(mi), async {
                let r = bounded(c.echo(vecho::EchoRequest {
                    msg: FastStr::from_static_str("x"),
                }))
                .await
                .expect("the chain answers");
                let relayed = volo::METAINFO.with(|m| {
                    m.borrow()
                        .get_backward_downstream("relayed")
                        .map(|v| v.to_string())
                });
                (r.msg.to_string(), relayed)
            })
            .await
    });
    assert_eq!(
        msg, r#"p=Some("1") t=None hop=Some("ringrpc")"#,
        "what the Volo server saw through the ringrpc hop"
    );
    assert_eq!(
        relayed.as_deref(),
        Some("b1"),
        "backward values came back through the ringrpc hop"
    );
    relay.shutdown();
}

/// What a ringrpc server saw, as its reply.
#[derive(Clone)]
struct OurReporter;

impl EchoService for OurReporter {
    async fn echo(
        &self,
        cx: &mut OurServerContext,
        _req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        let msg = format!(
            "p={:?} t={:?} hop={:?}",
            cx.persistent("p"),
            cx.transient("t"),
            cx.transient("hop"),
        );
        Ok(EchoResponse { msg: msg.into() })
    }
}

/// A Volo relay: adds its own transient value and calls on.
#[derive(Clone)]
struct VoloRelay(SocketAddr);

impl vecho::EchoService for VoloRelay {
    async fn echo(&self, req: vecho::EchoRequest) -> Result<vecho::EchoResponse, ServerError> {
        volo::METAINFO.with(|m| m.borrow_mut().set_transient("hop", "volo"));
        let c = volo_echo_client(self.0, VoloTransport::TtHeaderFramed, Protocol::Binary);
        c.echo(req).await.map_err(|e| {
            volo_thrift::ApplicationException::new(
                volo_thrift::ApplicationExceptionKind::INTERNAL_ERROR,
                e.to_string(),
            )
            .into()
        })
    }
}

#[test]
fn ringrpc_client_to_volo_server_to_ringrpc_server() {
    let ours = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(OurReporter))
        .start()
        .expect("starts");
    let target = ours.local_addr();
    let volo_relay = spawn_volo(move |incoming, record| {
        vecho::EchoServiceServer::new(VoloRelay(target))
            .layer_front(record)
            .run(incoming)
    });
    let b = our_client(
        "EchoService",
        volo_relay.addr,
        Transport::TtHeader,
        Protocol::Binary,
    );
    let msg = on_core(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        our_metainfo::scope(async {
            our_metainfo::set_persistent("p", "1").expect("fits");
            our_metainfo::set_transient("t", "only-one-hop").expect("fits");
            c.echo(EchoRequest { msg: "x".into() })
                .await
                .expect("the chain answers")
                .msg
                .to_string()
        })
        .await
    });
    assert_eq!(
        msg, r#"p=Some("1") t=None hop=Some("volo")"#,
        "what the ringrpc server saw through the Volo hop"
    );
    ours.shutdown();
}
