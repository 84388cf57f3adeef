//! gRPC over loopback, ringrpc's client against ringrpc's server: every
//! kind of call, status codes and messages, deadlines both ways, metadata
//! and Kitex's metainfo headers, gzip, 4 MiB messages and one past the
//! limit, many concurrent streams on one connection, cancellation, a
//! handler's panic, and Thrift still served on the same port. The bad
//! inputs of HTTP/2 (a wrong preface, invalid frames, a stream past its
//! window, a header list too large, rapid reset, slowloris) are written as
//! raw frames in `grpc_hostile.rs`. Live peers of other stacks (Python's
//! grpcio) are in `grpc_python.rs`. Bounded in count and time.

mod grpc_common;

use std::time::{Duration, Instant};

use grpc_common::*;
use ringrpc::engine::grpc::{Channel, Code, Request};
use ringrpc::engine::metainfo::Kind;
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceClient};

#[test]
fn unary_calls_answer_and_errors_carry_code_message_and_trailers() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("hi")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "hi");

        let e = ch
            .unary::<_, Echo>(FAIL, Request::new(echo_msg("no such item: 7 ½%")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(e.message(), "no such item: 7 ½%");
        assert_eq!(e.metadata().get("x-reason"), Some("asked to fail"));

        let e = ch
            .unary::<_, Echo>("/test.Echo/Nope", Request::new(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
        assert!(e.message().contains("/test.Echo/Nope"), "{e:?}");

        let e = ch
            .unary::<_, Echo>(PANIC, Request::new(echo_msg("x")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Internal);
        assert!(e.message().contains("panicked"), "{e:?}");
        // The core survived the panic.
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("still here")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "still here");
    });
}

#[test]
fn streams_of_every_kind() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        // The failing stream is among them: its messages, then the status.
        check_stream_kinds(&ch).await;
    });
}

#[test]
fn deadlines_end_calls_on_both_sides() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        // A slow handler past the deadline...
        let started = Instant::now();
        let mut r = Request::new(echo_msg("2000"));
        r.set_timeout(Duration::from_millis(200));
        let e = ch.unary::<_, Echo>(SLOW, r).await.unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        // ...and a call within its deadline is answered.
        let mut r = Request::new(echo_msg("10"));
        r.set_timeout(Duration::from_secs(5));
        let r = ch.unary::<_, Echo>(SLOW, r).await.unwrap();
        assert_eq!(r.get_ref().text, "slept 10");
        // The handler saw the deadline.
        let mut r = Request::new(echo_msg("x"));
        r.set_timeout(Duration::from_secs(30));
        let r = ch.unary::<_, Echo>(DEADLINE, r).await.unwrap();
        let left: u64 = r.get_ref().text.parse().unwrap();
        assert!((25_000..=30_000).contains(&left), "{left} ms left");
        let no_timeout = Channel::builder()
            .target(server.local_addr())
            .build()
            .unwrap();
        let r = no_timeout
            .unary::<_, Echo>(DEADLINE, Request::new(echo_msg("x")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "none");
    });
    // The server's own enforcement (its deadline cut short by its
    // settings, the caller's far away): the status is the server's.
    let strict = start_server_with(ringrpc::engine::grpc::GrpcConfig {
        max_deadline: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    run(async {
        let mut r = Request::new(echo_msg("3000"));
        r.set_timeout(Duration::from_secs(20));
        let e = channel(strict.local_addr())
            .unary::<_, Echo>(SLOW, r)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
        assert!(e.message().contains("before the call finished"), "{e:?}");
    });
    // The channel's default timeout applies when the call sets none.
    let short = Channel::builder()
        .target(server.local_addr())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    run(async {
        let e = short
            .unary::<_, Echo>(SLOW, Request::new(echo_msg("2000")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
    });
}

#[test]
fn metadata_and_metainfo_travel_both_ways() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        let mut req = Request::new(echo_msg("md"));
        req.metadata_mut().insert("x-user", "ann").unwrap();
        req.metadata_mut()
            .insert_bin("x-trace-bin", &[0, 1, 2, 255])
            .unwrap();
        req.metadata_mut()
            .set_metainfo(Kind::Persistent, "LOG_ID", "abc-123")
            .unwrap();
        req.metadata_mut()
            .set_metainfo(Kind::Transient, "STRESS", "1")
            .unwrap();
        let r = ch.unary::<_, Echo>(METADATA, req).await.unwrap();
        assert_eq!(
            r.get_ref().text,
            "user=ann trace=[0, 1, 2, 255] log_id=abc-123 stress=1"
        );
        assert_eq!(r.metadata().get("x-served-by"), Some("ringrpc"));
        assert_eq!(r.metadata().metainfo(Kind::Backward, "ANSWER"), Some("42"));
        // Kitex's header name for it.
        assert_eq!(r.metadata().get("rpc-backward-answer"), Some("42"));
    });
}

