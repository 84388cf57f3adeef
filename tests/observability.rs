//! Metainfo along a call chain, the trace context, per-call stats and
//! tracers, and the server's traffic counters, over loopback:
//! a client calls server A, whose handler calls server B.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc::codec::thrift::{ExceptionKind, Protocol};
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::ClientBuilder;
use ringrpc::engine::context::{RpcInfo, ServerContext};
use ringrpc::engine::metainfo::{self, MetainfoError, TRACEPARENT, TraceContext};
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::stats::{Event, Outcome, RpcStats, Side, StatsLevel, Tracer};
use ringrpc::engine::{Error, Result};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

fn run<F: Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

fn client(addr: SocketAddr) -> ClientBuilder {
    ClientBuilder::new("EchoService")
        .target(addr)
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("observability-test")
        .connect_timeout(Duration::from_secs(2))
        .rpc_timeout(Duration::from_secs(10))
}

fn start(
    make: impl Fn() -> EchoServiceServer<Box<dyn EchoHandler>> + Send + Sync + 'static,
) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service_per_core(make)
        .start()
        .expect("start")
}

/// Object-safe stand-in so both servers share one start helper.
trait EchoHandler {
    fn answer<'a>(
        &'a self,
        cx: &'a mut ServerContext,
        req: EchoRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<EchoResponse>> + 'a>>;
}

impl EchoService for Box<dyn EchoHandler> {
    async fn echo(&self, cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        self.answer(cx, req).await
    }
}

/// Server B: reports the metainfo it received, answers a backward value.
struct Reporter;

impl EchoHandler for Reporter {
    fn answer<'a>(
        &'a self,
        cx: &'a mut ServerContext,
        _req: EchoRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<EchoResponse>> + 'a>> {
        Box::pin(async move {
            let msg = format!(
                "p={:?} t={:?} a={:?} tp={:?}",
                cx.persistent("p"),
                cx.transient("t"),
                cx.transient("from-a"),
                cx.transient(TRACEPARENT),
            );
            cx.set_backward("b", "from-b")?;
            Ok(EchoResponse { msg: msg.into() })
        })
    }
}

/// Server A: adds a transient value, calls B, passes B's answer and
/// backward value on.
struct Relay(Rc<EchoServiceClient>);

impl EchoHandler for Relay {
    fn answer<'a>(
        &'a self,
        cx: &'a mut ServerContext,
        req: EchoRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<EchoResponse>> + 'a>> {
        Box::pin(async move {
            metainfo::set_transient("from-a", "hello")?;
            let got = self.0.echo(req).await?;
            let back = metainfo::backward("b");
            cx.set_backward("relayed", back.as_deref().unwrap_or("none"))?;
            Ok(got)
        })
    }
}

#[test]
fn metainfo_travels_the_chain_as_kitex_and_volo_define_it() {
    let b = start(|| EchoServiceServer::new(Box::new(Reporter) as Box<dyn EchoHandler>));
    let to_b = client(b.local_addr());
    let a = start(move || {
        let c = Rc::new(EchoServiceClient::new(to_b.build().expect("client")));
        EchoServiceServer::new(Box::new(Relay(c)) as Box<dyn EchoHandler>)
    });
    let to_a = client(a.local_addr());
    let root = TraceContext::new_root();
    let (msg, relayed) = run(async move {
        let c = EchoServiceClient::new(to_a.build().expect("client"));
        metainfo::scope(async {
            metainfo::set_persistent("p", "1").expect("fits");
            metainfo::set_transient("t", "only-to-a").expect("fits");
            metainfo::set_transient(TRACEPARENT, &root.to_traceparent()).expect("fits");
            let got = c
                .echo(EchoRequest { msg: "x".into() })
                .await
                .expect("the chain answers");
            (got.msg.to_string(), metainfo::backward("relayed"))
        })
        .await
    });
    // B saw the persistent value (through A), not the client's transient
    // one (it stopped at A), and A's own transient value.
    assert!(
        msg.starts_with(r#"p=Some("1") t=None a=Some("hello") tp=Some(""#),
        "{msg}"
    );
    // B's backward value came back to A, which sent it on.
    assert_eq!(relayed.as_deref(), Some("from-b"));
    // The trace continued: same trace id, a new parent span (A's).
    let tp = msg
        .split("tp=Some(\"")
        .nth(1)
        .expect("tp")
        .trim_end_matches("\")");
    let seen = TraceContext::parse(tp).expect("a valid traceparent");
    assert_eq!(seen.trace_id, root.trace_id);
    assert_ne!(seen.span_id, root.span_id);
    a.shutdown();
    b.shutdown();
}

#[test]
fn metainfo_is_bounded_on_the_client_and_needs_a_scope() {
    assert_eq!(
        metainfo::set_persistent("k", "v"),
        Err(MetainfoError::NoScope)
    );
    run(metainfo::scope(async {
        assert!(matches!(
            metainfo::set_persistent("has space", "v"),
            Err(MetainfoError::BadKey { .. })
        ));
        let long = "x".repeat(metainfo::MAX_VALUE_LEN + 1);
        assert!(matches!(
            metainfo::set_transient("k", &long),
            Err(MetainfoError::ValueTooLong { .. })
        ));
    }));
}

/// What a tracer saw of one call: side, method, outcome, whether the
/// latency and handler times were recorded, request and reply bytes.
type Seen = (Side, String, Outcome, bool, usize, usize);

/// Records what it sees.
#[derive(Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Tracer for Recorder {
    fn finish(&self, side: Side, info: &RpcInfo, stats: &RpcStats) {
        let detailed = stats
            .between(Event::ServerHandleStart, Event::ServerHandleFinish)
            .is_some();
        self.seen.lock().expect("lock").push((
            side,
            info.method.to_string(),
            stats.outcome,
            stats.latency().is_some() && detailed,
            stats.request_bytes,
            stats.reply_bytes,
        ));
    }
}

