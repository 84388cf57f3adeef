//! gRPC middleware on both sides, and the client's retry budget, over
//! loopback: a client layer sees each call's path, kind, peer and retries,
//! adds metadata the server reads, and may answer in the call's place; a
//! server layer reads the request's metadata, rejects a call before its
//! handler, adds to the reply's metadata, and a panic in it is `INTERNAL`
//! with the core still serving; one middleware written generically wraps
//! Thrift and gRPC calls alike; a client layer that shortens the deadline
//! shortens the call. Bounded in count and time.

mod grpc_common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpc_common::*;
use ringrpc::discovery::retry::BudgetOptions;
use ringrpc::engine::grpc::{
    Channel, ClientAnswer, ClientCall, Code, GrpcConfig, GrpcContext, MethodKind, Request,
    Response, Router, ServerAnswer, ServerCall, Status,
};
use ringrpc::engine::middleware::{Layer, Service};
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceClient};

/// What a client layer saw of one call.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: String,
    method: String,
    kind: MethodKind,
    peer: Option<SocketAddr>,
    retries: u32,
    answered_metadata: Option<String>,
}

/// A client layer: adds `x-user`, refuses calls to `Fail` itself, and
/// notes what it saw after the call.
#[derive(Clone)]
struct Tag(Arc<Mutex<Vec<Seen>>>);

struct TagService<S> {
    seen: Arc<Mutex<Vec<Seen>>>,
    inner: S,
}

impl<S> Layer<S> for Tag {
    type Service = TagService<S>;
    fn layer(self, inner: S) -> TagService<S> {
        TagService {
            seen: self.0,
            inner,
        }
    }
}

impl<S> Service<GrpcContext, ClientCall> for TagService<S>
where
    S: Service<GrpcContext, ClientCall, Response = ClientAnswer, Error = Status>,
{
    type Response = ClientAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ClientCall) -> Result<ClientAnswer, Status> {
        if cx.method() == "Fail" {
            return Err(Status::permission_denied("the client layer said no"));
        }
        assert_eq!(
            req.encoded().is_some(),
            matches!(cx.kind(), MethodKind::Unary | MethodKind::ServerStreaming)
        );
        cx.metadata.insert("x-user", "from-the-layer").unwrap();
        let out = self.inner.call(cx, req).await;
        let answered_metadata = out
            .as_ref()
            .ok()
            .and_then(|a| a.metadata())
            .and_then(|m| m.get("x-served-by"))
            .map(str::to_owned);
        self.seen.lock().unwrap().push(Seen {
            service: cx.service().to_owned(),
            method: cx.method().to_owned(),
            kind: cx.kind(),
            peer: cx.peer,
            retries: cx.retries,
            answered_metadata,
        });
        out
    }
}

#[test]
fn a_client_layer_sees_each_call_and_may_answer_it() {
    let server = start_server();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ch = Channel::builder()
        .target(server.local_addr())
        .timeout(Duration::from_secs(30))
        .layer(Tag(seen.clone()))
        .build()
        .unwrap();
    run(async {
        let r = ch
            .unary::<_, Echo>(METADATA, Request::new(echo_msg("x")))
            .await
            .unwrap();
        // The server saw the layer's metadata.
        assert!(
            r.get_ref().text.starts_with("user=from-the-layer "),
            "{r:?}"
        );
        // The layer refused this one: the server never saw it (it would
        // answer NOT_FOUND).
        let e = ch
            .unary::<_, Echo>(FAIL, Request::new(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert_eq!(e.message(), "the client layer said no");
        // Every kind of call goes through it.
        check_stream_kinds(&ch).await;
    });
    let seen = seen.lock().unwrap().clone();
    let first = &seen[0];
    assert_eq!(
        first,
        &Seen {
            service: "test.Echo".into(),
            method: "Metadata".into(),
            kind: MethodKind::Unary,
            peer: Some(server.local_addr()),
            retries: 0,
            answered_metadata: Some("ringrpc".into()),
        }
    );
    let kinds: Vec<_> = seen.iter().map(|s| (s.method.as_str(), s.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("Metadata", MethodKind::Unary),
            ("Ticks", MethodKind::ServerStreaming),
            ("Ticks", MethodKind::ServerStreaming),
            ("Sum", MethodKind::ClientStreaming),
            ("Chat", MethodKind::BidiStreaming),
        ]
    );
}

/// A server layer: calls need `authorization: let-me-in`; a call to
/// `Boom` panics in the layer; the reply gets `x-checked-by`.
#[derive(Clone)]
struct Auth;

struct AuthService<S>(S);

impl<S> Layer<S> for Auth {
    type Service = AuthService<S>;
    fn layer(self, inner: S) -> AuthService<S> {
        AuthService(inner)
    }
}

impl<S> Service<GrpcContext, ServerCall> for AuthService<S>
where
    S: Service<GrpcContext, ServerCall, Response = ServerAnswer, Error = Status>,
{
    type Response = ServerAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ServerCall) -> Result<ServerAnswer, Status> {
        if cx.method() == "Boom" {
            panic!("the layer broke");
        }
        if cx.metadata.get("authorization") != Some("let-me-in") {
            return Err(Status::unauthenticated(format!(
                "{} needs a token",
                cx.path()
            )));
        }
        assert!(cx.peer.is_some_and(|p| p.ip().is_loopback()));
        let kind = cx.kind();
        let has_deadline = cx.remaining().is_some();
        let mut answer = self.0.call(cx, req).await?;
        if let Some(md) = answer.metadata_mut() {
            md.insert("x-checked-by", "auth").unwrap();
            md.insert("x-kind", &format!("{kind:?}")).unwrap();
            md.insert("x-deadline", if has_deadline { "yes" } else { "no" })
                .unwrap();
        }
        Ok(answer)
    }
}

/// Counts calls, for any context and request: one type wraps Thrift and
/// gRPC calls.
#[derive(Clone)]
struct Count(Arc<AtomicUsize>);

struct Counted<S>(Arc<AtomicUsize>, S);

impl<S> Layer<S> for Count {
    type Service = Counted<S>;
    fn layer(self, inner: S) -> Counted<S> {
        Counted(self.0, inner)
    }
}

impl<S, Cx, Req> Service<Cx, Req> for Counted<S>
where
    S: Service<Cx, Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    async fn call(&self, cx: &mut Cx, req: Req) -> Result<S::Response, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        self.1.call(cx, req).await
    }
}

