//! The bytes of `perf/echo.proto`'s calls, without IO and without prost:
//! gRPC's message prefix (a compressed flag, then a 4-byte big-endian
//! length; gRPC's HTTP/2 protocol spec, "Length-Prefixed-Message"), the two
//! request messages encoded by hand, and a counter that splits a stream of
//! response DATA bytes into messages however they were cut into frames.
//!
//! The load only needs pre-encoded requests and a cheap look at replies, so
//! the harness carries its own few lines of protobuf rather than generated
//! types: h2load posts the bytes of [`echo_request`] as they are.

use thiserror::Error;

/// The length of gRPC's message prefix.
pub const PREFIX: usize = 5;

/// What a reply's bytes can get wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The body ended inside a message (or held none).
    #[error("the body ends inside a gRPC message ({0} bytes left over)")]
    Truncated(usize),
    /// The compressed flag was set (the harness never asks for it).
    #[error("a compressed gRPC message (nothing was asked to be compressed)")]
    Compressed,
    /// A message of another length than the one expected.
    #[error("a gRPC message of {got} bytes where {want} were expected")]
    Length {
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// Not an `EchoMessage` of the expected payload.
    #[error("not the expected EchoMessage: {0}")]
    Message(&'static str),
}

/// Appends `v` as a protobuf varint.
pub fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The bytes of `v` as a varint.
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The protobuf length of `EchoMessage { payload }` with a payload of
/// `size` bytes (proto3 leaves an empty `bytes` field out).
pub fn echo_message_len(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        1 + varint_len(size as u64) + size
    }
}

fn prefixed(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX + body.len());
    out.push(0);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A whole request body for `/echo.Echo/Echo`: one uncompressed
/// `EchoMessage { payload }`. Allocates the result.
pub fn echo_request(payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(echo_message_len(payload.len()));
    if !payload.is_empty() {
        body.push(0x0a); // field 1, length-delimited
        put_varint(payload.len() as u64, &mut body);
        body.extend_from_slice(payload);
    }
    prefixed(body)
}

/// A whole request body for `/echo.Echo/Stream`: `StreamRequest { count,
/// size }`.
pub fn stream_request(count: u32, size: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(12);
    if count != 0 {
        body.push(0x08); // field 1, varint
        put_varint(count.into(), &mut body);
    }
    if size != 0 {
        body.push(0x10); // field 2, varint
        put_varint(size.into(), &mut body);
    }
    prefixed(body)
}

/// The payload of one `EchoMessage` (the message without its prefix).
/// Accepts only the encoding every peer produces: field 1 once, or nothing
/// for an empty payload.
pub fn echo_payload(msg: &[u8]) -> Result<&[u8], WireError> {
    if msg.is_empty() {
        return Ok(msg);
    }
    if msg[0] != 0x0a {
        return Err(WireError::Message("field 1 (bytes) is not first"));
    }
    let mut len: u64 = 0;
    let mut i = 1;
    loop {
        let b = *msg.get(i).ok_or(WireError::Message("cut in a varint"))?;
        len |= u64::from(b & 0x7f) << (7 * (i - 1));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 10 {
            return Err(WireError::Message("a varint over 10 bytes"));
        }
    }
    let rest = &msg[i..];
    if rest.len() as u64 != len {
        return Err(WireError::Message(
            "payload length differs from the message's",
        ));
    }
    Ok(rest)
}

/// The messages of a whole (unary) response body, each without its prefix.
pub fn split_messages(mut body: &[u8]) -> Result<Vec<&[u8]>, WireError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < PREFIX {
            return Err(WireError::Truncated(body.len()));
        }
        if body[0] != 0 {
            return Err(WireError::Compressed);
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let rest = &body[PREFIX..];
        if rest.len() < len {
            return Err(WireError::Truncated(body.len()));
        }
        out.push(&rest[..len]);
        body = &rest[len..];
    }
    Ok(out)
}

/// Counts the messages of a response stream fed in chunks as they arrive,
/// checking each one's prefix (uncompressed, the expected length) and
/// skipping its body unread: what a streaming load can afford per message.
#[derive(Debug, Clone)]
pub struct MessageCounter {
    want: usize,
    prefix: [u8; PREFIX],
    prefix_len: usize,
    body_left: usize,
    /// Whole messages seen.
    pub messages: u64,
    /// Bytes fed, prefixes included.
    pub bytes: u64,
    /// The first thing wrong, after which nothing more is counted.
    pub error: Option<WireError>,
}

