//! tonic's side of the gRPC test service (`../../tests/grpc_common`, the
//! same as `tests/python/grpc_echo.proto`): a tonic server on a tokio
//! runtime of its own thread, with the service written by hand over
//! `tonic::server::Grpc` and tonic-prost's codec (the routing `Service`
//! below is what tonic-build would generate), so no protoc is needed.
//!
//! The methods answer as ringrpc's and grpcio's do (`Echo`, `Fail` with
//! `x-reason` trailing metadata, `Slow`, `Metadata`, `Ticks` with
//! `x-ticks` trailers, `Sum`, `Chat`), plus `Deadline`, which answers with
//! the `grpc-timeout` it received in milliseconds, and `Cancellable`,
//! which notes when its future is dropped before it finishes.

#![allow(dead_code)] // each test file uses part of it

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::codegen::tokio_stream::{self, Stream, StreamExt};
use tonic::codegen::{BoxFuture, BoxStream, CompressionEncoding, Service, http};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use super::grpc_common::{Echo, Sum, Tick, TickRequest, echo_msg};

/// Set when `Cancellable`'s future was dropped before it finished.
static CANCELLED: AtomicBool = AtomicBool::new(false);

pub fn was_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

struct SetOnDrop(bool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if !self.0 {
            CANCELLED.store(true, Ordering::SeqCst);
        }
    }
}

/// A closure as the `tower::Service` tonic's `Grpc` takes (tower's
/// `service_fn`, without depending on tower).
#[derive(Clone, Copy)]
struct Handler<F>(F);

impl<F, Fut, Req, Resp> Service<Req> for Handler<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Resp, Status>>,
{
    type Response = Resp;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Fut {
        (self.0)(req)
    }
}

/// The milliseconds a `grpc-timeout` value stands for (gRPC's
/// PROTOCOL-HTTP2.md: at most 8 digits and a unit).
pub fn timeout_ms(v: &str) -> Option<u64> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => n * 3_600_000,
        "M" => n * 60_000,
        "S" => n * 1000,
        "m" => n,
        "u" => n / 1000,
        "n" => n / 1_000_000,
        _ => return None,
    })
}

/// The test service, routed by path.
#[derive(Clone, Copy, Debug)]
pub struct TonicEcho;

impl NamedService for TonicEcho {
    const NAME: &'static str = "test.Echo";
}