fn start_guarded(grpc_calls: Arc<AtomicUsize>, thrift_calls: Arc<AtomicUsize>) -> ServerHandle {
    let router = router()
        .unary("/test.Echo/Boom", |req: Request<Echo>| async move {
            Ok(Response::new(req.into_inner()))
        })
        .layer(Auth)
        .layer(Count(grpc_calls));
    Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| {
            c.pin = false;
            c.shutdown_timeout = Duration::from_millis(300);
        })
        .layer(Count(thrift_calls))
        .grpc_router(router, GrpcConfig::default())
        .service(ringrpc_example_idl::echo::EchoServiceServer::new(
            ThriftEcho,
        ))
        .start()
        .expect("server starts")
}

fn authorized<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", "let-me-in")
        .unwrap();
    r
}

#[test]
fn a_server_layer_checks_calls_before_their_handler() {
    let (grpc_calls, thrift_calls) = (Arc::default(), Arc::default());
    let server = start_guarded(Arc::clone(&grpc_calls), Arc::clone(&thrift_calls));
    let ch = channel(server.local_addr());
    run(async {
        let e = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(e.message(), "/test.Echo/Echo needs a token");

        let r = ch
            .unary::<_, Echo>(METADATA, authorized(echo_msg("x")))
            .await
            .unwrap();
        // The handler still got the request's metadata the layer read.
        assert!(r.get_ref().text.starts_with("user=- "), "{r:?}");
        let md = r.metadata();
        assert_eq!(md.get("x-served-by"), Some("ringrpc"));
        assert_eq!(md.get("x-checked-by"), Some("auth"));
        assert_eq!(md.get("x-kind"), Some("Unary"));
        // The channel's 30 s timeout arrived as `grpc-timeout`.
        assert_eq!(md.get("x-deadline"), Some("yes"));

        // A client stream's reply goes out after the chain, with the
        // layer's metadata too.
        let mut call = ch
            .client_streaming::<Tick, Sum>(SUM, authorized(()))
            .await
            .unwrap();
        call.send(Tick {
            seq: 5,
            payload: vec![],
        })
        .await
        .unwrap();
        let r = call.finish().await.unwrap();
        assert_eq!(r.get_ref().total, 5);
        assert_eq!(r.metadata().get("x-kind"), Some("ClientStreaming"));

        // Streams pass the layer (their replies went out as they were
        // made).
        let mut s = ch
            .server_streaming::<_, Tick>(TICKS, authorized(TickRequest { count: 3, size: 1 }))
            .await
            .unwrap()
            .into_inner();
        let mut n = 0;
        while s.message().await.unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        let e = ch
            .server_streaming::<_, Tick>(TICKS, Request::new(TickRequest { count: 3, size: 1 }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);

        // A panic in the layer is INTERNAL, and the core carries on.
        let e = ch
            .unary::<_, Echo>("/test.Echo/Boom", authorized(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Internal);
        assert!(e.message().contains("panicked"), "{e:?}");
        let r = ch
            .unary::<_, Echo>(ECHO, authorized(echo_msg("still here")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "still here");

        // Thrift on the same port: the generic counter wraps it too.
        let thrift = EchoServiceClient::new(
            EchoServiceClient::builder()
                .target(server.local_addr())
                .build()
                .unwrap(),
        );
        for _ in 0..3 {
            thrift.echo(EchoRequest { msg: "t".into() }).await.unwrap();
        }
    });
    assert_eq!(grpc_calls.load(Ordering::SeqCst), 7);
    assert_eq!(thrift_calls.load(Ordering::SeqCst), 3);
}

/// A server whose every call fails with UNAVAILABLE, counting them.
fn start_down(calls: Arc<AtomicUsize>) -> ServerHandle {
    let (unary, streaming) = (calls.clone(), calls);
    let router = Router::new()
        .unary(ECHO, move |_req: Request<Echo>| {
            unary.fetch_add(1, Ordering::SeqCst);
            async { Err::<Response<Echo>, _>(Status::unavailable("down")) }
        })
        .server_streaming(
            TICKS,
            move |_req: Request<TickRequest>, _tx: ringrpc::engine::grpc::ResponseSink<Tick>| {
                streaming.fetch_add(1, Ordering::SeqCst);
                async { Err(Status::unavailable("down")) }
            },
        );
    start_router(router)
}

#[test]
fn server_streams_are_sent_again_until_their_headers_arrive() {
    let calls = Arc::new(AtomicUsize::new(0));
    let down = start_down(calls.clone());
    let up = start_server();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ch = Channel::builder()
        .target(down.local_addr())
        .target(up.local_addr())
        .idempotent(TICKS)
        .layer(Tag(seen.clone()))
        .build()
        .unwrap();
    run(async {
        for _ in 0..6 {
            let mut s = ch
                .server_streaming::<_, Tick>(TICKS, Request::new(TickRequest { count: 2, size: 1 }))
                .await
                .unwrap()
                .into_inner();
            assert!(s.message().await.unwrap().is_some());
        }
    });
    // Round robin sent about half of the first attempts to the server that
    // is down; each went again to the other, and the layer saw the retry.
    let sent_again = calls.load(Ordering::SeqCst);
    assert!(sent_again >= 2, "{sent_again}");
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter().map(|s| s.retries as usize).sum::<usize>(),
        sent_again
    );
    assert!(seen.iter().all(|s| s.peer == Some(up.local_addr())));
}

#[test]
fn the_retry_budget_bounds_retries_when_everything_fails() {
    let calls = Arc::new(AtomicUsize::new(0));
    let down = start_down(calls.clone());
    let ch = Channel::builder()
        .target(down.local_addr())
        .idempotent("*")
        .retries(3)
        .retry_budget(BudgetOptions {
            percent: 10.0,
            reserve: 4,
            max_tokens: 100,
        })
        .build()
        .unwrap();
    run(async {
        for _ in 0..20 {
            let e = ch
                .unary::<_, Echo>(ECHO, Request::new(echo_msg("x")))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::Unavailable);
        }
    });
    // 20 calls; without a budget, 80 attempts. The budget had 4 tokens and
    // gained 0.1 per call: 20 + 4 + 2 at most.
    let attempts = calls.load(Ordering::SeqCst);
    assert!((20..=26).contains(&attempts), "{attempts}");
    assert!(attempts >= 24, "the reserve was spent: {attempts}");
    let bad = Channel::builder()
        .target(down.local_addr())
        .retry_budget(BudgetOptions {
            percent: -1.0,
            reserve: 0,
            max_tokens: 0,
        })
        .build();
    assert!(bad.is_err());
}

/// A client layer that gives every call at most 100 ms.
#[derive(Clone)]
struct Hurry;

struct HurryService<S>(S);

impl<S> Layer<S> for Hurry {
    type Service = HurryService<S>;
    fn layer(self, inner: S) -> HurryService<S> {
        HurryService(inner)
    }
}

impl<S> Service<GrpcContext, ClientCall> for HurryService<S>
where
    S: Service<GrpcContext, ClientCall, Response = ClientAnswer, Error = Status>,
{
    type Response = ClientAnswer;
    type Error = Status;
    async fn call(&self, cx: &mut GrpcContext, req: ClientCall) -> Result<ClientAnswer, Status> {
        let soon = std::time::Instant::now() + Duration::from_millis(100);
        cx.deadline = Some(cx.deadline.map_or(soon, |d| d.min(soon)));
        self.0.call(cx, req).await
    }
}

#[test]
fn a_client_layer_that_shortens_the_deadline_shortens_the_call() {
    // A peer that accepts and never answers (not even HTTP/2's SETTINGS):
    // only the client's own timer can end the call.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let (conn, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        drop(conn);
    });
    let hurried = |addr| {
        Channel::builder()
            .target(addr)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .layer(Hurry)
            .build()
            .unwrap()
    };
    let server = start_server();
    run(async {
        // The call started with 10 s; the layer gives it 100 ms.
        let started = std::time::Instant::now();
        let e = hurried(silent_addr)
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        // Against a real server, a call that fits in 100 ms is answered.
        let r = hurried(server.local_addr())
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("quick")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "quick");
    });
    server.shutdown();
    held.join().unwrap();
}
