//! A real tonic client (crates.io `tonic` 0.14, its `channel` transport on
//! hyper and tokio) against ringrpc's gRPC server, over loopback. The
//! server carries the router of `../tests/grpc_common`; the client is
//! written by hand over `tonic::client::Grpc` with tonic-prost's codec, as
//! tonic-build would generate it. Unary and every kind of stream, status
//! codes with messages and trailing metadata, deadlines from tonic's
//! `Request::set_timeout`, metadata and Kitex's metainfo headers both ways,
//! gzip, 4 MiB messages and one past the limit, cancellation, the health
//! service, and 200 concurrent calls on one channel past the server's
//! stream limit. Bounded: every call runs under a timeout.

#[path = "../../tests/grpc_common/mod.rs"]
mod grpc_common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grpc_common::{
    CANCELLABLE, CHAT, DEADLINE, ECHO, Echo, FAIL, METADATA, PANIC, SLOW, SUM, Sum, TICKS, Tick,
    TickRequest, echo_msg, start_server, start_server_with,
};
use ringrpc::engine::grpc::GrpcConfig;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{CompressionEncoding, tokio_stream};
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, IntoRequest, IntoStreamingRequest, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The bound on each test's calls.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` on a tokio runtime of this thread (ringrpc's server runs on
/// its own threads), bounded.
fn tokio_run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(TEST_TIMEOUT, f)
            .await
            .expect("the test ran over its bound");
    });
}

/// The test service's client, as tonic-build would generate it (paths
/// given per call).
#[derive(Clone)]
struct EchoClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl EchoClient {
    async fn connect(addr: SocketAddr) -> EchoClient {
        let ch = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("tonic connects");
        EchoClient {
            grpc: tonic::client::Grpc::new(ch),
        }
    }

    /// Sends gzip'd requests and accepts gzip'd replies.
    fn gzip(mut self) -> EchoClient {
        self.grpc = self
            .grpc
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip);
        self
    }

    /// A client whose `grpc` is ready for one call.
    async fn ready(&self) -> Result<tonic::client::Grpc<Channel>, Status> {
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
        Ok(grpc)
    }

    async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        req: impl IntoRequest<Req>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let codec = ProstCodec::<Req, Resp>::default();
        let path = PathAndQuery::from_static(path);
        self.ready()
            .await?
            .unary(req.into_request(), path, codec)
            .await
    }

    async fn server_streaming<Req, Resp>(
        &self,
        path: &'static str,
        req: impl IntoRequest<Req>,
    ) -> Result<Response<Streaming<Resp>>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let codec = ProstCodec::<Req, Resp>::default();
        let path = PathAndQuery::from_static(path);
        self.ready()
            .await?
            .server_streaming(req.into_request(), path, codec)
            .await
    }

    async fn client_streaming<Req, Resp>(
        &self,
        path: &'static str,
        req: impl IntoStreamingRequest<Message = Req>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let codec = ProstCodec::<Req, Resp>::default();
        let path = PathAndQuery::from_static(path);
        self.ready()
            .await?
            .client_streaming(req.into_streaming_request(), path, codec)
            .await
    }

    async fn streaming<Req, Resp>(
        &self,
        path: &'static str,
        req: impl IntoStreamingRequest<Message = Req>,
    ) -> Result<Response<Streaming<Resp>>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let codec = ProstCodec::<Req, Resp>::default();
        let path = PathAndQuery::from_static(path);
        self.ready()
            .await?
            .streaming(req.into_streaming_request(), path, codec)
            .await
    }
}

