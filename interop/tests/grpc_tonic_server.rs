//! ringrpc's gRPC client (`Channel`) against a real tonic server (crates.io
//! `tonic` 0.14 on hyper and tokio; `tonic_peer` holds its service, the
//! test service of `../tests/grpc_common`), over loopback: unary and every
//! kind of stream, status codes with messages and trailing metadata, the
//! deadline sent as `grpc-timeout`, metadata and Kitex's metainfo headers
//! both ways, gzip, 4 MiB messages and one past tonic's limit,
//! cancellation, and 200 concurrent calls on one connection past the
//! server's stream limit. Bounded: every call has a timeout.

#[path = "../../tests/grpc_common/mod.rs"]
mod grpc_common;
mod tonic_peer;

use std::time::{Duration, Instant};

use grpc_common::{
    CANCELLABLE, DEADLINE, ECHO, Echo, FAIL, METADATA, SLOW, TICKS, Tick, TickRequest, channel,
    check_stream_kinds, echo_msg, run,
};
use ringrpc::engine::grpc::{Channel, Code, Request};
use ringrpc::engine::metainfo::Kind;
use tonic_peer::{TonicServer, TonicSettings};

fn tonic_server() -> TonicServer {
    TonicServer::start(TonicSettings::default())
}

#[test]
fn unary_and_errors_with_code_message_and_trailers() {
    let server = tonic_server();
    let ch = channel(server.addr);
    run(async {
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("hi")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "hi");

        // tonic answers an error before any message trailers-only: the
        // status, message (percent-encoded) and metadata in the headers.
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
    });
}

#[test]
fn streams_of_every_kind() {
    let server = tonic_server();
    let ch = channel(server.addr);
    run(async {
        check_stream_kinds(&ch).await;
    });
}

#[test]
fn deadlines_go_out_as_grpc_timeout() {
    let server = tonic_server();
    let ch = channel(server.addr);
    run(async {
        // tonic parses the header we send (its handler reports it).
        let mut r = Request::new(echo_msg("x"));
        r.set_timeout(Duration::from_secs(30));
        let r = ch.unary::<_, Echo>(DEADLINE, r).await.unwrap();
        let left: u64 = r.get_ref().text.parse().unwrap_or_else(|_| {
            panic!("tonic saw grpc-timeout as {:?}", r.get_ref().text);
        });
        assert!((25_000..=30_000).contains(&left), "{left} ms left");
        let no_timeout = Channel::builder().target(server.addr).build().unwrap();
        let r = no_timeout
            .unary::<_, Echo>(DEADLINE, Request::new(echo_msg("x")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "none");

        // A slow handler past the deadline. Both sides enforce it: ours
        // first (tonic's clock starts when the headers arrive, with what
        // was left when they were written). tonic's own answer to an
        // expired deadline is CANCELLED "Timeout expired" (its
        // `Status::from_error` maps `TimeoutExpired` so, not
        // DEADLINE_EXCEEDED): it shows here only if this core was too
        // late to see its own timer first.
        let started = Instant::now();
        let mut r = Request::new(echo_msg("3000"));
        r.set_timeout(Duration::from_millis(300));
        let e = ch.unary::<_, Echo>(SLOW, r).await.unwrap_err();
        assert!(
            matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // A call within its deadline is answered.
        let mut r = Request::new(echo_msg("10"));
        r.set_timeout(Duration::from_secs(5));
        let r = ch.unary::<_, Echo>(SLOW, r).await.unwrap();
        assert_eq!(r.get_ref().text, "slept 10");
    });
}

#[test]
fn metadata_and_metainfo_travel_both_ways() {
    let server = tonic_server();
    let ch = channel(server.addr);
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
        assert_eq!(r.metadata().get("x-served-by"), Some("tonic"));
        assert_eq!(r.metadata().metainfo(Kind::Backward, "ANSWER"), Some("42"));
    });
}

