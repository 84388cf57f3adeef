//! The Thrift protocols: binary ([`binary`]) and compact ([`compact`]), with
//! skipping of unknown values ([`skip`]), the message header ([`message`]) and
//! the application exception ([`exception`]).
//!
//! Decoding works on one contiguous [`Bytes`] payload (a frame, already cut
//! off the connection's [`LinkBuffer`](crate::buffer::LinkBuffer)): `binary`
//! values come out as slices of it and `string` values as [`Utf8Bytes`] slices,
//! so a decoded string points into the chunk the socket read filled. Encoding
//! writes into a [`LinkWriter`](crate::buffer::LinkWriter).
//!
//! Generated code is generic over [`ProtocolReader`] and [`ProtocolWriter`]
//! (static dispatch), so one `decode` serves both protocols.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::{Error, Result};

pub mod binary;
pub mod compact;
mod cursor;
pub mod exception;
pub mod message;
pub mod skip;

pub use binary::{BinaryReader, BinaryWriter};
pub use compact::{CompactReader, CompactWriter};
pub use exception::{ApplicationException, ExceptionKind};
pub use message::{MessageIdent, MessageType};

/// A Thrift type id, as both protocols' headers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TType {
    /// The end of a struct's fields.
    Stop = 0,
    /// No value.
    Void = 1,
    /// `bool`.
    Bool = 2,
    /// `byte` / `i8`.
    I8 = 3,
    /// `double`.
    Double = 4,
    /// `i16`.
    I16 = 6,
    /// `i32` (and enums).
    I32 = 8,
    /// `i64`.
    I64 = 10,
    /// `string` and `binary`.
    Binary = 11,
    /// `struct`, `union`, `exception`.
    Struct = 12,
    /// `map`.
    Map = 13,
    /// `set`.
    Set = 14,
    /// `list`.
    List = 15,
    /// `uuid` (Thrift 0.19+).
    Uuid = 16,
}

impl TType {
    /// The type for a binary-protocol id; an unknown id is an error.
    pub fn from_u8(v: u8) -> Result<TType> {
        Ok(match v {
            0 => TType::Stop,
            1 => TType::Void,
            2 => TType::Bool,
            3 => TType::I8,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            16 => TType::Uuid,
            other => return Err(Error::InvalidType(other)),
        })
    }
}

/// A field's header: its type and id. `ttype == TType::Stop` ends a struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldIdent {
    /// The field's type.
    pub ttype: TType,
    /// The field's id (0 for `Stop`).
    pub id: i16,
}

/// A list's or set's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListIdent {
    /// The elements' type.
    pub elem: TType,
    /// The number of elements (checked against the limits and the bytes
    /// present, so it is safe to size a `Vec` by it).
    pub len: usize,
}

/// A map's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapIdent {
    /// The keys' type.
    pub key: TType,
    /// The values' type.
    pub value: TType,
    /// The number of entries (checked as [`ListIdent::len`] is).
    pub len: usize,
}