#[test]
fn unary_and_errors_with_code_message_and_trailers() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let r: Response<Echo> = c.unary(ECHO, echo_msg("hi")).await.unwrap();
        assert_eq!(r.get_ref().text, "hi");

        let e = c
            .unary::<_, Echo>(FAIL, echo_msg("no such item: 7 ½%"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(e.message(), "no such item: 7 ½%");
        assert_eq!(
            e.metadata().get("x-reason").and_then(|v| v.to_str().ok()),
            Some("asked to fail")
        );

        let e = c
            .unary::<_, Echo>("/test.Echo/Nope", echo_msg("x"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
        assert!(e.message().contains("/test.Echo/Nope"), "{e:?}");

        let e = c.unary::<_, Echo>(PANIC, echo_msg("x")).await.unwrap_err();
        assert_eq!(e.code(), Code::Internal);
        let r: Response<Echo> = c.unary(ECHO, echo_msg("still here")).await.unwrap();
        assert_eq!(r.get_ref().text, "still here");
    });
}

#[test]
fn streams_of_every_kind() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        // Server streaming, with trailing metadata.
        let req = TickRequest {
            count: 50,
            size: 100,
        };
        let mut s = c
            .server_streaming::<_, Tick>(TICKS, req)
            .await
            .unwrap()
            .into_inner();
        let mut n = 0;
        while let Some(t) = s.message().await.unwrap() {
            assert_eq!((t.seq, t.payload.len()), (n, 100));
            n += 1;
        }
        assert_eq!(n, 50);
        let trailers = s.trailers().await.unwrap().expect("trailers");
        assert_eq!(
            trailers.get("x-ticks").and_then(|v| v.to_str().ok()),
            Some("50")
        );

        // A stream that fails midway: its messages, then the status.
        let req = TickRequest {
            count: 3,
            size: u32::MAX,
        };
        let mut s = c
            .server_streaming::<_, Tick>(TICKS, req)
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
        assert_eq!((got, e.code()), (3, Code::InvalidArgument));
        assert_eq!(e.message(), "size too large");

        // Client streaming.
        let ticks = (0..20).map(|seq| Tick {
            seq,
            payload: vec![1; 10],
        });
        let r: Response<Sum> = c
            .client_streaming(SUM, tokio_stream::iter(ticks))
            .await
            .unwrap();
        assert_eq!((r.get_ref().count, r.get_ref().total), (20, (0..20).sum()));

        // Bidirectional, in lock step. tonic's `streaming` returns once
        // the response headers are in: the first message goes before it.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(echo_msg("m0")).await.unwrap();
        let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut replies = c
            .streaming::<_, Echo>(CHAT, requests)
            .await
            .unwrap()
            .into_inner();
        for i in 0..10 {
            if i > 0 {
                tx.send(echo_msg(&format!("m{i}"))).await.unwrap();
            }
            let m = replies.message().await.unwrap().expect("an answer");
            assert_eq!(m.text, format!("re: m{i}"));
        }
        drop(tx);
        assert!(replies.message().await.unwrap().is_none());
    });
}

/// tonic's `streaming` (what generated bidi methods call) waits for the
/// response headers before it returns the reply stream, and the usual way
/// to use it sends requests only after that. ringrpc's server sends a bidi
/// call's headers when the call starts (it sent them with the first
/// message, as grpc-go does, and a handler that reads before it writes,
/// like Chat, and such a caller waited on each other until the deadline).
#[test]
fn bidi_call_returns_before_any_message() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
        let call = c.streaming::<_, Echo>(CHAT, requests);
        let mut replies = tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .expect("the response headers come before any message")
            .unwrap()
            .into_inner();
        tx.send(echo_msg("first")).await.unwrap();
        let m = replies.message().await.unwrap().expect("an answer");
        assert_eq!(m.text, "re: first");
    });
}

#[test]
fn deadlines_from_tonic_end_calls_on_the_server() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        // tonic sends `grpc-timeout` and enforces it itself too (its
        // channel's `GrpcTimeout` layer reads the header), answering
        // CANCELLED "Timeout expired" on its own expiry: its timer starts
        // before the server's, so it usually wins this race.
        let started = Instant::now();
        let mut r = Request::new(echo_msg("2000"));
        r.set_timeout(Duration::from_millis(200));
        let e = c.unary::<Echo, Echo>(SLOW, r).await.unwrap_err();
        assert!(
            matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        // A call within its deadline is answered.
        let mut r = Request::new(echo_msg("10"));
        r.set_timeout(Duration::from_secs(5));
        let r = c.unary::<Echo, Echo>(SLOW, r).await.unwrap();
        assert_eq!(r.get_ref().text, "slept 10");
        // The handler sees the deadline tonic sent.
        let mut r = Request::new(echo_msg("x"));
        r.set_timeout(Duration::from_secs(30));
        let r = c.unary::<Echo, Echo>(DEADLINE, r).await.unwrap();
        let left: u64 = r.get_ref().text.parse().unwrap();
        assert!((25_000..=30_000).contains(&left), "{left} ms left");
        let r: Response<Echo> = c.unary(DEADLINE, echo_msg("x")).await.unwrap();
        assert_eq!(r.get_ref().text, "none");
    });
    // The server's own DEADLINE_EXCEEDED, as tonic reads it: a server
    // that cuts deadlines to 100 ms answers before tonic's 5 s expire.
    let strict = start_server_with(GrpcConfig {
        max_deadline: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    tokio_run(async {
        let c = EchoClient::connect(strict.local_addr()).await;
        let started = Instant::now();
        let mut r = Request::new(echo_msg("3000"));
        r.set_timeout(Duration::from_secs(5));
        let e = c.unary::<Echo, Echo>(SLOW, r).await.unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
        assert!(e.message().contains("before the call finished"), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn metadata_and_metainfo_travel_both_ways() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let mut req = Request::new(echo_msg("md"));
        let md = req.metadata_mut();
        md.insert("x-user", MetadataValue::from_static("ann"));
        md.insert_bin(
            "x-trace-bin",
            BinaryMetadataValue::from_bytes(&[0, 1, 2, 255]),
        );
        // Kitex's metainfo headers, as a Go peer would send them.
        md.insert("rpc-persist-log-id", MetadataValue::from_static("abc-123"));
        md.insert("rpc-transit-stress", MetadataValue::from_static("1"));
        let r = c.unary::<Echo, Echo>(METADATA, req).await.unwrap();
        assert_eq!(
            r.get_ref().text,
            "user=ann trace=[0, 1, 2, 255] log_id=abc-123 stress=1"
        );
        let ascii = |k: &str| {
            r.metadata()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(ascii("x-served-by").as_deref(), Some("ringrpc"));
        assert_eq!(ascii("rpc-backward-answer").as_deref(), Some("42"));
    });
}

#[test]
fn large_messages_up_to_the_limit_and_not_past_it_and_gzip() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let gz = c.clone().gzip();
        // 4 MiB of message in all (both sides' default limit), both ways.
        let text_len = 4 * 1024 * 1024 - 5;
        let big = Echo {
            text: "x".repeat(text_len),
        };
        assert_eq!(prost::Message::encoded_len(&big), 4 * 1024 * 1024);
        let r: Response<Echo> = c.unary(ECHO, big).await.unwrap();
        assert_eq!(r.get_ref().text.len(), text_len);

        // One byte past it, plain and gzip'd: the server refuses it.
        let over = || Echo {
            text: "y".repeat(4 << 20),
        };
        let e = c.unary::<_, Echo>(ECHO, over()).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        let e = gz.unary::<_, Echo>(ECHO, over()).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        // The channel still works after both.
        let r: Response<Echo> = c.unary(ECHO, echo_msg("after")).await.unwrap();
        assert_eq!(r.get_ref().text, "after");

        // gzip both ways: 1 MiB of text that compresses well; the reply
        // says it is gzip'd.
        let text = "ab".repeat(1 << 19);
        let r: Response<Echo> = gz.unary(ECHO, echo_msg(&text)).await.unwrap();
        assert_eq!(r.get_ref().text, text);
        assert_eq!(
            r.metadata()
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok()),
            Some("gzip")
        );

        // A 16 MiB server stream of 64 KiB messages, read with flow
        // control.
        let req = TickRequest {
            count: 256,
            size: 65536,
        };
        let mut s = gz
            .server_streaming::<_, Tick>(TICKS, req)
            .await
            .unwrap()
            .into_inner();
        let mut n = 0;
        while let Some(t) = s.message().await.unwrap() {
            assert_eq!((t.seq, t.payload.len()), (n, 65536));
            n += 1;
        }
        assert_eq!(n, 256);
    });
}