#[derive(Clone)]
struct Failing;

impl EchoService for Failing {
    async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        match req.msg.as_str() {
            "fail" => Err(Error::handler("no")),
            _ => Ok(EchoResponse { msg: req.msg }),
        }
    }
}

#[test]
fn tracers_see_every_server_call_with_its_stats() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .tracer(move || Recorder { seen: s2.clone() })
        .stats_level(StatsLevel::Detailed)
        .service_per_core(|| EchoServiceServer::new(Failing))
        .start()
        .expect("start");
    let b = client(server.local_addr());
    run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        c.echo(EchoRequest { msg: "ok".into() }).await.expect("ok");
        let e = c.echo(EchoRequest { msg: "fail".into() }).await;
        assert!(
            matches!(e, Err(Error::Application(ref ex)) if ex.kind == ExceptionKind::InternalError)
        );
    });
    let stats = server.stats();
    server.shutdown();
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].1.as_str()), (Side::Server, "echo"));
    assert_eq!(seen[0].2, Outcome::Success);
    assert_eq!(seen[1].2, Outcome::Exception(ExceptionKind::InternalError));
    assert!(
        seen.iter().all(|s| s.3),
        "latency and handler times recorded"
    );
    assert!(seen.iter().all(|s| s.4 > 0 && s.5 > 0), "sizes recorded");
    assert_eq!(stats[0].requests, 2);
    assert_eq!(stats[0].inflight, 0);
    assert!(stats[0].bytes_read >= (seen[0].4 + seen[1].4) as u64);
    assert!(stats[0].bytes_written >= (seen[0].5 + seen[1].5) as u64);
}

#[test]
fn a_server_counts_malformed_metainfo_and_ignores_it() {
    use std::io::{Read, Write};

    use ringrpc::codec::transport::{Codec, TtHeader};
    use ringrpc::engine::testing::{call_frame, reply_frames};
    use ringrpc_example_idl::echo::EchoServiceEchoArgs;
    let tt = Codec {
        transport: Transport::TtHeader,
        protocol: Protocol::Binary,
    };
    let server = start_plain(Failing);
    let mut h = TtHeader::new(1);
    h.set_str(&b"RPC_PERSIST_ok"[..], &b"fine"[..])
        .expect("fits");
    h.set_str(&b"RPC_PERSIST_bad"[..], &[0xff, 0xfe][..])
        .expect("fits");
    let args = EchoServiceEchoArgs {
        req: EchoRequest { msg: "hi".into() },
    };
    let mut s = std::net::TcpStream::connect(server.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(&call_frame(tt, Some(&h), "echo", 1, &args))
        .expect("write");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("a reply");
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).expect("a reply");
    let mut frame = len.to_vec();
    frame.extend(rest);
    assert_eq!(
        reply_frames(&frame, tt).expect("reply").len(),
        1,
        "answered as usual"
    );
    assert_eq!(server.stats()[0].malformed_metainfo, 1);
    drop(s);
    server.shutdown();
}

/// The trace context a handler runs under is reachable from its task.
#[derive(Clone)]
struct TraceReporter;

impl EchoService for TraceReporter {
    async fn echo(&self, _cx: &mut ServerContext, _req: EchoRequest) -> Result<EchoResponse> {
        let t = metainfo::current_trace();
        Ok(EchoResponse {
            msg: t
                .map(|t| format!("{:032x}", t.trace_id))
                .unwrap_or_default()
                .into(),
        })
    }
}