/// Bounds on what a decoder accepts from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The longest `string` / `binary`, in bytes. Default 16 MiB (the frame
    /// limit: nothing larger can arrive in a frame anyway).
    pub max_string_len: usize,
    /// The most elements of one list, set or map. Default 16 Mi.
    pub max_container_len: usize,
    /// The deepest nesting of structs and containers. Default 64.
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_string_len: 16 * 1024 * 1024,
            max_container_len: 16 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Whether `b` is UTF-8. Large strings go through `simdutf8` (SIMD, several
/// times std's speed: validating a 256 KiB string was 14 % of serving its
/// echo), short ones through std (no setup cost).
#[inline]
pub(crate) fn is_utf8(b: &[u8]) -> bool {
    if b.len() < 64 {
        std::str::from_utf8(b).is_ok()
    } else {
        simdutf8::basic::from_utf8(b).is_ok()
    }
}

/// A `string` value: UTF-8-checked bytes, usually a zero-copy slice of the
/// payload it was decoded from. Cloning is a reference-count increment.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Checks `bytes` for UTF-8 and wraps them. No copy.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self> {
        if is_utf8(&bytes) {
            Ok(Self(bytes))
        } else {
            Err(Error::InvalidUtf8)
        }
    }

    /// A string with `'static` contents. No copy, no allocation.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or guarantees UTF-8 (`try_from_bytes`
        // validates, `from_static` and the `From<String>`/`From<&str>` impls take
        // `str` data), and the bytes are immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes. No copy.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps the bytes. No copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Utf8Bytes {
    /// Takes the string's buffer (no copy).
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the string (one allocation).
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Thrift protocol a payload is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TBinaryProtocol` (strict on write).
    Binary,
    /// `TCompactProtocol`.
    Compact,
}

impl Protocol {
    /// The protocol's name on command lines and in configuration: `binary`
    /// or `compact`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Binary => "binary",
            Protocol::Compact => "compact",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownName;
    /// Parses [`Protocol::name`].
    fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
        match s {
            "binary" => Ok(Protocol::Binary),
            "compact" => Ok(Protocol::Compact),
            _ => Err(UnknownName {
                what: "protocol",
                expected: "binary|compact",
            }),
        }
    }
}

/// A name that is not one of a setting's values (from `FromStr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownName {
    /// The setting.
    pub what: &'static str,
    /// Its values, `|`-separated.
    pub expected: &'static str,
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} (expected {})", self.what, self.expected)
    }
}

impl std::error::Error for UnknownName {}

/// Reads Thrift values from a contiguous payload.
///
/// Implementations check every length against the bytes present and against
/// [`DecodeLimits`] before allocating, and count nesting in
/// `read_struct_begin` / `read_*_begin` (failing with
/// [`Error::DepthLimit`]). They never panic on any input.
pub trait ProtocolReader {
    /// Reads a message header.
    fn read_message_begin(&mut self) -> Result<MessageIdent>;
    /// Ends a message.
    fn read_message_end(&mut self) -> Result<()>;
    /// Starts a struct (one level deeper).
    fn read_struct_begin(&mut self) -> Result<()>;
    /// Ends a struct.
    fn read_struct_end(&mut self) -> Result<()>;
    /// Reads a field header; `TType::Stop` ends the struct.
    fn read_field_begin(&mut self) -> Result<FieldIdent>;
    /// Ends a field.
    fn read_field_end(&mut self) -> Result<()>;
    /// Reads a `bool`.
    fn read_bool(&mut self) -> Result<bool>;
    /// Reads a `byte` / `i8`.
    fn read_i8(&mut self) -> Result<i8>;
    /// Reads an `i16`.
    fn read_i16(&mut self) -> Result<i16>;
    /// Reads an `i32`.
    fn read_i32(&mut self) -> Result<i32>;
    /// Reads an `i64`.
    fn read_i64(&mut self) -> Result<i64>;
    /// Reads a `double`.
    fn read_double(&mut self) -> Result<f64>;
    /// Reads a `uuid` (16 bytes, big-endian as written).
    fn read_uuid(&mut self) -> Result<[u8; 16]>;
    /// Reads a `binary`: a zero-copy slice of the payload.
    fn read_binary(&mut self) -> Result<Bytes>;
    /// Reads a `string`: a zero-copy, UTF-8-checked slice of the payload.
    fn read_string(&mut self) -> Result<Utf8Bytes> {
        Utf8Bytes::try_from_bytes(self.read_binary()?)
    }
    /// Starts a list (one level deeper).
    fn read_list_begin(&mut self) -> Result<ListIdent>;
    /// Ends a list.
    fn read_list_end(&mut self) -> Result<()>;
    /// Starts a set (one level deeper).
    fn read_set_begin(&mut self) -> Result<ListIdent>;
    /// Ends a set.
    fn read_set_end(&mut self) -> Result<()>;
    /// Starts a map (one level deeper).
    fn read_map_begin(&mut self) -> Result<MapIdent>;
    /// Ends a map.
    fn read_map_end(&mut self) -> Result<()>;
    /// Skips a value of type `ttype` (an unknown field), within the depth limit.
    fn skip(&mut self, ttype: TType) -> Result<()> {
        skip::skip(self, ttype)
    }
    /// Skips a value of type `ttype`, checked as [`skip`](Self::skip)
    /// checks it, and returns the bytes it took: a zero-copy slice of the
    /// payload, to forward the value unread (a proxy, a generic call) with
    /// [`ProtocolWriter::write_raw`]. A struct's slice is self-contained in
    /// both protocols; a compact `bool` *field*'s value lives in its field
    /// header, so its slice is empty.
    fn read_raw(&mut self, ttype: TType) -> Result<Bytes>;
    /// The number of payload bytes not yet read.
    fn remaining(&self) -> usize;
}

