//! Client settings (per client, with documented defaults) and per-call
//! options that override them.

use std::net::SocketAddr;
use std::time::Duration;

use ringrpc_codec::thrift::{DecodeLimits, Protocol};
use ringrpc_codec::transport::{FrameLimits, Transport};

/// How a client keeps connections to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Long connections, one request in flight on each (Kitex's default
    /// long-connection pool).
    Long {
        /// Idle connections kept per address. Default 10 (Kitex's
        /// `MaxIdlePerAddress` default in `connpool.IdleConfig` is 10).
        max_idle_per_addr: usize,
        /// An idle connection older than this is closed instead of reused.
        /// Default 30 s (Kitex's `MaxIdleTimeout` default).
        idle_timeout: Duration,
    },
    /// Multiplexed connections: many requests in flight on each, matched by
    /// seq id. TTHeader only.
    Mux {
        /// Connections per address, used in turn. Default 1.
        conns_per_addr: usize,
    },
}

impl PoolKind {
    /// The default long pool.
    pub const fn long() -> Self {
        PoolKind::Long {
            max_idle_per_addr: 10,
            idle_timeout: Duration::from_secs(30),
        }
    }

    /// A mux pool with one connection per address.
    pub const fn mux() -> Self {
        PoolKind::Mux { conns_per_addr: 1 }
    }
}

/// A client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The callee's IDL service name (sent as TTHeader `isn`, used for
    /// routing on multi-service servers).
    pub service: String,
    /// The caller's service name (sent as TTHeader `FromService`).
    pub caller: String,
    /// Fixed instances calls go to when no per-call address is given and
    /// no resolver is set, chosen by the client's balancer (weighted round
    /// robin by default).
    pub targets: Vec<SocketAddr>,
    /// The whole call's time limit. Default: none (a Kitex client has no
    /// RPC timeout unless one is set).
    pub rpc_timeout: Option<Duration>,
    /// The connect time limit. Default 50 ms (Kitex's
    /// `DefaultConnectTimeout`).
    pub connect_timeout: Duration,
    /// The transport. Default Framed (the default of Kitex's thrift client).
    pub transport: Transport,
    /// The protocol. Default binary.
    pub protocol: Protocol,
    /// The connection pool.
    pub pool: PoolKind,
    /// Bounds on replies.
    pub frame_limits: FrameLimits,
    /// Bounds on decoding replies.
    pub decode_limits: DecodeLimits,
    /// TLS for every connection (feature `tls`). Default none.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            service: String::new(),
            caller: String::new(),
            targets: Vec::new(),
            rpc_timeout: None,
            connect_timeout: Duration::from_millis(50),
            transport: Transport::Framed,
            protocol: Protocol::Binary,
            pool: PoolKind::long(),
            frame_limits: FrameLimits::default(),
            decode_limits: DecodeLimits::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Options for one call; each `Some` overrides the client's setting.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The call's time limit.
    pub rpc_timeout: Option<Duration>,
    /// The connect time limit.
    pub connect_timeout: Option<Duration>,
    /// Call this address instead of picking one.
    pub addr: Option<SocketAddr>,
    /// The transport (Long pools only; a mux pool is TTHeader).
    pub transport: Option<Transport>,
    /// The protocol.
    pub protocol: Option<Protocol>,
    /// The key a consistent-hash balancer places this call by (e.g. a hash
    /// of a user id): calls with equal keys go to the same instance while
    /// it is there. Other balancers ignore it.
    pub hash_key: Option<u64>,
    /// Retry settings for this call instead of its method's.
    pub retry: Option<super::MethodRetry>,
}

impl CallOptions {
    /// No overrides: what a call without options uses.
    pub const NONE: CallOptions = CallOptions {
        rpc_timeout: None,
        connect_timeout: None,
        addr: None,
        transport: None,
        protocol: None,
        hash_key: None,
        retry: None,
    };

    /// No overrides.
    pub const fn new() -> Self {
        Self::NONE
    }

    /// Sets the call's time limit.
    pub fn rpc_timeout(mut self, t: Duration) -> Self {
        self.rpc_timeout = Some(t);
        self
    }

    /// Sets the connect time limit.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// Calls this address.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Uses this transport.
    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = Some(t);
        self
    }

    /// Uses this protocol.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = Some(p);
        self
    }

    /// Places the call by `key` (consistent hashing).
    pub fn hash_key(mut self, key: u64) -> Self {
        self.hash_key = Some(key);
        self
    }

    /// Uses these retry settings instead of the method's.
    pub fn retry(mut self, retry: super::MethodRetry) -> Self {
        self.retry = Some(retry);
        self
    }
}
