//! ringrpc's own echo server, as the harness embeds it (or runs it in a
//! child process for `compare`): `EchoService.echo` returning the message it
//! got, on `cores` pinned cores. Each core's thread joins
//! [`SERVER_THREADS`] and counts its allocations as the server's.

use std::net::SocketAddr;

use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::{Metrics, MetricsEndpoint};
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc_example_idl::echo::{EchoRequest, EchoResponse, EchoService, EchoServiceServer};

use crate::alloc;
use crate::cpu::ThreadGroup;

/// The threads of the embedded server's cores.
pub static SERVER_THREADS: ThreadGroup = ThreadGroup::new();

/// The echo handler: the reply carries the request's message (zero copy).
#[derive(Debug, Clone, Copy)]
pub struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

/// A running echo server, and its metrics endpoint if it serves one.
#[derive(Debug)]
pub struct Running {
    /// The server.
    pub server: ServerHandle,
    /// Serves `GET /metrics` while alive.
    pub endpoint: Option<MetricsEndpoint>,
}

impl std::ops::Deref for Running {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.server
    }
}

impl Running {
    /// Serves until SIGINT or SIGTERM, then drains.
    pub fn run_until_signal(self) -> std::io::Result<i32> {
        let Running { server, endpoint } = self;
        let r = server.run_until_signal();
        drop(endpoint);
        r
    }
}

/// Starts the echo server on `cores` cores from CPU `first_core`; with
/// `metrics`, every call is recorded into Prometheus metrics (`"off"`: not
/// served; an address: served there at `/metrics`), and `prefill` more
/// series are made up at start (method x status pairs no call uses), so a
/// scrape can be measured on a large registry.
pub fn start(
    addr: SocketAddr,
    cores: usize,
    first_core: usize,
    metrics: Option<&str>,
    prefill: usize,
    tls: Option<ringrpc::engine::tls::ServerTls>,
) -> std::io::Result<Running> {
    SERVER_THREADS.clear();
    let recorder = metrics.map(|_| Metrics::new());
    let mut b = Server::builder()
        .addr(addr)
        .cores(cores)
        .first_core(first_core);
    if let Some(tls) = tls {
        b = b.tls(tls);
    }
    if let Some(m) = &recorder {
        b = b.tracer(m.tracer());
    }
    let server = b
        .service_per_core(|| {
            // Runs once on each core's own thread, as the core starts.
            alloc::set_role(alloc::Role::Server);
            SERVER_THREADS.join();
            EchoServiceServer::new(Echo)
        })
        .start()
        .map_err(std::io::Error::other)?;
    if let Some(m) = &recorder
        && prefill > 0
    {
        prefill_series(m, prefill);
    }
    let endpoint = match (recorder, metrics) {
        (Some(m), Some(a)) if a != "off" => {
            m.add_server(&server);
            let at: SocketAddr = a.parse().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--metrics {a}: {e}"),
                )
            })?;
            Some(m.serve(at)?)
        }
        _ => None,
    };
    Ok(Running { server, endpoint })
}

/// Records one call into each of `n` made-up series (`n / 2` methods, each
/// succeeded and failed), from this thread as if it were one more core.
fn prefill_series(m: &Metrics, n: usize) {
    use ringrpc::codec::thrift::Utf8Bytes;
    use ringrpc::engine::context::{Endpoint, RpcInfo};
    use ringrpc::engine::stats::{Event, Outcome, RpcStats, Side, StatsLevel, Tracer};
    let tracer = m.core_tracer();
    let start = std::time::Instant::now();
    for i in 0..n {
        let info = RpcInfo {
            caller: Endpoint {
                service: Some(Utf8Bytes::from_static("prefill")),
                addr: None,
            },
            callee: Endpoint {
                service: Some(Utf8Bytes::from_static("EchoService")),
                addr: None,
            },
            method: Utf8Bytes::from(format!("method_{:04}", i / 2)),
            seqid: 0,
            deadline: None,
            timeout: None,
            codec: ringrpc::codec::transport::Codec {
                transport: ringrpc::codec::transport::Transport::Framed,
                protocol: ringrpc::codec::thrift::Protocol::Binary,
            },
        };
        let mut stats = RpcStats::new(StatsLevel::Base);
        stats.record_at(Event::RpcStart, start);
        stats.record_at(
            Event::RpcFinish,
            start + std::time::Duration::from_micros(40),
        );
        stats.outcome = if i % 2 == 0 {
            Outcome::Success
        } else {
            Outcome::Failed
        };
        tracer.finish(Side::Server, &info, &stats);
    }
    // The series live in the metrics; the tracer may go.
    drop(tracer);
}
