//! Buffered: a Thrift message alone on the stream, with no length in front
//! (Apache Thrift's `TBufferedTransport`; Kitex's `PurePayload`). Its length is
//! known only by walking it: the message header, then the argument or result
//! struct, skipped value by value with the protocol's own reader.
//!
//! Only strict messages are accepted (binary `0x8001`, compact `0x82`), since
//! that is what [`detect`](super::detect()) recognises; the walk itself uses
//! the readers of [`crate::thrift`], so it is exactly as strict and as bounded
//! as decoding the message later (depth limit, lengths checked against the
//! bytes present).
//!
//! # Cost
//!
//! The walk needs the buffered bytes contiguous. [`decode`] takes them all off
//! the [`LinkBuffer`] as one [`Bytes`] (zero copy when they lie in one chunk,
//! one copy when they span several) and, whatever the outcome, puts back what
//! is not the message as one chunk. So pipelined messages after the first are
//! zero copy; a message that arrives in many reads is copied again on each
//! attempt, which is why [`Decoded::NeedMore`] reports the bytes the walk
//! still needs (a long string's whole remainder, for instance): a caller that
//! waits for that many re-walks seldom.

use bytes::Bytes;

use super::{Codec, Decoded, Frame, FrameLimits, Transport};
use crate::buffer::LinkBuffer;
use crate::thrift::{BinaryReader, CompactReader, DecodeLimits, Protocol, ProtocolReader, TType};
use crate::{Error, Result};

/// The length of the message at the start of `view`, found by walking it.
fn measure<R: ProtocolReader>(mut r: R, len: usize) -> Result<usize> {
    r.read_message_begin()?;
    r.skip(TType::Struct)?;
    r.read_message_end()?;
    Ok(len - r.remaining())
}

