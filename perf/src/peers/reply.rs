//! The reply patch of `raw-server --reply`: turns an `EchoService.echo` call
//! frame into its reply frame by rewriting three bytes in place, so that a
//! real client (ringrpc's, Volo's) can be driven by a server that costs
//! next to nothing and decodes nothing.
//!
//! # Why three bytes are enough
//!
//! In `idl/echo.thrift`, `EchoServiceEchoArgs {1: EchoRequest req}` and
//! `EchoServiceEchoResult {0: EchoResponse success}` have the same layout
//! but for the field id, and `EchoRequest` and `EchoResponse` are the same
//! struct (`1: required string msg`). A strict binary message starts with
//! the version word `0x80 0x01 0x00 TYPE`, then the name (i32 length and
//! bytes) and the seq id (Apache Thrift
//! `doc/specs/thrift-binary-protocol.md`), then the arguments struct, whose
//! first field header is a type byte and an i16 id. So the reply is the call
//! with `TYPE` turned from Call (1) to Reply (2) and that first field id
//! from 1 to 0; the name, the seq id and the lengths stay.
//!
//! # Transports
//!
//! Frames are cut here, by their 4-byte length, for
//! - **Framed**: the length, then the message (bytes 4..6 are `0x80 0x01`);
//! - **TTHeader**: the length, then magic `0x1000` (bytes 4..6), the rest of
//!   the fixed part and `4 * HEADER SIZE` bytes of header info, then the
//!   message, or a Framed length and the message (what a Volo client sends),
//!   told apart by where `0x80 0x01` is, as `codec/src/transport/ttheader.rs`
//!   does. The TTHeader header is sent back as it came (its seq id is the
//!   call's, as a reply's must be).
//!
//! Only strict binary is served: in compact, field id 0 needs a longer field
//! header than field id 1 (a long-form header, where id 1 fits in the type
//! byte's delta), so the reply would not fit in place. Buffered (unframed)
//! messages are not served either: cutting them needs a decoder.
//!
//! A frame is patched only once all of it is in the buffer, and only after
//! every check passed, so a frame is either patched whole or not at all.

use ringrpc::codec::transport::FrameLimits;
use ringrpc::codec::transport::ttheader::{MAGIC, META_LEN};

/// The strict binary version marker that starts a message.
const BINARY_MARKER: [u8; 2] = [0x80, 0x01];
/// The message types of the binary version word's last byte.
const CALL: u8 = 1;
const REPLY: u8 = 2;
/// The field type byte of the end of a struct.
const STOP: u8 = 0;

/// How much of a buffer [`patch_replies`] turned into replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patched {
    /// Bytes from the buffer's start that are whole frames, now replies:
    /// write them back.
    pub ready: usize,
    /// The whole length (prefix included) of the frame that starts at
    /// `ready`, when its length prefix has arrived: the buffer must hold
    /// that much to complete it. `None` when fewer than 4 bytes of it are
    /// there.
    pub next_frame: Option<usize>,
}

/// Why a frame cannot be answered in place (the server then closes the
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The length prefix says more than the limit allows.
    #[error("a frame of {len} bytes is over the {max}-byte limit")]
    TooLong {
        /// What the prefix says.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes 4..6 are neither a strict binary marker (Framed) nor the
    /// TTHeader magic.
    #[error("not a Framed or TTHeader frame (bytes 4..6 are {0:02x?})")]
    UnknownTransport([u8; 2]),
    /// The message is compact or non-strict binary.
    #[error("the message is not strict binary (compact and non-strict binary are not served)")]
    NotStrictBinary,
    /// The message is not a call.
    #[error("message type {0} is not a call")]
    NotACall(u8),
    /// The arguments struct does not start with field 1.
    #[error("the arguments do not start with field 1")]
    NoFirstArgument,
    /// The frame ends before the message's first field header.
    #[error("the frame ends inside the message header")]
    Truncated,
}