#[test]
fn a_handler_sees_the_trace_it_continues() {
    let server = start_plain(TraceReporter);
    let b = client(server.local_addr());
    let root = TraceContext::new_root();
    let got = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        metainfo::scope(async {
            metainfo::set_transient(TRACEPARENT, &root.to_traceparent()).expect("fits");
            c.echo(EchoRequest { msg: "x".into() }).await.expect("echo")
        })
        .await
    });
    assert_eq!(got.msg.as_str(), format!("{:032x}", root.trace_id));
    server.shutdown();
}

fn start_plain<S: EchoService + Clone + Send + Sync + 'static>(svc: S) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(svc))
        .start()
        .expect("start")
}

/// What a client tracer saw of one call.
#[derive(Debug, Clone)]
struct ClientSeen {
    side: Side,
    caller: Option<String>,
    callee: Option<String>,
    outcome: Outcome,
    detailed: bool,
    request_bytes: usize,
    reply_bytes: usize,
    retries: u32,
}

#[derive(Default)]
struct ClientRecorder {
    starts: Arc<Mutex<usize>>,
    seen: Arc<Mutex<Vec<ClientSeen>>>,
}

impl Tracer for ClientRecorder {
    fn start(&self, side: Side, _info: &RpcInfo) {
        assert_eq!(side, Side::Client);
        *self.starts.lock().expect("lock") += 1;
    }

    fn finish(&self, side: Side, info: &RpcInfo, stats: &RpcStats) {
        // Every event of a long-pool call, in order.
        let order = [
            Event::RpcStart,
            Event::ClientConnStart,
            Event::ClientConnFinish,
            Event::WriteStart,
            Event::WriteFinish,
            Event::WaitReadStart,
            Event::ReadFinish,
            Event::DecodeStart,
            Event::DecodeFinish,
            Event::RpcFinish,
        ];
        let detailed = order
            .windows(2)
            .all(|w| matches!((stats.at(w[0]), stats.at(w[1])), (Some(a), Some(b)) if a <= b));
        self.seen.lock().expect("lock").push(ClientSeen {
            side,
            caller: info.caller.service.as_ref().map(|s| s.to_string()),
            callee: info.callee.service.as_ref().map(|s| s.to_string()),
            outcome: stats.outcome,
            detailed,
            request_bytes: stats.request_bytes,
            reply_bytes: stats.reply_bytes,
            retries: stats.retries,
        });
    }
}

#[test]
fn tracers_see_every_client_call_with_its_stats() {
    let server = start_plain(Failing);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let starts = Arc::new(Mutex::new(0));
    let (s2, st2) = (seen.clone(), starts.clone());
    let b = client(server.local_addr())
        .tracer(move || ClientRecorder {
            starts: st2.clone(),
            seen: s2.clone(),
        })
        .stats_level(StatsLevel::Detailed);
    let unreachable = client("127.0.0.1:1".parse().expect("addr"))
        .tracer({
            let s3 = seen.clone();
            let st3 = starts.clone();
            move || ClientRecorder {
                starts: st3.clone(),
                seen: s3.clone(),
            }
        })
        .rpc_timeout(Duration::from_secs(2));
    run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        c.echo(EchoRequest { msg: "ok".into() }).await.expect("ok");
        assert!(c.echo(EchoRequest { msg: "fail".into() }).await.is_err());
        let u = EchoServiceClient::new(unreachable.build().expect("client"));
        assert!(u.echo(EchoRequest { msg: "x".into() }).await.is_err());
    });
    server.shutdown();
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(*starts.lock().expect("lock"), 3);
    assert_eq!(seen.len(), 3, "{seen:?}");
    for s in &seen {
        assert_eq!(s.side, Side::Client);
        assert_eq!(s.caller.as_deref(), Some("observability-test"));
        assert_eq!(s.callee.as_deref(), Some("EchoService"));
        assert_eq!(s.retries, 0);
        assert!(s.request_bytes > 0, "{s:?}");
    }
    assert_eq!(seen[0].outcome, Outcome::Success);
    assert!(seen[0].detailed, "every event recorded, in order: {seen:?}");
    assert!(seen[0].reply_bytes > 0);
    assert_eq!(
        seen[1].outcome,
        Outcome::Exception(ExceptionKind::InternalError)
    );
    assert_eq!(seen[2].outcome, Outcome::Failed, "nothing listens there");
    assert_eq!(seen[2].reply_bytes, 0);
}
