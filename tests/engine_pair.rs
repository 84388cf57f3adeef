//! The server without sockets: bytes in, bytes out through
//! [`ringrpc::engine::testing::Pair`], which runs the same detection, frame
//! cutting, routing, middleware, handlers and reply encoding as a
//! connection. Every case here needs no real socket; what does (timeouts,
//! back-pressure, shutdown, the client's pools) is in `engine_e2e.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc::codec::thrift::{
    ApplicationException, BinaryReader, ExceptionKind, Message, MessageType, Protocol,
    ProtocolReader,
};
use ringrpc::codec::transport::{Codec, Frame, Transport, TtHeader};
use ringrpc::engine::client::decode_reply;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::middleware::{Layer, Service};
use ringrpc::engine::server::Server;
use ringrpc::engine::testing::{FRAMED_BINARY, Pair, call_frame, message_frame, reply_frames};
use ringrpc::engine::{BizStatus, Error};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceEchoArgs, EchoServiceEchoResult,
    EchoServiceServer,
};
use ringrpc_example_idl::item::{
    GetItemReq, GetItemResp, Item, ItemService, ItemServiceGetItemArgs, ItemServiceGetItemResult,
    ItemServiceServer,
};

/// Echoes, with a few magic messages for failure tests.
#[derive(Clone, Default)]
struct Echo {
    served: Arc<AtomicUsize>,
}

impl EchoService for Echo {
    async fn echo(
        &self,
        cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        self.served.fetch_add(1, Ordering::SeqCst);
        match req.msg.as_str() {
            "panic" => panic!("the handler panicked on purpose"),
            "fail" => Err(Error::handler("no luck")),
            "biz" => Err(Error::Biz(BizStatus::new(4001, "out of stock"))),
            m if m.starts_with("sleep:") => {
                let ms: u64 = m[6..].parse().unwrap_or(0);
                monoio::time::sleep(Duration::from_millis(ms)).await;
                Ok(EchoResponse { msg: req.msg })
            }
            "method" => Ok(EchoResponse {
                msg: cx.info.method.clone(),
            }),
            _ => Ok(EchoResponse { msg: req.msg }),
        }
    }
}

#[derive(Clone)]
struct Shop;

impl ItemService for Shop {
    async fn get_item(
        &self,
        _cx: &mut ServerContext,
        req: GetItemReq,
    ) -> ringrpc::engine::Result<GetItemResp> {
        Ok(GetItemResp {
            item: Item {
                id: req.id,
                title: "t".into(),
                description: "d".into(),
                stock: 7,
            },
        })
    }
}

fn run<F: Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

fn args(msg: &str) -> EchoServiceEchoArgs {
    EchoServiceEchoArgs {
        req: EchoRequest { msg: msg.into() },
    }
}

fn codec(transport: Transport, protocol: Protocol) -> Codec {
    Codec {
        transport,
        protocol,
    }
}

/// A TTHeader naming the callee service, as Kitex's clients send it.
fn isn(seqid: i32, service: &'static str) -> TtHeader {
    let mut h = TtHeader::new(seqid);
    h.set_idl_service_name(bytes::Bytes::from_static(service.as_bytes()))
        .expect("a short name fits");
    h
}

/// The reply of an echo call: the message, or the error it carries.
fn echoed(f: &Frame) -> Result<String, Error> {
    let r: EchoServiceEchoResult = decode_reply(f, "echo")?;
    Ok(r.into_outcome()?.msg.to_string())
}

/// The seq id and exception of an exception reply.
fn exception(f: &Frame) -> (String, i32, ApplicationException) {
    let mut r = BinaryReader::new(f.payload.clone());
    let m = r.read_message_begin().expect("a message header");
    assert_eq!(m.msg_type, MessageType::Exception);
    let ex = ApplicationException::decode(&mut r).expect("an exception");
    (m.name.to_string(), m.seqid, ex)
}

