//! The gRPC test service (messages written with prost's derive, methods
//! added to a router by hand) and helpers, shared by the gRPC tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringrpc::engine::grpc::{
    Channel, GrpcConfig, Request, Response, ResponseSink, Router, Status, Streaming,
};
use ringrpc::engine::metainfo::Kind;
use ringrpc::engine::server::{Server, ServerHandle};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Echo {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TickRequest {
    #[prost(uint32, tag = "1")]
    pub count: u32,
    #[prost(uint32, tag = "2")]
    pub size: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Tick {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(uint64, tag = "1")]
    pub count: u64,
    #[prost(uint64, tag = "2")]
    pub total: u64,
}

pub const ECHO: &str = "/test.Echo/Echo";
pub const FAIL: &str = "/test.Echo/Fail";
pub const PANIC: &str = "/test.Echo/Panic";
pub const SLOW: &str = "/test.Echo/Slow";
pub const DEADLINE: &str = "/test.Echo/Deadline";
pub const METADATA: &str = "/test.Echo/Metadata";
pub const CANCELLABLE: &str = "/test.Echo/Cancellable";
pub const TICKS: &str = "/test.Echo/Ticks";
pub const SUM: &str = "/test.Echo/Sum";
pub const CHAT: &str = "/test.Echo/Chat";
pub const STALL: &str = "/test.Echo/Stall";

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Set when the cancellable handler's future is dropped before it ends.
pub fn was_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

pub fn reset_cancelled() {
    CANCELLED.store(false, Ordering::SeqCst);
}

struct SetOnDrop(bool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if !self.0 {
            CANCELLED.store(true, Ordering::SeqCst);
        }
    }
}

pub fn echo_msg(s: &str) -> Echo {
    Echo { text: s.to_owned() }
}

pub fn router() -> Router {
    Router::new()
        .unary(ECHO, |req: Request<Echo>| async move {
            Ok(Response::new(req.into_inner()))
        })
        .unary(FAIL, |req: Request<Echo>| async move {
            let mut st = Status::not_found(req.into_inner().text);
            st.metadata_mut()
                .insert("x-reason", "asked to fail")
                .unwrap();
            Err::<Response<Echo>, _>(st)
        })
        .unary(PANIC, |_req: Request<Echo>| async move {
            if true {
                panic!("the handler broke");
            }
            Ok(Response::new(echo_msg("unreachable")))
        })
        .unary(SLOW, |req: Request<Echo>| async move {
            let ms: u64 = req.get_ref().text.parse().unwrap_or(0);
            monoio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Response::new(echo_msg(&format!("slept {ms}"))))
        })
        .unary(DEADLINE, |req: Request<Echo>| async move {
            let text = match req.remaining() {
                Some(d) => d.as_millis().to_string(),
                None => "none".to_owned(),
            };
            Ok(Response::new(echo_msg(&text)))
        })
        .unary(METADATA, |req: Request<Echo>| async move {
            let md = req.metadata();
            let text = format!(
                "user={} trace={:?} log_id={} stress={}",
                md.get("x-user").unwrap_or("-"),
                md.get_bin("x-trace-bin").unwrap_or_default(),
                md.metainfo(Kind::Persistent, "LOG_ID").unwrap_or("-"),
                md.metainfo(Kind::Transient, "STRESS").unwrap_or("-"),
            );
            let mut r = Response::new(echo_msg(&text));
            r.metadata_mut().insert("x-served-by", "ringrpc").unwrap();
            r.metadata_mut()
                .set_metainfo(Kind::Backward, "ANSWER", "42")
                .unwrap();
            Ok(r)
        })
        .unary(CANCELLABLE, |_req: Request<Echo>| async move {
            let mut guard = SetOnDrop(false);
            monoio::time::sleep(Duration::from_secs(3)).await;
            guard.0 = true;
            Ok(Response::new(echo_msg("finished")))
        })
        .server_streaming(
            TICKS,
            |req: Request<TickRequest>, mut tx: ResponseSink<Tick>| async move {
                let TickRequest { count, size } = req.into_inner();
                if size == u32::MAX {
                    for seq in 0..count {
                        tx.send(Tick {
                            seq: seq.into(),
                            payload: vec![],
                        })
                        .await?;
                    }
                    return Err(Status::invalid_argument("size too large"));
                }
                for seq in 0..count {
                    tx.send(Tick {
                        seq: seq.into(),
                        payload: vec![7; size as usize],
                    })
                    .await?;
                }
                let mut md = ringrpc::engine::grpc::Metadata::new();
                md.insert("x-ticks", &count.to_string()).unwrap();
                tx.set_trailers(md);
                Ok(())
            },
        )
        .client_streaming(SUM, |req: Request<Streaming<Tick>>| async move {
            let mut s = req.into_inner();
            let (mut count, mut total) = (0, 0);
            while let Some(t) = s.message().await? {
                count += 1;
                total += t.seq;
            }
            Ok(Response::new(Sum { count, total }))
        })
        .client_streaming(STALL, |req: Request<Streaming<Tick>>| async move {
            // Reads nothing for a while: the request stream's window fills.
            monoio::time::sleep(Duration::from_secs(3)).await;
            drop(req);
            Ok(Response::new(Sum { count: 0, total: 0 }))
        })
        .bidi_streaming(
            CHAT,
            |req: Request<Streaming<Echo>>, mut tx: ResponseSink<Echo>| async move {
                let mut rx = req.into_inner();
                while let Some(m) = rx.message().await? {
                    tx.send(echo_msg(&format!("re: {}", m.text))).await?;
                }
                Ok(())
            },
        )
}