#[test]
fn large_messages_up_to_the_limit_and_not_past_it() {
    let server = start_server();
    let ch = channel(server.local_addr());
    let gz = Channel::builder()
        .target(server.local_addr())
        .gzip(true)
        .max_send_message(8 << 20)
        .build()
        .unwrap();
    run(async {
        // 4 MiB of message in all (the default limit), both ways.
        let text_len = 4 * 1024 * 1024 - 8;
        let big = Echo {
            text: "x".repeat(text_len),
        };
        assert!(prost::Message::encoded_len(&big) <= 4 * 1024 * 1024);
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(big.clone()))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text.len(), text_len);
        // One byte over: the server refuses it before buffering it.
        let over = Echo {
            text: "y".repeat(4 * 1024 * 1024),
        };
        let e = gz
            .unary::<_, Echo>(ECHO, Request::new(over))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        // And the client refuses to send one over its own limit.
        let e = ch
            .unary::<_, Echo>(
                ECHO,
                Request::new(Echo {
                    text: "z".repeat(5 << 20),
                }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        // gzip both ways: 1 MiB of text that compresses well.
        let r = gz
            .unary::<_, Echo>(
                ECHO,
                Request::new(Echo {
                    text: "ab".repeat(1 << 19),
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.get_ref().text.len(), 1 << 20);
        // A 16 MiB server stream of 64 KiB messages, read with flow control.
        let mut s = ch
            .server_streaming::<_, Tick>(
                TICKS,
                Request::new(TickRequest {
                    count: 256,
                    size: 65536,
                }),
            )
            .await
            .unwrap()
            .into_inner();
        let mut n = 0;
        while s.message().await.unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 256);
    });
}

#[test]
fn many_concurrent_streams_share_one_connection() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        let calls: Vec<_> = (0..300)
            .map(|i| {
                let ch = ch.clone();
                monoio::spawn(async move {
                    let mut r = Request::new(echo_msg(&format!("{}", i % 20)));
                    r.set_timeout(Duration::from_secs(20));
                    ch.unary::<_, Echo>(SLOW, r).await
                })
            })
            .collect();
        for (i, c) in calls.into_iter().enumerate() {
            let r = c.await.unwrap();
            assert_eq!(r.get_ref().text, format!("slept {}", i % 20));
        }
    });
    let stats = server.stats();
    assert_eq!(stats.iter().map(|s| s.grpc_connections).sum::<u64>(), 1);
}

#[test]
fn a_cancelled_call_stops_its_handler() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        reset_cancelled();
        // The caller gives up (its future is dropped): the stream is reset
        // and the handler dropped before it finishes its sleep.
        let call = ch.unary::<_, Echo>(CANCELLABLE, Request::new(echo_msg("x")));
        let _ = monoio::time::timeout(Duration::from_millis(100), call).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !was_cancelled() && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(was_cancelled(), "the handler ran on after the reset");
    });
}

#[test]
fn thrift_and_grpc_share_the_port() {
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        let thrift = EchoServiceClient::new(
            ringrpc::engine::client::ClientBuilder::new("EchoService")
                .target(server.local_addr())
                .build()
                .unwrap(),
        );
        for i in 0..3 {
            let r = thrift
                .echo(EchoRequest {
                    msg: format!("thrift {i}").into(),
                })
                .await
                .unwrap();
            assert_eq!(r.msg.as_str(), format!("thrift {i}"));
            let g = ch
                .unary::<_, Echo>(ECHO, Request::new(echo_msg(&format!("grpc {i}"))))
                .await
                .unwrap();
            assert_eq!(g.get_ref().text, format!("grpc {i}"));
        }
    });
}

#[test]
fn graceful_shutdown_finishes_open_calls() {
    let server = start_server();
    let addr = server.local_addr();
    let ch = channel(addr);
    let slow = std::thread::spawn(move || {
        run(async move {
            let mut r = Request::new(echo_msg("400"));
            r.set_timeout(Duration::from_secs(10));
            ch.unary::<_, Echo>(SLOW, r).await
        })
    });
    std::thread::sleep(Duration::from_millis(150));
    server.shutdown();
    let r = slow.join().unwrap().expect("the open call finishes");
    assert_eq!(r.get_ref().text, "slept 400");
    // New connections are refused once it stopped.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn health_checking_answers_and_watches() {
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
    let ch = channel(server.local_addr());
    let check = |service: &str| {
        let req = Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        ch.unary::<_, HealthCheckResponse>(CHECK, req)
    };
    run(async {
        assert_eq!(
            check("").await.unwrap().get_ref().status,
            ServingStatus::Serving as i32
        );
        assert_eq!(
            check("test.Echo").await.unwrap().get_ref().status,
            ServingStatus::Serving as i32
        );
        assert_eq!(check("nope").await.unwrap_err().code(), Code::NotFound);
        // A gRPC-only server: a Thrift call on its port is answered with
        // an application exception, not a hang or a crash.
        let thrift = EchoServiceClient::new(
            ringrpc::engine::client::ClientBuilder::new("EchoService")
                .target(server.local_addr())
                .build()
                .unwrap(),
        );
        let e = thrift
            .echo(EchoRequest { msg: "x".into() })
            .await
            .unwrap_err();
        assert!(matches!(e, ringrpc::engine::Error::Application(_)), "{e:?}");

        let mut watch = ch
            .server_streaming::<_, HealthCheckResponse>(
                WATCH,
                Request::new(HealthCheckRequest {
                    service: "test.Echo".into(),
                }),
            )
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        // Set from another thread, as a readiness probe would.
        let h = health.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            h.set("test.Echo", ServingStatus::NotServing);
        });
        let next = watch.message().await.unwrap().unwrap();
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    });
}

