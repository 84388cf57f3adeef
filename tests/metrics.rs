//! The Prometheus endpoint: Kitex's metric names and labels counting
//! exactly the calls made, the engine's own server families, and an
//! endpoint that answers only `GET /metrics`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::ClientBuilder;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::server::Server;
use ringrpc::engine::{Error, Result};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
        match req.msg.as_str() {
            "fail" => Err(Error::handler("no")),
            _ => Ok(EchoResponse { msg: req.msg }),
        }
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the status line and body.
fn http(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("a response, then close");
    let (head, body) = out.split_once("\r\n\r\n").expect("a head");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The value of the sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_endpoint_counts_exactly_the_calls_made() {
    let metrics = Metrics::new();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .tracer(metrics.tracer())
        .service(EchoServiceServer::new(Echo))
        .start()
        .expect("start");
    metrics.add_server(&server);
    let endpoint = metrics
        .serve("127.0.0.1:0".parse().expect("addr"))
        .expect("serve");
    let b = ClientBuilder::new("EchoService")
        .target(server.local_addr())
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("metrics-test")
        .rpc_timeout(Duration::from_secs(5))
        .tracer(metrics.tracer());
    let m = metrics.clone();
    ringrpc::engine::runtime::block_on(async move {
        let client = b.build().expect("client");
        m.add_client(client.governance());
        let c = EchoServiceClient::new(client);
        for _ in 0..5 {
            c.echo(EchoRequest { msg: "ok".into() }).await.expect("ok");
        }
        for _ in 0..2 {
            assert!(c.echo(EchoRequest { msg: "fail".into() }).await.is_err());
        }
    });
    let (status, text) = http(
        endpoint.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    let labels = |status: &str| {
        format!(
            r#"{{type="pingpong",caller="metrics-test",callee="EchoService",method="echo",status="{status}",retry="0"}}"#
        )
    };
    assert_eq!(
        sample(
            &text,
            &format!("kitex_server_throughput{}", labels("succeed"))
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("kitex_server_throughput{}", labels("error"))
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("kitex_server_latency_us_count{}", labels("succeed"))
        ),
        Some(5.0)
    );
    let inf = r#"kitex_server_latency_us_bucket{type="pingpong",caller="metrics-test",callee="EchoService",method="echo",status="succeed",retry="0",le="+Inf"}"#;
    assert_eq!(sample(&text, inf), Some(5.0), "{text}");
    assert!(text.contains("# TYPE kitex_server_latency_us histogram"));
    assert_eq!(
        sample(&text, r#"ringrpc_server_inflight{core="0"}"#),
        Some(0.0)
    );
    assert!(sample(&text, "ringrpc_server_read_bytes_total").is_some_and(|v| v > 0.0));
    assert_eq!(
        sample(&text, r#"ringrpc_server_rejected_total{reason="qps"}"#),
        Some(0.0)
    );
    // The client's side of the same calls.
    for (status, n) in [("succeed", 5.0), ("error", 2.0)] {
        let l = labels(status);
        assert_eq!(
            sample(&text, &format!("kitex_client_throughput{l}")),
            Some(n),
            "{text}"
        );
        assert_eq!(
            sample(&text, &format!("kitex_client_latency_us_count{l}")),
            Some(n)
        );
    }
    assert_eq!(
        sample(
            &text,
            r#"ringrpc_client_retries_total{callee="EchoService"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"ringrpc_client_breakers_opened_total{callee="EchoService"}"#
        ),
        Some(0.0)
    );
    drop(endpoint);
    server.shutdown();
}

#[test]
fn the_endpoint_answers_only_get_metrics() {
    let metrics = Metrics::new();
    let endpoint = metrics
        .serve("127.0.0.1:0".parse().expect("addr"))
        .expect("serve");
    let addr = endpoint.local_addr();
    let (status, _) = http(addr, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(addr, "POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, _) = http(addr, "\x16\x03\x01garbage\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    // Keep-alive: two scrapes on one connection.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("two responses, then close");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2);
}

/// The `echo_server` example's binary: `cargo test` builds the examples
/// beside the tests. Run alone (`--test metrics`), the test builds it
/// itself, in a target directory of its own (the outer cargo may hold the
/// lock on this one).
fn echo_server_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/metrics-<hash> -> target/<profile>/examples/
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let bin = profile_dir.join("examples").join("echo_server");
    if bin.exists() {
        return bin;
    }
    let own = profile_dir.join("metrics-test-example");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", "ringrpc", "--example", "echo_server"])
        .env("CARGO_TARGET_DIR", &own)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the echo_server example");
    own.join("debug").join("examples").join("echo_server")
}

/// Kills the example's process if the test fails before it stops it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn echo_server_example_serves_metrics_counting_exactly_the_calls_made() {
    use std::io::BufRead;
    let mut child = Child(
        std::process::Command::new(echo_server_binary())
            .args([
                "--addr",
                "127.0.0.1:0",
                "--cores",
                "1",
                "--metrics",
                "127.0.0.1:0",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("echo_server starts"),
    );
    let out = child.0.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let mut metrics_addr = None;
    let mut addr = None;
    while addr.is_none() {
        let line = lines.next().expect("a line").expect("utf-8");
        if let Some(rest) = line.strip_prefix("metrics on http://") {
            metrics_addr = rest
                .strip_suffix("/metrics")
                .map(|a| a.parse().expect("addr"));
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            addr = Some(rest.parse::<SocketAddr>().expect("addr"));
        }
    }
    let metrics_addr: SocketAddr = metrics_addr.expect("the metrics address, printed first");
    let b = ClientBuilder::new("EchoService")
        .target(addr.expect("addr"))
        .transport(Transport::TtHeader)
        .protocol(Protocol::Binary)
        .caller("example-test")
        .rpc_timeout(Duration::from_secs(5));
    let calls = 7;
    ringrpc::engine::runtime::block_on(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        for _ in 0..calls {
            c.echo(EchoRequest { msg: "ok".into() }).await.expect("ok");
        }
    });
    let (status, text) = http(
        metrics_addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    let labels = r#"{type="pingpong",caller="example-test",callee="EchoService",method="echo",status="succeed",retry="0"}"#;
    assert_eq!(
        sample(&text, &format!("kitex_server_throughput{labels}")),
        Some(calls as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("kitex_server_latency_us_count{labels}")),
        Some(calls as f64)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "kitex_server_throughput{}",
                labels.replace("succeed", "error")
            )
        ),
        None,
        "no failed call, no error series"
    );
}
