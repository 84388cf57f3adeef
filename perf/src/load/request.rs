//! The generator's request: one `EchoService.echo` call frame, encoded once
//! with the codec and then only patched (its seq ids) before each send; and
//! the check of a reply frame (seq id, message type) without decoding its
//! body.

use bytes::Bytes;
use ringrpc::codec::buffer::LinkWriter;
use ringrpc::codec::thrift::{
    BinaryReader, BinaryWriter, CompactReader, CompactWriter, Message, MessageIdent, MessageType,
    Protocol, ProtocolReader, ProtocolWriter, Utf8Bytes,
};
use ringrpc::codec::transport::{self, Codec, Frame, Transport, TtHeader};
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceEchoArgs};

/// Seq ids stay in `[SEQ_BASE, SEQ_BASE + SEQ_SPAN)`, where a compact
/// varint is always four bytes long, so patching never changes a frame's
/// length.
pub const SEQ_BASE: i32 = 1 << 21;
/// The size of the seq id range.
pub const SEQ_SPAN: i32 = (1 << 28) - (1 << 21);

/// An encoded call frame whose seq ids can be rewritten in place.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    bytes: Vec<u8>,
    /// Offset of the TTHeader seq id (big-endian i32).
    header_seq_at: Option<usize>,
    /// Offset of the Thrift message's seq id.
    msg_seq_at: usize,
    protocol: Protocol,
}

/// The method every request calls.
pub const METHOD: &str = "echo";

/// Encodes one `echo` call with a `payload`-byte message, seq id `seqid`,
/// in `codec`. TTHeader requests carry what a Kitex client sends at least:
/// the IDL service name and the method.
pub fn encode_call(codec: Codec, payload: usize, seqid: i32) -> (Vec<u8>, usize) {
    let args = EchoServiceEchoArgs {
        req: EchoRequest {
            msg: Utf8Bytes::from("x".repeat(payload)),
        },
    };
    let header = match codec.transport {
        Transport::TtHeader | Transport::TtHeaderFramed => {
            let mut h = TtHeader::new(seqid);
            h.set_idl_service_name("EchoService").expect("short value");
            h.set_to_method(METHOD).expect("short value");
            Some(h)
        }
        _ => None,
    };
    let ident = MessageIdent::new(Utf8Bytes::from_static(METHOD), MessageType::Call, seqid);
    let write = |out: &mut LinkWriter| match codec.protocol {
        Protocol::Binary => {
            let mut w = BinaryWriter::new(out);
            w.write_message_begin(&ident);
            args.encode(&mut w);
            w.write_message_end();
        }
        Protocol::Compact => {
            let mut w = CompactWriter::new(out);
            w.write_message_begin(&ident);
            args.encode(&mut w);
            w.write_message_end();
        }
    };
    let mut msg = LinkWriter::new();
    write(&mut msg);
    let mut frame = LinkWriter::new();
    transport::encode_frame(&mut frame, codec, header.as_ref(), write);
    let bytes = frame.to_vec();
    let msg_at = bytes.len() - msg.len();
    (bytes, msg_at)
}

impl RequestTemplate {
    /// Encodes the call once.
    pub fn new(codec: Codec, payload: usize) -> Self {
        let (bytes, msg_at) = encode_call(codec, payload, SEQ_BASE);
        let header_seq_at = matches!(
            codec.transport,
            Transport::TtHeader | Transport::TtHeaderFramed
        )
        .then_some(8);
        let msg_seq_at = match codec.protocol {
            // version (4), name length (4), name, seq id
            Protocol::Binary => msg_at + 8 + METHOD.len(),
            // protocol id, version and type, seq id (varint), name
            Protocol::Compact => msg_at + 2,
        };
        Self {
            bytes,
            header_seq_at,
            msg_seq_at,
            protocol: codec.protocol,
        }
    }

    /// The frame's length in bytes.
    pub fn frame_len(&self) -> usize {
        self.bytes.len()
    }

