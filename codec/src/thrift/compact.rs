//! `TCompactProtocol`: varint and zigzag integers, field ids as deltas, bool
//! field values folded into the field header.
//!
//! Layout (Apache Thrift's `doc/specs/thrift-compact-protocol.md`, read at
//! apache/thrift commit 054a0fa):
//!
//! - message: `0x82` (protocol id), one byte `mmmvvvvv` (message type in the
//!   top 3 bits, version `1` in the low 5), the seqid as a *plain* varint
//!   (not zigzag), the name as a binary;
//! - field header: `ddddtttt` with `dddd` the delta (1–15) from the previous
//!   field id of the same struct, or `0000tttt` followed by the id as a zigzag
//!   varint (the long form, for the first field past 15, a jump past 15, or
//!   an id not above the previous one); a stop field is `0x00`;
//! - `bool` field: no value bytes, the type nibble is `1` (true) or `2`
//!   (false); `bool` element of a list, set or map: one byte;
//! - `i8`: one byte; `i16` / `i32` / `i64`: zigzag varint (`i16` as an `i32`);
//!   `double`: 8 bytes little-endian; `uuid`: 16 bytes; `binary` / `string`:
//!   varint length, then the bytes;
//! - list / set header: `sssstttt` with the size (0–14) in the top nibble, or
//!   `1111tttt` followed by the size as a varint;
//! - map header: `0x00` for an empty map; otherwise the size as a varint, then
//!   one byte `kkkkvvvv` of the key and value types.
//!
//! Compact type ids: 1 `BOOLEAN_TRUE`, 2 `BOOLEAN_FALSE`, 3 `BYTE`, 4 `I16`,
//! 5 `I32`, 6 `I64`, 7 `DOUBLE`, 8 `BINARY`, 9 `LIST`, 10 `SET`, 11 `MAP`,
//! 12 `STRUCT`, 13 `UUID`.
//!
//! Where the spec and the deployed implementations part, this module writes
//! what the implementations write and reads both:
//!
//! - a `bool` element is written `1` (true) / `2` (false), as Apache's Java,
//!   C++ (`TCompactProtocol.tcc`: `writeBool` writes `CT_BOOLEAN_TRUE` /
//!   `CT_BOOLEAN_FALSE`) and Go write it, and as Rust `thrift` and `pilota`
//!   insist on reading it; the spec's `0` for false is read too. Any other
//!   byte is [`Error::InvalidType`] (the byte is a compact bool type id).
//! - a `bool` element type in a list, set or map header is written `1`, as
//!   those implementations do (C++ `TTypeToCType[T_BOOL] = CT_BOOLEAN_TRUE`);
//!   both `1` and `2` are read as `bool`.
//! - a field header whose type nibble is `0` is a stop, whatever its top
//!   nibble holds (Java and C++ test only the type nibble).
//!
//! Varints are read strictly: a varint longer than its type allows (5 bytes
//! for 32 bits, 10 for 64), one that sets bits above the type's width, one
//! with a redundant trailing zero byte (every known writer emits the shortest
//! form), and an `i16` outside `i16`'s range are [`Error::BadVarint`].
//!
//! The reader works on one contiguous [`Bytes`] payload: `binary` values are
//! zero-copy slices of it. Every count read off the wire is checked against
//! [`DecodeLimits`] and against the bytes present before it is returned, so a
//! caller may size a `Vec` by it.

use bytes::Bytes;

use super::cursor::Cursor;
use super::{
    DecodeLimits, FieldIdent, ListIdent, MapIdent, MessageIdent, MessageType, ProtocolReader,
    ProtocolWriter, TType,
};
use crate::buffer::LinkWriter;
use crate::{Error, Result};

/// The first byte of every compact message.
pub const PROTOCOL_ID: u8 = 0x82;
/// The protocol version, in the low five bits of a message's second byte.
pub const VERSION: u8 = 1;
const VERSION_MASK: u8 = 0x1f;
const TYPE_SHIFT: u8 = 5;

/// The compact type ids (the spec's "field-types" and "element-types").
mod ct {
    pub const STOP: u8 = 0;
    pub const BOOLEAN_TRUE: u8 = 1;
    pub const BOOLEAN_FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UUID: u8 = 13;
}

/// The compact id of a type. `Void` has none; it is written as `0`, which
/// no reader accepts as a value type.
fn compact_type(t: TType) -> u8 {
    match t {
        TType::Stop | TType::Void => ct::STOP,
        TType::Bool => ct::BOOLEAN_TRUE,
        TType::I8 => ct::BYTE,
        TType::I16 => ct::I16,
        TType::I32 => ct::I32,
        TType::I64 => ct::I64,
        TType::Double => ct::DOUBLE,
        TType::Binary => ct::BINARY,
        TType::List => ct::LIST,
        TType::Set => ct::SET,
        TType::Map => ct::MAP,
        TType::Struct => ct::STRUCT,
        TType::Uuid => ct::UUID,
    }
}

