//! Encoding replies: where a reply frame goes ([`ReplySink`]), what it
//! carries ([`ReplyPayload`]), and the TTHeader of a reply.
//!
//! Routing writes every reply through a [`ReplySink`]. A connection's sink is
//! its write buffer (the connection task or its writer flushes it to the
//! socket); the in-memory [`Pair`](crate::testing::Pair) collects the bytes
//! instead. So routing and dispatch never reach into a connection, and can
//! be tested without a socket.

use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryWriter, CompactWriter, Message, MessageIdent, MessageType,
    Protocol, ProtocolWriter, Utf8Bytes,
};
use ringrpc_codec::transport::{self, Codec, Frame, TtHeader};

use crate::BizStatus;
use crate::metainfo::Kind;

/// Where a connection's replies go.
pub trait ReplySink {
    /// Appends one reply frame, which `encode` writes.
    fn write_reply(&self, encode: impl FnOnce(&mut LinkWriter));
    /// Whether the server is draining: reply headers then carry `crrst`
    /// (TTHeader's "connection ready to reset"), so clients reconnect
    /// elsewhere.
    fn draining(&self) -> bool;
}

/// The payload of a reply frame, written with either protocol.
pub trait ReplyPayload {
    /// Writes the message (header, struct, end).
    fn write<W: ProtocolWriter>(self, w: &mut W);
}

/// Encodes a reply frame in `codec` (payload written by `payload`) into
/// `sink`; returns its size in bytes. The TTHeader reply echoes the
/// request's seq id and protocol, and carries a business status, backward
/// metainfo and `crrst` when due.
pub fn reply<K: ReplySink, P: ReplyPayload>(
    sink: &K,
    codec: Codec,
    req_header: Option<&TtHeader>,
    biz: Option<&BizStatus>,
    backward: &[(Utf8Bytes, Utf8Bytes)],
    payload: P,
) -> usize {
    let header = req_header.map(|h| reply_header(h, biz, backward, sink.draining()));
    let mut size = 0;
    sink.write_reply(|w| {
        let before = w.len();
        transport::encode_frame(w, codec, header.as_ref(), |out| match codec.protocol {
            Protocol::Binary => payload.write(&mut BinaryWriter::new(out)),
            Protocol::Compact => payload.write(&mut CompactWriter::new(out)),
        });
        size = w.len() - before;
    });
    size
}

/// Replies with an application exception for `method`, in the request's
/// transport.
pub(crate) fn reply_exception<K: ReplySink>(
    sink: &K,
    codec: Codec,
    req_header: Option<&TtHeader>,
    method: &Utf8Bytes,
    seqid: i32,
    ex: &ApplicationException,
) -> usize {
    reply(
        sink,
        codec,
        req_header,
        None,
        &[],
        ExceptionReply { method, seqid, ex },
    )
}

/// Answers a heartbeat: the same seq id, `MsgType` heartbeat, no payload.
pub(crate) fn reply_heartbeat<K: ReplySink>(sink: &K, codec: Codec, req: &TtHeader) {
    let mut h = TtHeader::new(req.seq_id);
    h.flags = req.flags;
    h.protocol = req.protocol;
    let _ = h.set_int(
        ringrpc_codec::transport::ttheader::int_key::MSG_TYPE,
        bytes::Bytes::from_static(HEARTBEAT),
    );
    if sink.draining() {
        let _ = h.set_connection_ready_to_reset();
    }
    sink.write_reply(|w| transport::encode_frame(w, codec, Some(&h), |_| {}));
}

/// Kitex's heartbeat: a TTHeader frame whose `MsgType` int key is
/// `remote.Heartbeat` (6; kitex `pkg/remote/message.go`, written as decimal
/// text by `pkg/transmeta/ttheader.go`) and whose payload is empty.
pub(crate) fn is_heartbeat(frame: &Frame) -> bool {
    frame.payload.is_empty()
        && frame
            .header
            .as_ref()
            .and_then(|h| h.int(ringrpc_codec::transport::ttheader::int_key::MSG_TYPE))
            .is_some_and(|v| v[..] == *HEARTBEAT)
}

