//! The server's settings, with documented defaults (and where each default
//! came from).

use std::net::SocketAddr;
use std::time::Duration;

use ringrpc_codec::thrift::DecodeLimits;
use ringrpc_codec::transport::FrameLimits;

use super::limit::Limits;

/// The server's settings, with documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen. Default `127.0.0.1:8888` (Kitex's default port).
    pub addr: SocketAddr,
    /// Worker cores. Default: every available core.
    pub cores: Option<usize>,
    /// The CPU the first worker is pinned to. Default 0.
    pub first_core: usize,
    /// Whether to pin workers to CPUs. Default true.
    pub pin: bool,
    /// Frame bounds. Default: 16 MiB frames.
    pub frame_limits: FrameLimits,
    /// Decoding bounds. Default: depth 64, strings and containers 16 Mi.
    pub decode_limits: DecodeLimits,
    /// How long a partial frame may wait for its remaining bytes before the
    /// connection is closed. Default 5 s (Kitex's read/write timeout).
    pub read_timeout: Duration,
    /// How long a connection may sit idle between requests. Default 10 min
    /// (Kitex's `MaxConnectionIdleTime`).
    pub idle_timeout: Duration,
    /// Connections a core holds at most; more are closed on accept.
    /// Default 10 000.
    pub max_conns_per_core: usize,
    /// Requests in flight on one connection at most (TTHeader); reading
    /// pauses at the limit. Default 1024.
    pub max_inflight_per_conn: usize,
    /// Reply bytes a connection may have waiting to be written before it
    /// stops reading requests (a peer that does not read its replies).
    /// Default 8 MiB.
    pub max_unflushed_bytes: usize,
    /// How long graceful shutdown waits for in-flight requests. Default 5 s
    /// (Kitex's `ExitWaitTime`).
    pub shutdown_timeout: Duration,
    /// The listen backlog. Default 1024.
    pub backlog: i32,
    /// Server-wide QPS, in-flight and connection limits (see
    /// [`limit`](super::limit)). Default: none (as Kitex without
    /// `server.WithLimit`). Changeable while running through
    /// [`ServerHandle::limits`](super::ServerHandle::limits).
    pub limits: Limits,
    /// Whether a handler still running at the caller's deadline (TTHeader
    /// `RPCTimeout`, counted from when the request was read) is stopped
    /// and the call answered with a timeout exception. Default false: the
    /// handler runs to its end (Kitex's server-side context timeout is
    /// opt-in too). A call whose deadline passed before its handler started
    /// is never run, whatever this says.
    pub enforce_deadline: bool,
    /// TLS on the port (feature `tls`). Default none: plaintext. With it,
    /// the port is TLS-only unless the settings accept plaintext too.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ServerTls>,
    /// gRPC on the port (feature `grpc`): a connection that opens with the
    /// HTTP/2 preface is served by these methods. Default none: such a
    /// connection is closed. Set by [`ServerBuilder::grpc`](super::ServerBuilder::grpc).
    #[cfg(feature = "grpc")]
    pub grpc: Option<crate::grpc::GrpcServer>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8888)),
            cores: None,
            first_core: 0,
            pin: true,
            frame_limits: FrameLimits::default(),
            decode_limits: DecodeLimits::default(),
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_conns_per_core: 10_000,
            max_inflight_per_conn: 1024,
            max_unflushed_bytes: 8 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            backlog: 1024,
            limits: Limits::default(),
            enforce_deadline: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "grpc")]
            grpc: None,
        }
    }
}