    /// Rewrites the seq ids (`seqid` must lie in the [`SEQ_BASE`] range).
    pub fn set_seqid(&mut self, seqid: i32) {
        debug_assert!((SEQ_BASE..SEQ_BASE + SEQ_SPAN).contains(&seqid));
        if let Some(at) = self.header_seq_at {
            self.bytes[at..at + 4].copy_from_slice(&seqid.to_be_bytes());
        }
        let at = self.msg_seq_at;
        match self.protocol {
            Protocol::Binary => self.bytes[at..at + 4].copy_from_slice(&seqid.to_be_bytes()),
            Protocol::Compact => {
                let v = seqid as u32;
                self.bytes[at..at + 4].copy_from_slice(&[
                    0x80 | (v & 0x7f) as u8,
                    0x80 | ((v >> 7) & 0x7f) as u8,
                    0x80 | ((v >> 14) & 0x7f) as u8,
                    ((v >> 21) & 0x7f) as u8,
                ]);
            }
        }
    }

    /// Appends the frame with seq id `seqid` to `out`.
    pub fn write_to(&mut self, seqid: i32, out: &mut Vec<u8>) {
        self.set_seqid(seqid);
        out.extend_from_slice(&self.bytes);
    }

    /// The frame as it is now.
    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// What is wrong with a reply whose header could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// An application exception came back.
    Exception,
    /// Another message type than the one expected.
    WrongType,
}

/// A reply's message header, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyCheck {
    /// A good reply to seq id `.0`.
    Ok(i32),
    /// A reply to seq id `.0` that is not a good one.
    Bad(i32, ReplyError),
    /// The message header does not parse: the stream is out of step.
    Undecodable,
}

/// Reads a reply frame's message header: its seq id, and whether it is of
/// type `expect`. Does not decode the body.
pub fn check_reply(frame: &Frame, expect: MessageType) -> ReplyCheck {
    let payload: Bytes = frame.payload.clone();
    let ident = match frame.codec.protocol {
        Protocol::Binary => BinaryReader::new(payload).read_message_begin(),
        Protocol::Compact => CompactReader::new(payload).read_message_begin(),
    };
    match ident {
        Err(_) => ReplyCheck::Undecodable,
        Ok(m) if m.msg_type == expect => ReplyCheck::Ok(m.seqid),
        Ok(m) if m.msg_type == MessageType::Exception => {
            ReplyCheck::Bad(m.seqid, ReplyError::Exception)
        }
        Ok(m) => ReplyCheck::Bad(m.seqid, ReplyError::WrongType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringrpc::codec::buffer::LinkBuffer;
    use ringrpc::codec::transport::{Decoded, FrameLimits};

    fn codecs() -> Vec<Codec> {
        let mut v = Vec::new();
        for transport in [
            Transport::Framed,
            Transport::Buffered,
            Transport::TtHeader,
            Transport::TtHeaderFramed,
        ] {
            for protocol in [Protocol::Binary, Protocol::Compact] {
                v.push(Codec {
                    transport,
                    protocol,
                });
            }
        }
        v
    }

    #[test]
    fn patching_the_seqid_equals_encoding_it() {
        for codec in codecs() {
            let mut t = RequestTemplate::new(codec, 1024);
            for seqid in [
                SEQ_BASE,
                SEQ_BASE + 1,
                SEQ_BASE + 0x0123_4567,
                SEQ_BASE + SEQ_SPAN - 1,
            ] {
                t.set_seqid(seqid);
                let (fresh, _) = encode_call(codec, 1024, seqid);
                assert_eq!(t.bytes(), &fresh[..], "{codec:?} seqid {seqid}");
            }
        }
    }

    #[test]
    fn a_patched_frame_decodes_with_its_seqid() {
        for codec in codecs() {
            let mut t = RequestTemplate::new(codec, 100);
            let mut out = Vec::new();
            t.write_to(SEQ_BASE + 77, &mut out);
            let mut buf = LinkBuffer::new();
            buf.extend_from_slice(&out);
            let Decoded::Ready(f) =
                transport::decode_frame(&mut buf, codec, &FrameLimits::default()).unwrap()
            else {
                panic!("{codec:?}: whole frame")
            };
            assert_eq!(
                check_reply(&f, MessageType::Call),
                ReplyCheck::Ok(SEQ_BASE + 77)
            );
            assert_eq!(
                check_reply(&f, MessageType::Reply),
                ReplyCheck::Bad(SEQ_BASE + 77, ReplyError::WrongType)
            );
            if let Some(h) = &f.header {
                assert_eq!(h.seq_id, SEQ_BASE + 77);
            }
        }
    }
}