/// The type of a compact id (a field's or an element's nibble). `0` (stop)
/// is not a value type, so it is an error here, like 14 and 15.
fn value_type(n: u8) -> Result<TType> {
    Ok(match n {
        ct::BOOLEAN_TRUE | ct::BOOLEAN_FALSE => TType::Bool,
        ct::BYTE => TType::I8,
        ct::I16 => TType::I16,
        ct::I32 => TType::I32,
        ct::I64 => TType::I64,
        ct::DOUBLE => TType::Double,
        ct::BINARY => TType::Binary,
        ct::LIST => TType::List,
        ct::SET => TType::Set,
        ct::MAP => TType::Map,
        ct::STRUCT => TType::Struct,
        ct::UUID => TType::Uuid,
        other => return Err(Error::InvalidType(other)),
    })
}

/// The fewest bytes one element of a type takes in the compact protocol:
/// every element takes at least one (a `bool` element is a byte, an empty
/// struct its stop, an empty container its header), except the fixed-width
/// ones. Used to check a container's count against the bytes present.
fn min_size(t: TType) -> usize {
    match t {
        TType::Stop | TType::Void => 0,
        TType::Double => 8,
        TType::Uuid => 16,
        TType::Bool
        | TType::I8
        | TType::I16
        | TType::I32
        | TType::I64
        | TType::Binary
        | TType::Struct
        | TType::Map
        | TType::Set
        | TType::List => 1,
    }
}

#[inline]
fn zigzag32(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

#[inline]
fn unzigzag32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

#[inline]
fn zigzag64(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[inline]
fn unzigzag64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// The last field id of each enclosing struct, saved while a nested struct
/// is read or written (the deltas restart at 0 in each struct).
///
/// The first [`INLINE`] levels live in place, so reading and writing the
/// usual shallow messages allocates nothing; deeper levels spill into a
/// `Vec` (bounded by the depth limit when reading).
#[derive(Debug, Default)]
struct FieldIdStack {
    inline: [i16; INLINE],
    spill: Vec<i16>,
    len: usize,
}

const INLINE: usize = 16;

impl FieldIdStack {
    fn push(&mut self, id: i16) {
        if self.len < INLINE {
            self.inline[self.len] = id;
        } else {
            self.spill.push(id);
        }
        self.len += 1;
    }

    /// The id saved last; 0 when nothing is saved (an unbalanced
    /// `struct_end`, which is the caller's bug and must not panic here).
    fn pop(&mut self) -> i16 {
        if self.len == 0 {
            return 0;
        }
        self.len -= 1;
        if self.len < INLINE {
            self.inline[self.len]
        } else {
            self.spill.pop().unwrap_or(0)
        }
    }
}

/// Reads the compact protocol from one contiguous payload.
#[derive(Debug)]
pub struct CompactReader {
    cur: Cursor,
    /// The id of the last field header read in the current struct.
    last_field_id: i16,
    /// `last_field_id` of each enclosing struct.
    field_ids: FieldIdStack,
    /// The value of a `bool` field, carried in its header, until
    /// `read_bool` takes it.
    pending_bool: Option<bool>,
}

impl CompactReader {
    /// A reader over `buf` with the default [`DecodeLimits`].
    pub fn new(buf: Bytes) -> Self {
        Self::with_limits(buf, DecodeLimits::default())
    }

    /// A reader over `buf` with the given limits.
    pub fn with_limits(buf: Bytes, limits: DecodeLimits) -> Self {
        Self {
            cur: Cursor::new(buf, limits),
            last_field_id: 0,
            field_ids: FieldIdStack::default(),
            pending_bool: None,
        }
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.cur.position()
    }

    /// Reads an unsigned LEB128 varint of at most `bits` (32 or 64) bits.
    ///
    /// Rejects (as [`Error::BadVarint`]) more bytes than `bits` needs, set
    /// bits above `bits`, and a redundant trailing zero byte.
    fn varint(&mut self, bits: u32) -> Result<u64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.cur.byte()?;
            let low = u64::from(b & 0x7f);
            if shift + 7 > bits && low >> (bits - shift) != 0 {
                return Err(Error::BadVarint);
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(Error::BadVarint);
                }
                return Ok(v);
            }
            shift += 7;
            if shift >= bits {
                return Err(Error::BadVarint);
            }
        }
    }

    #[inline]
    fn varint32(&mut self) -> Result<u32> {
        // At most 32 bits were accepted, so the cast keeps every bit.
        self.varint(32).map(|v| v as u32)
    }

    /// A length or count: a varint `i32` that must not be negative.
    fn size(&mut self) -> Result<usize> {
        let n = self.varint32()? as i32;
        if n < 0 {
            return Err(Error::NegativeLength(n.into()));
        }
        Ok(n as usize)
    }

    fn list_header(&mut self) -> Result<ListIdent> {
        let b = self.cur.byte()?;
        let elem = value_type(b & 0x0f)?;
        let n = match b >> 4 {
            15 => self.size()?,
            short => usize::from(short),
        };
        let len = self.cur.count(n, min_size(elem), ct::STOP)?;
        self.cur.enter()?;
        Ok(ListIdent { elem, len })
    }
}

