//! End-to-end tests of the engine over loopback: our client and raw sockets
//! against our server, on every transport and protocol, and what goes wrong
//! on a real socket (timeouts, back-pressure, shutdown, the client's pools).
//! What needs no socket (routing, errors, detection, ordering, heartbeats)
//! is tested in memory in `engine_pair.rs`. Bounded in count and time; no
//! fixed sleeps stand in for conditions.
//! CI runs this file on both monoio drivers (io_uring, and epoll with
//! `MONOIO_FORCE_LEGACY_DRIVER=1`).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringrpc::codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc::codec::thrift::{
    BinaryReader, BinaryWriter, ExceptionKind, Message, MessageIdent, MessageType, Protocol,
    ProtocolReader, ProtocolWriter, Utf8Bytes,
};
use ringrpc::codec::transport::{self, Codec, Decoded, Transport};
use ringrpc::engine::client::{CallOptions, ClientBuilder, PoolKind};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::{BizStatus, Error};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceEchoArgs,
    EchoServiceEchoResult, EchoServiceServer,
};
use ringrpc_example_idl::item::{
    GetItemReq, GetItemResp, Item, ItemService, ItemServiceClient, ItemServiceServer,
};

/// Echoes, with a few magic messages for failure tests.
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

struct Fixture {
    server: Option<ServerHandle>,
    served: Arc<AtomicUsize>,
}

impl Fixture {
    fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map(ServerHandle::local_addr)
            .expect("running")
    }
}

fn start(configure: impl FnOnce(&mut ringrpc::engine::server::ServerConfig)) -> Fixture {
    let served = Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| {
            c.pin = false;
            configure(c)
        })
        .service_per_core(move || EchoServiceServer::new(Echo { served: s.clone() }))
        .service_per_core(|| ItemServiceServer::new(Shop))
        .start()
        .expect("server starts");
    Fixture {
        server: Some(server),
        served,
    }
}

fn echo_client(addr: SocketAddr, transport: Transport, protocol: Protocol) -> ClientBuilder {
    ClientBuilder::new("EchoService")
        .target(addr)
        .transport(transport)
        .protocol(protocol)
        .connect_timeout(Duration::from_secs(2))
        .rpc_timeout(Duration::from_secs(10))
}

fn run<F: Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

fn req(msg: &str) -> EchoRequest {
    EchoRequest { msg: msg.into() }
}

const TRANSPORTS: [Transport; 4] = [
    Transport::TtHeader,
    Transport::TtHeaderFramed,
    Transport::Framed,
    Transport::Buffered,
];

#[test]
fn every_transport_and_protocol_round_trips() {
    let fx = start(|_| {});
    for t in TRANSPORTS {
        for p in [Protocol::Binary, Protocol::Compact] {
            let b = echo_client(fx.addr(), t, p);
            run(async move {
                let c = EchoServiceClient::new(b.build().expect("client"));
                for i in 0..3 {
                    let msg = format!("{t:?}/{p:?}/{i}");
                    let r = c.echo(req(&msg)).await;
                    assert_eq!(r.expect("echo").msg, msg.as_str());
                }
                // Large messages: read into one buffer sized to the frame,
                // echoed by linking the request's bytes into the reply.
                for size in [64 * 1024, 1024 * 1024] {
                    let big = "x".repeat(size);
                    let r = c.echo(req(&big)).await.expect("big echo");
                    assert_eq!(r.msg.len(), big.len());
                    assert!(r.msg.bytes().all(|b| b == b'x'));
                }
            });
        }
    }
}