/// Kitex's `remote.Heartbeat` message type, as the `MsgType` value.
const HEARTBEAT: &[u8] = b"6";

/// An application exception as a reply message.
pub(crate) struct ExceptionReply<'a> {
    pub(crate) method: &'a Utf8Bytes,
    pub(crate) seqid: i32,
    pub(crate) ex: &'a ApplicationException,
}

impl ReplyPayload for ExceptionReply<'_> {
    fn write<W: ProtocolWriter>(self, w: &mut W) {
        w.write_message_begin(&MessageIdent::new(
            self.method.clone(),
            MessageType::Exception,
            self.seqid,
        ));
        self.ex.encode(w);
        w.write_message_end();
    }
}

/// The TTHeader of a reply: the request's seq id and protocol, plus a
/// business status, backward metainfo, and the `crrst` (connection reset)
/// mark while draining.
fn reply_header(
    req: &TtHeader,
    biz: Option<&BizStatus>,
    backward: &[(Utf8Bytes, Utf8Bytes)],
    draining: bool,
) -> TtHeader {
    let mut h = TtHeader::new(req.seq_id);
    h.flags = req.flags;
    h.protocol = req.protocol;
    // The values are bounded by our own types (a status message longer than
    // a TTHeader value allows is dropped, not sent half-written).
    if let Some(b) = biz {
        let extra = b.extra.clone().map(Utf8Bytes::into_bytes);
        if h.set_biz_status(b.code, b.message.clone().into_bytes(), extra)
            .is_err()
        {
            tracing::warn!("business status too long for a TTHeader; sent without it");
        }
    }
    for (k, v) in backward {
        // Validated when set; what no longer fits the header is dropped.
        if crate::metainfo::put(&mut h, Kind::Backward, k, v.clone().into_bytes()).is_err() {
            tracing::warn!(key = %k, "backward metainfo does not fit the TTHeader; sent without it");
        }
    }
    if draining {
        let _ = h.set_connection_ready_to_reset();
    }
    h
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use ringrpc_codec::buffer::LinkBuffer;
    use ringrpc_codec::transport::{Decoded, FrameLimits, Transport};

    use super::*;

    #[derive(Default)]
    struct Collect {
        out: RefCell<LinkWriter>,
        draining: Cell<bool>,
    }

    impl ReplySink for Collect {
        fn write_reply(&self, encode: impl FnOnce(&mut LinkWriter)) {
            encode(&mut self.out.borrow_mut())
        }
        fn draining(&self) -> bool {
            self.draining.get()
        }
    }

    fn decode_one(sink: &Collect, codec: Codec) -> Frame {
        let mut buf = LinkBuffer::new();
        buf.extend_from_slice(&sink.out.borrow().to_vec());
        match transport::decode_frame(&mut buf, codec, &FrameLimits::default()) {
            Ok(Decoded::Ready(f)) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_draining_sink_marks_ttheader_replies_and_echoes_the_seq_id() {
        let codec = Codec {
            transport: Transport::TtHeader,
            protocol: Protocol::Binary,
        };
        let sink = Collect::default();
        sink.draining.set(true);
        let req = TtHeader::new(41);
        let ex = ApplicationException::new(ringrpc_codec::thrift::ExceptionKind::Unknown, "x");
        reply_exception(&sink, codec, Some(&req), &"m".into(), 7, &ex);
        let f = decode_one(&sink, codec);
        let h = f.header.expect("a TTHeader reply");
        assert_eq!(h.seq_id, 41);
        assert!(h.connection_ready_to_reset());
    }

    #[test]
    fn heartbeats_are_answered_as_heartbeats() {
        let codec = Codec {
            transport: Transport::TtHeader,
            protocol: Protocol::Binary,
        };
        let sink = Collect::default();
        reply_heartbeat(&sink, codec, &TtHeader::new(3));
        let f = decode_one(&sink, codec);
        assert!(is_heartbeat(&f));
        assert_eq!(f.header.map(|h| h.seq_id), Some(3));
    }
}