impl ProtocolReader for CompactReader {
    fn read_message_begin(&mut self) -> Result<MessageIdent> {
        let [id, version_and_type] = self.cur.take::<2>()?;
        if id != PROTOCOL_ID {
            return Err(Error::BadMessageHeader("bad compact protocol id"));
        }
        if version_and_type & VERSION_MASK != VERSION {
            return Err(Error::BadMessageHeader("bad compact protocol version"));
        }
        let msg_type = MessageType::from_u8(version_and_type >> TYPE_SHIFT)?;
        // The seqid is a plain varint of the i32's bits, not zigzag.
        let seqid = self.varint32()? as i32;
        let name = self.read_string()?;
        Ok(MessageIdent::new(name, msg_type, seqid))
    }

    fn read_message_end(&mut self) -> Result<()> {
        Ok(())
    }

    fn read_struct_begin(&mut self) -> Result<()> {
        self.cur.enter()?;
        self.field_ids.push(self.last_field_id);
        self.last_field_id = 0;
        Ok(())
    }

    fn read_struct_end(&mut self) -> Result<()> {
        self.cur.leave();
        self.last_field_id = self.field_ids.pop();
        Ok(())
    }

    fn read_field_begin(&mut self) -> Result<FieldIdent> {
        self.pending_bool = None;
        let b = self.cur.byte()?;
        let t = b & 0x0f;
        if t == ct::STOP {
            return Ok(FieldIdent {
                ttype: TType::Stop,
                id: 0,
            });
        }
        let ttype = value_type(t)?;
        let delta = b >> 4;
        let id = if delta == 0 {
            self.read_i16()?
        } else {
            // Java and C++ add in 16 bits too; an overflowing id is just an
            // unknown (negative) field, never a panic.
            self.last_field_id.wrapping_add(i16::from(delta))
        };
        match t {
            ct::BOOLEAN_TRUE => self.pending_bool = Some(true),
            ct::BOOLEAN_FALSE => self.pending_bool = Some(false),
            _ => {}
        }
        self.last_field_id = id;
        Ok(FieldIdent { ttype, id })
    }

    fn read_field_end(&mut self) -> Result<()> {
        self.pending_bool = None;
        Ok(())
    }

    fn read_bool(&mut self) -> Result<bool> {
        if let Some(v) = self.pending_bool.take() {
            return Ok(v);
        }
        match self.cur.byte()? {
            ct::BOOLEAN_TRUE => Ok(true),
            0 | ct::BOOLEAN_FALSE => Ok(false),
            other => Err(Error::InvalidType(other)),
        }
    }

    fn read_i8(&mut self) -> Result<i8> {
        Ok(self.cur.byte()? as i8)
    }

    fn read_i16(&mut self) -> Result<i16> {
        let v = unzigzag32(self.varint32()?);
        i16::try_from(v).map_err(|_| Error::BadVarint)
    }

    fn read_i32(&mut self) -> Result<i32> {
        Ok(unzigzag32(self.varint32()?))
    }

    fn read_i64(&mut self) -> Result<i64> {
        Ok(unzigzag64(self.varint(64)?))
    }

    fn read_double(&mut self) -> Result<f64> {
        Ok(f64::from_bits(u64::from_le_bytes(self.cur.take()?)))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16]> {
        self.cur.take()
    }

    fn read_binary(&mut self) -> Result<Bytes> {
        let n = self.size()?;
        self.cur.string(n)
    }

    fn read_list_begin(&mut self) -> Result<ListIdent> {
        self.list_header()
    }

    fn read_list_end(&mut self) -> Result<()> {
        self.cur.leave();
        Ok(())
    }

    fn read_set_begin(&mut self) -> Result<ListIdent> {
        self.list_header()
    }

    fn read_set_end(&mut self) -> Result<()> {
        self.cur.leave();
        Ok(())
    }

    /// Reads a map header. An empty map carries no key and value types on
    /// the wire: its ident says `TType::Stop` for both (as Apache's readers
    /// do), so a caller must not check the types of an empty map.
    fn read_map_begin(&mut self) -> Result<MapIdent> {
        let n = self.size()?;
        if n == 0 {
            self.cur.enter()?;
            return Ok(MapIdent {
                key: TType::Stop,
                value: TType::Stop,
                len: 0,
            });
        }
        let kv = self.cur.byte()?;
        let key = value_type(kv >> 4)?;
        let value = value_type(kv & 0x0f)?;
        let len = self
            .cur
            .count(n, min_size(key) + min_size(value), ct::STOP)?;
        self.cur.enter()?;
        Ok(MapIdent { key, value, len })
    }

    fn read_map_end(&mut self) -> Result<()> {
        self.cur.leave();
        Ok(())
    }

    fn read_raw(&mut self, ttype: TType) -> Result<Bytes> {
        let start = self.cur.position();
        self.skip(ttype)?;
        Ok(self.cur.since(start))
    }

    fn remaining(&self) -> usize {
        self.cur.remaining()
    }
}