/// `Grpc` with gzip accepted, and sent when the caller accepts it.
fn grpc<Enc, Dec>() -> Grpc<ProstCodec<Enc, Dec>>
where
    Enc: prost::Message + Send + 'static,
    Dec: prost::Message + Default + Send + 'static,
{
    Grpc::new(ProstCodec::default())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

fn ticks(req: TickRequest) -> BoxStream<Tick> {
    let TickRequest { count, size } = req;
    if size == u32::MAX {
        // Its messages, then the status.
        let msgs = (0..count).map(|seq| {
            Ok(Tick {
                seq: seq.into(),
                payload: vec![],
            })
        });
        let fail = std::iter::once(Err(Status::invalid_argument("size too large")));
        return Box::pin(tokio_stream::iter(msgs.chain(fail)));
    }
    let msgs = (0..count).map(move |seq| {
        Ok(Tick {
            seq: seq.into(),
            payload: vec![7; size as usize],
        })
    });
    // tonic has no setter for trailing metadata of a stream that ends
    // well: an `Err` whose code is OK ends it with that status's trailers.
    let mut md = MetadataMap::new();
    md.insert("x-ticks", MetadataValue::from(count));
    let end = std::iter::once(Err(Status::with_metadata(Code::Ok, "", md)));
    Box::pin(tokio_stream::iter(msgs.chain(end)))
}

impl Service<http::Request<tonic::body::Body>> for TonicEcho {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            "/test.Echo/Echo" => Box::pin(async move {
                let h =
                    Handler(|r: Request<Echo>| async move { Ok(Response::new(r.into_inner())) });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Fail" => Box::pin(async move {
                let h = Handler(|r: Request<Echo>| async move {
                    let mut md = MetadataMap::new();
                    md.insert("x-reason", MetadataValue::from_static("asked to fail"));
                    Err::<Response<Echo>, _>(Status::with_metadata(
                        Code::NotFound,
                        r.into_inner().text,
                        md,
                    ))
                });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Slow" => Box::pin(async move {
                let h = Handler(|r: Request<Echo>| async move {
                    let ms: u64 = r.get_ref().text.parse().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(Response::new(echo_msg(&format!("slept {ms}"))))
                });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Deadline" => Box::pin(async move {
                let h = Handler(|r: Request<Echo>| async move {
                    let text = match r.metadata().get("grpc-timeout") {
                        None => "none".to_owned(),
                        Some(v) => {
                            let v = v.to_str().unwrap_or("");
                            match timeout_ms(v) {
                                Some(ms) => ms.to_string(),
                                None => format!("malformed {v:?}"),
                            }
                        }
                    };
                    Ok(Response::new(echo_msg(&text)))
                });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Metadata" => Box::pin(async move {
                let h = Handler(|r: Request<Echo>| async move {
                    let md = r.metadata();
                    let ascii = |k: &str| {
                        md.get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned()
                    };
                    let trace = md
                        .get_bin("x-trace-bin")
                        .and_then(|v| v.to_bytes().ok())
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    let text = format!(
                        "user={} trace={trace:?} log_id={} stress={}",
                        ascii("x-user"),
                        ascii("rpc-persist-log-id"),
                        ascii("rpc-transit-stress"),
                    );
                    let mut resp = Response::new(echo_msg(&text));
                    let md = resp.metadata_mut();
                    md.insert("x-served-by", MetadataValue::from_static("tonic"));
                    md.insert("rpc-backward-answer", MetadataValue::from_static("42"));
                    Ok(resp)
                });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Cancellable" => Box::pin(async move {
                let h = Handler(|_r: Request<Echo>| async move {
                    let mut guard = SetOnDrop(false);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    guard.0 = true;
                    Ok(Response::new(echo_msg("finished")))
                });
                Ok(grpc().unary(h, req).await)
            }),
            "/test.Echo/Ticks" => Box::pin(async move {
                let h = Handler(|r: Request<TickRequest>| async move {
                    Ok(Response::new(ticks(r.into_inner())))
                });
                Ok(grpc().server_streaming(h, req).await)
            }),
            "/test.Echo/Sum" => Box::pin(async move {
                let h = Handler(|r: Request<Streaming<Tick>>| async move {
                    let mut s = r.into_inner();
                    let (mut count, mut total) = (0, 0);
                    while let Some(t) = s.message().await? {
                        count += 1;
                        total += t.seq;
                    }
                    Ok(Response::new(Sum { count, total }))
                });
                Ok(grpc().client_streaming(h, req).await)
            }),
            "/test.Echo/Chat" => Box::pin(async move {
                let h = Handler(|r: Request<Streaming<Echo>>| async move {
                    let replies = r
                        .into_inner()
                        .map(|m| m.map(|m| echo_msg(&format!("re: {}", m.text))));
                    let replies: BoxStream<Echo> = Box::pin(replies);
                    Ok(Response::new(replies))
                });
                Ok(grpc().streaming(h, req).await)
            }),
            path => {
                let st = Status::unimplemented(format!("unknown method {path}"));
                Box::pin(async move { Ok(st.into_http()) })
            }
        }
    }
}

/// A tonic server on its own thread (a current-thread tokio runtime),
/// stopped (abruptly: open connections are dropped with the runtime) when
/// dropped.
pub struct TonicServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Settings of the tonic server a test starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct TonicSettings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS; tonic's default is none.
    pub max_concurrent_streams: Option<u32>,
}

impl TonicServer {
    pub fn start(settings: TonicSettings) -> TonicServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let incoming = Incoming {
                    listener,
                    accepted: counted,
                };
                let serve = tonic::transport::Server::builder()
                    .max_concurrent_streams(settings.max_concurrent_streams)
                    .serve_with_incoming(TonicEcho, incoming);
                tokio::select! {
                    r = serve => r.expect("tonic serves"),
                    _ = stop_rx => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the tonic server binds");
        TonicServer {
            addr,
            connections,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TonicServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepted connections, counted, with `TCP_NODELAY` (tonic sets it only
/// on listeners it binds itself).
struct Incoming {
    listener: tokio::net::TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl Stream for Incoming {
    type Item = std::io::Result<tokio::net::TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.listener.poll_accept(cx) {
            Poll::Ready(Ok((s, _))) => {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(s.set_nodelay(true).map(|()| s)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}