#[test]
fn services_are_routed_by_isn() {
    let fx = start(|_| {});
    let addr = fx.addr();
    run(async move {
        let items = ItemServiceClient::new(
            ClientBuilder::new("ItemService")
                .target(addr)
                .transport(Transport::TtHeader)
                .build()
                .expect("client"),
        );
        let r = items
            .get_item(GetItemReq { id: 42 })
            .await
            .expect("get item");
        assert_eq!((r.item.id, r.item.stock), (42, 7));
        let echo = EchoServiceClient::new(
            echo_client(addr, Transport::TtHeader, Protocol::Binary)
                .build()
                .expect("client"),
        );
        assert_eq!(echo.echo(req("method")).await.expect("echo").msg, "echo");
        // Framed carries no service name: the service that has the method
        // answers (the second one here), as Kitex searches by method name.
        let framed_items = ItemServiceClient::new(
            ClientBuilder::new("ItemService")
                .target(addr)
                .transport(Transport::Framed)
                .build()
                .expect("client"),
        );
        let r = framed_items
            .get_item(GetItemReq { id: 5 })
            .await
            .expect("get item over framed");
        assert_eq!(r.item.id, 5);
        // Framed carries no service name: the first service answers.
        let framed = EchoServiceClient::new(
            echo_client(addr, Transport::Framed, Protocol::Binary)
                .build()
                .expect("client"),
        );
        assert_eq!(framed.echo(req("hi")).await.expect("echo").msg, "hi");
        // A service the server doesn't have.
        let nope = ClientBuilder::new("NoSuchService")
            .target(addr)
            .transport(Transport::TtHeader)
            .build()
            .expect("client");
        let args = EchoServiceEchoArgs { req: req("x") };
        let err = nope
            .call::<_, EchoServiceEchoResult>("echo", &args, &CallOptions::new())
            .await
            .expect_err("unknown service");
        match err {
            Error::Application(ex) => {
                assert_eq!(ex.kind, ExceptionKind::UnknownService);
                assert_eq!(ex.kind.code(), 20);
            }
            other => panic!("expected UnknownService, got {other:?}"),
        }
    });
}

