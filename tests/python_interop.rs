//! Apache Thrift's Python client against ringrpc's ThriftTest server
//! (the `thrift_test_server` example's handler, started in-process on a free
//! port): every method of `idl/ThriftTest.thrift`, on Framed and Buffered,
//! with the binary protocol (pure Python, and through the `thrift` package's
//! C extension) and the compact protocol.
//!
//! The client is Apache Thrift's own code: the `thrift` package from PyPI and
//! the Python that Apache Thrift's compiler (Debian's `thrift-compiler`)
//! generates from the same IDL; the checks are in
//! `tests/python/thrift_test_client.py`. `scripts/setup` installs both. When
//! `python3`, the package or the compiler is missing the test says so loudly
//! and passes.
//!
//! Over TLS: the same package's `TSSLSocket` (Python's own `ssl`, that is
//! OpenSSL) with `TFramedTransport` and `TBinaryProtocol` calls an echo
//! server with mutual TLS, on TLS 1.3 and 1.2
//! (`tests/python/tls_echo_client.py`).

#[path = "../examples/thrift_test/handler.rs"]
mod handler;
#[path = "../examples/tls/pki.rs"]
mod pki;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The transports and protocols the Python client runs, each as its own
/// process, all at once.
const COMBINATIONS: &[(&str, &str, bool)] = &[
    ("framed", "binary", false),
    ("buffered", "binary", false),
    ("framed", "compact", false),
    ("buffered", "compact", false),
    ("framed", "accel", false),
    // Apache's TMultiplexedProtocol: `ThriftTest:method` and
    // `SecondService:secondtestString` on the same server.
    ("framed", "binary", true),
    ("buffered", "compact", true),
];

/// How long one client run may take (it makes ~100 calls and sleeps 1 s for
/// `testOneway`).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Says on the terminal (past the test harness's capture) that the test did
/// not run, and why.
fn skip(why: &str) {
    let line = "!".repeat(72);
    let _ = writeln!(
        std::io::stderr(),
        "\n{line}\n!!! SKIPPED python_interop: {why}\n{line}"
    );
}