/// Writes Thrift values into a [`LinkWriter`](crate::buffer::LinkWriter).
///
/// Writing cannot fail on input; the methods return nothing.
pub trait ProtocolWriter {
    /// Writes a message header.
    fn write_message_begin(&mut self, ident: &MessageIdent);
    /// Ends a message.
    fn write_message_end(&mut self);
    /// Starts a struct.
    fn write_struct_begin(&mut self, name: &str);
    /// Ends a struct.
    fn write_struct_end(&mut self);
    /// Writes a field header.
    fn write_field_begin(&mut self, ttype: TType, id: i16);
    /// Ends a field.
    fn write_field_end(&mut self);
    /// Writes the end of a struct's fields.
    fn write_field_stop(&mut self);
    /// Writes a `bool` (as a field value or a container element).
    fn write_bool(&mut self, v: bool);
    /// Writes a `byte` / `i8`.
    fn write_i8(&mut self, v: i8);
    /// Writes an `i16`.
    fn write_i16(&mut self, v: i16);
    /// Writes an `i32`.
    fn write_i32(&mut self, v: i32);
    /// Writes an `i64`.
    fn write_i64(&mut self, v: i64);
    /// Writes a `double`.
    fn write_double(&mut self, v: f64);
    /// Writes a `uuid`.
    fn write_uuid(&mut self, v: &[u8; 16]);
    /// Writes a `binary` held in `Bytes`: linked without copying when large.
    fn write_bytes(&mut self, v: Bytes);
    /// Writes a `binary` from a slice (copied).
    fn write_binary(&mut self, v: &[u8]);
    /// Writes a `string` (copied).
    fn write_string(&mut self, v: &str) {
        self.write_binary(v.as_bytes())
    }
    /// Writes a `string` held as [`Utf8Bytes`]: like
    /// [`write_bytes`](Self::write_bytes), a clone of the reference, so a
    /// large string (a slice of a request, say) is linked into the write
    /// without a copy.
    fn write_utf8(&mut self, v: &Utf8Bytes) {
        self.write_bytes(v.as_bytes().clone())
    }
    /// Writes bytes already encoded in this writer's protocol (a whole
    /// value, as [`ProtocolReader::read_raw`] returns one) as they are:
    /// linked without copying when large, copied otherwise. Not for a
    /// compact `bool` field's value (written with
    /// [`write_bool`](Self::write_bool)).
    fn write_raw(&mut self, v: Bytes);
    /// Starts a list.
    fn write_list_begin(&mut self, elem: TType, len: usize);
    /// Ends a list.
    fn write_list_end(&mut self);
    /// Starts a set.
    fn write_set_begin(&mut self, elem: TType, len: usize);
    /// Ends a set.
    fn write_set_end(&mut self);
    /// Starts a map.
    fn write_map_begin(&mut self, key: TType, value: TType, len: usize);
    /// Ends a map.
    fn write_map_end(&mut self);
}