/// Patches every whole frame at the start of `buf` from a call into its
/// reply, in place, and says how many bytes are ready to send and how long
/// the next (incomplete) frame is. Frames must be Framed or TTHeader, each
/// with a strict binary call whose arguments start with field 1. Neither
/// copies nor allocates.
///
/// The caller sends `buf[..ready]` and keeps the rest for the next read: a
/// frame split across reads is patched once it is whole.
pub fn patch_replies(buf: &mut [u8], limits: &FrameLimits) -> Result<Patched, PatchError> {
    let mut at = 0;
    loop {
        let Some(prefix) = buf.get(at..at + 4) else {
            return Ok(Patched {
                ready: at,
                next_frame: None,
            });
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > limits.max_frame_len {
            return Err(PatchError::TooLong {
                len,
                max: limits.max_frame_len,
            });
        }
        let total = 4 + len;
        let Some(frame) = buf.get_mut(at..at + total) else {
            return Ok(Patched {
                ready: at,
                next_frame: Some(total),
            });
        };
        patch_frame(frame)?;
        at += total;
    }
}

/// Turns one whole frame's call into its reply.
fn patch_frame(frame: &mut [u8]) -> Result<(), PatchError> {
    let msg_at = match frame.get(4..6) {
        Some(m) if m == BINARY_MARKER => 4,
        Some(m) if m == MAGIC.to_be_bytes() => ttheader_payload(frame)?,
        // A compact message: id 0x82, then version and type.
        Some([0x82, _]) => return Err(PatchError::NotStrictBinary),
        Some(m) => return Err(PatchError::UnknownTransport([m[0], m[1]])),
        None => return Err(PatchError::Truncated),
    };
    patch_message(&mut frame[msg_at..])
}

/// Where the message starts in a TTHeader frame: after the header info, and
/// after a Framed length when one is there.
fn ttheader_payload(frame: &[u8]) -> Result<usize, PatchError> {
    let size = frame.get(12..14).ok_or(PatchError::Truncated)?;
    let info_end = META_LEN + 4 * u16::from_be_bytes([size[0], size[1]]) as usize;
    let payload = frame.get(info_end..).ok_or(PatchError::Truncated)?;
    if payload.starts_with(&BINARY_MARKER) {
        Ok(info_end)
    } else if payload.get(4..6) == Some(&BINARY_MARKER[..]) {
        Ok(info_end + 4)
    } else {
        Err(PatchError::NotStrictBinary)
    }
}

/// Turns a strict binary call into a reply: the message type, and the first
/// field id 1 into 0.
fn patch_message(msg: &mut [u8]) -> Result<(), PatchError> {
    if !msg.starts_with(&BINARY_MARKER) {
        return Err(PatchError::NotStrictBinary);
    }
    let name_len = msg
        .get(4..8)
        .map(|l| i32::from_be_bytes([l[0], l[1], l[2], l[3]]))
        .and_then(|l| usize::try_from(l).ok())
        .ok_or(PatchError::Truncated)?;
    // version (4), name length (4), name, seq id (4): the first field header.
    let field = 12usize.checked_add(name_len).ok_or(PatchError::Truncated)?;
    let header = msg.get(field..field + 3).ok_or(PatchError::Truncated)?;
    if msg[3] != CALL {
        return Err(PatchError::NotACall(msg[3]));
    }
    if header[0] == STOP || header[1..3] != [0, 1] {
        return Err(PatchError::NoFirstArgument);
    }
    msg[3] = REPLY;
    msg[field + 1..field + 3].copy_from_slice(&[0, 0]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ringrpc::codec::buffer::LinkBuffer;
    use ringrpc::codec::thrift::{BinaryReader, Message, MessageType, Protocol, ProtocolReader};
    use ringrpc::codec::transport::{self, Codec, Decoded, Transport};
    use ringrpc_example_idl::echo::EchoServiceEchoResult;

    use super::*;
    use crate::load::request::encode_call;

    fn codec(transport: Transport) -> Codec {
        Codec {
            transport,
            protocol: Protocol::Binary,
        }
    }

    /// Decodes `bytes` as one reply frame and returns its TTHeader seq id,
    /// its message seq id and the echoed message's length.
    fn decode_reply(bytes: &[u8], c: Codec) -> (Option<i32>, i32, usize) {
        let mut buf = LinkBuffer::new();
        buf.extend_from_slice(bytes);
        let Decoded::Ready(f) =
            transport::decode_frame(&mut buf, c, &FrameLimits::default()).unwrap()
        else {
            panic!("{c:?}: a whole frame")
        };
        assert_eq!(buf.len(), 0, "one frame exactly");
        let mut r = BinaryReader::new(Bytes::clone(&f.payload));
        let m = r.read_message_begin().unwrap();
        assert_eq!(m.msg_type, MessageType::Reply);
        assert_eq!(&m.name[..], "echo");
        let result = EchoServiceEchoResult::decode(&mut r).unwrap();
        let msg = result.into_outcome().unwrap().msg;
        assert!(msg.bytes().all(|b| b == b'x'));
        (f.header.map(|h| h.seq_id), m.seqid, msg.len())
    }

    const CUT: [Transport; 3] = [
        Transport::Framed,
        Transport::TtHeader,
        Transport::TtHeaderFramed,
    ];

    #[test]
    fn a_call_becomes_a_reply_that_decodes_in_every_transport() {
        for t in CUT {
            let (mut frame, _) = encode_call(codec(t), 100, 4242);
            let call = frame.clone();
            let p = patch_replies(&mut frame, &FrameLimits::default()).unwrap();
            assert_eq!(
                p,
                Patched {
                    ready: frame.len(),
                    next_frame: None
                },
                "{t:?}"
            );
            let changed: Vec<usize> = (0..frame.len()).filter(|&i| frame[i] != call[i]).collect();
            assert_eq!(changed.len(), 2, "{t:?}: the type byte and the field id");
            let header_seq = (t != Transport::Framed).then_some(4242);
            assert_eq!(
                decode_reply(&frame, codec(t)),
                (header_seq, 4242, 100),
                "{t:?}"
            );
        }
    }

    #[test]
    fn the_ttheader_header_is_sent_back_unchanged() {
        for t in [Transport::TtHeader, Transport::TtHeaderFramed] {
            let (mut frame, msg_at) = encode_call(codec(t), 10, 7);
            let header = frame[..msg_at].to_vec();
            patch_replies(&mut frame, &FrameLimits::default()).unwrap();
            assert_eq!(&frame[..msg_at], &header[..], "{t:?}");
        }
    }

    #[test]
    fn a_frame_split_across_reads_is_patched_once_whole() {
        for t in CUT {
            let (whole, _) = encode_call(codec(t), 300, 9);
            for cut in [1, 3, 4, 5, 13, 20, whole.len() - 1] {
                let mut buf = whole[..cut].to_vec();
                let p = patch_replies(&mut buf, &FrameLimits::default()).unwrap();
                let expect_next = (cut >= 4).then_some(whole.len());
                assert_eq!(
                    p,
                    Patched {
                        ready: 0,
                        next_frame: expect_next
                    },
                    "{t:?} cut at {cut}"
                );
                assert_eq!(
                    buf,
                    whole[..cut],
                    "nothing patched before the frame is whole"
                );
                buf.extend_from_slice(&whole[cut..]);
                let p = patch_replies(&mut buf, &FrameLimits::default()).unwrap();
                assert_eq!(p.ready, whole.len());
                assert_eq!(decode_reply(&buf, codec(t)).1, 9);
            }
        }
    }

    #[test]
    fn several_frames_in_one_read_are_all_patched() {
        for t in CUT {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for seq in 1..=3 {
                buf.extend_from_slice(&encode_call(codec(t), 64 * seq as usize, seq).0);
                ends.push(buf.len());
            }
            let (partial, _) = encode_call(codec(t), 64, 4);
            buf.extend_from_slice(&partial[..10]);
            let p = patch_replies(&mut buf, &FrameLimits::default()).unwrap();
            assert_eq!(
                p,
                Patched {
                    ready: ends[2],
                    next_frame: Some(partial.len())
                },
                "{t:?}"
            );
            let mut start = 0;
            for (i, end) in ends.iter().enumerate() {
                let (_, seq, len) = decode_reply(&buf[start..*end], codec(t));
                assert_eq!((seq, len), (i as i32 + 1, 64 * (i + 1)), "{t:?}");
                start = *end;
            }
            assert_eq!(
                &buf[ends[2]..],
                &partial[..10],
                "the partial frame is untouched"
            );
        }
    }

    #[test]
    fn what_cannot_be_answered_in_place_is_refused_untouched() {
        let limits = FrameLimits::default();
        let refuse = |mut frame: Vec<u8>| {
            let before = frame.clone();
            let e = patch_replies(&mut frame, &limits).unwrap_err();
            assert_eq!(frame, before, "{e}: nothing patched");
            e
        };
        // Compact, framed and inside TTHeader.
        for transport in CUT {
            let compact = Codec {
                transport,
                protocol: Protocol::Compact,
            };
            assert_eq!(
                refuse(encode_call(compact, 10, 1).0),
                PatchError::NotStrictBinary,
                "{transport:?}"
            );
        }
        // Buffered: no length prefix, so the version word reads as a
        // length of 2 GiB.
        let buffered = codec(Transport::Buffered);
        assert_eq!(
            refuse(encode_call(buffered, 10, 1).0),
            PatchError::TooLong {
                len: 0x8001_0001,
                max: limits.max_frame_len
            }
        );
        // Framed, with bytes 4..6 neither a marker nor the magic (a
        // non-strict binary message: its name's length).
        let mut unstrict = 14u32.to_be_bytes().to_vec();
        unstrict.extend_from_slice(b"\x00\x00\x00\x04echo\x01\x00\x00\x00\x01\x00");
        assert_eq!(refuse(unstrict), PatchError::UnknownTransport([0, 0]));
        // A reply is not a call.
        let (mut reply, _) = encode_call(codec(Transport::Framed), 10, 1);
        patch_replies(&mut reply, &limits).unwrap();
        assert_eq!(refuse(reply), PatchError::NotACall(REPLY));
        // Over the limit.
        let mut big = (64u32 << 20).to_be_bytes().to_vec();
        big.extend_from_slice(&[0x80, 0x01]);
        assert!(matches!(refuse(big), PatchError::TooLong { .. }));
        // A name that runs past the frame.
        let (mut frame, _) = encode_call(codec(Transport::Framed), 10, 1);
        frame[8..12].copy_from_slice(&1000i32.to_be_bytes());
        assert_eq!(refuse(frame), PatchError::Truncated);
        // Arguments that start with field 2.
        let (mut frame, _) = encode_call(codec(Transport::Framed), 10, 1);
        let field = 4 + 12 + "echo".len();
        frame[field + 2] = 2;
        assert_eq!(refuse(frame), PatchError::NoFirstArgument);
    }
}