/// Runs a command to completion, `None` when it cannot start.
fn run(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

/// A folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `python3` and its `thrift` package are there, or why not.
fn python_thrift() -> Result<(), String> {
    match run(Command::new("python3").args(["-c", "import thrift"])) {
        None => Err("python3 is not installed (run scripts/setup)".into()),
        Some(o) if !o.status.success() => {
            Err("Python's `thrift` package is not installed (run scripts/setup)".into())
        }
        Some(_) => Ok(()),
    }
}

/// Generates the Python of `idl/ThriftTest.thrift` with Apache Thrift's
/// compiler into a fresh folder, or says why it can't.
fn generate_python() -> Result<TempDir, String> {
    python_thrift()?;
    let dir = TempDir(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("python_interop-{}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("cannot create {:?}: {e}", dir.0))?;
    let idl = manifest_dir().join("idl/ThriftTest.thrift");
    let out = run(Command::new("thrift")
        .args(["--gen", "py", "-out"])
        .arg(&dir.0)
        .arg(&idl))
    .ok_or("Apache Thrift's compiler `thrift` is not installed (Debian's thrift-compiler; run scripts/setup)")?;
    assert!(
        out.status.success(),
        "thrift --gen py {idl:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(dir)
}

/// A client process and what it is checking.
struct ClientRun {
    label: String,
    child: std::process::Child,
}

/// Waits for every client, killing any that runs past [`CLIENT_LIMIT`].
fn wait_all(runs: Vec<ClientRun>) -> Vec<(String, Result<Output, String>)> {
    let deadline = Instant::now() + CLIENT_LIMIT;
    let mut pending: Vec<_> = runs.into_iter().map(Some).collect();
    let mut results: Vec<Option<(String, Result<Output, String>)>> =
        pending.iter().map(|_| None).collect();
    while pending.iter().any(Option::is_some) {
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            let Some(run) = slot else { continue };
            let done = match run.child.try_wait() {
                Ok(Some(_)) => true,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = run.child.kill();
                    true
                }
                Ok(None) => false,
                Err(e) => panic!("waiting for the {} client: {e}", run.label),
            };
            if done {
                let run = slot.take().expect("pending");
                let timed_out = Instant::now() >= deadline;
                let out = run.child.wait_with_output();
                *result = Some((
                    run.label,
                    match out {
                        Ok(o) if !timed_out => Ok(o),
                        Ok(o) => Err(format!(
                            "ran past {CLIENT_LIMIT:?}; output so far:\n{}",
                            String::from_utf8_lossy(&o.stdout)
                        )),
                        Err(e) => Err(e.to_string()),
                    },
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    results.into_iter().map(|r| r.expect("waited")).collect()
}

#[test]
fn apache_thrift_python_client_calls_every_method_on_every_transport_and_protocol() {
    let gen_py = match generate_python() {
        Ok(d) => d,
        Err(why) => return skip(&why),
    };
    let server = handler::start_with(
        "127.0.0.1:0".parse().expect("addr"),
        1,
        false,
        Default::default(),
    )
    .expect("the ThriftTest server starts");
    let port = server.local_addr().port().to_string();
    let script = manifest_dir().join("tests/python/thrift_test_client.py");
    let runs = COMBINATIONS
        .iter()
        .map(|(transport, protocol, multiplexed)| ClientRun {
            label: format!(
                "{transport}+{protocol}{}",
                if *multiplexed { "+multiplexed" } else { "" }
            ),
            child: Command::new("python3")
                .arg(&script)
                .arg("--gen-py")
                .arg(&gen_py.0)
                .args(["--port", &port, "--transport", transport])
                .args(["--protocol", protocol])
                .args(multiplexed.then_some("--multiplexed"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3 starts"),
        })
        .collect();
    let mut failed = Vec::new();
    for (label, result) in wait_all(runs) {
        match result {
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                println!("== {label}\n{stdout}");
                let summary = stdout.lines().last().unwrap_or_default();
                if summary.starts_with(&format!("SKIP {label}:")) && out.status.success() {
                    skip(summary);
                    continue;
                }
                let passed = out.status.success() && summary.starts_with(&format!("PASS {label}:"));
                if !passed {
                    failed.push(format!(
                        "{label}: {}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            Err(e) => failed.push(format!("{label}: {e}")),
        }
    }
    server.shutdown();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
}

/// Echoes; `whoami` answers with the caller's certificate subject.
#[derive(Clone)]
struct WhoAmI;

impl ringrpc_example_idl::echo::EchoService for WhoAmI {
    async fn echo(
        &self,
        cx: &mut ringrpc::engine::context::ServerContext,
        req: ringrpc_example_idl::echo::EchoRequest,
    ) -> ringrpc::engine::Result<ringrpc_example_idl::echo::EchoResponse> {
        let msg = match (req.msg.as_str(), cx.peer_identity()) {
            ("whoami", Some(id)) => id.subject.clone().into(),
            _ => req.msg,
        };
        Ok(ringrpc_example_idl::echo::EchoResponse { msg })
    }
}

#[test]
fn python_ssl_client_calls_a_mutual_tls_server() {
    if let Err(why) = python_thrift() {
        return skip(&why);
    }
    let dir = TempDir(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python_tls-{}", std::process::id())),
    );
    let p = pki::generate(&dir.0).expect("certificates");
    let tls = ringrpc::engine::tls::ServerTls::builder()
        .cert_file(&p.server_cert)
        .key_file(&p.server_key)
        .client_ca_file(&p.ca)
        .build()
        .expect("server TLS");
    let server = ringrpc::engine::server::Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .tls(tls)
        .configure(|c| c.pin = false)
        .service(ringrpc_example_idl::echo::EchoServiceServer::new(WhoAmI))
        .start()
        .expect("the TLS echo server starts");
    let port = server.local_addr().port().to_string();
    let script = manifest_dir().join("tests/python/tls_echo_client.py");
    let client = |label: &str, extra: &[&str], cert: bool| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(["--port", &port, "--ca"])
            .arg(&p.ca)
            .args(extra);
        if cert {
            cmd.arg("--cert").arg(&p.client_cert);
            cmd.arg("--key").arg(&p.client_key);
        }
        ClientRun {
            label: label.to_owned(),
            child: cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3 starts"),
        }
    };
    let runs = vec![
        client("tls1.3 whoami", &["--msg", "whoami"], true),
        client(
            "tls1.2 whoami",
            &["--msg", "whoami", "--tls-version", "1.2"],
            true,
        ),
        client("tls1.3 1 MiB", &["--msg", "x", "--repeat", "1048576"], true),
        client("no client certificate", &["--msg", "hi"], false),
    ];
    let mut outs = std::collections::HashMap::new();
    for (label, result) in wait_all(runs) {
        let out = result.unwrap_or_else(|e| panic!("{label}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("== {label}: {}\n{stdout}", out.status);
        outs.insert(label, (out.status.success(), stdout));
    }
    let subject = format!("CN={}", pki::CLIENT_CN);
    for (label, version) in [("tls1.3 whoami", "TLSv1.3"), ("tls1.2 whoami", "TLSv1.2")] {
        let (ok, out) = &outs[label];
        assert!(*ok, "{label}: {out}");
        assert!(
            out.contains(&format!("version={version}")),
            "{label}: {out}"
        );
        assert!(out.contains(&subject), "{label}: {out}");
    }
    let (ok, out) = &outs["tls1.3 1 MiB"];
    assert!(*ok && out.contains("1048576 bytes"), "{out}");
    let (ok, out) = &outs["no client certificate"];
    assert!(!*ok && out.starts_with("FAIL"), "refused: {out}");
    server.shutdown();
}
