//! Thrift binary and compact written into one contiguous `Vec<u8>`, with
//! container headers written once their element count is known.
//!
//! The codec's writers ([`ringrpc_codec::thrift::ProtocolWriter`]) need a
//! list's length before its elements, which a JSON array does not give. So
//! the generic encoders write here: a container's header is reserved at its
//! start and filled in at its end (binary: a fixed-size count, patched in
//! place; compact: the short header byte when the count fits in it, else
//! the count's varint is inserted after it, moving the elements once). The
//! bytes are the ones the codec's writers produce for the same values, as
//! the property tests against generated code check; the layouts are those
//! of `ringrpc_codec::thrift::{binary, compact}` (Apache Thrift's
//! `doc/specs/thrift-binary-protocol.md` and
//! `thrift-compact-protocol.md`).

use ringrpc_codec::thrift::{Protocol, TType};

/// Where a container's header waits for its count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    at: usize,
    key: TType,
    value: TType,
}

/// A point to go back to (a field whose value turned out to be `null`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rewind {
    len: usize,
    last_field_id: i16,
    pending_bool: Option<i16>,
}

/// A writer of one protocol into a `Vec<u8>`.
pub(crate) trait Wire {
    /// The protocol written.
    #[cfg_attr(not(test), allow(dead_code))]
    const PROTOCOL: Protocol;
    /// The bytes written so far.
    fn out(&mut self) -> &mut Vec<u8>;
    /// Starts a struct.
    fn struct_begin(&mut self);
    /// Writes the stop field and ends a struct.
    fn struct_end(&mut self);
    /// Writes a field header (a compact `bool` field's waits for its value).
    fn field_begin(&mut self, ttype: TType, id: i16);
    /// Where the writer is, to [`rewind`](Self::rewind) to.
    fn mark(&mut self) -> Rewind;
    /// Drops everything written since `to`.
    fn rewind(&mut self, to: Rewind);
    fn bool(&mut self, v: bool);
    fn i8(&mut self, v: i8);
    fn i16(&mut self, v: i16);
    fn i32(&mut self, v: i32);
    fn i64(&mut self, v: i64);
    fn double(&mut self, v: f64);
    fn uuid(&mut self, v: &[u8; 16]);
    /// A length prefix for `len` bytes of binary that follow.
    fn binary_len(&mut self, len: usize);
    fn binary(&mut self, v: &[u8]) {
        self.binary_len(v.len());
        self.out().extend_from_slice(v);
    }
    /// Starts a list or set of `elem`.
    fn list_begin(&mut self, elem: TType) -> Mark;
    /// Ends a list or set of `count` elements.
    fn list_end(&mut self, m: Mark, count: usize);
    /// Starts a map.
    fn map_begin(&mut self, key: TType, value: TType) -> Mark;
    /// Ends a map of `count` entries.
    fn map_end(&mut self, m: Mark, count: usize);
}

/// `TBinaryProtocol`.
#[derive(Debug, Default)]
pub(crate) struct BinaryOut {
    pub(crate) buf: Vec<u8>,
}

