//! The engine's one error type.

use std::fmt;

use ringrpc_codec::thrift::{ApplicationException, Utf8Bytes};

/// A result whose error is the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A business status error: the handler's domain failure, carried in the
/// TTHeader keys `biz-status`, `biz-message` and `biz-extra` (Kitex's
/// `kerrors.BizStatusError`), not as a Thrift exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BizStatus {
    /// The status code (non-zero).
    pub code: i32,
    /// A message for people.
    pub message: Utf8Bytes,
    /// Extra key/value pairs, encoded as Kitex does (a JSON object of strings).
    pub extra: Option<Utf8Bytes>,
}

impl BizStatus {
    /// A business status with a code and message.
    pub fn new(code: i32, message: impl Into<Utf8Bytes>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: None,
        }
    }
}

impl fmt::Display for BizStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "biz status {}: {}", self.code, self.message)
    }
}

/// What went wrong with a call, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC timeout elapsed before the reply came.
    #[error("rpc timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Connecting to the peer failed or timed out.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// The address tried.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke while sending or receiving.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer's bytes could not be decoded.
    #[error("protocol error: {0}")]
    Protocol(#[from] ringrpc_codec::Error),
    /// The peer answered with a Thrift application exception.
    #[error("{0}")]
    Application(ApplicationException),
    /// The peer answered with a business status error.
    #[error("{0}")]
    Biz(BizStatus),
    /// No instance could be picked for the call.
    #[error("no instance available: {0}")]
    NoInstance(String),
    /// The server or client is shutting down.
    #[error("shutting down")]
    Shutdown,
    /// A server-side handler failure (becomes an `InternalError` exception).
    #[error("handler error: {0}")]
    Handler(String),
}

impl Error {
    /// A handler error with a message (the peer sees an `InternalError`
    /// application exception carrying it).
    pub fn handler(msg: impl fmt::Display) -> Self {
        Error::Handler(msg.to_string())
    }

    /// Whether the call may be retried on another connection without the
    /// risk that the server ran it (the request never left this process, or
    /// the connection failed before it could be sent).
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::NoInstance(_))
    }
}
