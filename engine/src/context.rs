//! The RPC information middleware and handlers see: who calls whom, which
//! method, the sequence id, the deadline and the transport's metadata.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_codec::transport::{Codec, TtHeader};

use crate::BizStatus;
use crate::metainfo::{self, Kind, MetainfoError, TraceContext};
use crate::stats::RpcStats;

/// One side of a call.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The service name, when known (TTHeader's `isn`/caller keys or config).
    pub service: Option<Utf8Bytes>,
    /// The peer's address, when known.
    pub addr: Option<SocketAddr>,
}

/// Who a peer proved to be with its TLS certificate (mutual TLS): read from
/// the certificate the server verified against its client CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's subject, as `CN=client, O=example` (RFC 4514
    /// order as the certificate holds it).
    pub subject: String,
    /// Its subject alternative names, in certificate order.
    pub sans: Vec<SubjectAltName>,
}

impl PeerIdentity {
    /// The DNS names among the SANs.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> {
        self.sans.iter().filter_map(|s| match s {
            SubjectAltName::Dns(d) => Some(d.as_str()),
            _ => None,
        })
    }

    /// The URIs among the SANs (a SPIFFE ID is one).
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.sans.iter().filter_map(|s| match s {
            SubjectAltName::Uri(u) => Some(u.as_str()),
            _ => None,
        })
    }
}

/// One subject alternative name of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// `dNSName`.
    Dns(String),
    /// `iPAddress`.
    Ip(std::net::IpAddr),
    /// `uniformResourceIdentifier`.
    Uri(String),
    /// `rfc822Name` (an e-mail address).
    Email(String),
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
    /// Backward metainfo for the reply's TTHeader.
    pub(crate) backward: Vec<(Utf8Bytes, Utf8Bytes)>,
    /// The caller's verified TLS certificate, read.
    pub(crate) peer_identity: Option<Rc<PeerIdentity>>,
}

impl ServerContext {
    /// A context for a call described by `info`, with no header, business
    /// status or backward values (for tests and custom dispatch).
    pub fn new(info: RpcInfo) -> Self {
        Self {
            info,
            request_header: None,
            biz_status: None,
            backward: Vec::new(),
            peer_identity: None,
        }
    }

    /// Who the caller proved to be: the subject and SANs of the client
    /// certificate a mutual-TLS server verified. `None` on a plaintext
    /// connection, or a TLS one without a client certificate.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.peer_identity.as_deref()
    }

    /// Sets the caller's identity (for tests and custom dispatch; the server
    /// sets it from the TLS handshake).
    pub fn with_peer_identity(mut self, identity: Option<Rc<PeerIdentity>>) -> Self {
        self.peer_identity = identity;
        self
    }

    /// A persistent metainfo value the caller sent (`RPC_PERSIST_<key>`),
    /// read in place from the request's header. See [`metainfo`].
    pub fn persistent(&self, key: &str) -> Option<&str> {
        metainfo::value(self.request_header.as_ref()?, Kind::Persistent, key)
    }

    /// A transient metainfo value the caller sent (`RPC_TRANSIT_<key>`): it
    /// stops at this hop.
    pub fn transient(&self, key: &str) -> Option<&str> {
        metainfo::value(self.request_header.as_ref()?, Kind::Transient, key)
    }

    /// Every metainfo value of `kind` the caller sent, in wire order.
    pub fn metainfo(&self, kind: Kind) -> impl Iterator<Item = (&str, &str)> {
        self.request_header
            .iter()
            .flat_map(move |h| metainfo::values(h, kind))
    }

    /// Sends `key = value` back to the caller in the reply's TTHeader
    /// (`RPC_BACKWARD_<key>`; a Framed or Buffered reply has no header to
    /// carry it). Fails past the bounds of [`metainfo`].
    pub fn set_backward(&mut self, key: &str, value: &str) -> Result<(), MetainfoError> {
        metainfo::validate(key, value)?;
        self.backward.retain(|(k, _)| k.as_str() != key);
        self.backward.push((key.into(), value.into()));
        Ok(())
    }

    /// The backward values set so far.
    pub fn backward(&self) -> impl Iterator<Item = (&str, &str)> {
        self.backward.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
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
    /// What the call records (see [`stats`](crate::stats)), at the
    /// client's [`StatsLevel`](crate::stats::StatsLevel); its tracers see
    /// it when the call finishes.
    pub stats: RpcStats,
    /// The trace context of this call's span, sent as `traceparent`: a
    /// child of the handler's span when the call is made inside one, a new
    /// trace when the client's span is enabled, else `None`.
    pub trace: Option<TraceContext>,
}

impl ClientContext {
    fn add_metainfo(&mut self, kind: Kind, key: &str, value: &str) -> Result<(), MetainfoError> {
        metainfo::validate(key, value)?;
        let wire = Utf8Bytes::from(format!("{}{key}", kind.prefix()));
        self.request_keys.retain(|(k, _)| *k != wire);
        self.request_keys.push((wire, value.into()));
        Ok(())
    }

    /// Sends a persistent metainfo value with this call (it travels on
    /// downstream). Fails past the bounds of [`metainfo`]; the header's
    /// total size is checked when the call is sent.
    pub fn set_persistent(&mut self, key: &str, value: &str) -> Result<(), MetainfoError> {
        self.add_metainfo(Kind::Persistent, key, value)
    }

    /// Sends a transient metainfo value with this call (one hop).
    pub fn set_transient(&mut self, key: &str, value: &str) -> Result<(), MetainfoError> {
        self.add_metainfo(Kind::Transient, key, value)
    }

    /// A backward metainfo value the callee sent in its reply
    /// (`RPC_BACKWARD_<key>`), once the reply arrived.
    pub fn backward(&self, key: &str) -> Option<&str> {
        metainfo::value(self.reply_header.as_ref()?, Kind::Backward, key)
    }
}