/// Cuts one unframed message off `buf`.
///
/// Errors: a message longer than [`FrameLimits::max_frame_len`] (found as soon
/// as the walk knows it, or when that many bytes are buffered without a whole
/// message), and anything the Thrift reader rejects (a bad message header, an
/// invalid type id, nesting past the depth limit). Consumes nothing unless it
/// returns a frame (it may regroup the buffered bytes into one chunk).
pub fn decode(
    buf: &mut LinkBuffer,
    protocol: Protocol,
    limits: &FrameLimits,
) -> Result<Decoded<Frame>> {
    let have = buf.len();
    if have == 0 {
        // The smallest message header is longer than this; one byte is a
        // lower bound that is always right.
        return Ok(Decoded::NeedMore(1));
    }
    // Everything buffered, as one contiguous `Bytes`; the rest goes back
    // below, so nothing is lost whatever happens.
    let view = match buf.next(have) {
        Ok(v) => v,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    // Strings are bounded by the frame limit below (a long one shows as
    // `UnexpectedEof` past the limit), so the error names the frame.
    let dl = DecodeLimits {
        max_string_len: usize::MAX,
        ..DecodeLimits::default()
    };
    let walked = match protocol {
        Protocol::Binary => measure(BinaryReader::with_limits(view.clone(), dl), have),
        Protocol::Compact => measure(CompactReader::with_limits(view.clone(), dl), have),
    };
    let too_big = |len: usize| Error::SizeLimit {
        what: "frame",
        len: len as u64,
        max: limits.max_frame_len as u64,
    };
    let outcome = match walked {
        Ok(n) if n > limits.max_frame_len => Err(too_big(n)),
        Ok(n) => Ok(Decoded::Ready(n)),
        Err(Error::UnexpectedEof { needed }) => match have.checked_add(needed) {
            Some(total) if total <= limits.max_frame_len => Ok(Decoded::NeedMore(needed)),
            _ => Err(too_big(have.saturating_add(needed))),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Decoded::Ready(n)) => {
            put_back(buf, view.slice(n..));
            Ok(Decoded::Ready(Frame {
                codec: Codec {
                    transport: Transport::Buffered,
                    protocol,
                },
                header: None,
                payload: view.slice(..n),
                size: n,
            }))
        }
        Ok(Decoded::NeedMore(m)) => {
            put_back(buf, view);
            Ok(Decoded::NeedMore(m))
        }
        Err(e) => {
            put_back(buf, view);
            Err(e)
        }
    }
}

/// Puts bytes taken off an emptied buffer back at its front.
fn put_back(buf: &mut LinkBuffer, rest: Bytes) {
    debug_assert!(buf.is_empty(), "put_back refills an emptied buffer");
    buf.push(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::LinkWriter;
    use crate::thrift::{BinaryWriter, MessageIdent, MessageType, ProtocolWriter, Utf8Bytes};

    /// A strict binary CALL `echo`, seqid 7, args `{1: {1: msg}}` (the echo
    /// IDL's `echo(1: EchoRequest req)`).
    fn echo_call(msg: &str) -> Vec<u8> {
        let mut out = LinkWriter::new();
        let mut w = BinaryWriter::new(&mut out);
        w.write_message_begin(&MessageIdent::new(
            Utf8Bytes::from_static("echo"),
            MessageType::Call,
            7,
        ));
        w.write_struct_begin("echo_args");
        w.write_field_begin(TType::Struct, 1);
        w.write_struct_begin("EchoRequest");
        w.write_field_begin(TType::Binary, 1);
        w.write_string(msg);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
        w.write_message_end();
        out.to_vec()
    }

    #[test]
    fn echo_call_bytes_are_as_the_binary_spec_says() {
        // Apache Thrift doc/specs/thrift-binary-protocol.md: version|type,
        // name, seqid; field type 12 id 1; field type 11 id 1; string; stops.
        let expect: &[u8] = b"\x80\x01\x00\x01\x00\x00\x00\x04echo\x00\x00\x00\x07\
            \x0c\x00\x01\x0b\x00\x01\x00\x00\x00\x02hi\x00\x00";
        assert_eq!(echo_call("hi"), expect);
    }

    #[test]
    fn cuts_pipelined_messages_exactly() {
        let limits = FrameLimits::default();
        let (a, b) = (echo_call("first"), echo_call("second"));
        let mut buf = LinkBuffer::new();
        let mut all = a.clone();
        all.extend_from_slice(&b);
        // Split inside the first message so the walk crosses chunks.
        buf.extend_from_slice(&all[..10]);
        buf.extend_from_slice(&all[10..]);
        for want in [&a, &b] {
            let Decoded::Ready(f) = decode(&mut buf, Protocol::Binary, &limits).unwrap() else {
                panic!("a whole message is buffered")
            };
            assert_eq!(&f.payload[..], &want[..]);
            assert_eq!(f.codec.transport, Transport::Buffered);
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_message_needs_what_the_walk_needs() {
        let limits = FrameLimits::default();
        let m = echo_call("hello");
        let mut buf = LinkBuffer::new();
        // Cut inside the string: its 3 last bytes and the two stops are missing.
        buf.extend_from_slice(&m[..m.len() - 5]);
        assert_eq!(
            decode(&mut buf, Protocol::Binary, &limits).unwrap(),
            Decoded::NeedMore(3)
        );
        assert_eq!(buf.len(), m.len() - 5, "nothing consumed");
        buf.extend_from_slice(&m[m.len() - 5..]);
        assert!(matches!(
            decode(&mut buf, Protocol::Binary, &limits).unwrap(),
            Decoded::Ready(_)
        ));
    }

    #[test]
    fn over_the_limit_is_a_size_error() {
        let limits = FrameLimits { max_frame_len: 30 };
        let m = echo_call("a string longer than the limit allows");
        let mut buf = LinkBuffer::new();
        // Only the first 26 bytes, up to the string's length, which already
        // says too much.
        buf.extend_from_slice(&m[..26]);
        assert!(matches!(
            decode(&mut buf, Protocol::Binary, &limits),
            Err(Error::SizeLimit { what: "frame", .. })
        ));
        assert_eq!(buf.len(), 26, "nothing consumed on error");
    }

    #[test]
    fn garbage_is_an_error_not_a_wait() {
        let limits = FrameLimits::default();
        let mut buf = LinkBuffer::new();
        // A strict header, then a field of type 0x42: not a Thrift type.
        buf.extend_from_slice(b"\x80\x01\x00\x01\x00\x00\x00\x01m\x00\x00\x00\x01\x42");
        assert_eq!(
            decode(&mut buf, Protocol::Binary, &limits),
            Err(Error::InvalidType(0x42))
        );
    }
}