#[test]
fn a_call_tonic_drops_is_cancelled_on_the_server() {
    let server = start_server();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        grpc_common::reset_cancelled();
        let call = c.unary::<_, Echo>(CANCELLABLE, echo_msg("x"));
        let _ = tokio::time::timeout(Duration::from_millis(200), call).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !grpc_common::was_cancelled() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(grpc_common::was_cancelled(), "the handler ran on");
    });
}

#[test]
fn health_checks_answer_tonic() {
    use ringrpc::engine::grpc::health::{
        CHECK, HealthCheckRequest, HealthCheckResponse, HealthReporter, ServingStatus, WATCH,
    };
    let health = HealthReporter::new();
    health.set("test.Echo", ServingStatus::Serving);
    let server = ringrpc::engine::server::Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| {
            c.pin = false;
            c.shutdown_timeout = Duration::from_millis(300);
        })
        .grpc(health.service())
        .start()
        .unwrap();
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let check = |service: &str| {
            c.unary::<_, HealthCheckResponse>(
                CHECK,
                HealthCheckRequest {
                    service: service.to_owned(),
                },
            )
        };
        let r = check("test.Echo").await.unwrap();
        assert_eq!(r.get_ref().status, ServingStatus::Serving as i32);
        assert_eq!(check("nope").await.unwrap_err().code(), Code::NotFound);

        let req = HealthCheckRequest {
            service: "test.Echo".into(),
        };
        let mut watch = c
            .server_streaming::<_, HealthCheckResponse>(WATCH, req)
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        health.set("test.Echo", ServingStatus::NotServing);
        let next = watch.message().await.unwrap().unwrap();
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    });
}

#[test]
fn many_concurrent_calls_share_one_connection_past_the_stream_limit() {
    // A stream limit under the calls in flight: tonic (hyper's h2) must
    // queue streams under SETTINGS_MAX_CONCURRENT_STREAMS.
    let server = start_server_with(GrpcConfig {
        max_concurrent_streams: 64,
        ..Default::default()
    });
    tokio_run(async {
        let c = EchoClient::connect(server.local_addr()).await;
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut r = Request::new(echo_msg(&format!("{}", i % 20)));
                    r.set_timeout(Duration::from_secs(20));
                    c.unary::<Echo, Echo>(SLOW, r).await
                })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let r = call
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("call {i}: {e:?}"));
            assert_eq!(r.get_ref().text, format!("slept {}", i % 20));
        }
    });
    let stats = server.stats();
    assert_eq!(stats.iter().map(|s| s.grpc_connections).sum::<u64>(), 1);
}
