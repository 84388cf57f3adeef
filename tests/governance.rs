//! The server's overload protection: QPS, in-flight and connection limits
//! (per core, rebalanced, changeable at run time), a user's limiter, the
//! caller's deadline, and Apache's multiplexed service names. In memory
//! through `testing::Pair` where no socket is needed; over loopback for
//! connections, run-time changes and the split of a limit across cores.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringrpc::codec::thrift::{
    ApplicationException, BinaryReader, ExceptionKind, Message, MessageType, ProtocolReader,
};
use ringrpc::codec::transport::ttheader::int_key;
use ringrpc::codec::transport::{Codec, Frame, Transport, TtHeader};
use ringrpc::engine::client::decode_reply;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::limit::{
    CONCURRENCY_OVER_LIMIT, EXPIRED, LIMITER_REFUSED, QPS_OVER_LIMIT, TIMED_OUT,
};
use ringrpc::engine::server::{CallInfo, Limiter, Limits, Server};
use ringrpc::engine::testing::{FRAMED_BINARY, call_frame, reply_frames};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceEchoArgs, EchoServiceEchoResult,
    EchoServiceServer,
};
use ringrpc_example_idl::item::{
    GetItemReq, GetItemResp, Item, ItemService, ItemServiceGetItemArgs, ItemServiceGetItemResult,
    ItemServiceServer,
};

