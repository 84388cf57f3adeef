//! The harness's own gRPC client over `monoio-http`'s HTTP/2 (the h2 port
//! to monoio the engine builds on), for two jobs h2load cannot do:
//!
//! - [`check`]: one unary echo and one short server stream, read to their
//!   trailers, so a server that answers HTTP 200 with a gRPC error (which
//!   h2load would count as a success) fails the run instead of producing a
//!   fast number;
//! - [`stream`]: one server-streaming call of fixed-size messages, read as
//!   fast as they come on a pinned load core, counting messages per second
//!   and the server's CPU per message.
//!
//! It encodes requests with [`super::wire`] and looks at replies no
//! further than a streaming load can afford: every message's prefix is
//! checked, the bodies of streamed messages are skipped unread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio_http::h2::RecvStream;
use monoio_http::h2::client::{self, SendRequest};

use super::wire::{self, MessageCounter};
use super::{Failure, Mark, Window};
use crate::cpu::CpuClock;
use crate::measure::Timing;
use crate::peers::ChildServer;

/// The unary method.
pub const ECHO: &str = "/echo.Echo/Echo";
/// The server-streaming method.
pub const STREAM: &str = "/echo.Echo/Stream";

/// The client's HTTP/2 windows (stream and connection), above the 64 KiB
/// default so that a streaming server is never waiting on the window over
/// loopback: the client hands back what it reads as it reads it.
const WINDOW: u32 = 4 << 20;

fn err(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

/// An HTTP/2 connection to `addr`: the handle to send requests on, and its
/// driver, a task on this thread's event loop that ends (closing the
/// socket) once every handle and stream is dropped: [`close`] waits for
/// it, since dropping an event loop does not drop its tasks' sockets.
async fn connect(
    addr: SocketAddr,
) -> std::io::Result<(SendRequest<Bytes>, monoio::task::JoinHandle<()>)> {
    let tcp = monoio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut b = client::Builder::new();
    b.initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW);
    let (send, conn) = b
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| err(format!("HTTP/2 handshake with {addr}: {e}")))?;
    let driver = monoio::spawn(async move {
        let _ = conn.await;
    });
    Ok((send, driver))
}

/// Drops the connection's last handle and waits (at most a second) for its
/// driver to send GOAWAY and close the socket.
async fn close(send: SendRequest<Bytes>, driver: monoio::task::JoinHandle<()>) {
    drop(send);
    let _ = monoio::time::timeout(Duration::from_secs(1), driver).await;
}

/// Sends one gRPC request (`body`: its length-prefixed messages) and
/// returns the response's body stream once its headers are in, after
/// checking they say HTTP 200 and `application/grpc`.
async fn call(
    send: SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
) -> std::io::Result<RecvStream> {
    let mut send = send
        .ready()
        .await
        .map_err(|e| err(format!("the connection to {addr}: {e}")))?;
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(())
        .map_err(err)?;
    let (resp, mut out) = send
        .send_request(req, false)
        .map_err(|e| err(format!("{path}: {e}")))?;
    out.send_data(Bytes::from(body), true)
        .map_err(|e| err(format!("{path}: sending the request: {e}")))?;
    let resp = resp
        .await
        .map_err(|e| err(format!("{path}: no response: {e}")))?;
    let (parts, body) = resp.into_parts();
    if parts.status != http::StatusCode::OK {
        return Err(err(format!("{path}: HTTP status {}", parts.status)));
    }
    // A trailers-only response carries grpc-status in these headers.
    if let Some(s) = parts.headers.get("grpc-status") {
        return Err(err(format!(
            "{path}: trailers-only response, grpc-status {s:?} ({:?})",
            parts.headers.get("grpc-message")
        )));
    }
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/grpc") {
        return Err(err(format!("{path}: content-type {ct:?}")));
    }
    Ok(body)
}

/// Reads the trailers after the body, and wants `grpc-status: 0`.
async fn expect_ok(body: &mut RecvStream, path: &str) -> std::io::Result<()> {
    let trailers = body
        .trailers()
        .await
        .map_err(|e| err(format!("{path}: reading trailers: {e}")))?
        .ok_or_else(|| err(format!("{path}: no trailers (so no grpc-status)")))?;
    match trailers.get("grpc-status").map(|v| v.as_bytes()) {
        Some(b"0") => Ok(()),
        other => Err(err(format!(
            "{path}: grpc-status {:?}, grpc-message {:?}",
            other.map(String::from_utf8_lossy),
            trailers.get("grpc-message")
        ))),
    }
}

/// Reads a whole body, handing the window back as it goes.
async fn read_all(body: &mut RecvStream, path: &str) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| err(format!("{path}: reading the body: {e}")))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