/// A type that can be written with any [`ProtocolWriter`] and read with any
/// [`ProtocolReader`]: generated structs, and the hand-written ones until
/// code generation exists.
pub trait Message: Sized {
    /// Writes the value (a struct: begin, fields, stop, end).
    fn encode<W: ProtocolWriter>(&self, w: &mut W);
    /// Reads a value, skipping unknown fields.
    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self>;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::buffer::LinkWriter;

    /// A struct with a nested struct, a bool field and a list, after a
    /// message header.
    fn message<W: ProtocolWriter>(w: &mut W) {
        w.write_message_begin(&MessageIdent::new("m".into(), MessageType::Call, 7));
        w.write_struct_begin("Args");
        w.write_field_begin(TType::Struct, 1);
        w.write_struct_begin("Inner");
        w.write_field_begin(TType::Bool, 3);
        w.write_bool(true);
        w.write_field_begin(TType::List, 20);
        w.write_list_begin(TType::I32, 2);
        w.write_i32(-1);
        w.write_i32(300);
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_begin(TType::Binary, 2);
        w.write_string("tail");
        w.write_field_stop();
        w.write_struct_end();
    }

    #[test]
    fn a_raw_struct_is_forwarded_byte_for_byte() {
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let mut out = LinkWriter::new();
            match protocol {
                Protocol::Binary => message(&mut BinaryWriter::new(&mut out)),
                Protocol::Compact => message(&mut CompactWriter::new(&mut out)),
            }
            let bytes = Bytes::from(out.to_vec());
            let (header_len, raw) = match protocol {
                Protocol::Binary => {
                    let mut r = BinaryReader::new(bytes.clone());
                    r.read_message_begin().unwrap();
                    let at = r.position();
                    (at, r.read_raw(TType::Struct).unwrap())
                }
                Protocol::Compact => {
                    let mut r = CompactReader::new(bytes.clone());
                    r.read_message_begin().unwrap();
                    let at = r.position();
                    (at, r.read_raw(TType::Struct).unwrap())
                }
            };
            assert_eq!(raw, bytes.slice(header_len..), "{protocol}");
            // Written back after a header, the message is the same.
            let mut again = LinkWriter::new();
            let ident = MessageIdent::new("m".into(), MessageType::Call, 7);
            match protocol {
                Protocol::Binary => {
                    let mut w = BinaryWriter::new(&mut again);
                    w.write_message_begin(&ident);
                    w.write_raw(raw);
                }
                Protocol::Compact => {
                    let mut w = CompactWriter::new(&mut again);
                    w.write_message_begin(&ident);
                    w.write_raw(raw);
                }
            }
            assert_eq!(again.to_vec(), bytes.to_vec(), "{protocol}");
            // A truncated struct is an error, not a short slice.
            let cut = bytes.slice(..bytes.len() - 1);
            let mut r = BinaryReader::new(cut.clone());
            if protocol == Protocol::Binary {
                r.read_message_begin().unwrap();
                assert!(r.read_raw(TType::Struct).is_err());
            } else {
                let mut r = CompactReader::new(cut);
                r.read_message_begin().unwrap();
                assert!(r.read_raw(TType::Struct).is_err());
            }
        }
    }

    proptest! {
        /// The SIMD check (long strings) and std's (short ones) agree with
        /// std on any bytes, valid UTF-8 or not, either side of the switch.
        #[test]
        fn utf8_check_agrees_with_std(
            text in "\\PC{0,200}",
            noise in proptest::collection::vec(any::<u8>(), 0..200),
            at in 0usize..200,
        ) {
            let mut b = text.into_bytes();
            prop_assert!(is_utf8(&b));
            let at = at.min(b.len());
            b.splice(at..at, noise);
            prop_assert_eq!(is_utf8(&b), std::str::from_utf8(&b).is_ok());
        }
    }
}
