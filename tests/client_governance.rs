//! The client's governance against a scripted server: each call the server
//! receives takes the next step of a schedule (answer, fail, business
//! status, delay), and the tests count what reached the server and what
//! the client's counters say it retried, broke and fell back.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc::codec::thrift::{ExceptionKind, Protocol, Utf8Bytes};
use ringrpc::codec::transport::Transport;
use ringrpc::discovery::breaker::BreakerOptions;
use ringrpc::discovery::retry::{FailurePolicy, MixedPolicy};
use ringrpc::engine::client::{
    ClientBuilder, Fallback, MethodRetry, OnWarmUpError, ResultRetry, WarmUp,
};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::{BizStatus, Error, Result};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceEchoArgs,
    EchoServiceEchoResult, EchoServiceServer,
};

/// What the server does with one call.
#[derive(Debug, Clone, Copy)]
enum Step {
    Answer,
    Fail,
    Biz(i32),
    Delay(u64),
}

/// A server that follows a schedule (then answers), counting calls.
#[derive(Clone, Default)]
struct Scripted {
    steps: Arc<Mutex<VecDeque<Step>>>,
    calls: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(steps: &[Step]) -> Self {
        Self {
            steps: Arc::new(Mutex::new(steps.iter().copied().collect())),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl EchoService for Scripted {
    async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.steps.lock().expect("lock").pop_front();
        match step.unwrap_or(Step::Answer) {
            Step::Answer => Ok(EchoResponse { msg: req.msg }),
            Step::Fail => Err(Error::handler("scripted failure")),
            Step::Biz(code) => Err(Error::Biz(BizStatus {
                code,
                message: "scripted".into(),
                extra: None,
            })),
            Step::Delay(ms) => {
                monoio::time::sleep(Duration::from_millis(ms)).await;
                Ok(EchoResponse { msg: req.msg })
            }
        }
    }
}

fn serve(s: &Scripted) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service(EchoServiceServer::new(s.clone()))
        .start()
        .expect("start")
}

fn client(targets: &[SocketAddr]) -> ClientBuilder {
    let mut b = ClientBuilder::new("EchoService")
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("governance-test")
        .connect_timeout(Duration::from_secs(1))
        .rpc_timeout(Duration::from_secs(5));
    for t in targets {
        b = b.target(*t);
    }
    b
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

fn req(msg: &str) -> EchoRequest {
    EchoRequest { msg: msg.into() }
}

#[test]
fn a_service_breaker_opens_and_keeps_calls_from_the_server() {
    let s = Scripted::new(&[Step::Fail; 10]);
    let server = serve(&s);
    let b = client(&[server.local_addr()]).service_breakers(BreakerOptions {
        min_samples: 10,
        error_rate: 0.5,
        cool_down: Duration::from_secs(60),
        ..BreakerOptions::default()
    });
    let (counters, broken) = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        let mut broken = 0;
        for _ in 0..15 {
            if let Err(Error::CircuitBreak { .. }) = c.echo(req("x")).await {
                broken += 1;
            }
        }
        (c.inner().governance().counters(), broken)
    });
    assert_eq!(s.calls(), 10, "ten failures reached the server, then none");
    assert_eq!(broken, 5);
    assert_eq!(counters.rejected, 5);
    assert_eq!(counters.breakers_opened, 1);
    server.shutdown();
}

#[test]
fn a_result_retry_sends_again_on_a_named_business_status() {
    let s = Scripted::new(&[Step::Biz(4001), Step::Biz(4002)]);
    // Two instances following one script: a retry goes to the other.
    let (server, other) = (serve(&s), serve(&s));
    let b = client(&[server.local_addr(), other.local_addr()])
        .method_retry("echo", MethodRetry::failure(FailurePolicy::new()))
        .result_retry("echo", ResultRetry::new().biz_status(4001));
    let (first, second, counters) = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        let first = c.echo(req("a")).await;
        let second = c.echo(req("b")).await;
        (first, second, c.inner().governance().counters())
    });
    // 4001 is retried; the retry's 4002 is not named, so it stands. The
    // next call is answered.
    assert!(
        matches!(first, Err(Error::Biz(ref b)) if b.code == 4002),
        "{first:?}"
    );
    assert_eq!(second.expect("answered").msg.as_str(), "b");
    assert_eq!(s.calls(), 3);
    assert_eq!((counters.retries, counters.result_retries), (1, 1));
    server.shutdown();
    other.shutdown();
}