/// Checks the server at `addr` on a throwaway event loop: a unary echo of
/// `payload` bytes comes back byte for byte with `grpc-status: 0`, and a
/// stream of three messages of `payload` bytes arrives whole and ends with
/// `grpc-status: 0`.
pub fn check(addr: SocketAddr, payload: usize) -> std::io::Result<()> {
    let mut rt = crate::uring::build(64, crate::uring::UringMode::Plain)?;
    rt.block_on(async move {
        let (send, driver) = connect(addr).await?;
        let checked = check_on(&send, addr, payload).await;
        close(send, driver).await;
        checked
    })
}

/// [`check`]'s calls, on an open connection.
async fn check_on(
    send: &SendRequest<Bytes>,
    addr: SocketAddr,
    payload: usize,
) -> std::io::Result<()> {
    let sent: Vec<u8> = (0..payload).map(|i| (i * 7 + 1) as u8).collect();
    let mut body = call(send.clone(), addr, ECHO, wire::echo_request(&sent)).await?;
    let got = read_all(&mut body, ECHO).await?;
    expect_ok(&mut body, ECHO).await?;
    let bad = |e: wire::WireError| err(format!("{ECHO}: {e}"));
    match wire::split_messages(&got).map_err(bad)?.as_slice() {
        [one] if wire::echo_payload(one).map_err(bad)? == sent => {}
        [_] => {
            return Err(err(format!(
                "{ECHO}: the reply is not the request's payload"
            )));
        }
        more => {
            return Err(err(format!(
                "{ECHO}: {} messages in a unary reply",
                more.len()
            )));
        }
    }
    let request = wire::stream_request(3, payload as u32);
    let mut body = call(send.clone(), addr, STREAM, request).await?;
    let got = read_all(&mut body, STREAM).await?;
    expect_ok(&mut body, STREAM).await?;
    let mut c = MessageCounter::new(wire::echo_message_len(payload));
    c.feed(&got);
    if let Some(e) = c.error {
        return Err(err(format!("{STREAM}: {e}")));
    }
    if c.messages != 3 || !c.at_boundary() {
        let part = if c.at_boundary() {
            ""
        } else {
            " and part of one"
        };
        return Err(err(format!(
            "{STREAM}: asked for 3 messages, got {}{part}",
            c.messages
        )));
    }
    Ok(())
}

/// What one streaming call measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamRun {
    /// Messages in the window.
    pub messages: u64,
    /// The window, in seconds.
    pub window_s: f64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Payload throughput, MiB/s (the messages' bytes with their prefixes).
    pub mib_per_s: f64,
    /// Server CPU per message, in microseconds.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Server CPU over wall time.
    pub server_cpu_busy: Option<f64>,
    /// Server heap allocations per message (a server that reports them).
    pub server_allocs_per_msg: Option<f64>,
    /// The client thread's CPU over wall time (1.0: the client is the
    /// ceiling).
    pub client_cpu_busy: f64,
}

/// What the client thread shares with the one timing it.
#[derive(Debug, Default)]
struct Progress {
    messages: AtomicU64,
    bytes: AtomicU64,
    stop: AtomicBool,
    failure: Failure,
}

impl Progress {
    fn fail(&self, why: String) {
        self.failure.set(why);
    }

    fn failure(&self) -> Option<String> {
        self.failure.get()
    }
}

