//! The item shop of Kitex's example (`ItemService.GetItem`, `idl/item.thrift`)
//! between ringrpc and a real volo-thrift peer over loopback, both ways:
//! results field by field, several calls on one connection, a concurrent
//! burst, an application exception and a business status. A struct inside
//! a struct, optional-by-default fields on Volo's side (pilota makes them
//! `Option`), and routing by TTHeader `isn` on a multi-service server.

mod common;

use std::rc::Rc;

use common::*;
use ringrpc::codec::thrift::{ExceptionKind, Protocol};
use ringrpc::codec::transport::Transport;
use ringrpc::engine::Error;
use ringrpc::engine::client::Resolve;
use ringrpc_example_idl::item::{GetItemReq, ItemServiceClient};
use ringrpc_interop::item as vitem;
use volo_thrift::{ApplicationExceptionKind, ClientError};

fn volo_shop_server() -> VoloServer {
    spawn_volo(|incoming, record| {
        vitem::ItemServiceServer::new(VoloShop)
            .layer_front(record)
            .run(incoming)
    })
}

async fn get(
    c: &ItemServiceClient<Resolve>,
    id: i64,
) -> ringrpc::engine::Result<ringrpc_example_idl::item::Item> {
    c.get_item(GetItemReq { id }).await.map(|r| r.item)
}

#[test]
fn our_client_shops_at_a_volo_server() {
    let volo = volo_shop_server();
    for (t, p) in [
        (Transport::TtHeaderFramed, Protocol::Binary),
        (Transport::TtHeader, Protocol::Compact),
        (Transport::Framed, Protocol::Binary),
        (Transport::Framed, Protocol::Compact),
    ] {
        let b = our_client("ItemService", volo.addr, t, p);
        on_core(async move {
            let c = Rc::new(ItemServiceClient::new(b.build().expect("client")));
            // Several calls, one connection.
            for id in [1, 1024, i64::MAX / 10] {
                let item = get(&c, id)
                    .await
                    .unwrap_or_else(|e| panic!("{t:?}/{p:?}: {e}"));
                assert_eq!(item.id, id);
                assert_eq!(item.title, "Volo");
                assert_eq!(
                    item.description,
                    format!("item {id} served by volo").as_str()
                );
                assert_eq!(item.stock, id * 10);
            }
            // A burst: every call in flight at once.
            let tasks: Vec<_> = (1..=12)
                .map(|id| {
                    let c = c.clone();
                    monoio::spawn(async move { (id, get(&c, id).await) })
                })
                .collect();
            for task in tasks {
                let (id, r) = task.await;
                let item = r.unwrap_or_else(|e| panic!("{t:?}/{p:?} burst {id}: {e}"));
                assert_eq!((item.id, item.stock), (id, id * 10));
            }
            // An application exception, then a business error.
            match get(&c, -1).await {
                Err(Error::Application(ex)) => {
                    assert_eq!(ex.kind, ExceptionKind::InternalError);
                    assert_eq!(ex.message, "negative id");
                }
                other => panic!("{t:?}/{p:?}: expected InternalError, got {other:?}"),
            }
            match get(&c, 0).await {
                Err(Error::Biz(b)) if t != Transport::Framed => {
                    assert_eq!((b.code, b.message.as_str()), (BIZ_CODE, BIZ_MESSAGE));
                }
                Err(Error::Application(ex)) if t == Transport::Framed => {
                    assert!(ex.message.contains(BIZ_MESSAGE), "{}", ex.message);
                }
                other => panic!("{t:?}/{p:?}: unexpected biz reply {other:?}"),
            }
        });
        let seen = volo.log.take();
        assert_eq!(seen.len(), 3 + 12 + 2, "{t:?}/{p:?}");
        let (ttheader, framed, compact) = seen_as(t, p);
        assert!(
            seen.iter()
                .all(|s| (s.ttheader, s.framed, s.compact) == (ttheader, framed, compact)),
            "volo detected {t:?}/{p:?} as {seen:?}"
        );
        // The first three calls came one after another on one connection.
        assert_eq!(peers(&seen[..3]).len(), 1, "{t:?}/{p:?}");
    }
}