#[test]
fn rpc_timeout_against_a_slow_handler() {
    let fx = start(|_| {});
    let addr = fx.addr();
    run(async move {
        let c = EchoServiceClient::new(
            echo_client(addr, Transport::Framed, Protocol::Binary)
                .build()
                .expect("client"),
        );
        let opts = CallOptions::new().rpc_timeout(Duration::from_millis(50));
        match c.with_options(&opts).echo(req("sleep:2000")).await {
            Err(Error::Timeout(t)) => assert_eq!(t, Duration::from_millis(50)),
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The timed-out connection was dropped; the next call gets a fresh one.
        assert_eq!(c.echo(req("ok")).await.expect("echo").msg, "ok");
    });
}

#[test]
fn mux_answers_out_of_order() {
    let fx = start(|_| {});
    let addr = fx.addr();
    run(async move {
        let c = Rc::new(EchoServiceClient::new(
            echo_client(addr, Transport::TtHeader, Protocol::Binary)
                .pool(PoolKind::mux())
                .build()
                .expect("client"),
        ));
        let order = Rc::new(RefCell::new(Vec::new()));
        let slow = {
            let (c, order) = (c.clone(), order.clone());
            monoio::spawn(async move {
                let r = c.echo(req("sleep:300")).await.expect("slow");
                order.borrow_mut().push(r.msg.to_string());
            })
        };
        // Let the slow call go out first on the shared connection.
        monoio::time::sleep(Duration::from_millis(20)).await;
        let mut fast = Vec::new();
        for i in 0..5 {
            let (c, order) = (c.clone(), order.clone());
            fast.push(monoio::spawn(async move {
                let r = c.echo(req(&format!("fast{i}"))).await.expect("fast");
                order.borrow_mut().push(r.msg.to_string());
            }));
        }
        for f in fast {
            f.await;
        }
        slow.await;
        let order = order.borrow();
        assert_eq!(order.len(), 6);
        assert_eq!(
            order.last().map(String::as_str),
            Some("sleep:300"),
            "{order:?}"
        );
    });
}

/// Encodes one framed binary echo call with `seqid`.
fn framed_call(seqid: i32, msg: &str) -> Vec<u8> {
    let mut w = LinkWriter::new();
    let codec = Codec {
        transport: Transport::Framed,
        protocol: Protocol::Binary,
    };
    transport::encode_frame(&mut w, codec, None, |out| {
        let mut p = BinaryWriter::new(out);
        p.write_message_begin(&MessageIdent::new(
            Utf8Bytes::from_static("echo"),
            MessageType::Call,
            seqid,
        ));
        EchoServiceEchoArgs { req: req(msg) }.encode(&mut p);
        p.write_message_end();
    });
    w.to_vec()
}

/// Reads framed binary replies from a blocking socket until `n` arrived.
fn read_replies(s: &mut TcpStream, n: usize) -> Vec<(i32, String)> {
    let codec = Codec {
        transport: Transport::Framed,
        protocol: Protocol::Binary,
    };
    let mut buf = LinkBuffer::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        match transport::decode_frame(&mut buf, codec, &Default::default()).expect("frame") {
            Decoded::Ready(f) => {
                let mut r = BinaryReader::new(f.payload);
                let m = r.read_message_begin().expect("header");
                let res = EchoServiceEchoResult::decode(&mut r).expect("result");
                out.push((m.seqid, res.success.expect("success").msg.to_string()));
            }
            Decoded::NeedMore(_) => {
                let k = s.read(&mut chunk).expect("read");
                assert!(k > 0, "server closed early");
                buf.extend_from_slice(&chunk[..k]);
            }
        }
    }
    out
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Whether the server closed `s` (EOF or reset) within the read timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_huge_declared_frame_that_stalls_is_closed_and_others_carry_on() {
    let fx = start(|c| c.read_timeout = Duration::from_millis(300));
    let mut good = raw(fx.addr());
    let mut stalled = Vec::new();
    for _ in 0..8 {
        // 16 MiB declared (the limit), 10 bytes sent, then nothing.
        let mut s = raw(fx.addr());
        s.write_all(&(16 * 1024 * 1024u32 - 4).to_be_bytes())
            .expect("write");
        s.write_all(&[0x80, 0x01, 0, 1, 0, 0, 0, 4, b'e', b'c'])
            .expect("write");
        stalled.push(s);
    }
    good.write_all(&framed_call(3, "meanwhile")).expect("write");
    assert_eq!(
        read_replies(&mut good, 1),
        vec![(3, "meanwhile".to_string())]
    );
    for s in &mut stalled {
        assert!(
            closed_by_server(s),
            "a stalled frame is closed after the read timeout"
        );
    }
    good.write_all(&framed_call(4, "still here"))
        .expect("write");
    assert_eq!(
        read_replies(&mut good, 1),
        vec![(4, "still here".to_string())]
    );
}

#[test]
fn a_quiet_connection_parks_and_wakes_on_the_next_request() {
    // A 200 ms read timeout makes the sweeper tick every 25 ms, so a
    // connection quiet for 150 ms has parked (given its buffer back).
    let fx = start(|c| c.read_timeout = Duration::from_millis(200));
    let mut s = raw(fx.addr());
    s.write_all(&framed_call(1, "first")).expect("write");
    assert_eq!(read_replies(&mut s, 1), vec![(1, "first".to_string())]);
    for i in 2..5 {
        std::thread::sleep(Duration::from_millis(150));
        s.write_all(&framed_call(i, "after a nap")).expect("write");
        assert_eq!(
            read_replies(&mut s, 1),
            vec![(i, "after a nap".to_string())]
        );
    }
    // Our client's pooled TTHeader connection, parked on both sides.
    let b = echo_client(fx.addr(), Transport::TtHeader, Protocol::Binary);
    run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        for _ in 0..3 {
            assert_eq!(c.echo(req("x")).await.expect("echo").msg, "x");
            monoio::time::sleep(Duration::from_millis(150)).await;
        }
    });
}