/// Echoes; `sleep:N` sleeps N ms first. Counts calls started and finished.
#[derive(Clone, Default)]
struct Echo {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        self.started.fetch_add(1, Ordering::SeqCst);
        if let Some(ms) = req.msg.as_str().strip_prefix("sleep:") {
            let ms: u64 = ms.parse().unwrap_or(0);
            monoio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(EchoResponse { msg: req.msg })
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
                stock: 1,
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

const TT: Codec = Codec {
    transport: Transport::TtHeader,
    protocol: ringrpc::codec::thrift::Protocol::Binary,
};

/// A TTHeader with the caller's RPC timeout, as Kitex sends it.
fn with_timeout(seqid: i32, ms: u64) -> TtHeader {
    let mut h = TtHeader::new(seqid);
    h.set_int(int_key::RPC_TIMEOUT, ms.to_string())
        .expect("fits");
    h
}

/// A reply: the echoed message, or the application exception.
fn outcome(f: &Frame) -> Result<String, ApplicationException> {
    let mut r = BinaryReader::new(f.payload.clone());
    let m = r.read_message_begin().expect("a message header");
    if m.msg_type == MessageType::Exception {
        return Err(ApplicationException::decode(&mut r).expect("an exception"));
    }
    let res: EchoServiceEchoResult = decode_reply(f, "echo").expect("a result");
    Ok(res.into_outcome().expect("ok").msg.to_string())
}

fn over_limit(ex: &ApplicationException, message: &str) -> bool {
    ex.kind == ExceptionKind::InternalError && ex.message == message
}

#[test]
fn calls_over_the_qps_limit_are_refused_before_the_handler() {
    run(async {
        let echo = Echo::default();
        let mut pair = Server::builder()
            .limits(Limits {
                max_qps: Some(10),
                ..Limits::default()
            })
            .service(EchoServiceServer::new(echo.clone()))
            .in_memory();
        let mut bytes = Vec::new();
        for i in 1..=20 {
            bytes.extend(call_frame(FRAMED_BINARY, None, "echo", i, &args("x")));
        }
        let out = pair.exchange(&bytes).await.expect("open");
        let replies = reply_frames(&out, FRAMED_BINARY).expect("replies");
        assert_eq!(replies.len(), 20, "every call is answered");
        // 10 per second, a bucket of one 100 ms period: one token now.
        let ok = replies.iter().filter(|f| outcome(f).is_ok()).count();
        let refused = replies
            .iter()
            .filter(|f| outcome(f).is_err_and(|ex| over_limit(&ex, QPS_OVER_LIMIT)))
            .count();
        assert_eq!((ok, refused), (1, 19));
        assert_eq!(
            echo.started.load(Ordering::SeqCst),
            1,
            "refused calls never run"
        );
    });
}

#[test]
fn calls_over_the_in_flight_limit_are_refused() {
    run(async {
        let echo = Echo::default();
        let mut pair = Server::builder()
            .limits(Limits {
                max_concurrency: Some(2),
                ..Limits::default()
            })
            .service(EchoServiceServer::new(echo.clone()))
            .in_memory();
        // TTHeader calls run concurrently: two hold their slots while the
        // other three arrive.
        let mut bytes = Vec::new();
        for i in 1..=5 {
            bytes.extend(call_frame(TT, None, "echo", i, &args("sleep:30")));
        }
        let out = pair.exchange(&bytes).await.expect("open");
        let replies = reply_frames(&out, TT).expect("replies");
        let ok = replies.iter().filter(|f| outcome(f).is_ok()).count();
        let refused = replies
            .iter()
            .filter(|f| outcome(f).is_err_and(|ex| over_limit(&ex, CONCURRENCY_OVER_LIMIT)))
            .count();
        assert_eq!((ok, refused), (2, 3));
        assert_eq!(echo.started.load(Ordering::SeqCst), 2);
        // The slots are free again.
        let out = pair
            .exchange(&call_frame(TT, None, "echo", 9, &args("again")))
            .await
            .expect("open");
        let replies = reply_frames(&out, TT).expect("reply");
        assert_eq!(outcome(&replies[0]).expect("admitted"), "again");
    });
}

/// Admits three calls per core, ever; counts releases.
struct ThreeCalls {
    admitted: Cell<u32>,
    released: Arc<AtomicUsize>,
}

impl Limiter for ThreeCalls {
    fn acquire(&self, call: &CallInfo<'_>) -> bool {
        assert_eq!((call.service, call.method), ("EchoService", "echo"));
        let n = self.admitted.get();
        self.admitted.set(n + 1);
        n < 3
    }
    fn release(&self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_user_limiter_decides_after_the_built_in_limits() {
    run(async {
        let echo = Echo::default();
        let released = Arc::new(AtomicUsize::new(0));
        let r2 = released.clone();
        let mut pair = Server::builder()
            .limiter(move || ThreeCalls {
                admitted: Cell::new(0),
                released: r2.clone(),
            })
            .service(EchoServiceServer::new(echo.clone()))
            .in_memory();
        let mut bytes = Vec::new();
        for i in 1..=5 {
            bytes.extend(call_frame(FRAMED_BINARY, None, "echo", i, &args("x")));
        }
        let out = pair.exchange(&bytes).await.expect("open");
        let replies = reply_frames(&out, FRAMED_BINARY).expect("replies");
        let refused = replies
            .iter()
            .filter(|f| outcome(f).is_err_and(|ex| over_limit(&ex, LIMITER_REFUSED)))
            .count();
        assert_eq!(refused, 2);
        assert_eq!(echo.started.load(Ordering::SeqCst), 3);
        assert_eq!(
            released.load(Ordering::SeqCst),
            3,
            "every admitted call is released"
        );
    });
}

#[test]
fn a_call_whose_deadline_passed_in_the_queue_is_not_run() {
    run(async {
        let echo = Echo::default();
        let mut pair = Server::builder()
            .configure(|c| c.max_inflight_per_conn = 1)
            .service(EchoServiceServer::new(echo.clone()))
            .in_memory();
        // Read together: the second waits behind the first (one in flight
        // per connection), and its 50 ms are gone when its turn comes.
        let mut bytes = call_frame(
            TT,
            Some(&with_timeout(1, 5000)),
            "echo",
            1,
            &args("sleep:150"),
        );
        bytes.extend(call_frame(
            TT,
            Some(&with_timeout(2, 50)),
            "echo",
            2,
            &args("late"),
        ));
        let out = pair.exchange(&bytes).await.expect("open");
        let replies = reply_frames(&out, TT).expect("replies");
        assert_eq!(outcome(&replies[0]).expect("ran"), "sleep:150");
        let ex = outcome(&replies[1]).expect_err("expired");
        assert_eq!(
            (ex.kind, ex.message.as_str()),
            (ExceptionKind::InternalError, EXPIRED)
        );
        assert_eq!(
            echo.started.load(Ordering::SeqCst),
            1,
            "the late call never ran"
        );
        // A call with time left runs.
        let out = pair
            .exchange(&call_frame(
                TT,
                Some(&with_timeout(3, 5000)),
                "echo",
                3,
                &args("ok"),
            ))
            .await
            .expect("open");
        assert_eq!(
            outcome(&reply_frames(&out, TT).expect("reply")[0]).expect("ok"),
            "ok"
        );
    });
}

#[test]
fn an_enforced_deadline_stops_the_handler() {
    run(async {
        let echo = Echo::default();
        let mut pair = Server::builder()
            .configure(|c| c.enforce_deadline = true)
            .service(EchoServiceServer::new(echo.clone()))
            .in_memory();
        let out = pair
            .exchange(&call_frame(
                TT,
                Some(&with_timeout(1, 30)),
                "echo",
                1,
                &args("sleep:2000"),
            ))
            .await
            .expect("open");
        let ex = outcome(&reply_frames(&out, TT).expect("reply")[0]).expect_err("timed out");
        assert_eq!(
            (ex.kind, ex.message.as_str()),
            (ExceptionKind::InternalError, TIMED_OUT)
        );
        assert_eq!(echo.started.load(Ordering::SeqCst), 1);
        assert_eq!(
            echo.finished.load(Ordering::SeqCst),
            0,
            "the handler was dropped"
        );
        // Without a timeout in the header there is no deadline to enforce.
        let out = pair
            .exchange(&call_frame(TT, None, "echo", 2, &args("sleep:40")))
            .await
            .expect("open");
        assert_eq!(
            outcome(&reply_frames(&out, TT).expect("reply")[0]).expect("ran"),
            "sleep:40"
        );
    });
}

#[test]
fn multiplexed_names_reach_the_named_service() {
    run(async {
        let mut pair = Server::builder()
            .service(EchoServiceServer::new(Echo::default()))
            .service(ItemServiceServer::new(Shop))
            .in_memory();
        // `Service:method`, as Apache's TMultiplexedProtocol writes it; the
        // reply names the method alone.
        let get = ItemServiceGetItemArgs {
            req: GetItemReq { id: 7 },
        };
        let out = pair
            .exchange(&call_frame(
                FRAMED_BINARY,
                None,
                "ItemService:GetItem",
                1,
                &get,
            ))
            .await
            .expect("open");
        let f = &reply_frames(&out, FRAMED_BINARY).expect("reply")[0];
        let r: ItemServiceGetItemResult = decode_reply(f, "GetItem").expect("named GetItem");
        assert_eq!(r.into_outcome().expect("item").item.id, 7);
        let out = pair
            .exchange(&call_frame(
                FRAMED_BINARY,
                None,
                "EchoService:echo",
                2,
                &args("hi"),
            ))
            .await
            .expect("open");
        let f = &reply_frames(&out, FRAMED_BINARY).expect("reply")[0];
        assert_eq!(outcome(f).expect("echoed"), "hi");
        // A service the server does not have.
        let out = pair
            .exchange(&call_frame(
                FRAMED_BINARY,
                None,
                "NoSuch:echo",
                3,
                &args("x"),
            ))
            .await
            .expect("open");
        let ex = outcome(&reply_frames(&out, FRAMED_BINARY).expect("reply")[0])
            .expect_err("unknown service");
        assert_eq!(ex.kind, ExceptionKind::UnknownService);
    });
}

/// One framed echo call on a blocking socket; true when it was admitted.
fn blocking_call(s: &mut TcpStream, seqid: i32) -> std::io::Result<bool> {
    s.write_all(&call_frame(FRAMED_BINARY, None, "echo", seqid, &args("x")))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    let mut frame = len.to_vec();
    frame.extend(body);
    let f = &reply_frames(&frame, FRAMED_BINARY).expect("a frame")[0];
    Ok(outcome(f).is_ok())
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

#[test]
fn the_connection_limit_closes_connections_past_it() {
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(2)
        .configure(|c| c.pin = false)
        .limits(Limits {
            max_connections: Some(2),
            ..Limits::default()
        })
        .service(EchoServiceServer::new(Echo::default()))
        .start()
        .expect("start");
    let addr = server.local_addr();
    let mut a = connect(addr);
    let mut b = connect(addr);
    assert!(blocking_call(&mut a, 1).expect("a"));
    assert!(blocking_call(&mut b, 2).expect("b"));
    let mut c = connect(addr);
    let mut byte = [0u8; 1];
    assert_eq!(
        c.read(&mut byte).expect("closed, not reset"),
        0,
        "closed on accept"
    );
    assert_eq!(server.limits().stats().rejected_connections, 1);
    assert_eq!(server.limits().connections(), 2);
    // A connection closes; its slot is free again.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.limits().connections() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut d = connect(addr);
    assert!(blocking_call(&mut d, 3).expect("a free slot"));
    server.shutdown();
}

#[test]
fn limits_change_while_the_server_runs() {
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(Echo::default()))
        .start()
        .expect("start");
    let mut s = connect(server.local_addr());
    assert!((0..20).all(|i| blocking_call(&mut s, i).expect("call")));
    server.limits().set(Limits {
        max_qps: Some(5),
        ..Limits::default()
    });
    // The core applies it at its next rebalance.
    std::thread::sleep(ringrpc::engine::server::limit::REBALANCE * 3);
    let admitted = (0..20)
        .filter(|i| blocking_call(&mut s, 100 + i).expect("call"))
        .count();
    // 5 per second: the bucket holds one token, and a few ms of calls add
    // next to nothing.
    assert!(admitted <= 2, "{admitted} of 20 admitted at 5 QPS");
    assert!(server.limits().stats().rejected_qps >= 18);
    server.limits().set(Limits::default());
    std::thread::sleep(ringrpc::engine::server::limit::REBALANCE * 3);
    assert!((0..20).all(|i| blocking_call(&mut s, 200 + i).expect("call")));
    server.shutdown();
}

/// Offers far more than `max_qps` over `conns` connections for a while and
/// returns the calls admitted per second, measured after a warm-up.
fn admitted_per_second(cores: usize, conns: usize, max_qps: u64) -> f64 {
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(cores)
        .configure(|c| c.pin = false)
        .limits(Limits {
            max_qps: Some(max_qps),
            ..Limits::default()
        })
        .service(EchoServiceServer::new(Echo::default()))
        .start()
        .expect("start");
    let addr = server.local_addr();
    let warm = Duration::from_millis(500);
    let window = Duration::from_secs(2);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let admitted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, admitted) = (stop.clone(), admitted.clone());
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut seqid = 0;
                while !stop.load(Ordering::Relaxed) {
                    seqid += 1;
                    let ok = blocking_call(&mut s, seqid).expect("call");
                    let t = start.elapsed();
                    if ok && t >= warm && t < warm + window {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(warm + window + Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    server.shutdown();
    admitted.load(Ordering::Relaxed) as f64 / window.as_secs_f64()
}

#[test]
fn a_qps_limit_holds_on_one_and_two_cores_with_uneven_connections() {
    // Five connections over two cores cannot split evenly; the shares
    // follow each core's demand and add up to the limit.
    for cores in [1, 2] {
        let qps = admitted_per_second(cores, 5, 400);
        println!("{cores} core(s): {qps:.0} calls/s admitted under a limit of 400");
        assert!(
            (360.0..=440.0).contains(&qps),
            "{cores} core(s): {qps:.0} calls/s admitted under a limit of 400"
        );
    }
}