/// Writes the compact protocol into a [`LinkWriter`].
#[derive(Debug)]
pub struct CompactWriter<'a> {
    out: &'a mut LinkWriter,
    /// The id of the last field header written in the current struct.
    last_field_id: i16,
    /// `last_field_id` of each enclosing struct.
    field_ids: FieldIdStack,
    /// The id of a `bool` field whose header waits for its value.
    pending_bool_field: Option<i16>,
}

impl<'a> CompactWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut LinkWriter) -> Self {
        Self {
            out,
            last_field_id: 0,
            field_ids: FieldIdStack::default(),
            pending_bool_field: None,
        }
    }

    /// Writes `v` as an unsigned LEB128 varint (1 to 10 bytes, one copy).
    fn varint(&mut self, mut v: u64) {
        let mut buf = [0u8; 10];
        let mut n = 0;
        while v >= 0x80 {
            buf[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        buf[n] = v as u8;
        self.out.put_slice(&buf[..=n]);
    }

    fn field_header(&mut self, compact: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last_field_id);
        if (1..=15).contains(&delta) {
            self.out.put_u8((delta as u8) << 4 | compact);
        } else {
            self.out.put_u8(compact);
            self.write_i16(id);
        }
        self.last_field_id = id;
    }

    fn collection_header(&mut self, elem: TType, len: usize) {
        let t = compact_type(elem);
        if len < 15 {
            self.out.put_u8((len as u8) << 4 | t);
        } else {
            self.out.put_u8(0xf0 | t);
            self.varint(u64::from(len as u32));
        }
    }
}

impl ProtocolWriter for CompactWriter<'_> {
    fn write_message_begin(&mut self, ident: &MessageIdent) {
        self.out
            .put_slice(&[PROTOCOL_ID, (ident.msg_type as u8) << TYPE_SHIFT | VERSION]);
        self.varint(u64::from(ident.seqid as u32));
        self.write_string(&ident.name);
    }

    fn write_message_end(&mut self) {}

    fn write_struct_begin(&mut self, _name: &str) {
        self.field_ids.push(self.last_field_id);
        self.last_field_id = 0;
    }

    fn write_struct_end(&mut self) {
        self.last_field_id = self.field_ids.pop();
    }

    /// Writes a field header; a `bool` field's header waits for
    /// [`write_bool`](ProtocolWriter::write_bool), which folds the value in.
    fn write_field_begin(&mut self, ttype: TType, id: i16) {
        if ttype == TType::Bool {
            self.pending_bool_field = Some(id);
        } else {
            self.field_header(compact_type(ttype), id);
        }
    }

    fn write_field_end(&mut self) {}

    fn write_field_stop(&mut self) {
        self.out.put_u8(ct::STOP);
    }

    fn write_bool(&mut self, v: bool) {
        let t = if v {
            ct::BOOLEAN_TRUE
        } else {
            ct::BOOLEAN_FALSE
        };
        match self.pending_bool_field.take() {
            Some(id) => self.field_header(t, id),
            None => self.out.put_u8(t),
        }
    }

    fn write_i8(&mut self, v: i8) {
        self.out.put_u8(v as u8);
    }

    fn write_i16(&mut self, v: i16) {
        self.varint(u64::from(zigzag32(v.into())));
    }

    fn write_i32(&mut self, v: i32) {
        self.varint(u64::from(zigzag32(v)));
    }

    fn write_i64(&mut self, v: i64) {
        self.varint(zigzag64(v));
    }

    fn write_double(&mut self, v: f64) {
        self.out.put_slice(&v.to_bits().to_le_bytes());
    }

    fn write_uuid(&mut self, v: &[u8; 16]) {
        self.out.put_slice(v);
    }

    fn write_bytes(&mut self, v: Bytes) {
        self.varint(u64::from(v.len() as u32));
        self.out.write_bytes(v);
    }

    fn write_binary(&mut self, v: &[u8]) {
        self.varint(u64::from(v.len() as u32));
        self.out.put_slice(v);
    }

    fn write_raw(&mut self, v: Bytes) {
        self.out.write_bytes(v);
    }

    fn write_list_begin(&mut self, elem: TType, len: usize) {
        self.collection_header(elem, len);
    }

    fn write_list_end(&mut self) {}

    fn write_set_begin(&mut self, elem: TType, len: usize) {
        self.collection_header(elem, len);
    }

    fn write_set_end(&mut self) {}

    fn write_map_begin(&mut self, key: TType, value: TType, len: usize) {
        if len == 0 {
            self.out.put_u8(0);
        } else {
            self.varint(u64::from(len as u32));
            self.out
                .put_u8(compact_type(key) << 4 | compact_type(value));
        }
    }

    fn write_map_end(&mut self) {}
}

#[cfg(test)]
mod tests {
    //! Byte layouts are from Apache Thrift's
    //! `doc/specs/thrift-compact-protocol.md` unless a test says otherwise.
    use super::*;
    use crate::thrift::{ApplicationException, ExceptionKind, Message, Utf8Bytes};

