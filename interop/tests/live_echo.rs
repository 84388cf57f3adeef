//! `EchoService` between ringrpc and a real volo-thrift peer over loopback,
//! both ways: our client against a volo server (tokio, its own thread), and
//! volo clients against our server, on every transport and protocol both
//! sides speak; several calls on one connection, a concurrent burst, the
//! application exception paths and the business status.
//!
//! Each side's handler records what its codec detected, so a test checks
//! that the peer really took the transport it was sent (and not a fallback)
//! and which connection each call came on. Bounded: a handful of calls per
//! case, every call under a timeout; no sleeps stand in for conditions.

mod common;

use std::rc::Rc;

use common::*;
use ringrpc::codec::thrift::{ExceptionKind, Protocol};
use ringrpc::codec::transport::Transport;
use ringrpc::engine::Error;
use ringrpc::engine::client::{CallOptions, PoolKind, Resolve};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoServiceClient, EchoServiceEchoArgs, EchoServiceEchoResult,
};
use ringrpc_interop::{echo as vecho, item as vitem};
use volo_thrift::{ApplicationExceptionKind, ClientError};

fn req(msg: &str) -> EchoRequest {
    EchoRequest { msg: msg.into() }
}

fn vreq(msg: &str) -> vecho::EchoRequest {
    vecho::EchoRequest {
        msg: volo::FastStr::new(msg),
    }
}

fn volo_echo_server() -> VoloServer {
    spawn_volo(|incoming, record| {
        vecho::EchoServiceServer::new(VoloEcho)
            .layer_front(record)
            .run(incoming)
    })
}