/// Opens one `Stream` call for (practically) endless messages of `size`
/// bytes from a thread pinned to `cpu`, reads them as they come, and times
/// the warm-up and the window from this thread; the call is cancelled
/// (RST_STREAM) at the end. The server's CPU clock (and allocation
/// counters, if it has them) are read at the window's ends.
pub fn stream(
    addr: SocketAddr,
    server: Option<&ChildServer>,
    size: usize,
    timing: Timing,
    cpu: usize,
) -> std::io::Result<StreamRun> {
    let progress = Arc::new(Progress::default());
    let (clock_tx, clock_rx) = std::sync::mpsc::channel();
    let p = progress.clone();
    let thread = std::thread::Builder::new()
        .name("ringrpc-grpc-stream".into())
        .spawn(move || {
            if let Some(id) = core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.id == cpu)
            {
                core_affinity::set_for_current(id);
            }
            let _ = clock_tx.send(CpuClock::this_thread().ok());
            let rt = crate::uring::build(256, crate::uring::UringMode::Coop);
            match rt {
                Ok(mut rt) => rt.block_on(read_stream(addr, size, p.clone())),
                Err(e) => p.fail(format!("an event loop for the stream client: {e}")),
            }
        })?;
    let client = clock_rx.recv().ok().flatten();
    let stop = |p: &Progress| p.stop.store(true, Ordering::Release);
    // Wait for the first message (at most 10 s), then warm up.
    let t = Instant::now();
    while progress.messages.load(Ordering::Acquire) == 0 && progress.failure().is_none() {
        if t.elapsed() > Duration::from_secs(10) {
            progress.fail("no message within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if progress.failure().is_none() {
        std::thread::sleep(timing.warmup);
    }
    let snap = || {
        let bytes = progress.bytes.load(Ordering::Acquire);
        let m = Mark::take(progress.messages.load(Ordering::Acquire), server, client);
        (m, bytes)
    };
    let a = snap();
    let t = Instant::now();
    while t.elapsed() < timing.duration && progress.failure().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = snap();
    stop(&progress);
    let _ = thread.join();
    if let Some(why) = progress.failure() {
        return Err(err(format!("{STREAM} on {addr}: {why}")));
    }
    let w = Window::between(&a.0, &b.0);
    Ok(StreamRun {
        messages: w.count as u64,
        window_s: w.secs,
        msgs_per_s: w.rate(),
        mib_per_s: (b.1 - a.1) as f64 / w.secs / (1 << 20) as f64,
        server_cpu_us_per_msg: w.server_cpu_us_per,
        server_cpu_busy: w.server_cpu_busy,
        server_allocs_per_msg: w.server_allocs_per,
        client_cpu_busy: w.load_cpu_busy.unwrap_or(0.0),
    })
}

/// The client thread's loop: one call, read until told to stop.
async fn read_stream(addr: SocketAddr, size: usize, p: Arc<Progress>) {
    let opened = async {
        let (send, driver) = connect(addr).await?;
        let request = wire::stream_request(u32::MAX, size as u32);
        let body = call(send.clone(), addr, STREAM, request).await?;
        Ok::<_, std::io::Error>((send, driver, body))
    };
    let (send, driver, mut body) = match opened.await {
        Ok(opened) => opened,
        Err(e) => return p.fail(e.to_string()),
    };
    let mut counter = MessageCounter::new(wire::echo_message_len(size));
    while !p.stop.load(Ordering::Acquire) {
        // Wake up now and then to see the stop flag even if nothing comes.
        let next = monoio::time::timeout(Duration::from_millis(100), body.data()).await;
        let chunk = match next {
            Err(_) => continue,
            Ok(None) => {
                p.fail("the stream ended early".into());
                break;
            }
            Ok(Some(Err(e))) => {
                p.fail(format!("reading the stream: {e}"));
                break;
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        counter.feed(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
        if let Some(e) = &counter.error {
            p.fail(e.to_string());
            break;
        }
        p.messages.store(counter.messages, Ordering::Release);
        p.bytes.store(counter.bytes, Ordering::Release);
    }
    // Dropping the body cancels the call (RST_STREAM CANCEL).
    drop(body);
    close(send, driver).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::grpc::{EchoMessage, GrpcEcho};
    use ringrpc::engine::grpc::{GrpcConfig, Request, Router, Status};
    use ringrpc::engine::server::Server;
    use ringrpc_example_idl::echo::EchoServiceServer;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn ringrpcs_echo_passes_the_check_and_streams() {
        let server = crate::peers::grpc::start(loopback(), 1, 0).unwrap();
        let addr = server.local_addr();
        check(addr, 1024).unwrap();
        check(addr, 0).unwrap();
        let timing = Timing {
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };
        let run = stream(addr, None, 512, timing, 0).unwrap();
        assert!(run.messages > 0, "{run:?}");
        assert!(run.server_cpu_us_per_msg.is_none());
        server.shutdown();
    }

    #[test]
    fn a_server_answering_with_a_grpc_error_fails_the_check() {
        // HTTP 200 with grpc-status 13: what h2load would count as a success.
        // The stream is fine, the unary echo replaces GrpcEcho's with an error.
        let router = Router::new().add_service(GrpcEcho).unary(
            ECHO,
            |_req: Request<EchoMessage>| async move {
                Err::<ringrpc::engine::grpc::Response<EchoMessage>, _>(Status::internal("broken"))
            },
        );
        let server = Server::builder()
            .addr(loopback())
            .cores(1)
            // A gRPC port needs a Thrift service beside it (for now).
            .service(EchoServiceServer::new(crate::peers::ringrpc::Echo))
            .grpc_router(router, GrpcConfig::default())
            .start()
            .unwrap();
        let e = check(server.local_addr(), 16).unwrap_err().to_string();
        assert!(e.contains("grpc-status"), "{e}");
        server.shutdown();
    }

    #[test]
    fn a_server_without_the_methods_fails_the_check() {
        let server = Server::builder()
            .addr(loopback())
            .cores(1)
            // A gRPC port needs a Thrift service beside it (for now).
            .service(EchoServiceServer::new(crate::peers::ringrpc::Echo))
            .grpc_router(Router::new(), GrpcConfig::default())
            .start()
            .unwrap();
        assert!(check(server.local_addr(), 16).is_err());
        server.shutdown();
    }
}