    fn written(f: impl FnOnce(&mut CompactWriter<'_>)) -> Bytes {
        let mut out = LinkWriter::new();
        f(&mut CompactWriter::new(&mut out));
        Bytes::from(out.to_vec())
    }

    fn reader(b: &'static [u8]) -> CompactReader {
        CompactReader::new(Bytes::from_static(b))
    }

    #[test]
    fn message_header_layout() {
        // 0x82, then type Call (1) << 5 | version 1, seqid varint, name.
        let b = written(|w| {
            w.write_message_begin(&MessageIdent::new(
                Utf8Bytes::from_static("echo"),
                MessageType::Call,
                7,
            ))
        });
        assert_eq!(&b[..], b"\x82\x21\x07\x04echo");
        let mut r = CompactReader::new(b);
        let m = r.read_message_begin().unwrap();
        assert_eq!(
            (m.name.as_str(), m.msg_type, m.seqid),
            ("echo", MessageType::Call, 7)
        );
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn seqid_is_a_plain_varint() {
        // The spec's varint example: 50399 = 0xDF 0x89 0x03. A negative
        // seqid is its i32 bits as a varint (5 bytes), not zigzag.
        let b = written(|w| {
            w.write_message_begin(&MessageIdent::new(
                Utf8Bytes::from_static(""),
                MessageType::Oneway,
                50399,
            ))
        });
        assert_eq!(&b[..], b"\x82\x81\xdf\x89\x03\x00");
        let b = written(|w| {
            w.write_message_begin(&MessageIdent::new(
                Utf8Bytes::from_static(""),
                MessageType::Reply,
                -1,
            ))
        });
        assert_eq!(&b[..], b"\x82\x41\xff\xff\xff\xff\x0f\x00");
        assert_eq!(
            CompactReader::new(b).read_message_begin().unwrap().seqid,
            -1
        );
    }

    #[test]
    fn rejects_bad_message_headers() {
        for (bytes, what) in [
            (&b"\x80\x21\x00\x00"[..], "bad compact protocol id"),
            (&b"\x82\x22\x00\x00"[..], "bad compact protocol version"),
            (&b"\x82\xa1\x00\x00"[..], "unknown message type"),
        ] {
            assert_eq!(
                CompactReader::new(Bytes::from_static(bytes)).read_message_begin(),
                Err(Error::BadMessageHeader(what))
            );
        }
    }

    #[test]
    fn field_ids_are_deltas_with_a_long_form() {
        let b = written(|w| {
            w.write_struct_begin("S");
            for (id, v) in [(1, 1), (16, -1), (100, 2), (3, 0)] {
                w.write_field_begin(TType::I32, id);
                w.write_i32(v);
                w.write_field_end();
            }
            w.write_field_stop();
            w.write_struct_end();
        });
        assert_eq!(
            &b[..],
            &[
                0x15, 0x02, // delta 1, I32, zigzag(1)
                0xf5, 0x01, // delta 15 (the largest short form), zigzag(-1)
                0x05, 0xc8, 0x01, 0x04, // long form: id zigzag(100) = 200
                0x05, 0x06, 0x00, // id going down: long form, zigzag(3) = 6
                0x00, // stop
            ]
        );
        let mut r = CompactReader::new(b);
        r.read_struct_begin().unwrap();
        for (id, v) in [(1, 1), (16, -1), (100, 2), (3, 0)] {
            let f = r.read_field_begin().unwrap();
            assert_eq!((f.ttype, f.id), (TType::I32, id));
            assert_eq!(r.read_i32().unwrap(), v);
            r.read_field_end().unwrap();
        }
        assert_eq!(r.read_field_begin().unwrap().ttype, TType::Stop);
        r.read_struct_end().unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn a_negative_field_id_uses_the_long_form() {
        let b = written(|w| {
            w.write_struct_begin("S");
            w.write_field_begin(TType::I8, -2);
            w.write_i8(-1);
            w.write_field_begin(TType::I8, 0);
            w.write_i8(1);
            w.write_field_stop();
            w.write_struct_end();
        });
        // Field -2: long form, zigzag(-2) = 3. Field 0 is 2 above -2: a delta.
        assert_eq!(&b[..], b"\x03\x03\xff\x23\x01\x00");
        let mut r = CompactReader::new(b);
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap().id, -2);
        assert_eq!(r.read_i8().unwrap(), -1);
        assert_eq!(r.read_field_begin().unwrap().id, 0);
    }

    #[test]
    fn nested_structs_restart_the_deltas() {
        let b = written(|w| {
            w.write_struct_begin("Outer");
            w.write_field_begin(TType::Struct, 1);
            w.write_struct_begin("Inner");
            w.write_field_begin(TType::I32, 5);
            w.write_i32(3);
            w.write_field_stop();
            w.write_struct_end();
            w.write_field_begin(TType::I32, 2);
            w.write_i32(4);
            w.write_field_stop();
            w.write_struct_end();
        });
        // Inner's field 5 is delta 5 from 0; outer's field 2 is delta 1 from 1.
        assert_eq!(&b[..], b"\x1c\x55\x06\x00\x15\x08\x00");
        let mut r = CompactReader::new(b);
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap().id, 1);
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap().id, 5);
        assert_eq!(r.read_i32().unwrap(), 3);
        assert_eq!(r.read_field_begin().unwrap().ttype, TType::Stop);
        r.read_struct_end().unwrap();
        let f = r.read_field_begin().unwrap();
        assert_eq!((f.ttype, f.id), (TType::I32, 2));
    }