/// 16 concurrent calls from one of our clients; every fourth handler sleeps
/// 20 ms so that the calls overlap. Returns the replies in request order.
async fn our_burst(c: Rc<EchoServiceClient<Resolve>>) -> Vec<String> {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            monoio::spawn(async move {
                let msg = if i % 4 == 0 {
                    "sleep:20".to_string()
                } else {
                    format!("burst {i}")
                };
                let r = c.echo(req(&msg)).await;
                (msg, r)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        let (msg, r) = t.await;
        let r = r.unwrap_or_else(|e| panic!("burst call {msg:?}: {e}"));
        assert_eq!(r.msg, msg.as_str());
        out.push(msg);
    }
    out
}

#[test]
fn our_client_calls_a_volo_server_on_every_transport_and_protocol() {
    let volo = volo_echo_server();
    for t in OUR_TRANSPORTS {
        for p in PROTOCOLS {
            let b = our_client("EchoService", volo.addr, t, p);
            on_core(async move {
                let c = EchoServiceClient::new(b.build().expect("client"));
                for i in 0..3 {
                    let msg = format!("{t:?}/{p:?}/{i}");
                    let r = c.echo(req(&msg)).await;
                    assert_eq!(r.expect("echo").msg, msg.as_str(), "{t:?}/{p:?}");
                }
                // Large enough for linked (zero-copy) writes on our side.
                let big = "x".repeat(64 * 1024);
                let r = c.echo(req(&big)).await;
                assert_eq!(r.expect("big echo").msg.len(), big.len());
            });
            let seen = volo.log.take();
            assert_eq!(seen.len(), 4, "{t:?}/{p:?}");
            let (ttheader, framed, compact) = seen_as(t, p);
            for s in &seen {
                assert_eq!(
                    (s.ttheader, s.framed, s.compact),
                    (ttheader, framed, compact),
                    "volo detected {t:?}/{p:?} as {s:?}"
                );
            }
            assert_eq!(peers(&seen).len(), 1, "sequential calls share a connection");
        }
    }
}

#[test]
fn our_client_bursts_to_a_volo_server() {
    let volo = volo_echo_server();
    // Multiplexed over TTHeader: one connection, the calls pipelined on it
    // (volo's ping-pong server answers them in order).
    let b = our_client(
        "EchoService",
        volo.addr,
        Transport::TtHeader,
        Protocol::Binary,
    )
    .pool(PoolKind::mux());
    on_core(async move {
        let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
        let r = c.echo(req("warm")).await;
        assert_eq!(r.expect("warm-up").msg, "warm");
        assert_eq!(our_burst(c).await.len(), 16);
    });
    let seen = volo.log.take();
    assert_eq!(seen.len(), 17);
    assert_eq!(peers(&seen).len(), 1, "mux: one connection");
    // Long connections over Framed: as many as are in flight at once.
    let b = our_client(
        "EchoService",
        volo.addr,
        Transport::Framed,
        Protocol::Binary,
    );
    on_core(async move {
        let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
        assert_eq!(our_burst(c).await.len(), 16);
    });
    let seen = volo.log.take();
    assert_eq!(seen.len(), 16);
    assert!(seen.iter().all(|s| s.framed && !s.ttheader));
    assert!(
        peers(&seen).len() > 1,
        "long pool: concurrent calls, several connections"
    );
}

/// A cold burst shares the one connect under way (found by this test:
/// every caller used to connect on its own).
#[test]
fn our_mux_pool_opens_one_connection_for_a_cold_burst() {
    let volo = volo_echo_server();
    let b = our_client(
        "EchoService",
        volo.addr,
        Transport::TtHeader,
        Protocol::Binary,
    )
    .pool(PoolKind::mux());
    on_core(async move {
        let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
        assert_eq!(our_burst(c).await.len(), 16);
    });
    assert_eq!(peers(&volo.log.take()).len(), 1);
}

#[test]
fn our_client_sees_volo_errors_as_errors() {
    let volo = volo_echo_server();
    for t in [
        Transport::TtHeaderFramed,
        Transport::TtHeader,
        Transport::Framed,
    ] {
        let b = our_client("EchoService", volo.addr, t, Protocol::Binary);
        on_core(async move {
            let c = EchoServiceClient::new(b.build().expect("client"));
            // A handler's application exception.
            match c.echo(req("fail")).await {
                Err(Error::Application(ex)) => {
                    assert_eq!(ex.kind, ExceptionKind::InternalError, "{t:?}");
                    assert_eq!(ex.message, "no luck");
                }
                other => panic!("{t:?}: expected InternalError, got {other:?}"),
            }
            // A business error: with TTHeader it travels as the biz-status
            // keys (volo also sends an INTERNAL_ERROR exception that names
            // it; the keys win); without, only that exception.
            match (t, c.echo(req("biz")).await) {
                (Transport::TtHeader | Transport::TtHeaderFramed, Err(Error::Biz(b))) => {
                    assert_eq!(b.code, BIZ_CODE);
                    assert_eq!(b.message, BIZ_MESSAGE);
                    let extra = b.extra.expect("biz extra");
                    assert_eq!(extra, BIZ_EXTRA_JSON, "volo's JSON of the extra map");
                }
                (Transport::Framed, Err(Error::Application(ex))) => {
                    assert_eq!(ex.kind, ExceptionKind::InternalError);
                    assert!(
                        ex.message.contains(&format!("status_code: {BIZ_CODE}")),
                        "{}",
                        ex.message
                    );
                }
                (t, other) => panic!("{t:?}: unexpected biz reply {other:?}"),
            }
            // The same connection carried all three.
            let r = c.echo(req("still here")).await;
            assert_eq!(r.expect("echo after errors").msg, "still here");
        });
        let seen = volo.log.take();
        assert_eq!(seen.len(), 3, "{t:?}");
        assert_eq!(peers(&seen).len(), 1, "{t:?}: errors kept the connection");
    }
}

/// An unknown method: volo answers UNKNOWN_METHOD and closes the connection
/// (its server does so after any request it cannot decode), with TTHeader's
/// connection-reset flag set when there is a TTHeader.
async fn unknown_method_then_echo(b: ringrpc::engine::client::ClientBuilder, t: Transport) {
    let c = b.build().expect("client");
    let args = EchoServiceEchoArgs { req: req("x") };
    match c
        .call::<_, EchoServiceEchoResult>("nope", &args, &CallOptions::new())
        .await
    {
        Err(Error::Application(ex)) => {
            assert_eq!(ex.kind, ExceptionKind::UnknownMethod, "{t:?}");
            assert!(ex.message.contains("nope"), "{}", ex.message);
        }
        other => panic!("{t:?}: expected UnknownMethod, got {other:?}"),
    }
    // The next call takes a fresh connection.
    let c = EchoServiceClient::new(c);
    let r = c.echo(req("after")).await;
    let r = r.unwrap_or_else(|e| panic!("{t:?}: echo after unknown method: {e:?}"));
    assert_eq!(r.msg, "after");
}

#[test]
fn our_client_sees_volo_unknown_method_and_honours_its_connection_reset() {
    let volo = volo_echo_server();
    for t in [Transport::TtHeaderFramed, Transport::TtHeader] {
        let b = our_client("EchoService", volo.addr, t, Protocol::Binary);
        on_core(unknown_method_then_echo(b, t));
    }
}

/// Volo closes the connection after UNKNOWN_METHOD; over Framed nothing
/// says so, so the long pool must notice before reusing it (found by this
/// test).
#[test]
fn our_long_pool_skips_a_connection_volo_closed_over_framed() {
    let volo = volo_echo_server();
    let b = our_client(
        "EchoService",
        volo.addr,
        Transport::Framed,
        Protocol::Binary,
    );
    on_core(unknown_method_then_echo(b, Transport::Framed));
}

#[test]
fn volo_clients_call_our_server_on_every_transport_and_protocol() {
    let ours = start_ours(Services::Echo);
    let addr = ours.addr();
    let rt = tokio_rt();
    for t in VoloTransport::ALL {
        for p in PROTOCOLS {
            rt.block_on(async {
                let c = volo_echo_client(addr, t, p);
                for i in 0..3 {
                    let msg = format!("{t:?}/{p:?}/{i}");
                    let r = bounded(c.echo(vreq(&msg))).await;
                    assert_eq!(r.expect("volo echo").msg, msg.as_str(), "{t:?}/{p:?}");
                }
                let big = "y".repeat(64 * 1024);
                let r = bounded(c.echo(vreq(&big))).await;
                assert_eq!(r.expect("volo big echo").msg.len(), big.len());
            });
            let seen = ours.log.take();
            assert_eq!(seen.len(), 4, "{t:?}/{p:?}");
            let expect = seen_as(t.ours(), p);
            for s in &seen {
                assert_eq!(
                    (s.ttheader, s.framed, s.compact),
                    expect,
                    "we detected volo's {t:?}/{p:?} as {s:?}"
                );
            }
            assert_eq!(peers(&seen).len(), 1, "sequential calls share a connection");
        }
    }
}

#[test]
fn volo_client_bursts_to_our_server() {
    let ours = start_ours(Services::Echo);
    let addr = ours.addr();
    let rt = tokio_rt();
    for t in [VoloTransport::TtHeaderFramed, VoloTransport::Framed] {
        rt.block_on(async {
            let c = volo_echo_client(addr, t, Protocol::Binary);
            let mut set = tokio::task::JoinSet::new();
            for i in 0..32 {
                let c = c.clone();
                set.spawn(async move {
                    let msg = if i % 4 == 0 {
                        "sleep:20".to_string()
                    } else {
                        format!("burst {i}")
                    };
                    let r = bounded(c.echo(vreq(&msg))).await;
                    (msg, r)
                });
            }
            let mut n = 0;
            while let Some(done) = set.join_next().await {
                let (msg, r) = done.expect("task");
                let r = r.unwrap_or_else(|e| panic!("{t:?} burst {msg:?}: {e}"));
                assert_eq!(r.msg, msg.as_str());
                n += 1;
            }
            assert_eq!(n, 32);
        });
        let seen = ours.log.take();
        assert_eq!(seen.len(), 32, "{t:?}");
        assert!(
            peers(&seen).len() > 1,
            "{t:?}: volo's pool opened several connections"
        );
    }
}

#[test]
fn volo_clients_see_our_errors_as_errors() {
    let ours = start_ours(Services::Echo);
    let addr = ours.addr();
    let rt = tokio_rt();
    for t in VoloTransport::ALL {
        rt.block_on(async {
            let c = volo_echo_client(addr, t, Protocol::Binary);
            // A handler error: an INTERNAL_ERROR application exception.
            match bounded(c.echo(vreq("fail"))).await {
                Err(ClientError::Application(ex)) => {
                    assert_eq!(ex.kind(), ApplicationExceptionKind::INTERNAL_ERROR, "{t:?}");
                    assert!(ex.message().contains("no luck"), "{}", ex.message());
                }
                other => panic!("{t:?}: expected an application exception, got {other:?}"),
            }
            // A business status: volo's client reports it as
            // `ClientError::Biz` when it came in the TTHeader.
            match (t.has_ttheader(), bounded(c.echo(vreq("biz"))).await) {
                (true, Err(ClientError::Biz(b))) => {
                    assert_eq!(b.status_code, BIZ_CODE);
                    assert_eq!(b.status_message, BIZ_MESSAGE);
                    let extra = b.extra.expect("volo parsed the biz extra");
                    assert_eq!(extra.get("sku").map(|v| v.as_str()), Some("42"));
                }
                (false, Err(ClientError::Protocol(e))) => {
                    // Without a TTHeader there is nowhere to put the status.
                    // Like Kitex, we send the empty result struct, which
                    // volo's client cannot decode (volo's own server sends
                    // an INTERNAL_ERROR exception instead): an error either
                    // way, but not a business one.
                    assert!(e.message().contains("empty union"), "{t:?}: {e:?}");
                }
                (_, other) => panic!("{t:?}: unexpected biz reply {other:?}"),
            }
            let r = bounded(c.echo(vreq("still here"))).await;
            assert_eq!(r.expect("echo after errors").msg, "still here");
            // A method this server does not serve: volo's ItemService client
            // at our echo-only server.
            let items = volo_item_client(addr, t, Protocol::Binary);
            let r = bounded(items.get_item(vitem::GetItemReq { id: 1 })).await;
            match r {
                Err(ClientError::Application(ex)) => {
                    let want = if t.has_ttheader() {
                        // The TTHeader names the service (`isn`): Kitex's
                        // UNKNOWN_SERVICE, 20.
                        20
                    } else {
                        ApplicationExceptionKind::UNKNOWN_METHOD.as_i32()
                    };
                    assert_eq!(ex.kind().as_i32(), want, "{t:?}: {ex:?}");
                }
                other => panic!("{t:?}: expected an application exception, got {other:?}"),
            }
        });
    }
}
