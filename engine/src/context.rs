//! The RPC information middleware and handlers see: who calls whom, which
//! method, the sequence id, the deadline and the transport's metadata.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_codec::transport::{Codec, TtHeader};

use crate::BizStatus;

/// One side of a call.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The service name, when known (TTHeader's `isn`/caller keys or config).
    pub service: Option<Utf8Bytes>,
    /// The peer's address, when known.
    pub addr: Option<SocketAddr>,
}

/// What a middleware knows about one call.
#[derive(Debug, Clone)]
pub struct RpcInfo {
    /// The calling side.
    pub caller: Endpoint,
    /// The called side.
    pub callee: Endpoint,
    /// The method's name (a zero-copy slice of the request on the server).
    pub method: Utf8Bytes,
    /// The Thrift sequence id.
    pub seqid: i32,
    /// When the caller stops waiting, if it said (TTHeader `RPCTimeout`, or
    /// the client's RPC timeout).
    pub deadline: Option<Instant>,
    /// The call's RPC timeout as configured (the call's option, else the
    /// client's): what a client sends as TTHeader `RPCTimeout`, as Kitex
    /// does. `None` on the server.
    pub timeout: Option<Duration>,
    /// The transport and protocol.
    pub codec: Codec,
}

impl RpcInfo {
    /// The time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// A server call's context: the RPC info, the request's transport metadata,
/// and what the handler wants to send back besides the result.
#[derive(Debug)]
pub struct ServerContext {
    /// Who, what, when.
    pub info: RpcInfo,
    /// The request's TTHeader (`None` for Framed and Buffered).
    pub request_header: Option<TtHeader>,
    /// A business status to return in the reply's TTHeader.
    pub biz_status: Option<BizStatus>,
}

/// A client call's context.
#[derive(Debug)]
pub struct ClientContext {
    /// Who, what, when.
    pub info: RpcInfo,
    /// String keys to send in the request's TTHeader besides the defaults.
    pub request_keys: Vec<(Utf8Bytes, Utf8Bytes)>,
    /// The reply's TTHeader, once it arrived (`None` for Framed/Buffered).
    pub reply_header: Option<TtHeader>,
    /// The attempt number (0 for the first, 1 for the first retry).
    pub attempt: u32,
}
