//! The crate's one error type.
//!
//! Every variant is something a caller can act on: a resolve that found no
//! instance (fail the call, or wait for the next refresh), a backend that could
//! not be reached (keep the previous snapshot, retry later), bad configuration
//! (fix it), or a cache that has shut down. Backend errors are kept typed and
//! behind an `Arc` so that one failed resolve can be handed to every core that
//! waited on it (`Error: Clone`).

use std::sync::Arc;

/// Errors of resolvers, the resolver cache, registries and policies.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A resolve succeeded but found no usable instance for `key`.
    #[error("no instance for {key:?}")]
    NoInstance {
        /// The cache key (as returned by `Resolver::target`).
        key: String,
    },
    /// An IO error talking to a backend (DNS socket, getaddrinfo, ...).
    #[error("io error: {0}")]
    Io(#[from] Arc<std::io::Error>),
    /// A DNS answer could not be decoded, or carried an error code.
    #[error("dns: {0}")]
    Dns(#[from] DnsError),
    /// The etcd client failed (connect, request, watch or keepalive).
    #[cfg(feature = "etcd")]
    #[error("etcd: {0}")]
    Etcd(#[from] Arc<etcd_client::Error>),
    /// A registry value (JSON) could not be encoded or decoded.
    #[cfg(feature = "etcd")]
    #[error("registry value: {0}")]
    Json(#[from] Arc<serde_json::Error>),
    /// A backend did not answer in time.
    #[error("{what} timed out")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A target key could not be parsed by the resolver it was given to.
    #[error("invalid target {key:?}: {reason}")]
    InvalidTarget {
        /// The key as given.
        key: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The resolver cache (or a registration task) has shut down.
    #[error("resolver cache is shut down")]
    Closed,
}

/// What was wrong with a DNS exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The server answered with a non-zero RCODE (e.g. 3 = NXDOMAIN).
    #[error("server answered rcode {0}")]
    Rcode(u8),
    /// The answer could not be parsed.
    #[error("malformed answer")]
    Malformed,
    /// No nameserver is configured (none in resolv.conf and none given).
    #[error("no nameserver configured")]
    NoNameserver,
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

#[cfg(feature = "etcd")]
impl From<etcd_client::Error> for Error {
    fn from(e: etcd_client::Error) -> Self {
        Error::Etcd(Arc::new(e))
    }
}

#[cfg(feature = "etcd")]
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(Arc::new(e))
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