#[test]
fn idempotent_calls_are_sent_again_after_unavailable() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let refused = Arc::new(AtomicUsize::new(0));
    let count = refused.clone();
    let down = start_router(ringrpc::engine::grpc::Router::new().unary(
        ECHO,
        move |_req: Request<Echo>| {
            count.fetch_add(1, Ordering::SeqCst);
            async {
                Err::<ringrpc::engine::grpc::Response<Echo>, _>(
                    ringrpc::engine::grpc::Status::unavailable("down"),
                )
            }
        },
    ));
    let up = start_server();
    let targets = |b: ringrpc::engine::grpc::ChannelBuilder| {
        b.target(down.local_addr()).target(up.local_addr())
    };
    let retried = targets(Channel::builder())
        .idempotent(ECHO)
        .build()
        .unwrap();
    let plain = targets(Channel::builder()).build().unwrap();
    run(async {
        for i in 0..10 {
            let r = retried
                .unary::<_, Echo>(ECHO, Request::new(echo_msg(&i.to_string())))
                .await
                .unwrap();
            assert_eq!(r.get_ref().text, i.to_string());
        }
        // Round robin sent about half of the first attempts to the server
        // that is down; each was sent again to the other.
        assert!(
            refused.load(Ordering::SeqCst) >= 3,
            "{}",
            refused.load(Ordering::SeqCst)
        );
        // Not idempotent: its UNAVAILABLE reaches the caller.
        let mut failed = 0;
        for _ in 0..10 {
            if let Err(e) = plain
                .unary::<_, Echo>(ECHO, Request::new(echo_msg("x")))
                .await
            {
                assert_eq!(e.code(), Code::Unavailable);
                failed += 1;
            }
        }
        assert!(failed >= 3, "{failed}");
    });
}

#[test]
fn an_idle_connection_is_closed_after_its_calls() {
    // The test server's idle timeout is 2 s.
    let server = start_server();
    let ch = channel(server.local_addr());
    run(async {
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("x")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "x");
    });
    assert_eq!(server.stats()[0].connections, 1);
    let deadline = Instant::now() + Duration::from_secs(8);
    while server.stats()[0].connections > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        server.stats()[0].connections,
        0,
        "the idle connection stayed open"
    );
}

#[test]
fn a_server_stream_waits_for_a_reader_that_stops_reading() {
    use ringrpc::engine::grpc::{ResponseSink, Router};
    use std::sync::atomic::{AtomicU64, Ordering};
    // Messages the handler got through `send`, and whether it finished.
    static SENT: AtomicU64 = AtomicU64::new(0);
    const PATH: &str = "/test.Echo/Flood";
    const MESSAGES: u64 = 50_000;
    let router = Router::new().server_streaming(
        PATH,
        |_req: Request<TickRequest>, mut tx: ResponseSink<Tick>| async move {
            for seq in 0..MESSAGES {
                tx.send(Tick {
                    seq,
                    payload: vec![7; 1024],
                })
                .await?;
                SENT.store(seq + 1, Ordering::Relaxed);
            }
            Ok(())
        },
    );
    let server = start_router(router);
    let ch = channel(server.local_addr());
    run(async {
        let mut s = ch
            .server_streaming::<_, Tick>(PATH, Request::new(TickRequest { count: 0, size: 0 }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.message().await.unwrap().unwrap().seq, 0);
        // The reader stops: the handler runs until the windows (the
        // client's: 1 MiB per stream) and one batch are full, then waits.
        monoio::time::sleep(Duration::from_millis(300)).await;
        let stalled = SENT.load(Ordering::Relaxed);
        assert!(
            (500..5_000).contains(&stalled),
            "{stalled} messages sent to a reader that read one"
        );
        // Reading again lets it finish, every message in order.
        let mut next = 1;
        while let Some(t) = s.message().await.unwrap() {
            assert_eq!(t.seq, next);
            next += 1;
        }
        assert_eq!(next, MESSAGES);
        assert_eq!(SENT.load(Ordering::Relaxed), MESSAGES);
    });
    server.shutdown();
}