#[test]
fn every_transport_and_protocol_is_detected_and_answered_in_kind() {
    for t in [
        Transport::TtHeader,
        Transport::TtHeaderFramed,
        Transport::Framed,
        Transport::Buffered,
    ] {
        for p in [Protocol::Binary, Protocol::Compact] {
            let c = codec(t, p);
            run(async move {
                let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
                let mut bytes = Vec::new();
                for i in 1..=3 {
                    bytes.extend(call_frame(c, None, "echo", i, &args(&format!("m{i}"))));
                }
                // Byte by byte for the first call: detection and frame
                // cutting wait for what they need.
                for b in &bytes[..10] {
                    assert!(pair.exchange(&[*b]).await.expect("open").is_empty());
                }
                let replies = pair.exchange(&bytes[10..]).await.expect("open");
                if matches!(t, Transport::Framed | Transport::Buffered) {
                    // (TTHeader's protocol is each frame's, not the
                    // connection's: checked on the replies below.)
                    assert_eq!(pair.codec(), Some(c));
                }
                let frames = reply_frames(&replies, c).expect("whole replies");
                let got: Vec<String> = frames.iter().map(|f| echoed(f).expect("ok")).collect();
                assert_eq!(got, ["m1", "m2", "m3"], "{t:?}/{p:?}");
                for f in &frames {
                    assert_eq!(f.codec.protocol, p, "answered in the request's protocol");
                }
            });
        }
    }
}

#[test]
fn services_are_routed_by_isn_then_by_method() {
    run(async {
        let mut pair = Server::builder()
            .service(EchoServiceServer::new(Echo::default()))
            .service(ItemServiceServer::new(Shop))
            .in_memory();
        let tt = codec(Transport::TtHeader, Protocol::Binary);
        // By isn.
        let get = ItemServiceGetItemArgs {
            req: GetItemReq { id: 42 },
        };
        let out = pair
            .exchange(&call_frame(
                tt,
                Some(&isn(1, "ItemService")),
                "GetItem",
                1,
                &get,
            ))
            .await
            .expect("open");
        let f = &reply_frames(&out, tt).expect("reply")[0];
        let r: ItemServiceGetItemResult = decode_reply(f, "GetItem").expect("reply");
        assert_eq!(r.into_outcome().expect("item").item.id, 42);
        // An unknown service: UnknownService (20), as Kitex.
        let out = pair
            .exchange(&call_frame(
                tt,
                Some(&isn(2, "NoSuchService")),
                "echo",
                2,
                &args("x"),
            ))
            .await
            .expect("open");
        let (_, seqid, ex) = exception(&reply_frames(&out, tt).expect("reply")[0]);
        assert_eq!(
            (seqid, ex.kind, ex.kind.code()),
            (2, ExceptionKind::UnknownService, 20)
        );
    });
    // Framed names no service: the service that has the method answers.
    run(async {
        let mut pair = Server::builder()
            .service(EchoServiceServer::new(Echo::default()))
            .service(ItemServiceServer::new(Shop))
            .in_memory();
        let get = ItemServiceGetItemArgs {
            req: GetItemReq { id: 5 },
        };
        let mut bytes = call_frame(FRAMED_BINARY, None, "GetItem", 1, &get);
        bytes.extend(call_frame(FRAMED_BINARY, None, "echo", 2, &args("method")));
        let out = pair.exchange(&bytes).await.expect("open");
        let frames = reply_frames(&out, FRAMED_BINARY).expect("replies");
        let r: ItemServiceGetItemResult = decode_reply(&frames[0], "GetItem").expect("item");
        assert_eq!(r.into_outcome().expect("item").item.id, 5);
        assert_eq!(echoed(&frames[1]).expect("echo"), "echo");
    });
}

