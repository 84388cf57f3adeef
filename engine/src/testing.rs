//! Serving without a socket: bytes in, bytes out, on one monoio runtime.
//!
//! A [`Pair`] is the server side of one connection with the socket taken
//! away: the bytes a test hands it go through the same detection, frame
//! cutting, heartbeat handling, routing, middleware, handler and reply
//! encoding as a connection's, and the reply bytes come back. In the spirit
//! of quinn's test `Pair` (two endpoints wired together in memory), it lets
//! routing and dispatch be tested, and a handler unit-tested, without
//! binding a port.
//!
//! ```
//! use ringrpc_engine::testing::{FRAMED_BINARY, Pair, call_frame, reply_frames};
//! # use ringrpc_engine::server::{Described, Handler};
//! # async fn demo<S, A>(svc: S, args: A)
//! # where S: Described + Handler<S::Descriptor> + Clone + Send + Sync, A: ringrpc_codec::thrift::Message {
//! // `svc` is a generated adapter, e.g. `EchoServiceServer::new(Echo)`, and
//! // `args` the method's arguments struct, e.g. `EchoServiceEchoArgs`.
//! let mut pair = Pair::new(svc);
//! let call = call_frame(FRAMED_BINARY, None, "echo", 1, &args);
//! let replies = pair.exchange(&call).await.unwrap();
//! let frames = reply_frames(&replies, FRAMED_BINARY).unwrap();
//! assert_eq!(frames.len(), 1);
//! # }
//! ```
//!
//! A pair runs its requests on the calling task, so it must be used inside
//! a monoio runtime (for instance [`crate::runtime::block_on`]); handlers
//! may use monoio's timers.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;

use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::thrift::{
    BinaryWriter, CompactWriter, Message, MessageIdent, MessageType, Protocol, ProtocolWriter,
};
use ringrpc_codec::transport::{self, Codec, Decoded, Frame, FrameLimits, Transport, TtHeader};

use crate::server::reply::ReplySink;
use crate::server::requests::{Requests, requests};
use crate::server::router::Route;
use crate::server::{Described, Handler, Server};

/// Framed transport, binary protocol: the codec most tests start with.
pub const FRAMED_BINARY: Codec = Codec {
    transport: Transport::Framed,
    protocol: Protocol::Binary,
};

/// The address a pair's requests report as their peer.
pub const PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1,
));

/// The reply side of a pair: collects reply frames.
#[derive(Debug, Default)]
pub struct PairSink {
    out: RefCell<LinkWriter>,
    draining: Cell<bool>,
}

impl ReplySink for PairSink {
    fn write_reply(&self, encode: impl FnOnce(&mut LinkWriter)) {
        encode(&mut self.out.borrow_mut())
    }

    fn draining(&self) -> bool {
        self.draining.get()
    }
}

/// The server side of one in-memory connection. See the module docs.
pub struct Pair<R, F> {
    requests: Requests<R, PairSink, F>,
    sink: Rc<PairSink>,
    buf: LinkBuffer,
    closed: Option<ringrpc_codec::Error>,
}