impl MessageCounter {
    /// A counter of messages of `want` bytes each (without the prefix).
    pub fn new(want: usize) -> Self {
        Self {
            want,
            prefix: [0; PREFIX],
            prefix_len: 0,
            body_left: 0,
            messages: 0,
            bytes: 0,
            error: None,
        }
    }

    /// Takes the next chunk of the body. No copy beyond a split prefix's
    /// 5 bytes; no allocation.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        while !chunk.is_empty() && self.error.is_none() {
            if self.body_left > 0 {
                let n = self.body_left.min(chunk.len());
                self.body_left -= n;
                chunk = &chunk[n..];
                if self.body_left == 0 {
                    self.messages += 1;
                }
                continue;
            }
            let n = (PREFIX - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len < PREFIX {
                break;
            }
            self.prefix_len = 0;
            let p = self.prefix;
            let len = u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize;
            if p[0] != 0 {
                self.error = Some(WireError::Compressed);
            } else if len != self.want {
                self.error = Some(WireError::Length {
                    got: len,
                    want: self.want,
                });
            } else if len == 0 {
                self.messages += 1;
            } else {
                self.body_left = len;
            }
        }
    }

    /// Whether the body so far ends between messages.
    pub fn at_boundary(&self) -> bool {
        self.prefix_len == 0 && self.body_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_encode_as_protobuf_does() {
        let enc = |v| {
            let mut o = Vec::new();
            put_varint(v, &mut o);
            o
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(1), [1]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(1024), [0x80, 0x08]);
        assert_eq!(enc(300), [0xac, 0x02]);
        for v in [0u64, 1, 127, 128, 16_383, 16_384, 1 << 35, u64::MAX] {
            assert_eq!(varint_len(v), enc(v).len(), "{v}");
        }
    }

    #[test]
    fn a_1_kib_echo_request_is_1032_bytes_with_its_prefix() {
        let r = echo_request(&[7u8; 1024]);
        assert_eq!(r.len(), 5 + 3 + 1024);
        assert_eq!(&r[..8], &[0, 0, 0, 0x04, 0x03, 0x0a, 0x80, 0x08]);
        assert_eq!(echo_message_len(1024), 1027);
        let msgs = split_messages(&r).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(echo_payload(msgs[0]).unwrap(), &[7u8; 1024][..]);
        assert_eq!(echo_request(&[]), [0, 0, 0, 0, 0]);
        assert_eq!(echo_payload(&[]).unwrap(), b"");
    }

    #[test]
    fn stream_requests_leave_zero_fields_out() {
        assert_eq!(
            stream_request(3, 1024),
            [0, 0, 0, 0, 5, 0x08, 3, 0x10, 0x80, 0x08]
        );
        assert_eq!(stream_request(0, 0), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(split_messages(&[0, 0, 0]), Err(WireError::Truncated(3)));
        assert_eq!(
            split_messages(&[0, 0, 0, 0, 2, 1]),
            Err(WireError::Truncated(6))
        );
        assert_eq!(split_messages(&[1, 0, 0, 0, 0]), Err(WireError::Compressed));
        assert!(echo_payload(&[0x12, 0]).is_err());
        assert!(echo_payload(&[0x0a, 3, 1]).is_err());
        assert!(echo_payload(&[0x0a, 0x80]).is_err());
    }

    #[test]
    fn the_counter_counts_the_same_however_the_stream_is_cut() {
        let one = echo_request(&[1u8; 300]);
        let stream: Vec<u8> = one.iter().copied().cycle().take(one.len() * 7).collect();
        for cut in [1usize, 2, 3, 4, 5, 6, 7, 299, 305, 1000, stream.len()] {
            let mut c = MessageCounter::new(echo_message_len(300));
            for chunk in stream.chunks(cut) {
                c.feed(chunk);
            }
            assert_eq!((c.messages, c.error.clone()), (7, None), "chunks of {cut}");
            assert!(c.at_boundary());
            assert_eq!(c.bytes, stream.len() as u64);
        }
        let mut c = MessageCounter::new(echo_message_len(300));
        c.feed(&one[..10]);
        assert!(!c.at_boundary());
        assert_eq!(c.messages, 0);
    }

    #[test]
    fn the_counter_stops_at_a_wrong_length_or_compression() {
        let mut c = MessageCounter::new(10);
        c.feed(&echo_request(&[0u8; 20]));
        assert_eq!(c.error, Some(WireError::Length { got: 22, want: 10 }));
        let mut c = MessageCounter::new(0);
        c.feed(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((c.messages, c.error.clone()), (2, None));
        c.feed(&[1, 0, 0, 0, 0]);
        assert_eq!(c.error, Some(WireError::Compressed));
    }
}