#[test]
fn a_call_never_written_is_retried_even_when_not_idempotent() {
    // Nothing listens on the first target: the connect fails, the request
    // never left, so the retry goes to the second target.
    let dead: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let s = Scripted::new(&[]);
    let server = serve(&s);
    let b = client(&[dead, server.local_addr()])
        .no_instance_breakers()
        .method_retry(
            "echo",
            MethodRetry::failure(FailurePolicy::new()).idempotent(false),
        );
    let counters = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        for i in 0..4 {
            let r = c.echo(req(&i.to_string())).await;
            assert_eq!(r.expect("answered").msg.as_str(), i.to_string());
        }
        c.inner().governance().counters()
    });
    assert_eq!(s.calls(), 4, "every call reached the live server once");
    // Round robin over two (from a random start): the retry moves the
    // cursor too, so most calls try the dead one first; each of those is
    // retried once, and none fails.
    assert!(
        (1..=4).contains(&counters.retries),
        "one retry per connect that failed: {counters:?}"
    );
    server.shutdown();
}

#[test]
fn a_failure_that_may_have_reached_the_server_is_not_resent_unless_idempotent() {
    let s = Scripted::new(&[Step::Delay(400)]);
    let server = serve(&s);
    let b = client(&[server.local_addr()]).method_retry(
        "echo",
        MethodRetry::failure(FailurePolicy::new())
            .idempotent(false)
            .attempt_timeout(Duration::from_millis(100)),
    );
    let (r, counters) = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        let r = c.echo(req("x")).await;
        (r, c.inner().governance().counters())
    });
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert_eq!(counters.retries, 0);
    assert_eq!(s.calls(), 1);
    server.shutdown();
}

#[test]
fn mixed_retry_backs_up_a_slow_call_and_retries_a_failed_one() {
    let s = Scripted::new(&[Step::Delay(300), Step::Answer, Step::Fail, Step::Answer]);
    // Two instances following one script: each new attempt goes to the
    // instance the call has not tried.
    let (server, other) = (serve(&s), serve(&s));
    let policy = MixedPolicy::new(Duration::from_millis(50)).expect("policy");
    let b = client(&[server.local_addr(), other.local_addr()])
        .method_retry("echo", MethodRetry::mixed(policy).idempotent(true))
        .result_retry(
            "echo",
            ResultRetry::new().application_exception(ExceptionKind::InternalError),
        );
    let (slow, failed, counters) = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        // The first attempt is slow: a backup goes out after 50 ms and
        // answers first.
        let slow = c.echo(req("slow")).await.map(|r| r.msg.to_string());
        // The first attempt fails with an exception the rule names: it is
        // retried at once, and the retry answers.
        let failed = c.echo(req("fail")).await.map(|r| r.msg.to_string());
        (slow, failed, c.inner().governance().counters())
    });
    assert_eq!(slow.expect("the backup answers"), "slow");
    assert_eq!(failed.expect("the retry answers"), "fail");
    assert_eq!(counters.backups, 1, "{counters:?}");
    assert_eq!((counters.retries, counters.result_retries), (1, 1));
    assert_eq!(s.calls(), 4);
    server.shutdown();
    other.shutdown();
}

#[test]
fn a_fallback_answers_failed_calls_and_is_counted() {
    let s = Scripted::new(&[Step::Fail, Step::Fail, Step::Answer]);
    let server = serve(&s);
    let b = client(&[server.local_addr()]).fallback(
        "echo",
        Fallback::new(|_cx, _args: &EchoServiceEchoArgs, e: Error| {
            EchoServiceEchoResult::from_outcome(Ok(EchoResponse {
                msg: Utf8Bytes::from(format!("fallback after {e}")),
            }))
        }),
    );
    let (msgs, counters) = run(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        let mut msgs = Vec::new();
        for _ in 0..3 {
            msgs.push(c.echo(req("x")).await.expect("answered").msg.to_string());
        }
        (msgs, c.inner().governance().counters())
    });
    assert!(msgs[0].starts_with("fallback after"), "{msgs:?}");
    assert!(msgs[1].starts_with("fallback after"));
    assert_eq!(msgs[2], "x");
    assert_eq!(counters.fallbacks, 2);
    assert_eq!(s.calls(), 3);
    server.shutdown();
}

#[test]
fn warm_up_opens_connections_before_the_first_call() {
    let s = Scripted::new(&[]);
    let server = serve(&s);
    let addr = server.local_addr();
    let b = client(&[addr]).warm_up(
        WarmUp::new()
            .conns_per_addr(3)
            .on_error(OnWarmUpError::FailFast),
    );
    let srv = &server;
    let (idle, served, conns) = run(async move {
        let c = b.build_warmed().await.expect("warmed");
        let idle = c.chain().invoke().idle_connections(&addr);
        let c = EchoServiceClient::new(c);
        c.echo(req("x")).await.expect("answered");
        let conns: u64 = srv.stats().iter().map(|c| c.connections).sum();
        (idle, s.calls(), conns)
    });
    assert_eq!(idle, 3, "three pooled connections before any call");
    assert_eq!(served, 1);
    assert_eq!(conns, 3, "the call used a warmed connection");
    server.shutdown();
}