#[test]
fn large_messages_up_to_the_limit_and_not_past_it_and_gzip() {
    let server = tonic_server();
    let ch = channel(server.addr);
    let big_sender = |gzip| {
        Channel::builder()
            .target(server.addr)
            .gzip(gzip)
            .max_send_message(8 << 20)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let (plain, gz) = (big_sender(false), big_sender(true));
    run(async {
        // 4 MiB of message in all (tonic's default receive limit), both
        // ways.
        let text_len = 4 * 1024 * 1024 - 5;
        let big = Echo {
            text: "x".repeat(text_len),
        };
        assert_eq!(prost::Message::encoded_len(&big), 4 * 1024 * 1024);
        let r = ch.unary::<_, Echo>(ECHO, Request::new(big)).await.unwrap();
        assert_eq!(r.get_ref().text.len(), text_len);

        // Past tonic's limit. gzip: tonic stops decompressing at the
        // limit, RESOURCE_EXHAUSTED.
        let over = || Echo {
            text: "y".repeat(4 << 20),
        };
        let e = gz
            .unary::<_, Echo>(ECHO, Request::new(over()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        // Uncompressed, tonic answers OUT_OF_RANGE ("decoded message
        // length too large"), where gRPC's other stacks (and ringrpc) say
        // RESOURCE_EXHAUSTED: tonic's choice, seen here as it is.
        let e = plain
            .unary::<_, Echo>(ECHO, Request::new(over()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
        // The connection is still good after both.
        let r = plain
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("after")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "after");

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

        // A 16 MiB server stream of 64 KiB messages, read with flow
        // control (gzip'd by tonic, since we accept it).
        let mut s = gz
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
        while let Some(t) = s.message().await.unwrap() {
            assert_eq!((t.seq, t.payload.len()), (n, 65536));
            n += 1;
        }
        assert_eq!(n, 256);
    });
}

#[test]
fn a_cancelled_call_stops_tonics_handler() {
    let server = tonic_server();
    let ch = channel(server.addr);
    run(async {
        // The caller gives up (its future is dropped): the stream is reset
        // with CANCEL, and tonic drops the handler's future.
        let call = ch.unary::<_, Echo>(CANCELLABLE, Request::new(echo_msg("x")));
        let _ = monoio::time::timeout(Duration::from_millis(200), call).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !tonic_peer::was_cancelled() && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(tonic_peer::was_cancelled(), "tonic's handler ran on");
    });
}

#[test]
fn many_concurrent_calls_share_one_connection_past_the_stream_limit() {
    // tonic's server sets no stream limit by default: set one, so that
    // our client must queue streams under SETTINGS_MAX_CONCURRENT_STREAMS.
    let server = TonicServer::start(TonicSettings {
        max_concurrent_streams: Some(64),
    });
    let ch = channel(server.addr);
    run(async {
        // One call first: the connection is open and tonic's SETTINGS
        // are in (see the test below for a burst on a new connection).
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("warm")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "warm");
        let calls: Vec<_> = (0..200)
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
            let r = c.await.unwrap_or_else(|e| panic!("call {i}: {e:?}"));
            assert_eq!(r.get_ref().text, format!("slept {}", i % 20));
        }
    });
    assert_eq!(server.connections(), 1);
}

/// 200 calls at once on a channel with no connection yet, to a server
/// whose limit is 64 streams. They wait for the one connection, which is
/// used only once tonic's SETTINGS (SETTINGS_MAX_CONCURRENT_STREAMS = 64)
/// were read (a PING answered after the handshake), so h2 queues the calls
/// past the limit. Before that fix they went out at once and tonic (h2)
/// refused every stream past the 64th with REFUSED_STREAM.
#[test]
fn a_burst_on_a_new_connection_waits_for_the_stream_limit() {
    let server = TonicServer::start(TonicSettings {
        max_concurrent_streams: Some(64),
    });
    let ch = channel(server.addr);
    run(async {
        let calls: Vec<_> = (0..200)
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
            let r = c.await.unwrap_or_else(|e| panic!("call {i}: {e:?}"));
            assert_eq!(r.get_ref().text, format!("slept {}", i % 20));
        }
    });
    assert_eq!(server.connections(), 1);
}
