//! Which transport and protocol a peer speaks, from a connection's first
//! bytes (at most 8).
//!
//! Kitex decides the same question per message in `DecodeMeta` and
//! `checkPayload` (`pkg/remote/codec/default_codec.go`): `IsTTHeader` (bytes
//! 4..8 masked with `0xffff0000` equal `0x10000000`), `isMeshHeader` (bytes 0..4
//! masked equal `0xffaf0000`), `isThriftBinary` (bytes 0..4 masked equal
//! `0x80010000`: unframed, "PurePayload"), `isThriftFramedBinary` (the same in
//! bytes 4..8) and `isProtobufKitex` (`0x90010000` in bytes 4..8). Volo's
//! decoders peek 6 bytes the same way (`is_ttheader`, `is_framed` in
//! volo-thrift `src/codec/default/{ttheader,framed}.rs`). Compact is not in
//! Kitex's default codec; its marker is the compact protocol id `0x82` followed
//! by a byte whose low five bits are the version, 1 (Apache Thrift
//! `doc/specs/thrift-compact-protocol.md`).
//!
//! The rules, first match wins:
//!
//! | bytes | verdict |
//! |---|---|
//! | 0..2 = `80 01` | Buffered binary |
//! | 0 = `82`, 1 & `1f` = 1 | Buffered compact |
//! | 0..8 = `PRI * HT` (the HTTP/2 preface) | [`Error::Unsupported`]`("http2")` |
//! | 0..2 = `ff af` (Kitex's mesh header) | [`Error::Unsupported`]`("mesh header")` |
//! | 4..6 = `10 00` | TTHeader |
//! | 4..6 = `80 01` | Framed binary |
//! | 4 = `82`, 5 & `1f` = 1 | Framed compact |
//! | otherwise | [`Error::UnknownProtocol`] |
//!
//! No rule is ambiguous: a Framed or TTHeader length whose first byte is
//! `0x80`, `0x82`, `0x50` (`P`) or `0xff` is over 1 GiB, past any frame limit.
//!
//! For TTHeader the payload's protocol id is at byte 14 and whether the
//! payload is framed inside shows only after the header, both beyond 8 bytes.
//! So `detect` answers TTHeader with [`Protocol::Binary`] (TTHeader's default
//! and what Kitex always sends), and [`ttheader::decode`](super::ttheader::decode)
//! reports the real protocol and TTHeader vs TTHeaderFramed in each
//! [`Frame::codec`](super::Frame::codec); a server replies in the frame's codec.

use super::{Codec, Decoded, Transport};
use crate::thrift::Protocol;
use crate::{Error, Result};

/// The most bytes [`detect`] looks at.
pub const DETECT_LEN: usize = 8;

/// The start of the HTTP/2 connection preface (RFC 9113 §3.4), as far as
/// [`detect`] looks.
const H2_PREFACE: &[u8; DETECT_LEN] = b"PRI * HT";

fn is_compact(marker: u8, version: u8) -> bool {
    marker == 0x82 && version & 0x1f == 1
}

fn ready(transport: Transport, protocol: Protocol) -> Result<Decoded<Codec>> {
    Ok(Decoded::Ready(Codec {
        transport,
        protocol,
    }))
}

