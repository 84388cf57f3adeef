//! The engine's one error type, [`Error`], and the typed causes it carries.
//!
//! Each variant is something a caller can act on: retry elsewhere (a connect
//! failure, no instance), give up or retry if idempotent (a broken
//! connection, a timeout), report the peer's answer (an application
//! exception, a business status), fix the configuration, or stop (shutdown).
//! Causes stay typed: an IO error is the `std::io::Error`, a bad reply is the
//! codec's error, a failed resolve is the discovery crate's error. The same
//! failure gives the same variant whichever pool carried the call, so retry
//! decisions do not depend on the pool.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ringrpc_codec::thrift::{ApplicationException, Utf8Bytes};
use ringrpc_codec::transport::Transport;

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
#[non_exhaustive]
pub enum Error {
    /// The RPC timeout (or an attempt's timeout) elapsed before the reply
    /// came.
    #[error("rpc timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting to the peer failed or timed out: the request never left
    /// this process.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke while sending or receiving (the peer closed it,
    /// a read or write failed). The request may have reached the peer.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection failed before any byte of the request was written to
    /// it (a write refused outright, or a multiplexed connection that broke
    /// while the request still waited in its queue): like
    /// [`Connect`](Self::Connect), the request never left this process, so
    /// it is safe to send again even for a method that is not idempotent.
    #[error("request to {addr} not sent: {source}")]
    NotSent {
        /// The address the connection went to.
        addr: SocketAddr,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// The peer's bytes could not be decoded (a bad frame or reply).
    #[error("protocol error: {0}")]
    Protocol(#[from] ringrpc_codec::Error),
    /// The peer answered with a Thrift application exception.
    #[error("{0}")]
    Application(ApplicationException),
    /// The peer answered with a business status error.
    #[error("{0}")]
    Biz(BizStatus),
    /// No instance could be picked for the call.
    #[error("no instance of {service}: {reason}")]
    NoInstance {
        /// The callee's service name (as configured on the client).
        service: String,
        /// Why nothing could be picked.
        reason: NoInstanceReason,
    },
    /// Discovery failed (the first resolve of a service, a resolver error).
    #[error("discovery: {0}")]
    Discovery(#[from] ringrpc_discovery::Error),
    /// The service-level circuit breaker of the call's method is open (or
    /// half-open and between probes): the call was not sent (Kitex's
    /// `ErrServiceCircuitBreak`). A per-method
    /// [`Fallback`](crate::client::Fallback) can answer it instead.
    #[error("circuit breaker {key} is open")]
    CircuitBreak {
        /// The breaker's key, `caller/callee/method` (Kitex's
        /// `circuitbreak.RPCInfo2Key`).
        key: Utf8Bytes,
    },
    /// The client or server was configured in a way that cannot work.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The server or client is shutting down.
    #[error("shutting down")]
    Shutdown,
    /// Metainfo that cannot be sent (see [`metainfo`](crate::metainfo)):
    /// nothing was sent.
    #[error("metainfo: {0}")]
    Metainfo(#[from] crate::metainfo::MetainfoError),
    /// A server-side handler failure (the peer sees an `InternalError`
    /// application exception carrying its message).
    #[error("handler error: {0}")]
    Handler(HandlerError),
}

impl Error {
    /// A handler error with a message (the peer sees an `InternalError`
    /// application exception carrying it).
    pub fn handler(msg: impl fmt::Display) -> Self {
        Error::Handler(HandlerError::new(msg))
    }

    /// Whether the call may be retried on another connection without the
    /// risk that the server ran it (the request never left this process, or
    /// the connection failed before it could be sent).
    pub fn is_connect_failure(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::NotSent { .. } | Error::NoInstance { .. }
        )
    }
}

/// Why no instance could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoInstanceReason {
    /// The client has neither a target address nor a resolver.
    #[error("no target address configured")]
    NoTargets,
    /// Discovery found no instance of the service.
    #[error("discovery found none")]
    NoneResolved,
    /// Instances exist, but every one is excluded: its circuit breaker is
    /// open, or (for a retry or backup) it was already tried.
    #[error("none admitted (breakers open or already tried)")]
    NoneAdmitted,
}

/// A configuration that cannot work, found when a client or server is
/// built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A multiplexed pool carries calls matched by the TTHeader seq id, so it
    /// needs a TTHeader transport.
    #[error("a multiplexed pool needs the TTHeader transport, not {0:?}")]
    MuxNeedsTtHeader(Transport),
    /// A server with a registry must register an address clients can reach:
    /// not an unspecified IP (`0.0.0.0`) or port 0.
    #[error("cannot register {0}: listen on a specific address or set Registration::advertise")]
    Unadvertisable(SocketAddr),
    /// A policy's options are out of range.
    #[error("invalid {what}: {source}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// What the policy's own check said.
        #[source]
        source: ringrpc_discovery::Error,
    },
    /// A gRPC channel was built with nowhere to send calls.
    #[error("a gRPC channel needs a target or a resolver")]
    NoTarget,
}

/// A handler's own failure: a message for the caller, and optionally the
/// error that caused it (kept for logs and middleware; not sent).
#[derive(Debug)]
pub struct HandlerError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl HandlerError {
    /// A failure described by `msg`.
    pub fn new(msg: impl fmt::Display) -> Self {
        Self {
            message: msg.to_string(),
            source: None,
        }
    }

    /// A failure caused by `source`, described by its message.
    pub fn from_source(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The message the caller sees.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_errors_keep_their_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such row");
        let e = Error::Handler(HandlerError::from_source(io));
        let Error::Handler(h) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(h.message(), "no such row");
        let src = std::error::Error::source(h).expect("the cause is kept");
        assert!(src.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn connect_failures_and_missing_instances_never_left_the_process() {
        let connect = Error::Connect {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        let none = Error::NoInstance {
            service: "echo".into(),
            reason: NoInstanceReason::NoneResolved,
        };
        let not_sent = Error::NotSent {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::BrokenPipe.into(),
        };
        assert!(connect.is_connect_failure());
        assert!(none.is_connect_failure());
        assert!(not_sent.is_connect_failure());
        assert!(!Error::Io(std::io::ErrorKind::UnexpectedEof.into()).is_connect_failure());
    }
}