#[test]
fn unknown_method_panic_handler_error_and_biz_status() {
    for t in [Transport::TtHeader, Transport::Framed] {
        let c = codec(t, Protocol::Binary);
        run(async move {
            let echo = Echo::default();
            let served = echo.served.clone();
            let mut pair = Pair::new(EchoServiceServer::new(echo));
            let out = pair
                .exchange(&call_frame(c, None, "nope", 1, &args("x")))
                .await
                .expect("open");
            let (name, seqid, ex) = exception(&reply_frames(&out, c).expect("reply")[0]);
            assert_eq!((name.as_str(), seqid), ("nope", 1));
            assert_eq!(ex.kind, ExceptionKind::UnknownMethod);
            for (i, msg) in ["panic", "after", "fail"].into_iter().enumerate() {
                let out = pair
                    .exchange(&call_frame(c, None, "echo", 2 + i as i32, &args(msg)))
                    .await
                    .expect("the connection survives a panic");
                let f = &reply_frames(&out, c).expect("reply")[0];
                match (msg, echoed(f)) {
                    ("panic", Err(Error::Application(ex))) => {
                        assert_eq!(ex.kind, ExceptionKind::InternalError);
                        assert!(ex.message.contains("panicked on purpose"), "{}", ex.message);
                    }
                    ("after", Ok(m)) => assert_eq!(m, "after"),
                    ("fail", Err(Error::Application(ex))) => {
                        assert_eq!(ex.kind, ExceptionKind::InternalError);
                        assert!(ex.message.contains("no luck"), "{}", ex.message);
                    }
                    other => panic!("{msg}: {other:?}"),
                }
            }
            assert_eq!(
                served.load(Ordering::SeqCst),
                3,
                "the unknown method ran nothing"
            );
        });
    }
    // A business status travels in the TTHeader of an empty reply.
    run(async {
        let c = codec(Transport::TtHeader, Protocol::Binary);
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        let out = pair
            .exchange(&call_frame(c, None, "echo", 1, &args("biz")))
            .await
            .expect("open");
        match echoed(&reply_frames(&out, c).expect("reply")[0]) {
            Err(Error::Biz(b)) => assert_eq!((b.code, b.message.as_str()), (4001, "out of stock")),
            other => panic!("expected a business status, got {other:?}"),
        }
    });
}

#[test]
fn pipelined_framed_requests_are_answered_in_order() {
    run(async {
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        // The first is slow: an in-order transport still answers it first.
        let mut bytes = call_frame(FRAMED_BINARY, None, "echo", 1, &args("sleep:50"));
        for i in 2..=10 {
            bytes.extend(call_frame(
                FRAMED_BINARY,
                None,
                "echo",
                i,
                &args(&format!("m{i}")),
            ));
        }
        let out = pair.exchange(&bytes).await.expect("open");
        let frames = reply_frames(&out, FRAMED_BINARY).expect("replies");
        let seqids: Vec<i32> = frames
            .iter()
            .map(|f| {
                let mut r = BinaryReader::new(f.payload.clone());
                r.read_message_begin().expect("header").seqid
            })
            .collect();
        assert_eq!(seqids, (1..=10).collect::<Vec<_>>());
        assert_eq!(echoed(&frames[3]).expect("echo"), "m4");
    });
}

#[test]
fn ttheader_requests_run_concurrently_and_are_answered_as_they_finish() {
    run(async {
        let tt = codec(Transport::TtHeader, Protocol::Binary);
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        let mut bytes = call_frame(tt, None, "echo", 1, &args("sleep:100"));
        for i in 2..=4 {
            bytes.extend(call_frame(tt, None, "echo", i, &args(&format!("fast{i}"))));
        }
        pair.send(&bytes).await.expect("open");
        assert_eq!(
            pair.inflight(),
            1,
            "the fast ones finished, the slow one waits"
        );
        pair.settle().await;
        let frames = reply_frames(&pair.take_replies(), tt).expect("replies");
        let seqids: Vec<i32> = frames
            .iter()
            .map(|f| f.header.as_ref().expect("ttheader").seq_id)
            .collect();
        assert_eq!(seqids, [2, 3, 4, 1]);
    });
}

#[test]
fn a_heartbeat_is_answered_and_the_connection_carries_on() {
    use ringrpc::codec::transport::ttheader::int_key;
    run(async {
        let tt = codec(Transport::TtHeader, Protocol::Binary);
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        let mut h = TtHeader::new(77);
        h.set_int(int_key::MSG_TYPE, bytes::Bytes::from_static(b"6"))
            .expect("set");
        let mut w = ringrpc::codec::buffer::LinkWriter::new();
        ringrpc::codec::transport::encode_frame(&mut w, tt, Some(&h), |_| {});
        let mut bytes = w.to_vec();
        bytes.extend(call_frame(tt, None, "echo", 78, &args("x")));
        let out = pair.exchange(&bytes).await.expect("open");
        let frames = reply_frames(&out, tt).expect("replies");
        let h = frames[0].header.as_ref().expect("a TTHeader reply");
        assert_eq!(h.seq_id, 77);
        assert_eq!(h.int(int_key::MSG_TYPE).as_deref(), Some(&b"6"[..]));
        assert!(frames[0].payload.is_empty());
        assert_eq!(echoed(&frames[1]).expect("echo"), "x");
    });
}