async fn volo_get(c: &vitem::ItemServiceClient, id: i64) -> Result<vitem::Item, ClientError> {
    bounded(c.get_item(vitem::GetItemReq { id }))
        .await
        .map(|r| r.item.expect("an item"))
}

fn check_our_item(t: VoloTransport, item: &vitem::Item, id: i64) {
    assert_eq!(item.id, Some(id), "{t:?}");
    assert_eq!(item.title.as_deref(), Some("ringrpc"));
    let description = format!("item {id} served by ringrpc");
    assert_eq!(item.description.as_deref(), Some(description.as_str()));
    assert_eq!(item.stock, Some(id * 10));
}

#[test]
fn volo_clients_shop_at_our_server() {
    let ours = start_ours(Services::Shop);
    let addr = ours.addr();
    let rt = tokio_rt();
    for (t, p) in [
        (VoloTransport::TtHeaderFramed, Protocol::Binary),
        (VoloTransport::TtHeader, Protocol::Compact),
        (VoloTransport::Framed, Protocol::Binary),
        (VoloTransport::Framed, Protocol::Compact),
        (VoloTransport::Buffered, Protocol::Binary),
    ] {
        rt.block_on(async {
            let c = volo_item_client(addr, t, p);
            for id in [1, 1024, i64::MAX / 10] {
                let item = volo_get(&c, id)
                    .await
                    .unwrap_or_else(|e| panic!("{t:?}/{p:?}: {e}"));
                check_our_item(t, &item, id);
            }
            let mut set = tokio::task::JoinSet::new();
            for id in 1..=12 {
                let c = c.clone();
                set.spawn(async move { (id, volo_get(&c, id).await) });
            }
            while let Some(done) = set.join_next().await {
                let (id, r) = done.expect("task");
                let item = r.unwrap_or_else(|e| panic!("{t:?}/{p:?} burst {id}: {e}"));
                check_our_item(t, &item, id);
            }
            match volo_get(&c, -1).await {
                Err(ClientError::Application(ex)) => {
                    assert_eq!(ex.kind(), ApplicationExceptionKind::INTERNAL_ERROR);
                    assert!(ex.message().contains("negative id"), "{}", ex.message());
                }
                other => panic!("{t:?}/{p:?}: expected an application exception, got {other:?}"),
            }
            match (t.has_ttheader(), volo_get(&c, 0).await) {
                (true, Err(ClientError::Biz(b))) => {
                    assert_eq!(b.status_code, BIZ_CODE);
                    assert_eq!(b.status_message, BIZ_MESSAGE);
                    let extra = b.extra.expect("extra");
                    assert_eq!(extra.get("sku").map(|v| v.as_str()), Some("42"));
                }
                // No TTHeader, no business status: see live_echo.rs.
                (false, Err(ClientError::Protocol(_))) => {}
                (_, other) => panic!("{t:?}/{p:?}: unexpected biz reply {other:?}"),
            }
        });
        let seen = ours.log.take();
        assert_eq!(seen.len(), 3 + 12 + 2, "{t:?}/{p:?}");
        let expect = seen_as(t.ours(), p);
        assert!(
            seen.iter()
                .all(|s| (s.ttheader, s.framed, s.compact) == expect),
            "we detected volo's {t:?}/{p:?} as {seen:?}"
        );
        assert_eq!(peers(&seen[..3]).len(), 1, "{t:?}/{p:?}");
    }
}

/// Volo's client names the IDL service in the TTHeader (`isn`), so a server
/// running echo and the shop routes its GetItem to the shop.
#[test]
fn volo_client_is_routed_by_isn_on_a_multi_service_server() {
    let ours = start_ours(Services::EchoAndShop);
    let addr = ours.addr();
    tokio_rt().block_on(async {
        for t in [VoloTransport::TtHeaderFramed, VoloTransport::TtHeader] {
            let items = volo_item_client(addr, t, Protocol::Binary);
            let item = volo_get(&items, 7).await.expect("routed to the shop");
            check_our_item(t, &item, 7);
            let echo = volo_echo_client(addr, t, Protocol::Binary);
            let r = bounded(echo.echo(ringrpc_interop::echo::EchoRequest {
                msg: volo::FastStr::from_static_str("routed"),
            }))
            .await;
            assert_eq!(r.expect("routed to echo").msg, "routed");
        }
    });
    assert_eq!(ours.log.take().len(), 4);
}