impl<R, F> std::fmt::Debug for Pair<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("buffered", &self.buf.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Pair<(), ()> {
    /// A pair serving `svc` (a generated `<Service>Server::new(handler)`)
    /// with the default [`ServerConfig`](crate::server::ServerConfig). For
    /// several services, layers or another configuration, build a server
    /// and call [`ServerBuilder::in_memory`](crate::server::ServerBuilder::in_memory).
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S>(svc: S) -> Pair<impl Route, impl Future<Output = ()>>
    where
        S: Described + Handler<S::Descriptor> + Clone + Send + Sync,
    {
        Server::builder().service(svc).in_memory()
    }
}

/// Makes a pair over `routes` (one core's), with the given frame limits and
/// in-flight cap.
pub(crate) fn pair<R: Route>(
    routes: R,
    limits: FrameLimits,
    max_inflight: usize,
) -> Pair<R, impl Future<Output = ()>> {
    let sink = Rc::new(PairSink::default());
    Pair {
        requests: requests(Rc::new(routes), sink.clone(), PEER, limits, max_inflight),
        sink,
        buf: LinkBuffer::new(),
        closed: None,
    }
}

impl<R: Route, F: Future<Output = ()>> Pair<R, F> {
    /// Hands `bytes` over as if a client wrote them, handles every whole
    /// request among the bytes buffered so far, waits for the requests in
    /// flight, and returns the reply bytes written since the last call.
    ///
    /// An error means the connection would have been closed (no protocol
    /// ringrpc knows, or a broken frame); the pair stays closed.
    pub async fn exchange(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ringrpc_codec::Error> {
        self.send(bytes).await?;
        self.settle().await;
        Ok(self.take_replies())
    }

    /// Hands `bytes` over and handles every whole request, without waiting
    /// for the TTHeader requests still in flight (see
    /// [`settle`](Self::settle)).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ringrpc_codec::Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(bytes);
        if let Err(e) = self.requests.handle(&mut self.buf).await {
            self.closed = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Waits until every request in flight has been answered.
    pub async fn settle(&mut self) {
        self.requests.finish().await
    }

    /// The reply bytes written so far (and not taken yet).
    pub fn take_replies(&mut self) -> Vec<u8> {
        let mut out = self.sink.out.borrow_mut();
        let bytes = out.to_vec();
        out.clear();
        bytes
    }

    /// Requests in flight (TTHeader requests whose handlers have not
    /// finished).
    pub fn inflight(&self) -> usize {
        self.requests.inflight()
    }

    /// The detected transport and protocol, once the first bytes arrived.
    pub fn codec(&self) -> Option<Codec> {
        self.requests.codec()
    }

    /// Whether the server is draining (replies then carry TTHeader's
    /// `crrst`).
    pub fn set_draining(&self, draining: bool) {
        self.sink.draining.set(draining)
    }
}

/// Encodes a call of `method` with the arguments struct `args` as a client
/// would: a frame in `codec` (with `header` for TTHeader; a TTHeader
/// transport without one gets a bare header with `seqid`).
pub fn call_frame<A: Message>(
    codec: Codec,
    header: Option<&TtHeader>,
    method: &str,
    seqid: i32,
    args: &A,
) -> Vec<u8> {
    message_frame(codec, header, MessageType::Call, method, seqid, args)
}

/// Encodes a message of any type (a oneway call, or a reply to feed a
/// server by mistake) as [`call_frame`] does.
pub fn message_frame<A: Message>(
    codec: Codec,
    header: Option<&TtHeader>,
    msg_type: MessageType,
    method: &str,
    seqid: i32,
    args: &A,
) -> Vec<u8> {
    let is_header = matches!(
        codec.transport,
        Transport::TtHeader | Transport::TtHeaderFramed
    );
    let bare = TtHeader::new(seqid);
    let header = if is_header {
        Some(header.unwrap_or(&bare))
    } else {
        None
    };
    let mut w = LinkWriter::new();
    let ident = MessageIdent::new(method.to_owned().into(), msg_type, seqid);
    transport::encode_frame(&mut w, codec, header, |out| match codec.protocol {
        Protocol::Binary => write_message(&mut BinaryWriter::new(out), &ident, args),
        Protocol::Compact => write_message(&mut CompactWriter::new(out), &ident, args),
    });
    w.to_vec()
}

fn write_message<W: ProtocolWriter, A: Message>(w: &mut W, ident: &MessageIdent, args: &A) {
    w.write_message_begin(ident);
    args.encode(w);
    w.write_message_end();
}

/// Cuts reply bytes into frames (decode each with
/// [`client::decode_reply`](crate::client::decode_reply)). Errors if the
/// bytes end in a partial frame or do not decode.
pub fn reply_frames(bytes: &[u8], codec: Codec) -> Result<Vec<Frame>, ringrpc_codec::Error> {
    let mut buf = LinkBuffer::new();
    buf.extend_from_slice(bytes);
    let mut frames = Vec::new();
    while !buf.is_empty() {
        match transport::decode_frame(&mut buf, codec, &FrameLimits::default())? {
            Decoded::Ready(f) => frames.push(f),
            Decoded::NeedMore(n) => {
                return Err(ringrpc_codec::Error::UnexpectedEof { needed: n });
            }
        }
    }
    Ok(frames)
}