/// A one-core server with the test router (and the Thrift echo service).
pub fn start_server() -> ServerHandle {
    start_server_with(GrpcConfig::default())
}

pub fn start_server_with(cfg: GrpcConfig) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| {
            c.pin = false;
            c.read_timeout = Duration::from_millis(500);
            c.idle_timeout = Duration::from_secs(2);
            // A test's client connections outlive its runtime: a drain
            // would wait for them in vain.
            c.shutdown_timeout = Duration::from_millis(300);
        })
        .grpc_router(router(), cfg)
        .service(ringrpc_example_idl::echo::EchoServiceServer::new(
            ThriftEcho,
        ))
        .start()
        .expect("server starts")
}

/// A one-core server of `router` alone (the tests' settings).
pub fn start_router(router: Router) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| {
            c.pin = false;
            c.shutdown_timeout = Duration::from_millis(300);
        })
        .grpc_router(router, GrpcConfig::default())
        .start()
        .expect("server starts")
}

#[derive(Clone)]
pub struct ThriftEcho;

impl ringrpc_example_idl::echo::EchoService for ThriftEcho {
    async fn echo(
        &self,
        _cx: &mut ringrpc::engine::context::ServerContext,
        req: ringrpc_example_idl::echo::EchoRequest,
    ) -> ringrpc::engine::Result<ringrpc_example_idl::echo::EchoResponse> {
        Ok(ringrpc_example_idl::echo::EchoResponse { msg: req.msg })
    }
}

pub fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::builder()
        .target(addr)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Every kind of stream through `ch`, against a server of this service
/// (ours, grpcio's or tonic's): a server stream with trailing metadata, a
/// server stream that fails midway (its messages, then the status), a
/// client stream, and a bidirectional stream in lock step.
pub async fn check_stream_kinds(ch: &Channel) {
    let mut s = ch
        .server_streaming::<_, Tick>(
            TICKS,
            Request::new(TickRequest {
                count: 50,
                size: 100,
            }),
        )
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(t) = s.message().await.unwrap() {
        assert_eq!(t.seq, n);
        assert_eq!(t.payload.len(), 100);
        n += 1;
    }
    assert_eq!(n, 50);
    assert_eq!(s.trailers().and_then(|t| t.get("x-ticks")), Some("50"));

    let mut s = ch
        .server_streaming::<_, Tick>(
            TICKS,
            Request::new(TickRequest {
                count: 3,
                size: u32::MAX,
            }),
        )
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let e = loop {
        match s.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the failing stream ended cleanly"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        (got, e.code()),
        (3, ringrpc::engine::grpc::Code::InvalidArgument)
    );
    assert_eq!(e.message(), "size too large");

    let mut call = ch
        .client_streaming::<Tick, Sum>(SUM, Request::new(()))
        .await
        .unwrap();
    for i in 0..20 {
        call.send(Tick {
            seq: i,
            payload: vec![1; 10],
        })
        .await
        .unwrap();
    }
    let r = call.finish().await.unwrap();
    assert_eq!((r.get_ref().count, r.get_ref().total), (20, (0..20).sum()));

    let (mut tx, mut rx) = ch
        .bidi_streaming::<Echo, Echo>(CHAT, Request::new(()))
        .await
        .unwrap();
    for i in 0..10 {
        tx.send(echo_msg(&format!("m{i}"))).await.unwrap();
        let m = rx.message().await.unwrap().expect("an answer");
        assert_eq!(m.text, format!("re: m{i}"));
    }
    tx.finish();
    assert!(rx.message().await.unwrap().is_none());
}

pub fn run<F: std::future::Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}