#[test]
fn garbage_closes_and_a_bad_payload_gets_a_protocol_error_naming_the_method() {
    run(async {
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        let err = pair
            .exchange(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect_err("no protocol ringrpc knows");
        assert!(
            matches!(err, ringrpc::codec::Error::UnknownProtocol(_)),
            "{err:?}"
        );
        assert!(pair.exchange(b"more").await.is_err(), "stays closed");
    });
    run(async {
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        // An intact frame whose payload is not a valid call: the struct
        // field's string is cut short.
        let payload = [
            0x80u8, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, b'e', b'c', b'h', b'o', 0, 0, 0, 9,
            0x0c, 0x00, 0x01, 0x0b,
        ];
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let out = pair
            .exchange(&frame)
            .await
            .expect("the frame itself is whole");
        let (name, seqid, ex) = exception(&reply_frames(&out, FRAMED_BINARY).expect("reply")[0]);
        assert_eq!((name.as_str(), seqid), ("echo", 9));
        assert_eq!(ex.kind, ExceptionKind::ProtocolError);
        // A reply sent to a server is refused, by name.
        let out = pair
            .exchange(&message_frame(
                FRAMED_BINARY,
                None,
                MessageType::Reply,
                "echo",
                10,
                &args("x"),
            ))
            .await
            .expect("open");
        let (_, _, ex) = exception(&reply_frames(&out, FRAMED_BINARY).expect("reply")[0]);
        assert_eq!(ex.kind, ExceptionKind::InvalidMessageType);
    });
}

#[test]
fn a_draining_server_marks_replies_for_reset() {
    run(async {
        let tt = codec(Transport::TtHeader, Protocol::Binary);
        let mut pair = Pair::new(EchoServiceServer::new(Echo::default()));
        let out = pair
            .exchange(&call_frame(tt, None, "echo", 1, &args("a")))
            .await
            .expect("open");
        let f = &reply_frames(&out, tt).expect("reply")[0];
        assert!(!f.header.as_ref().expect("tth").connection_ready_to_reset());
        pair.set_draining(true);
        let out = pair
            .exchange(&call_frame(tt, None, "echo", 2, &args("b")))
            .await
            .expect("open");
        let f = &reply_frames(&out, tt).expect("reply")[0];
        assert!(f.header.as_ref().expect("tth").connection_ready_to_reset());
        assert_eq!(echoed(f).expect("still answered"), "b");
    });
}

/// Records the order layers run in (an `Arc<Mutex>`: a server's layers are
/// cloned onto every core, so they are `Send`).
#[derive(Clone)]
struct Mark(&'static str, Arc<Mutex<Vec<&'static str>>>);

struct Marked<S> {
    name: &'static str,
    log: Arc<Mutex<Vec<&'static str>>>,
    inner: S,
}

impl<S> Layer<S> for Mark {
    type Service = Marked<S>;
    fn layer(self, inner: S) -> Marked<S> {
        Marked {
            name: self.0,
            log: self.1,
            inner,
        }
    }
}

impl<S: Service<ServerContext, Req>, Req> Service<ServerContext, Req> for Marked<S> {
    type Response = S::Response;
    type Error = S::Error;
    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, S::Error> {
        self.log.lock().expect("log").push(self.name);
        self.inner.call(cx, req).await
    }
}

#[test]
fn layers_wrap_the_services_added_after_them_last_added_first() {
    run(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut pair = Server::builder()
            .layer(Mark("first", log.clone()))
            .layer(Mark("second", log.clone()))
            .service(EchoServiceServer::new(Echo::default()))
            .layer(Mark("third", log.clone()))
            .service(ItemServiceServer::new(Shop))
            .in_memory();
        let get = ItemServiceGetItemArgs {
            req: GetItemReq { id: 1 },
        };
        let mut bytes = call_frame(FRAMED_BINARY, None, "echo", 1, &args("x"));
        bytes.extend(call_frame(FRAMED_BINARY, None, "GetItem", 2, &get));
        let out = pair.exchange(&bytes).await.expect("open");
        assert_eq!(reply_frames(&out, FRAMED_BINARY).expect("replies").len(), 2);
        assert_eq!(
            *log.lock().expect("log"),
            ["second", "first", "third", "second", "first"]
        );
    });
}
