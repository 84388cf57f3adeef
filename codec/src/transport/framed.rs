//! Framed: a 4-byte big-endian length, then that many bytes of message
//! (Apache Thrift's `TFramedTransport`; Kitex's `Framed`).

use super::{Codec, Decoded, Frame, FrameLimits, Transport};
use crate::buffer::{LinkBuffer, LinkWriter};
use crate::thrift::Protocol;
use crate::{Error, Result};

/// The size of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Reads a frame's length prefix from its first four bytes, checked against
/// the limit. Also used for the Framed length inside TTHeader.
pub fn frame_len(prefix: [u8; 4], limits: &FrameLimits) -> Result<usize> {
    let n = i32::from_be_bytes(prefix);
    if n < 0 {
        return Err(Error::NegativeLength(n.into()));
    }
    let n = n as usize;
    if n > limits.max_frame_len {
        return Err(Error::SizeLimit {
            what: "frame",
            len: n as u64,
            max: limits.max_frame_len as u64,
        });
    }
    Ok(n)
}

/// Cuts one framed message off `buf`; the payload is zero copy when it lies in
/// one chunk.
pub fn decode(
    buf: &mut LinkBuffer,
    protocol: Protocol,
    limits: &FrameLimits,
) -> Result<Decoded<Frame>> {
    let prefix = match buf.peek(PREFIX_LEN) {
        Ok(p) => [p[0], p[1], p[2], p[3]],
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    let n = frame_len(prefix, limits)?;
    if buf.len() < PREFIX_LEN + n {
        return Ok(Decoded::NeedMore(PREFIX_LEN + n - buf.len()));
    }
    let _ = buf.skip(PREFIX_LEN);
    let payload = match buf.next(n) {
        Ok(p) => p,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    Ok(Decoded::Ready(Frame {
        codec: Codec {
            transport: Transport::Framed,
            protocol,
        },
        header: None,
        payload,
        size: PREFIX_LEN + n,
    }))
}

/// Writes a length prefix, the payload, then back-fills the length.
pub fn encode(out: &mut LinkWriter, payload: impl FnOnce(&mut LinkWriter)) {
    let r = out.reserve(PREFIX_LEN);
    payload(out);
    let n = out.written_since(r) - PREFIX_LEN;
    out.backfill(r, &(n as u32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_frames_and_waits_for_partial_ones() {
        let limits = FrameLimits::default();
        let mut w = LinkWriter::new();
        encode(&mut w, |o| o.put_slice(b"hello"));
        encode(&mut w, |o| o.put_slice(b"world!"));
        let bytes = w.to_vec();
        assert_eq!(&bytes[..9], b"\0\0\0\x05hello");
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&bytes[..12]);
        let Decoded::Ready(f) = decode(&mut b, Protocol::Binary, &limits).unwrap() else {
            panic!("first frame is whole")
        };
        assert_eq!(&f.payload[..], b"hello");
        // Three bytes of the next prefix: one more is needed to know the rest.
        assert_eq!(
            decode(&mut b, Protocol::Binary, &limits)
                .unwrap()
                .unwrap_err_or_need(),
            1
        );
        b.extend_from_slice(&bytes[12..13]);
        assert_eq!(
            decode(&mut b, Protocol::Binary, &limits)
                .unwrap()
                .unwrap_err_or_need(),
            6
        );
        b.extend_from_slice(&bytes[13..]);
        let Decoded::Ready(f) = decode(&mut b, Protocol::Binary, &limits).unwrap() else {
            panic!("second frame is whole")
        };
        assert_eq!(&f.payload[..], b"world!");
    }

    #[test]
    fn oversize_and_negative_frames_are_errors() {
        let limits = FrameLimits { max_frame_len: 100 };
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&101u32.to_be_bytes());
        assert!(matches!(
            decode(&mut b, Protocol::Binary, &limits),
            Err(Error::SizeLimit { what: "frame", .. })
        ));
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(decode(&mut b, Protocol::Binary, &limits).is_err());
    }

    trait NeedOf {
        fn unwrap_err_or_need(self) -> usize;
    }
    impl NeedOf for Decoded<Frame> {
        fn unwrap_err_or_need(self) -> usize {
            match self {
                Decoded::NeedMore(n) => n,
                Decoded::Ready(_) => panic!("expected NeedMore"),
            }
        }
    }
}