/// Decides a connection's transport and protocol from its first bytes.
///
/// Looks at no more than [`DETECT_LEN`] bytes; returns
/// [`Decoded::NeedMore`] with the fewest bytes that could settle it. Pure and
/// cheap: call it again with the longer prefix.
pub fn detect(first: &[u8]) -> Result<Decoded<Codec>> {
    let b = &first[..first.len().min(DETECT_LEN)];
    if b.len() < 2 {
        return Ok(Decoded::NeedMore(2 - b.len()));
    }
    if b[..2] == [0x80, 0x01] {
        return ready(Transport::Buffered, Protocol::Binary);
    }
    if is_compact(b[0], b[1]) {
        return ready(Transport::Buffered, Protocol::Compact);
    }
    if H2_PREFACE.starts_with(b) {
        return match b.len() {
            DETECT_LEN => Err(Error::Unsupported("http2")),
            n => Ok(Decoded::NeedMore(DETECT_LEN - n)),
        };
    }
    if b[..2] == [0xff, 0xaf] {
        return Err(Error::Unsupported("mesh header"));
    }
    if b.len() < 6 {
        return Ok(Decoded::NeedMore(6 - b.len()));
    }
    match (b[4], b[5]) {
        (0x10, 0x00) => ready(Transport::TtHeader, Protocol::Binary),
        (0x80, 0x01) => ready(Transport::Framed, Protocol::Binary),
        (m, v) if is_compact(m, v) => ready(Transport::Framed, Protocol::Compact),
        _ => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Err(Error::UnknownProtocol(hex))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(t: Transport, p: Protocol) -> Decoded<Codec> {
        Decoded::Ready(Codec {
            transport: t,
            protocol: p,
        })
    }

    #[test]
    fn ttheader_by_magic_in_bytes_4_to_6() {
        // The first 8 bytes of a Kitex request: length, 0x1000, flags 0
        // (gopkg protocol/ttheader/encode.go writes TTHeaderMagic + flags).
        let b = [0x00, 0x00, 0x00, 0x50, 0x10, 0x00, 0x00, 0x00];
        assert_eq!(
            detect(&b).unwrap(),
            codec(Transport::TtHeader, Protocol::Binary)
        );
        assert_eq!(
            detect(&b[..6]).unwrap(),
            codec(Transport::TtHeader, Protocol::Binary)
        );
    }

    #[test]
    fn framed_and_buffered_binary_and_compact() {
        // Strict binary CALL header: 0x80 0x01 0x00 0x01 (Apache Thrift
        // doc/specs/thrift-binary-protocol.md).
        let call = [0x80, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04];
        assert_eq!(
            detect(&call).unwrap(),
            codec(Transport::Buffered, Protocol::Binary)
        );
        assert_eq!(
            detect(&call[..2]).unwrap(),
            codec(Transport::Buffered, Protocol::Binary)
        );
        let framed = [0x00, 0x00, 0x00, 0x20, 0x80, 0x01, 0x00, 0x01];
        assert_eq!(
            detect(&framed).unwrap(),
            codec(Transport::Framed, Protocol::Binary)
        );
        // Compact CALL: 0x82, then type 1 << 5 | version 1 = 0x21
        // (doc/specs/thrift-compact-protocol.md).
        let compact = [0x82, 0x21, 0x00, 0x04, b'e', b'c', b'h', b'o'];
        assert_eq!(
            detect(&compact).unwrap(),
            codec(Transport::Buffered, Protocol::Compact)
        );
        let framed_compact = [0x00, 0x00, 0x00, 0x10, 0x82, 0x21, 0x00, 0x04];
        assert_eq!(
            detect(&framed_compact).unwrap(),
            codec(Transport::Framed, Protocol::Compact)
        );
    }

    #[test]
    fn asks_for_as_little_as_settles_it() {
        assert_eq!(detect(&[]).unwrap(), Decoded::NeedMore(2));
        assert_eq!(detect(&[0x80]).unwrap(), Decoded::NeedMore(1));
        assert_eq!(detect(&[0, 0, 0]).unwrap(), Decoded::NeedMore(3));
        assert_eq!(detect(&[0, 0, 0, 9, 0x10]).unwrap(), Decoded::NeedMore(1));
        assert_eq!(detect(b"PRI *").unwrap(), Decoded::NeedMore(3));
    }

    #[test]
    fn http2_and_mesh_header_are_unsupported() {
        assert_eq!(
            detect(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(Error::Unsupported("http2"))
        );
        assert_eq!(
            detect(&[0xff, 0xaf, 0, 0x10]),
            Err(Error::Unsupported("mesh header"))
        );
    }

    #[test]
    fn anything_else_is_unknown_with_its_bytes() {
        assert_eq!(
            detect(b"GET / HTTP/1.1\r\n"),
            Err(Error::UnknownProtocol("474554202f204854".into()))
        );
        // Telnet's interrupt, which Kitex's checkPayload calls out.
        assert_eq!(
            detect(&[0xff, 0xf4, 0xff, 0xfd, 0x06, 0x00]),
            Err(Error::UnknownProtocol("fff4fffd0600".into()))
        );
    }
}