#[test]
fn a_parked_connection_still_times_out_when_idle() {
    let fx = start(|c| {
        c.read_timeout = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(300);
    });
    let mut s = raw(fx.addr());
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut s), "closed for idleness");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn oversize_frame_closes_only_that_connection() {
    let fx = start(|c| c.frame_limits.max_frame_len = 1024);
    let mut good = raw(fx.addr());
    let mut bad = raw(fx.addr());
    bad.write_all(&(1_000_000u32).to_be_bytes()).expect("write");
    bad.write_all(&[0x80, 0x01, 0, 1]).expect("write");
    assert!(
        closed_by_server(&mut bad),
        "an oversize frame closes the connection"
    );
    good.write_all(&framed_call(7, "still here"))
        .expect("write");
    assert_eq!(
        read_replies(&mut good, 1),
        vec![(7, "still here".to_string())]
    );
}

#[test]
fn partial_frame_then_silence_is_closed_after_the_read_timeout() {
    let fx = start(|c| c.read_timeout = Duration::from_millis(200));
    let mut good = raw(fx.addr());
    let mut stuck = raw(fx.addr());
    let call = framed_call(1, "never finished");
    stuck.write_all(&call[..call.len() / 2]).expect("write");
    assert!(
        closed_by_server(&mut stuck),
        "the half frame's connection is closed"
    );
    good.write_all(&framed_call(2, "fine")).expect("write");
    assert_eq!(read_replies(&mut good, 1), vec![(2, "fine".to_string())]);
}

