//! Transports: how a Thrift message is carried on a byte stream.
//!
//! - [`framed`]: a 4-byte big-endian length, then the message.
//! - [`buffered`]: the message alone (strict binary or compact), measured by
//!   walking it.
//! - [`ttheader`]: Kitex's TTHeader: a header with metadata (method, timeout,
//!   service name, business status, ...) before the message; optionally with a
//!   Framed length inside.
//! - [`detect`](mod@detect): which of these a peer speaks, from a connection's first bytes.
//!
//! [`decode_frame`] cuts one whole message off a [`LinkBuffer`] (or says how
//! many more bytes it needs), and [`encode_frame`] writes one into a
//! [`LinkWriter`] around a payload the caller writes.

use bytes::Bytes;

use crate::Result;
use crate::buffer::{LinkBuffer, LinkWriter};
use crate::thrift::Protocol;

pub mod buffered;
pub mod detect;
pub mod framed;
pub mod ttheader;

pub use detect::detect;
pub use ttheader::TtHeader;

/// The outcome of a decode over a stream: a value, or the number of bytes
/// still needed (at least; more may be needed after those arrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole value.
    Ready(T),
    /// At least this many more bytes are needed.
    NeedMore(usize),
}

/// The transport of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TTHeader (the payload unframed inside it).
    TtHeader,
    /// TTHeader with a Framed length before the payload inside it (Kitex's
    /// `TTHeaderFramed`).
    TtHeaderFramed,
    /// Framed.
    Framed,
    /// Buffered (unframed).
    Buffered,
}

impl Transport {
    /// The transport's name on command lines and in configuration:
    /// `ttheader`, `ttheader-framed`, `framed` or `buffered`.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::TtHeader => "ttheader",
            Transport::TtHeaderFramed => "ttheader-framed",
            Transport::Framed => "framed",
            Transport::Buffered => "buffered",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Transport {
    type Err = crate::thrift::UnknownName;
    /// Parses [`Transport::name`].
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "ttheader" => Ok(Transport::TtHeader),
            "ttheader-framed" => Ok(Transport::TtHeaderFramed),
            "framed" => Ok(Transport::Framed),
            "buffered" => Ok(Transport::Buffered),
            _ => Err(crate::thrift::UnknownName {
                what: "transport",
                expected: "ttheader|ttheader-framed|framed|buffered",
            }),
        }
    }
}

/// A connection's transport and protocol, as detection found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The transport.
    pub transport: Transport,
    /// The Thrift protocol of the payload.
    pub protocol: Protocol,
}

/// Bounds on frames read from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// The largest frame accepted, in bytes. Default 16 MiB (Apache Thrift's
    /// and Kitex's default maximum frame size).
    pub max_frame_len: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_frame_len: 16 * 1024 * 1024,
        }
    }
}

/// One message cut off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The transport and protocol it came in.
    pub codec: Codec,
    /// The TTHeader, when the transport is TTHeader.
    pub header: Option<TtHeader>,
    /// The Thrift message (header, struct), contiguous.
    pub payload: Bytes,
    /// The bytes the whole frame took on the wire (length prefixes and
    /// transport header included).
    pub size: usize,
}

/// Cuts the next whole message in `codec` off `buf`.
///
/// Consumes nothing unless it returns a frame. Errors mean the stream is
/// broken (the connection should be closed): a frame over the limit, a bad
/// TTHeader, or a Buffered message that cannot be measured.
///
/// For TTHeader, `codec` need only say TTHeader: each frame's
/// [`Frame::codec`] reports what that message really is (the payload's
/// protocol, and [`Transport::TtHeaderFramed`] when a Framed length sits
/// inside), which [`detect()`] cannot see in 8 bytes. Reply in the frame's
/// codec.
pub fn decode_frame(
    buf: &mut LinkBuffer,
    codec: Codec,
    limits: &FrameLimits,
) -> Result<Decoded<Frame>> {
    match codec.transport {
        Transport::Framed => framed::decode(buf, codec.protocol, limits),
        Transport::Buffered => buffered::decode(buf, codec.protocol, limits),
        Transport::TtHeader | Transport::TtHeaderFramed => ttheader::decode(buf, limits),
    }
}

/// Writes one message in `codec`: the transport's header (with `header` for
/// TTHeader), then whatever `payload` writes, back-filling the lengths.
pub fn encode_frame(
    out: &mut LinkWriter,
    codec: Codec,
    header: Option<&TtHeader>,
    payload: impl FnOnce(&mut LinkWriter),
) {
    match codec.transport {
        Transport::Framed => framed::encode(out, payload),
        Transport::Buffered => payload(out),
        Transport::TtHeader | Transport::TtHeaderFramed => {
            ttheader::encode(out, codec, header, payload)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str() {
        for t in [
            Transport::TtHeader,
            Transport::TtHeaderFramed,
            Transport::Framed,
            Transport::Buffered,
        ] {
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
        }
        for p in [Protocol::Binary, Protocol::Compact] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
        }
        let e = "http2".parse::<Transport>().unwrap_err();
        assert_eq!(e.what, "transport");
    }
}
