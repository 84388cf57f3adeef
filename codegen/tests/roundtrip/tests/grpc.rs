//! The generated gRPC glue of `idl/proto/shop.proto`, served and called
//! over loopback: each method kind through the generated server and
//! client, methods whose Rust names were changed (GetItem and get_item,
//! `type`, `New`) reaching their own handlers by their `.proto` paths, the
//! well-known types, `bytes` as `Bytes`, and a service from a package whose
//! name is a keyword. Bounded: one server core, a few calls, a timeout on
//! each.

use std::time::Duration;

use ringrpc_build_roundtrip::generated::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceServer,
};
use ringrpc_build_roundtrip::generated::google::protobuf::{Empty, Timestamp};
use ringrpc_build_roundtrip::generated::shop::r#type::{Label, Tagger, TaggerClient, TaggerServer};
use ringrpc_build_roundtrip::generated::shop::v1::{
    Count, Item, Kind, Result as Totals, Shop, ShopClient2, ShopServer, ShopServer2,
    ShopServerClient, ShopServerServer, grpc::Inner, item,
};
use ringrpc_engine::grpc::{Channel, Code, Request, Response, ResponseSink, Status, Streaming};
use ringrpc_engine::server::{Server, ServerHandle};

struct Store;

impl Shop for Store {
    async fn get_item_2(&self, req: Request<Item>) -> Result<Response<Item>, Status> {
        let mut item = req.into_inner();
        item.name = format!("GetItem:{}", item.name);
        Ok(Response::new(item))
    }

    async fn get_item(&self, req: Request<Item>) -> Result<Response<Item>, Status> {
        let mut item = req.into_inner();
        item.name = format!("get_item:{}", item.name);
        Ok(Response::new(item))
    }