#[test]
fn graceful_shutdown_under_load_loses_no_accepted_request() {
    let mut fx = start(|c| c.shutdown_timeout = Duration::from_secs(5));
    let addr = fx.addr();
    let served = fx.served.clone();
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut loaders = Vec::new();
    for t in [Transport::TtHeader, Transport::Framed] {
        let (ok, failed) = (ok.clone(), failed.clone());
        loaders.push(std::thread::spawn(move || {
            run(async move {
                let c = Rc::new(EchoServiceClient::new(
                    echo_client(addr, t, Protocol::Binary)
                        .build()
                        .expect("client"),
                ));
                let mut tasks = Vec::new();
                for w in 0..4 {
                    let (c, ok, failed) = (c.clone(), ok.clone(), failed.clone());
                    tasks.push(monoio::spawn(async move {
                        // Bounded: at most 20 000 calls per worker.
                        for i in 0..20_000 {
                            let msg = if i % 50 == 0 {
                                "sleep:20".to_string()
                            } else {
                                format!("{w}-{i}")
                            };
                            match c.echo(req(&msg)).await {
                                Ok(r) => {
                                    assert_eq!(r.msg, msg.as_str(), "a reply matches its call");
                                    ok.fetch_add(1, Ordering::SeqCst);
                                }
                                Err(_) => {
                                    failed.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await;
                }
            })
        }));
    }
    // Wait until the load is running, then shut down in the middle of it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ok.load(Ordering::SeqCst) < 500 {
        assert!(std::time::Instant::now() < deadline, "load started");
        std::thread::sleep(Duration::from_millis(5));
    }
    fx.server.take().expect("server").shutdown();
    for l in loaders {
        l.join().expect("loader finished");
    }
    let (ok, served) = (ok.load(Ordering::SeqCst), served.load(Ordering::SeqCst));
    // Every request a handler accepted was answered, and the answer arrived.
    assert_eq!(ok, served, "accepted {served}, answered {ok}");
    assert!(
        failed.load(Ordering::SeqCst) >= 1,
        "the load saw the server go away"
    );
}

#[test]
fn a_peer_that_reads_slowly_gets_every_reply_and_others_carry_on() {
    let fx = start(|c| c.max_unflushed_bytes = 64 * 1024);
    let addr = fx.addr();
    let mut slow = raw(addr);
    let mut writer = slow.try_clone().expect("clone");
    let big = "y".repeat(64 * 1024);
    let n = 48; // 3 MiB of replies, far past the server's 64 KiB back-log.
    let sender = std::thread::spawn(move || {
        for i in 1..=n {
            writer.write_all(&framed_call(i, &big)).expect("write");
        }
    });
    // Another connection is served while the slow one is backed up.
    let mut other = raw(addr);
    other
        .write_all(&framed_call(1, "meanwhile"))
        .expect("write");
    assert_eq!(
        read_replies(&mut other, 1),
        vec![(1, "meanwhile".to_string())]
    );
    let replies = read_replies(&mut slow, n as usize);
    sender.join().expect("sender");
    let seqids: Vec<i32> = replies.iter().map(|r| r.0).collect();
    assert_eq!(seqids, (1..=n).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.1.len() == 64 * 1024));
}

/// A peer that answers every request with `reply` (or closes, if empty),
/// for `conns` connections; returns its address.
fn scripted_peer(reply: &'static [u8], conns: usize) -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming().take(conns) {
            let Ok(mut s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut b = [0u8; 4096];
            if matches!(s.read(&mut b), Ok(n) if n > 0) && !reply.is_empty() {
                let _ = s.write_all(reply);
            }
            // Dropped: the connection closes.
        }
    });
    addr
}

#[test]
fn the_same_bad_reply_is_the_same_error_on_the_long_and_the_mux_pool() {
    // A TTHeader frame whose header is malformed: magic right, then a
    // header size that runs past the frame.
    const BAD: &[u8] = &[
        0, 0, 0, 14, 0x10, 0x00, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0, 0, 0, 0,
    ];
    for (reply, expect_protocol) in [(BAD, true), (&[][..], false)] {
        let mut kinds = Vec::new();
        for pool in [PoolKind::long(), PoolKind::mux()] {
            let addr = scripted_peer(reply, 1);
            let b = echo_client(addr, Transport::TtHeader, Protocol::Binary).pool(pool);
            let err = run(async move {
                let c = EchoServiceClient::new(b.build().expect("client"));
                c.echo(req("x")).await.expect_err("a bad peer")
            });
            match (&err, expect_protocol) {
                (Error::Protocol(_), true) => kinds.push("protocol"),
                (Error::Io(e), false) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{err:?}");
                    kinds.push("eof")
                }
                other => panic!("{pool:?}: {other:?}"),
            }
        }
        assert_eq!(kinds[0], kinds[1], "long and mux agree");
    }
}

/// Reads whole frames of `codec` off a blocking socket, at least `n`
/// (`None` if the peer closes or sends garbage first).
fn read_frames(
    s: &mut TcpStream,
    codec: Codec,
    n: usize,
) -> Option<Vec<ringrpc::codec::transport::Frame>> {
    let mut buf = LinkBuffer::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        match transport::decode_frame(&mut buf, codec, &Default::default()).ok()? {
            Decoded::Ready(f) => out.push(f),
            Decoded::NeedMore(_) => match s.read(&mut chunk) {
                Ok(k) if k > 0 => buf.extend_from_slice(&chunk[..k]),
                _ => return None,
            },
        }
    }
    Some(out)
}

/// The echo reply to a call frame, with `seqid` as its seq id.
fn echo_reply(call: &ringrpc::codec::transport::Frame, seqid: i32) -> Vec<u8> {
    let mut r = BinaryReader::new(call.payload.clone());
    let m = r.read_message_begin().expect("header");
    let args = EchoServiceEchoArgs::decode(&mut r).expect("args");
    let header = call.header.as_ref().map(|h| {
        let mut out = ringrpc::codec::transport::TtHeader::new(h.seq_id);
        out.protocol = h.protocol;
        out
    });
    let mut w = LinkWriter::new();
    transport::encode_frame(&mut w, call.codec, header.as_ref(), |out| {
        let mut p = BinaryWriter::new(out);
        p.write_message_begin(&MessageIdent::new(m.name, MessageType::Reply, seqid));
        EchoServiceEchoResult {
            success: Some(EchoResponse { msg: args.req.msg }),
        }
        .encode(&mut p);
        p.write_message_end();
    });
    w.to_vec()
}