impl Wire for BinaryOut {
    const PROTOCOL: Protocol = Protocol::Binary;
    #[inline]
    fn out(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    #[inline]
    fn struct_begin(&mut self) {}
    #[inline]
    fn struct_end(&mut self) {
        self.buf.push(0);
    }
    #[inline]
    fn field_begin(&mut self, ttype: TType, id: i16) {
        let [a, b] = id.to_be_bytes();
        self.buf.extend_from_slice(&[ttype as u8, a, b]);
    }
    #[inline]
    fn mark(&mut self) -> Rewind {
        Rewind {
            len: self.buf.len(),
            last_field_id: 0,
            pending_bool: None,
        }
    }
    #[inline]
    fn rewind(&mut self, to: Rewind) {
        self.buf.truncate(to.len);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    #[inline]
    fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    #[inline]
    fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    #[inline]
    fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }
    #[inline]
    fn binary_len(&mut self, len: usize) {
        self.buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    #[inline]
    fn list_begin(&mut self, elem: TType) -> Mark {
        self.buf.push(elem as u8);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        Mark {
            at,
            key: elem,
            value: elem,
        }
    }
    #[inline]
    fn list_end(&mut self, m: Mark, count: usize) {
        self.buf[m.at..m.at + 4].copy_from_slice(&(count as u32).to_be_bytes());
    }
    #[inline]
    fn map_begin(&mut self, key: TType, value: TType) -> Mark {
        self.buf.extend_from_slice(&[key as u8, value as u8]);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        Mark { at, key, value }
    }
    #[inline]
    fn map_end(&mut self, m: Mark, count: usize) {
        self.list_end(m, count)
    }
}

/// The compact type id of a type (as `ringrpc_codec::thrift::compact`
/// writes it: a `bool` element type is `1`).
#[inline]
fn compact_type(t: TType) -> u8 {
    match t {
        TType::Stop | TType::Void => 0,
        TType::Bool => 1,
        TType::I8 => 3,
        TType::I16 => 4,
        TType::I32 => 5,
        TType::I64 => 6,
        TType::Double => 7,
        TType::Binary => 8,
        TType::List => 9,
        TType::Set => 10,
        TType::Map => 11,
        TType::Struct => 12,
        TType::Uuid => 13,
    }
}

#[inline]
fn zigzag64(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// `v` as a LEB128 varint into `buf`; returns its length.
#[inline]
fn varint_into(buf: &mut [u8; 10], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// `TCompactProtocol`.
#[derive(Debug)]
pub(crate) struct CompactOut {
    pub(crate) buf: Vec<u8>,
    last_field_id: i16,
    /// `last_field_id` of each enclosing struct: the first levels in
    /// place, deeper ones spilled (so the usual shallow messages allocate
    /// nothing but their output).
    field_ids: [i16; INLINE],
    spill: Vec<i16>,
    depth: usize,
    pending_bool: Option<i16>,
}

const INLINE: usize = 16;

impl Default for CompactOut {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            last_field_id: 0,
            field_ids: [0; INLINE],
            spill: Vec::new(),
            depth: 0,
            pending_bool: None,
        }
    }
}

impl CompactOut {
    #[inline]
    fn varint(&mut self, v: u64) {
        let mut b = [0u8; 10];
        let n = varint_into(&mut b, v);
        self.buf.extend_from_slice(&b[..n]);
    }

    #[inline]
    fn field_header(&mut self, compact: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last_field_id);
        if (1..=15).contains(&delta) {
            self.buf.push((delta as u8) << 4 | compact);
        } else {
            self.buf.push(compact);
            self.varint(zigzag64(i64::from(id)));
        }
        self.last_field_id = id;
    }

    /// A writer appending to `buf`.
    pub(crate) fn with(buf: Vec<u8>) -> Self {
        Self {
            buf,
            ..Self::default()
        }
    }
}

impl Wire for CompactOut {
    const PROTOCOL: Protocol = Protocol::Compact;
    #[inline]
    fn out(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    #[inline]
    fn struct_begin(&mut self) {
        if self.depth < INLINE {
            self.field_ids[self.depth] = self.last_field_id;
        } else {
            self.spill.push(self.last_field_id);
        }
        self.depth += 1;
        self.last_field_id = 0;
    }
    #[inline]
    fn struct_end(&mut self) {
        self.buf.push(0);
        self.depth = self.depth.saturating_sub(1);
        self.last_field_id = if self.depth < INLINE {
            self.field_ids[self.depth]
        } else {
            self.spill.pop().unwrap_or(0)
        };
    }
    #[inline]
    fn field_begin(&mut self, ttype: TType, id: i16) {
        if ttype == TType::Bool {
            self.pending_bool = Some(id);
        } else {
            self.field_header(compact_type(ttype), id);
        }
    }
    #[inline]
    fn mark(&mut self) -> Rewind {
        Rewind {
            len: self.buf.len(),
            last_field_id: self.last_field_id,
            pending_bool: self.pending_bool,
        }
    }
    #[inline]
    fn rewind(&mut self, to: Rewind) {
        self.buf.truncate(to.len);
        self.last_field_id = to.last_field_id;
        self.pending_bool = to.pending_bool;
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        let t = if v { 1 } else { 2 };
        match self.pending_bool.take() {
            Some(id) => self.field_header(t, id),
            None => self.buf.push(t),
        }
    }
    #[inline]
    fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    #[inline]
    fn i16(&mut self, v: i16) {
        self.varint(zigzag64(i64::from(v)));
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        // zigzag of an i32 as the codec writes it (32-bit zigzag).
        self.varint(u64::from(((v << 1) ^ (v >> 31)) as u32));
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.varint(zigzag64(v));
    }
    #[inline]
    fn double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    #[inline]
    fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }
    #[inline]
    fn binary_len(&mut self, len: usize) {
        self.varint(u64::from(len as u32));
    }
    #[inline]
    fn list_begin(&mut self, elem: TType) -> Mark {
        let at = self.buf.len();
        self.buf.push(compact_type(elem));
        Mark {
            at,
            key: elem,
            value: elem,
        }
    }
    fn list_end(&mut self, m: Mark, count: usize) {
        let t = compact_type(m.key);
        if count < 15 {
            self.buf[m.at] = (count as u8) << 4 | t;
        } else {
            self.buf[m.at] = 0xf0 | t;
            let mut b = [0u8; 10];
            let n = varint_into(&mut b, u64::from(count as u32));
            self.buf.splice(m.at + 1..m.at + 1, b[..n].iter().copied());
        }
    }
    #[inline]
    fn map_begin(&mut self, key: TType, value: TType) -> Mark {
        let at = self.buf.len();
        // Room for a one-byte count and the key/value types byte.
        self.buf.extend_from_slice(&[0, 0]);
        Mark { at, key, value }
    }
    fn map_end(&mut self, m: Mark, count: usize) {
        if count == 0 {
            // An empty map is one zero byte (nothing was written after it).
            self.buf.truncate(m.at + 1);
            self.buf[m.at] = 0;
            return;
        }
        let kv = compact_type(m.key) << 4 | compact_type(m.value);
        let mut b = [0u8; 10];
        let n = varint_into(&mut b, u64::from(count as u32));
        if n == 1 {
            self.buf[m.at] = b[0];
            self.buf[m.at + 1] = kv;
        } else {
            b[n] = kv;
            self.buf.splice(m.at..m.at + 2, b[..=n].iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ringrpc_codec::buffer::LinkWriter;
    use ringrpc_codec::thrift::{BinaryWriter, CompactWriter, ProtocolWriter};

    use super::*;

    /// The same values through the codec's writer and through `W`.
    fn same_as_codec<W: Wire + Default>(
        take: impl Fn(W) -> Vec<u8>,
        counts: &[usize],
        map_count: usize,
    ) {
        fn codec_side<P: ProtocolWriter>(w: &mut P, counts: &[usize], map_count: usize) {
            w.write_struct_begin("S");
            w.write_field_begin(TType::Bool, 1);
            w.write_bool(false);
            for (i, &n) in counts.iter().enumerate() {
                w.write_field_begin(TType::List, 40 + i as i16);
                w.write_list_begin(TType::I64, n);
                for k in 0..n {
                    w.write_i64(k as i64 - 3);
                }
                w.write_list_end();
            }
            w.write_field_begin(TType::Map, 2);
            w.write_map_begin(TType::I32, TType::Bool, map_count);
            for k in 0..map_count {
                w.write_i32(k as i32);
                w.write_bool(k % 2 == 0);
            }
            w.write_map_end();
            w.write_field_begin(TType::Double, -7);
            w.write_double(1.5);
            w.write_field_stop();
            w.write_struct_end();
        }
        let mut lw = LinkWriter::new();
        match W::PROTOCOL {
            Protocol::Binary => codec_side(&mut BinaryWriter::new(&mut lw), counts, map_count),
            Protocol::Compact => codec_side(&mut CompactWriter::new(&mut lw), counts, map_count),
        }
        let mut w = W::default();
        w.struct_begin();
        w.field_begin(TType::Bool, 1);
        w.bool(false);
        for (i, &n) in counts.iter().enumerate() {
            w.field_begin(TType::List, 40 + i as i16);
            let m = w.list_begin(TType::I64);
            for k in 0..n {
                w.i64(k as i64 - 3);
            }
            w.list_end(m, n);
        }
        w.field_begin(TType::Map, 2);
        let m = w.map_begin(TType::I32, TType::Bool);
        for k in 0..map_count {
            w.i32(k as i32);
            w.bool(k % 2 == 0);
        }
        w.map_end(m, map_count);
        w.field_begin(TType::Double, -7);
        w.double(1.5);
        w.struct_end();
        assert_eq!(
            Bytes::from(take(w)),
            Bytes::from(lw.to_vec()),
            "{counts:?} {map_count}"
        );
    }

    #[test]
    fn headers_filled_late_match_the_codec() {
        for counts in [&[][..], &[0], &[14], &[15, 1], &[200, 0, 16_400]] {
            for map_count in [0, 1, 127, 128, 20_000] {
                same_as_codec(|w: BinaryOut| w.buf, counts, map_count);
                same_as_codec(|w: CompactOut| w.buf, counts, map_count);
            }
        }
    }
}
