//! Live gRPC interop with Python's grpcio (PyPI `grpcio`; stubs generated
//! by `grpcio-tools` from `tests/python/grpc_echo.proto`), both ways:
//! grpcio's client against ringrpc's server (`tests/python/grpc_client.py`
//! holds its checks), and ringrpc's client against grpcio's server
//! (`tests/python/grpc_server.py`, the same service). Unary and every kind
//! of stream, status codes with messages and trailing metadata, deadlines,
//! metadata and Kitex's metainfo headers, gzip, 4 MiB messages and one past
//! the limit, and many concurrent calls. And grpcio's server reflection
//! client (PyPI `grpcio-reflection`, `tests/python/grpc_reflection_client.py`)
//! against ringrpc's reflection service.
//!
//! `scripts/setup` installs the packages. When `python3` or a package is
//! missing the test says so loudly and passes.

mod grpc_common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use grpc_common::*;
use ringrpc::engine::grpc::{Channel, Code, Request};
use ringrpc::engine::metainfo::Kind;

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// Generates the Python stubs into a temporary directory; `None` (said
/// loudly) when Python or grpcio-tools is missing.
fn generate() -> Option<tempfile::TempDir> {
    let ok = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: python3 with the grpcio and grpcio-tools packages is needed (scripts/setup installs them)"
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("python3")
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(python_dir())
        .arg(format!("--python_out={}", dir.path().display()))
        .arg(format!("--grpc_python_out={}", dir.path().display()))
        .arg(python_dir().join("grpc_echo.proto"))
        .output()
        .expect("run grpc_tools.protoc");
    assert!(
        out.status.success(),
        "grpc_tools.protoc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

#[test]
fn grpcio_client_against_ringrpc_server() {
    let Some(gen_dir) = generate() else { return };
    let server = start_server_with(ringrpc::engine::grpc::GrpcConfig::default());
    let gen_dir = gen_dir.path().display().to_string();
    let addr = server.local_addr().to_string();
    run_python_client("grpc_client.py", &[&gen_dir, &addr]);
}

/// Runs a Python client script of `tests/python` with `args` to its end
/// (two minutes at most); it passes when it exits cleanly and prints OK
/// last.
fn run_python_client(script: &str, args: &[&str]) {
    let mut child = Command::new("python3")
        .arg(python_dir().join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let limit = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > limit {
            let _ = child.kill();
            panic!("{script} ran over two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// grpcio's server, killed when dropped.
struct PyServer(Child);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_python_server(gen_dir: &Path) -> (PyServer, std::net::SocketAddr) {
    let mut child = Command::new("python3")
        .arg(python_dir().join("grpc_server.py"))
        .arg(gen_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    (PyServer(child), addr)
}

#[test]
fn ringrpc_client_against_grpcio_server() {
    let Some(gen_dir) = generate() else { return };
    let (_server, addr) = start_python_server(gen_dir.path());
    let ch = channel(addr);
    let gz = Channel::builder()
        .target(addr)
        .gzip(true)
        .max_send_message(8 << 20)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    run(async {
        // Unary.
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("hi")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "hi");

        // An error with code, message and trailing metadata.
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

        // Deadline.
        let started = Instant::now();
        let mut r = Request::new(echo_msg("3000"));
        r.set_timeout(Duration::from_millis(300));
        let e = ch.unary::<_, Echo>(SLOW, r).await.unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(2));

        // Metadata and metainfo, both ways.
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
        assert_eq!(r.metadata().get("x-served-by"), Some("grpcio"));
        assert_eq!(r.metadata().metainfo(Kind::Backward, "ANSWER"), Some("42"));

        // Every kind of stream.
        check_stream_kinds(&ch).await;

        // 4 MiB, and one past grpcio's receive limit.
        let text_len = 4 * 1024 * 1024 - 8;
        let r = ch
            .unary::<_, Echo>(
                ECHO,
                Request::new(Echo {
                    text: "x".repeat(text_len),
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.get_ref().text.len(), text_len);
        let e = gz
            .unary::<_, Echo>(
                ECHO,
                Request::new(Echo {
                    text: "y".repeat(4 << 20),
                }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");

        // gzip.
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

        // Many concurrent calls on one connection.
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let ch = ch.clone();
                monoio::spawn(async move {
                    ch.unary::<_, Echo>(SLOW, Request::new(echo_msg(&format!("{}", i % 20))))
                        .await
                })
            })
            .collect();
        for (i, c) in calls.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().get_ref().text, format!("slept {}", i % 20));
        }
    });
}

/// A greeter whose SayHello answers `hello NAME`, with server reflection
/// over the greeter's generated descriptors.
fn start_reflecting_server() -> ringrpc::engine::server::ServerHandle {
    use ringrpc::engine::grpc::reflection::Reflection;
    use ringrpc::engine::grpc::{Response, Router};
    use ringrpc_example_idl::helloworld::{FILE_DESCRIPTOR_SET, HelloReply, HelloRequest};
    let reflection = Reflection::new()
        .file_descriptor_set(FILE_DESCRIPTOR_SET)
        .unwrap();
    assert_eq!(
        reflection.services().collect::<Vec<_>>(),
        ["helloworld.Greeter"]
    );
    let router = Router::new()
        .unary(
            "/helloworld.Greeter/SayHello",
            |req: Request<HelloRequest>| async move {
                let message = format!("hello {}", req.into_inner().name);
                Ok(Response::new(HelloReply { message }))
            },
        )
        .add_service(reflection.service());
    start_router(router)
}

#[test]
fn grpcio_reflection_client_against_ringrpc_server() {
    let ok = Command::new("python3")
        .args(["-c", "import grpc_reflection"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: python3 with the grpcio-reflection package is needed (scripts/setup installs it)"
        );
        return;
    }
    let server = start_reflecting_server();
    let addr = server.local_addr().to_string();
    run_python_client("grpc_reflection_client.py", &[&addr]);
}

/// The v1 protocol (grpcio's Python client speaks v1alpha), with
/// ringrpc's client: answers in order on one stream, an unknown symbol an
/// in-stream NOT_FOUND, and the stream goes on.
#[test]
fn reflection_v1_answers_in_order_on_one_stream() {
    use ringrpc::engine::grpc::reflection::{
        Answer, Ask, INFO_V1, ReflectionRequest, ReflectionResponse,
    };
    let server = start_reflecting_server();
    let ch = channel(server.local_addr());
    let ask = |a: Ask| ReflectionRequest {
        host: String::new(),
        message_request: Some(a),
    };
    run(async {
        let (mut tx, mut rx) = ch
            .bidi_streaming::<ReflectionRequest, ReflectionResponse>(INFO_V1, Request::new(()))
            .await
            .unwrap();
        tx.send(ask(Ask::ListServices(String::new())))
            .await
            .unwrap();
        tx.send(ask(Ask::FileContainingSymbol("helloworld.Nope".into())))
            .await
            .unwrap();
        tx.send(ask(Ask::FileContainingSymbol(
            "helloworld.HelloReply".into(),
        )))
        .await
        .unwrap();
        tx.finish();
        let mut answers = Vec::new();
        while let Some(r) = rx.message().await.unwrap() {
            assert!(r.original_request.is_some());
            answers.push(r.message_response.expect("an answer"));
        }
        assert_eq!(answers.len(), 3);
        let Answer::ListServicesResponse(l) = &answers[0] else {
            panic!("{:?}", answers[0]);
        };
        assert_eq!(l.service.len(), 1);
        assert_eq!(l.service[0].name, "helloworld.Greeter");
        let Answer::ErrorResponse(e) = &answers[1] else {
            panic!("{:?}", answers[1]);
        };
        assert_eq!(e.error_code, Code::NotFound.as_i32());
        let Answer::FileDescriptorResponse(f) = &answers[2] else {
            panic!("{:?}", answers[2]);
        };
        // greeter.proto imports nothing: one file.
        assert_eq!(f.file_descriptor_proto.len(), 1);
        assert!(
            f.file_descriptor_proto[0]
                .windows(b"greeter.proto".len())
                .any(|w| w == b"greeter.proto")
        );
    });
}