/// The seq id of a call frame's message.
fn seqid_of(call: &ringrpc::codec::transport::Frame) -> i32 {
    let mut r = BinaryReader::new(call.payload.clone());
    r.read_message_begin().expect("header").seqid
}

/// A scripted peer on its own thread: `serve` runs per accepted connection
/// (at most `conns` of them); returns the address and the number accepted.
fn scripted(conns: usize, serve: fn(TcpStream)) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        for s in l.incoming().take(conns) {
            let Ok(s) = s else { return };
            a.fetch_add(1, Ordering::SeqCst);
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            std::thread::spawn(move || serve(s));
        }
    });
    (addr, accepted)
}

const FRAMED: Codec = Codec {
    transport: Transport::Framed,
    protocol: Protocol::Binary,
};

#[test]
fn a_reply_with_another_seq_id_is_refused_and_its_connection_dropped() {
    // Answers its very first call with seq id + 1000, the rest properly.
    static WRONG_ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    let (addr, accepted) = scripted(4, |mut s| {
        while let Some(mut frames) = read_frames(&mut s, FRAMED, 1) {
            let f = frames.remove(0);
            let wrong = WRONG_ONCE.swap(false, Ordering::SeqCst);
            let seq = seqid_of(&f) + if wrong { 1000 } else { 0 };
            if s.write_all(&echo_reply(&f, seq)).is_err() {
                return;
            }
        }
    });
    let b = echo_client(addr, Transport::Framed, Protocol::Binary);
    run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        match c.echo(req("first")).await {
            Err(Error::Application(ex)) => assert_eq!(ex.kind, ExceptionKind::BadSequenceId),
            other => panic!("expected BAD_SEQUENCE_ID, got {other:?}"),
        }
        // The out-of-step connection was dropped: the next call opens a
        // new one, and the one after reuses it.
        assert_eq!(c.echo(req("second")).await.expect("echo").msg, "second");
        assert_eq!(c.echo(req("third")).await.expect("echo").msg, "third");
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn a_mux_client_matches_replies_a_server_sends_out_of_order() {
    const TT: Codec = Codec {
        transport: Transport::TtHeader,
        protocol: Protocol::Binary,
    };
    // Reads eight calls, then answers them last first.
    let (addr, _) = scripted(1, |mut s| {
        let Some(calls) = read_frames(&mut s, TT, 8) else {
            return;
        };
        for f in calls.iter().rev() {
            let _ = s.write_all(&echo_reply(f, seqid_of(f)));
        }
        let mut b = [0u8; 1];
        let _ = s.read(&mut b);
    });
    let b = echo_client(addr, Transport::TtHeader, Protocol::Binary).pool(PoolKind::mux());
    run(async move {
        let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let c = c.clone();
                monoio::spawn(async move {
                    let msg = format!("call {i}");
                    assert_eq!(c.echo(req(&msg)).await.expect("echo").msg, msg.as_str());
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn a_server_that_closes_after_each_reply_costs_no_call() {
    // One call per connection, then the server closes it.
    let (addr, accepted) = scripted(20, |mut s| {
        if let Some(frames) = read_frames(&mut s, FRAMED, 1) {
            let _ = s.write_all(&echo_reply(&frames[0], seqid_of(&frames[0])));
        }
    });
    let b = echo_client(addr, Transport::Framed, Protocol::Binary);
    run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        for i in 0..5 {
            let msg = format!("call {i}");
            // Give the close a moment to arrive, as between real calls.
            monoio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(c.echo(req(&msg)).await.expect("echo").msg, msg.as_str());
        }
    });
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        5,
        "a new connection per call"
    );
}