    async fn r#type(&self, req: Request<Count>, mut tx: ResponseSink<Item>) -> Result<(), Status> {
        let n = req.get_ref().n;
        if n > 100 {
            return Err(Status::invalid_argument("at most 100"));
        }
        for i in 0..n {
            tx.send(Item {
                name: i.to_string(),
                data: vec![i as u8; i as usize].into(),
                ..Item::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn new_2(&self, req: Request<Streaming<Item>>) -> Result<Response<Totals>, Status> {
        let mut items = req.into_inner();
        let mut totals = Totals::default();
        while let Some(item) = items.message().await? {
            totals.items += 1;
            totals.bytes += item.data.len() as u64;
        }
        Ok(Response::new(totals))
    }

    async fn both(
        &self,
        req: Request<Streaming<Empty>>,
        mut tx: ResponseSink<Inner>,
    ) -> Result<(), Status> {
        let mut pings = req.into_inner();
        let mut n = 0;
        while pings.message().await?.is_some() {
            n += 1;
            tx.send(Inner { n }).await?;
        }
        Ok(())
    }
}

struct Pinger;

impl ShopServer for Pinger {
    async fn ping(&self, _req: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }
}

struct Labels;

impl Tagger for Labels {
    async fn tag(&self, req: Request<Label>) -> Result<Response<Label>, Status> {
        let text = format!("#{}", req.into_inner().text);
        Ok(Response::new(Label { text }))
    }
}

#[derive(Clone)]
struct ThriftEcho;

impl EchoService for ThriftEcho {
    async fn echo(
        &self,
        _cx: &mut ringrpc_engine::context::ServerContext,
        req: EchoRequest,
    ) -> ringrpc_engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

fn start() -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| {
            c.pin = false;
            // The client keeps its connection: do not wait long for it.
            c.shutdown_timeout = Duration::from_millis(200);
        })
        .grpc(ShopServer2::new(Store))
        .grpc(ShopServerServer::new(Pinger))
        .grpc(TaggerServer::new(Labels))
        // The same port serves Thrift.
        .service(EchoServiceServer::new(ThriftEcho))
        .start()
        .expect("server starts")
}

fn channel(server: &ServerHandle) -> Channel {
    Channel::builder()
        .target(server.local_addr())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("channel")
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    ringrpc_engine::runtime::block_on(f)
}

#[test]
fn unary_methods_reach_their_handlers_by_proto_path() {
    let server = start();
    let ch = channel(&server);
    run(async {
        let shop = ShopClient2::new(ch.clone());
        let at = Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        let item = Item {
            name: "lamp".into(),
            data: bytes::Bytes::from_static(b"\x00\x01\xff"),
            at: Some(at),
            label: Some(Label { text: "new".into() }),
            kind: Kind::Lamp.into(),
            price: Some(item::Price::Cents(1999)),
            stock: [("north".to_owned(), 3)].into(),
        };
        // GetItem and get_item are two methods, two paths, two handlers.
        let a = shop.get_item_2(item.clone()).await.unwrap().into_inner();
        assert_eq!(a.name, "GetItem:lamp");
        let b = shop
            .get_item(Request::new(item.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(b.name, "get_item:lamp");
        // Every field made the trip.
        assert_eq!(&b.data[..], b"\x00\x01\xff");
        assert_eq!(b.at, Some(at));
        assert_eq!(b.kind(), Kind::Lamp);
        assert_eq!(b.price, Some(item::Price::Cents(1999)));
        assert_eq!(b.stock.get("north"), Some(&3));
        assert_eq!(b.label.unwrap().text, "new");

        let pong = ShopServerClient::new(ch.clone())
            .ping(Empty {})
            .await
            .unwrap();
        assert_eq!(pong.into_inner(), Empty {});

        #[allow(deprecated)]
        let tag = TaggerClient::new(ch.clone())
            .tag(Label { text: "x".into() })
            .await
            .unwrap();
        assert_eq!(tag.into_inner().text, "#x");
    });
    server.shutdown();
}

#[test]
fn streaming_methods_of_each_kind() {
    let server = start();
    let ch = channel(&server);
    run(async {
        let shop = ShopClient2::new(ch.clone());

        // Server streaming, through the method named `type`.
        let mut items = shop.r#type(Count { n: 5 }).await.unwrap().into_inner();
        let mut names = Vec::new();
        while let Some(item) = items.message().await.unwrap() {
            assert_eq!(item.data.len(), names.len());
            names.push(item.name);
        }
        assert_eq!(names, ["0", "1", "2", "3", "4"]);
        // A handler's error ends the call with its status (before any
        // message: a trailers-only response, so the call itself fails).
        let err = match shop.r#type(Count { n: 101 }).await {
            Err(e) => e,
            Ok(r) => {
                let mut failing = r.into_inner();
                loop {
                    match failing.message().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => panic!("the stream should fail"),
                        Err(e) => break e,
                    }
                }
            }
        };
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.message(), "at most 100");

        // Client streaming, through the method named `New`.
        let mut call = shop.new_2(()).await.unwrap();
        for i in 0..4u8 {
            call.send(Item {
                data: vec![i; 10].into(),
                ..Item::default()
            })
            .await
            .unwrap();
        }
        let totals = call.finish().await.unwrap().into_inner();
        assert_eq!((totals.items, totals.bytes), (4, 40));

        // Bidirectional: each ping answered before the next is sent.
        let (mut tx, mut rx) = shop.both(Request::new(())).await.unwrap();
        for n in 1..=3 {
            tx.send(Empty {}).await.unwrap();
            let inner = rx.message().await.unwrap().expect("an answer");
            assert_eq!(inner.n, n);
        }
        tx.finish();
        assert!(rx.message().await.unwrap().is_none());
    });
    server.shutdown();
}

/// Each package with services carries its files' descriptors and those of
/// every file they import, which the reflection service reads.
#[test]
fn each_package_carries_the_descriptors_reflection_needs() {
    use ringrpc_build_roundtrip::generated::shop;
    use ringrpc_engine::grpc::reflection::Reflection;
    let has = |set: &[u8], name: &str| set.windows(name.len()).any(|w| w == name.as_bytes());
    let v1 = shop::v1::FILE_DESCRIPTOR_SET;
    for name in [
        "shop.proto",
        "tag.proto",
        "google/protobuf/empty.proto",
        "google/protobuf/timestamp.proto",
    ] {
        assert!(has(v1, name), "{name}");
    }
    let tag = shop::r#type::FILE_DESCRIPTOR_SET;
    assert!(has(tag, "tag.proto") && !has(tag, "shop.proto"));
    // Comments are not embedded.
    assert!(!has(v1, "GetItem and get_item"));
    // The two sets share files; each is kept once.
    let r = Reflection::new()
        .file_descriptor_set(v1)
        .unwrap()
        .file_descriptor_set(tag)
        .unwrap();
    let mut services: Vec<_> = r.services().collect();
    services.sort_unstable();
    assert_eq!(
        services,
        ["shop.type.Tagger", "shop.v1.Shop", "shop.v1.ShopServer"]
    );
}