    #[test]
    fn zigzag_varints() {
        let b = written(|w| {
            w.write_i32(0);
            w.write_i32(-1);
            w.write_i32(1);
            w.write_i32(-64);
            w.write_i32(63);
            w.write_i32(-65);
            w.write_i16(i16::MIN);
            w.write_i32(i32::MIN);
            w.write_i64(i64::MIN);
            w.write_i64(i64::MAX);
        });
        let mut want = vec![0x00, 0x01, 0x02, 0x7f, 0x7e, 0x81, 0x01];
        want.extend_from_slice(&[0xff, 0xff, 0x03]); // zigzag(-32768) = 65535
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        want.extend_from_slice(&[0xff; 9]);
        want.push(0x01); // zigzag(i64::MIN) = u64::MAX: 10 bytes
        want.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(&b[..], &want[..]);
        let mut r = CompactReader::new(b);
        for v in [0, -1, 1, -64, 63, -65] {
            assert_eq!(r.read_i32().unwrap(), v);
        }
        assert_eq!(r.read_i16().unwrap(), i16::MIN);
        assert_eq!(r.read_i32().unwrap(), i32::MIN);
        assert_eq!(r.read_i64().unwrap(), i64::MIN);
        assert_eq!(r.read_i64().unwrap(), i64::MAX);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn overlong_varints_are_rejected() {
        // Six bytes for 32 bits.
        assert_eq!(
            reader(b"\xff\xff\xff\xff\xff\x01").read_i32(),
            Err(Error::BadVarint)
        );
        // Five bytes, but bits above 32 set in the last one.
        assert_eq!(
            reader(b"\xff\xff\xff\xff\x1f").read_i32(),
            Err(Error::BadVarint)
        );
        // A redundant trailing zero byte (0 in two bytes).
        assert_eq!(reader(b"\x80\x00").read_i32(), Err(Error::BadVarint));
        // Eleven bytes for 64 bits, and bits above 64 in the tenth.
        assert_eq!(
            reader(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x01").read_i64(),
            Err(Error::BadVarint)
        );
        assert_eq!(
            reader(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03").read_i64(),
            Err(Error::BadVarint)
        );
        // An i16 out of range: zigzag 65536 is 32768.
        assert_eq!(reader(b"\x80\x80\x04").read_i16(), Err(Error::BadVarint));
        // Truncated: the continuation bit promises more.
        assert_eq!(
            reader(b"\x80").read_i32(),
            Err(Error::UnexpectedEof { needed: 1 })
        );
    }

    #[test]
    fn bool_fields_fold_into_the_header() {
        let b = written(|w| {
            w.write_struct_begin("S");
            w.write_field_begin(TType::Bool, 1);
            w.write_bool(true);
            w.write_field_end();
            w.write_field_begin(TType::Bool, 2);
            w.write_bool(false);
            w.write_field_end();
            w.write_field_begin(TType::Bool, 40);
            w.write_bool(true);
            w.write_field_end();
            w.write_field_stop();
            w.write_struct_end();
        });
        // BOOLEAN_TRUE (1) / BOOLEAN_FALSE (2) in the type nibble, no value
        // bytes; the long form (id 40) keeps the value in the type byte.
        assert_eq!(&b[..], b"\x11\x12\x01\x50\x00");
        let mut r = CompactReader::new(b);
        r.read_struct_begin().unwrap();
        for (id, v) in [(1, true), (2, false), (40, true)] {
            let f = r.read_field_begin().unwrap();
            assert_eq!((f.ttype, f.id), (TType::Bool, id));
            assert_eq!(r.read_bool().unwrap(), v);
            r.read_field_end().unwrap();
        }
        assert_eq!(r.read_field_begin().unwrap().ttype, TType::Stop);
    }

    #[test]
    fn skipping_a_bool_field_consumes_nothing_more() {
        let mut r = reader(b"\x12\x15\x02\x00");
        r.read_struct_begin().unwrap();
        let f = r.read_field_begin().unwrap();
        assert_eq!(f.ttype, TType::Bool);
        r.skip(f.ttype).unwrap();
        r.read_field_end().unwrap();
        let f = r.read_field_begin().unwrap();
        assert_eq!((f.ttype, f.id), (TType::I32, 2));
        assert_eq!(r.read_i32().unwrap(), 1);
    }

    #[test]
    fn bool_elements_are_one_byte() {
        let b = written(|w| {
            w.write_list_begin(TType::Bool, 2);
            w.write_bool(true);
            w.write_bool(false);
            w.write_list_end();
        });
        // Size 2, element type 1 (what Java and C++ write for bool); 1 / 2.
        assert_eq!(&b[..], b"\x21\x01\x02");
        let mut r = CompactReader::new(b);
        let l = r.read_list_begin().unwrap();
        assert_eq!((l.elem, l.len), (TType::Bool, 2));
        assert!(r.read_bool().unwrap());
        assert!(!r.read_bool().unwrap());
        // Element type 2 is bool too; the spec's 0 reads as false.
        let mut r = reader(b"\x22\x00\x01");
        assert_eq!(r.read_list_begin().unwrap().elem, TType::Bool);
        assert!(!r.read_bool().unwrap());
        assert!(r.read_bool().unwrap());
        assert_eq!(reader(b"\x03").read_bool(), Err(Error::InvalidType(3)));
    }

    #[test]
    fn list_and_set_headers() {
        let b = written(|w| {
            w.write_list_begin(TType::I32, 14);
            for i in 0..14 {
                w.write_i32(i);
            }
            w.write_set_begin(TType::Binary, 15);
            for _ in 0..15 {
                w.write_binary(b"");
            }
            w.write_list_begin(TType::Struct, 0);
        });
        assert_eq!(b[0], 0xe5, "short form: size 14, I32");
        assert_eq!(&b[15..17], b"\xf8\x0f", "long form: 0xF, BINARY, varint 15");
        assert_eq!(b[b.len() - 1], 0x0c, "empty list of structs");
        let mut r = CompactReader::new(b);
        let l = r.read_list_begin().unwrap();
        assert_eq!((l.elem, l.len), (TType::I32, 14));
        for i in 0..14 {
            assert_eq!(r.read_i32().unwrap(), i);
        }
        r.read_list_end().unwrap();
        let s = r.read_set_begin().unwrap();
        assert_eq!((s.elem, s.len), (TType::Binary, 15));
        for _ in 0..15 {
            assert!(r.read_binary().unwrap().is_empty());
        }
        r.read_set_end().unwrap();
        let l = r.read_list_begin().unwrap();
        assert_eq!((l.elem, l.len), (TType::Struct, 0));
        // The long form with a small size is accepted.
        let l = reader(b"\xf5\x01\x02").read_list_begin().unwrap();
        assert_eq!((l.elem, l.len), (TType::I32, 1));
    }

    #[test]
    fn map_headers() {
        let b = written(|w| {
            w.write_map_begin(TType::Binary, TType::I32, 0);
            w.write_map_begin(TType::Binary, TType::Bool, 1);
            w.write_string("a");
            w.write_bool(false);
        });
        // Empty: one zero byte, no types. Otherwise size, then kkkkvvvv.
        assert_eq!(&b[..], b"\x00\x01\x81\x01a\x02");
        let mut r = CompactReader::new(b);
        let m = r.read_map_begin().unwrap();
        assert_eq!((m.key, m.value, m.len), (TType::Stop, TType::Stop, 0));
        r.read_map_end().unwrap();
        let m = r.read_map_begin().unwrap();
        assert_eq!((m.key, m.value, m.len), (TType::Binary, TType::Bool, 1));
        assert_eq!(r.read_string().unwrap(), "a");
        assert!(!r.read_bool().unwrap());
        r.read_map_end().unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn scalars_layout() {
        let b = written(|w| {
            w.write_i8(-2);
            w.write_double(1.5);
            w.write_uuid(&[7; 16]);
            w.write_string("hi");
        });
        let mut want = vec![0xfe];
        want.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
        assert_eq!(&want[1..], b"\x00\x00\x00\x00\x00\x00\xf8\x3f");
        want.extend_from_slice(&[7; 16]);
        want.extend_from_slice(b"\x02hi");
        assert_eq!(&b[..], &want[..]);
        let mut r = CompactReader::new(b);
        assert_eq!(r.read_i8().unwrap(), -2);
        assert_eq!(r.read_double().unwrap(), 1.5);
        assert_eq!(r.read_uuid().unwrap(), [7; 16]);
        assert_eq!(r.read_string().unwrap(), "hi");
        assert_eq!(r.position(), 28);
    }

    #[test]
    fn uuid_field_type_is_13() {
        let b = written(|w| {
            w.write_struct_begin("S");
            w.write_field_begin(TType::Uuid, 1);
            w.write_uuid(&[1; 16]);
            w.write_field_stop();
            w.write_struct_end();
        });
        assert_eq!(b[0], 0x1d);
        assert_eq!(b.len(), 18);
    }

    #[test]
    fn invalid_type_nibbles() {
        let mut r = reader(b"\x1e\x00");
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin(), Err(Error::InvalidType(14)));
        assert_eq!(
            reader(b"\x10").read_list_begin(),
            Err(Error::InvalidType(0))
        );
        assert_eq!(
            reader(b"\x1f").read_set_begin(),
            Err(Error::InvalidType(15))
        );
        assert_eq!(
            reader(b"\x01\xf5\x00\x00").read_map_begin(),
            Err(Error::InvalidType(15))
        );
        assert_eq!(
            reader(b"\x01\x50\x00").read_map_begin(),
            Err(Error::InvalidType(0))
        );
    }

    #[test]
    fn a_stop_is_any_zero_type_nibble() {
        let mut r = reader(b"\x30");
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap().ttype, TType::Stop);
    }

    #[test]
    fn huge_counts_fail_before_allocating() {
        // A list claiming i32::MAX i64 elements in a 7-byte payload.
        assert!(matches!(
            reader(b"\xf6\xff\xff\xff\xff\x07\x00").read_list_begin(),
            Err(Error::SizeLimit { .. } | Error::UnexpectedEof { .. })
        ));
        // 100 doubles need 800 bytes.
        assert_eq!(
            reader(b"\xf7\x64\x00").read_list_begin(),
            Err(Error::UnexpectedEof { needed: 799 })
        );
        // A map of 3 entries, each at least 2 bytes, with 5 left.
        assert_eq!(
            reader(b"\x03\x55\x00\x00\x00\x00\x00").read_map_begin(),
            Err(Error::UnexpectedEof { needed: 1 })
        );
        // A length above i32::MAX is negative.
        assert_eq!(
            reader(b"\xff\xff\xff\xff\x0f").read_binary(),
            Err(Error::NegativeLength(-1))
        );
        assert_eq!(
            reader(b"\x05abc").read_binary(),
            Err(Error::UnexpectedEof { needed: 2 })
        );
        let limits = DecodeLimits {
            max_string_len: 2,
            max_container_len: 3,
            ..DecodeLimits::default()
        };
        let mut r = CompactReader::with_limits(Bytes::from_static(b"\x03abc"), limits);
        assert!(matches!(
            r.read_binary(),
            Err(Error::SizeLimit { len: 3, .. })
        ));
        let mut r = CompactReader::with_limits(Bytes::from_static(b"\x45\0\0\0\0"), limits);
        assert!(matches!(
            r.read_list_begin(),
            Err(Error::SizeLimit { len: 4, .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let limits = DecodeLimits {
            max_depth: 3,
            ..DecodeLimits::default()
        };
        let mut r = CompactReader::with_limits(Bytes::from_static(b"\x00\x19\x00"), limits);
        r.read_struct_begin().unwrap();
        r.read_map_begin().unwrap();
        r.read_list_begin().unwrap();
        assert_eq!(r.read_struct_begin(), Err(Error::DepthLimit(3)));
        // Skipping a deep nest of lists stops at the limit.
        let deep = Bytes::from(vec![0x19; 100]);
        let mut r = CompactReader::with_limits(deep, limits);
        assert_eq!(r.skip(TType::List), Err(Error::DepthLimit(3)));
    }

    #[test]
    fn deep_structs_keep_their_field_ids() {
        // Deeper than the inline part of the field-id stack.
        let depth = INLINE + 4;
        let b = written(|w| {
            for _ in 0..depth {
                w.write_struct_begin("S");
                w.write_field_begin(TType::I8, 3);
                w.write_i8(0);
                w.write_field_begin(TType::Struct, 9);
            }
            w.write_struct_begin("Leaf");
            w.write_field_stop();
            w.write_struct_end();
            for _ in 0..depth {
                w.write_field_begin(TType::I8, 10);
                w.write_i8(1);
                w.write_field_stop();
                w.write_struct_end();
            }
        });
        let mut r = CompactReader::new(b.clone());
        r.skip(TType::Struct).unwrap();
        assert_eq!(r.remaining(), 0);
        // Field 10 after field 9 is the one-byte delta form.
        assert_eq!(&b[b.len() - 3..], b"\x13\x01\x00");
    }

    #[test]
    fn decoded_string_points_into_the_payload() {
        let msg = "x".repeat(1024);
        let b = written(|w| w.write_string(&msg));
        let mut r = CompactReader::new(b.clone());
        let s = r.read_string().unwrap();
        assert_eq!(s.as_str(), msg);
        assert_eq!(&b[..2], b"\x80\x08", "varint 1024");
        assert_eq!(s.as_bytes().as_ptr(), b[2..].as_ptr(), "zero copy");
    }

    #[test]
    fn application_exception_layout() {
        let e = ApplicationException::new(ExceptionKind::UnknownMethod, "no");
        let mut out = LinkWriter::new();
        e.encode(&mut CompactWriter::new(&mut out));
        let bytes = out.to_vec();
        // field 1 BINARY "no", field 2 I32 zigzag(1), stop.
        assert_eq!(bytes, b"\x18\x02no\x15\x02\x00");
        let back =
            ApplicationException::decode(&mut CompactReader::new(Bytes::from(bytes))).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn field_id_overflow_wraps_without_panicking() {
        // Field 32767 (long form), then a delta of 1.
        let mut r = reader(b"\x05\xfe\xff\x03\x00\x15\x00\x00");
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap().id, i16::MAX);
        r.read_i32().unwrap();
        assert_eq!(r.read_field_begin().unwrap().id, i16::MIN);
    }

    #[test]
    fn unbalanced_struct_ends_do_not_panic() {
        let mut r = reader(b"");
        r.read_struct_end().unwrap();
        r.read_list_end().unwrap();
        let mut out = LinkWriter::new();
        let mut w = CompactWriter::new(&mut out);
        w.write_struct_end();
        w.write_field_begin(TType::I8, 1);
        assert_eq!(out.to_vec(), b"\x13");
    }
}
