//! The codec's one error type.

/// A result whose error is the codec's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while decoding or encoding bytes.
///
/// "Need more bytes" is not an error: decoders that work on a stream report it
/// as a value (for example [`crate::transport::Decoded::NeedMore`]). Every
/// variant here means the bytes present are wrong, or exceed a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value ran past the end of the payload it must fit in (a truncated
    /// message inside an intact frame).
    #[error("unexpected end of payload: needed {needed} more bytes")]
    UnexpectedEof {
        /// How many more bytes the value needed.
        needed: usize,
    },
    /// A type id that is not a Thrift type.
    #[error("invalid thrift type id {0}")]
    InvalidType(u8),
    /// A negative length or count.
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A length or count above a configured limit.
    #[error("{what} of {len} exceeds the limit of {max}")]
    SizeLimit {
        /// What was too large ("string", "container", "frame", ...).
        what: &'static str,
        /// The length read from the wire.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Structs and containers nested deeper than the configured limit.
    #[error("nesting deeper than the limit of {0}")]
    DepthLimit(usize),
    /// A `string` field whose bytes are not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A varint longer than its type allows.
    #[error("malformed varint")]
    BadVarint,
    /// A message header with an unknown version or message type.
    #[error("bad message header: {0}")]
    BadMessageHeader(&'static str),
    /// A transport header (TTHeader, frame) that is malformed.
    #[error("bad transport header: {0}")]
    BadTransportHeader(&'static str),
    /// The first bytes of a connection match no protocol ringrpc knows.
    #[error("unknown protocol; first bytes: {0}")]
    UnknownProtocol(String),
    /// A protocol ringrpc recognises but does not serve (HTTP/2 for now).
    #[error("unsupported protocol: {0}")]
    Unsupported(&'static str),
    /// A required field was absent when a struct ended.
    #[error("required field {field} of {name} is missing")]
    MissingField {
        /// The struct's name.
        name: &'static str,
        /// The missing field's name.
        field: &'static str,
    },
    /// The bytes decode, but not as the schema they are read with says (a
    /// generic decoder reading with IDL loaded at run time): the message
    /// names where and what.
    #[error("does not match the IDL: {0}")]
    Schema(String),
}
