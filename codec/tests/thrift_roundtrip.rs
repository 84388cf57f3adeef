//! Property tests of the Thrift protocols, binary and compact alike: round
//! trips of a struct with every Thrift type, skipping of unknown fields, an
//! in-memory client/server `Pair` (no sockets), truncation, hostile bytes,
//! and zero-copy decoding.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use bytes::Bytes;
use proptest::prelude::*;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, CompactReader, CompactWriter, ExceptionKind,
    Message, MessageIdent, MessageType, ProtocolReader, ProtocolWriter, TType, Utf8Bytes,
};
use ringrpc_codec::{Error, Result};

// ---------------------------------------------------------------------------
// The two protocols behind one trait, so each test runs on both.

/// A Thrift protocol: how to read it and how to write it.
trait Proto {
    type R: ProtocolReader;
    type W<'a>: ProtocolWriter;
    fn reader(b: Bytes) -> Self::R;
    fn writer(out: &mut LinkWriter) -> Self::W<'_>;
}

struct Binary;
struct Compact;

impl Proto for Binary {
    type R = BinaryReader;
    type W<'a> = BinaryWriter<'a>;
    fn reader(b: Bytes) -> BinaryReader {
        BinaryReader::new(b)
    }
    fn writer(out: &mut LinkWriter) -> BinaryWriter<'_> {
        BinaryWriter::new(out)
    }
}

impl Proto for Compact {
    type R = CompactReader;
    type W<'a> = CompactWriter<'a>;
    fn reader(b: Bytes) -> CompactReader {
        CompactReader::new(b)
    }
    fn writer(out: &mut LinkWriter) -> CompactWriter<'_> {
        CompactWriter::new(out)
    }
}

/// Runs `f` against a fresh writer of `P` and returns the bytes, contiguous.
fn written<P: Proto>(f: impl FnOnce(&mut P::W<'_>)) -> Bytes {
    let mut out = LinkWriter::new();
    f(&mut P::writer(&mut out));
    Bytes::from(out.to_vec())
}

fn encode<P: Proto, M: Message>(m: &M) -> Bytes {
    written::<P>(|w| m.encode(w))
}

/// Decodes a whole `M` from `b`; the bytes must be used up exactly.
fn decode<P: Proto, M: Message>(b: Bytes) -> Result<M> {
    let mut r = P::reader(b);
    let m = M::decode(&mut r)?;
    assert_eq!(r.remaining(), 0, "decode left bytes behind");
    Ok(m)
}

// ---------------------------------------------------------------------------
// Helpers for containers, as generated code would write them.

fn write_list<W: ProtocolWriter, T>(
    w: &mut W,
    elem: TType,
    items: impl ExactSizeIterator<Item = T>,
    mut f: impl FnMut(&mut W, T),
) {
    w.write_list_begin(elem, items.len());
    for it in items {
        f(w, it);
    }
    w.write_list_end();
}

/// An element type other than the declared one (a non-empty container only:
/// an empty compact map carries no types).
fn check_elem(len: usize, got: TType, want: TType) -> Result<()> {
    if len > 0 && got != want {
        return Err(Error::InvalidType(got as u8));
    }
    Ok(())
}

fn read_list<R: ProtocolReader, T>(
    r: &mut R,
    elem: TType,
    mut f: impl FnMut(&mut R) -> Result<T>,
) -> Result<Vec<T>> {
    let l = r.read_list_begin()?;
    check_elem(l.len, l.elem, elem)?;
    // `l.len` is checked against the bytes present: safe to size by.
    let mut v = Vec::with_capacity(l.len);
    for _ in 0..l.len {
        v.push(f(r)?);
    }
    r.read_list_end()?;
    Ok(v)
}

// ---------------------------------------------------------------------------
// The test structs.

/// A `double` compared by its bits, so NaN round trips compare equal.
#[derive(Debug, Clone, Copy, Default)]
struct Real(f64);

impl PartialEq for Real {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

/// A small nested struct.
#[derive(Debug, Clone, Default, PartialEq)]
struct Item {
    id: i64,
    name: Utf8Bytes,
    on_sale: bool,
}

impl Message for Item {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("Item");
        w.write_field_begin(TType::I64, 1);
        w.write_i64(self.id);
        w.write_field_end();
        w.write_field_begin(TType::Binary, 2);
        w.write_string(&self.name);
        w.write_field_end();
        w.write_field_begin(TType::Bool, 3);
        w.write_bool(self.on_sale);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut v = Item::default();
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::I64) => v.id = r.read_i64()?,
                (2, TType::Binary) => v.name = r.read_string()?,
                (3, TType::Bool) => v.on_sale = r.read_bool()?,
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(v)
    }
}

/// One field of every Thrift type, plus optional fields (one at a far id
/// for compact's long form, one at a negative id).
#[derive(Debug, Clone, Default, PartialEq)]
struct Everything {
    flag: bool,                             // 1
    byte: i8,                               // 2
    short: i16,                             // 3
    int: i32,                               // 4
    long: i64,                              // 5
    real: Real,                             // 6
    text: Utf8Bytes,                        // 7 string
    blob: Bytes,                            // 8 binary
    uuid: [u8; 16],                         // 9
    item: Item,                             // 10
    ints: Vec<i32>,                         // 11 list<i32>
    names: Vec<Utf8Bytes>,                  // 12 list<string>
    longs: BTreeSet<i64>,                   // 13 set<i64>
    groups: BTreeMap<Utf8Bytes, Vec<Item>>, // 14 map<string, list<Item>>
    flags: Vec<bool>,                       // 15 list<bool>
    maybe_int: Option<i32>,                 // 16
    maybe_item: Option<Item>,               // 17
    maybe_text: Option<Utf8Bytes>,          // 300
    maybe_flag: Option<bool>,               // -1
}

impl Everything {
    /// Writes the fields, each id moved by `shift` (to write them again as
    /// unknown fields of another struct).
    fn encode_fields<W: ProtocolWriter>(&self, w: &mut W, shift: i16) {
        let field = |w: &mut W, t: TType, id: i16, f: &mut dyn FnMut(&mut W)| {
            w.write_field_begin(t, id.wrapping_add(shift));
            f(w);
            w.write_field_end();
        };
        field(w, TType::Bool, 1, &mut |w| w.write_bool(self.flag));
        field(w, TType::I8, 2, &mut |w| w.write_i8(self.byte));
        field(w, TType::I16, 3, &mut |w| w.write_i16(self.short));
        field(w, TType::I32, 4, &mut |w| w.write_i32(self.int));
        field(w, TType::I64, 5, &mut |w| w.write_i64(self.long));
        field(w, TType::Double, 6, &mut |w| w.write_double(self.real.0));
        field(w, TType::Binary, 7, &mut |w| w.write_string(&self.text));
        field(w, TType::Binary, 8, &mut |w| {
            w.write_bytes(self.blob.clone())
        });
        field(w, TType::Uuid, 9, &mut |w| w.write_uuid(&self.uuid));
        field(w, TType::Struct, 10, &mut |w| self.item.encode(w));
        field(w, TType::List, 11, &mut |w| {
            write_list(w, TType::I32, self.ints.iter(), |w, v| w.write_i32(*v))
        });
        field(w, TType::List, 12, &mut |w| {
            write_list(w, TType::Binary, self.names.iter(), |w, v| {
                w.write_string(v)
            })
        });
        field(w, TType::Set, 13, &mut |w| {
            w.write_set_begin(TType::I64, self.longs.len());
            for v in &self.longs {
                w.write_i64(*v);
            }
            w.write_set_end();
        });
        field(w, TType::Map, 14, &mut |w| {
            w.write_map_begin(TType::Binary, TType::List, self.groups.len());
            for (k, items) in &self.groups {
                w.write_string(k);
                write_list(w, TType::Struct, items.iter(), |w, it| it.encode(w));
            }
            w.write_map_end();
        });
        field(w, TType::List, 15, &mut |w| {
            write_list(w, TType::Bool, self.flags.iter(), |w, v| w.write_bool(*v))
        });
        if let Some(v) = self.maybe_int {
            field(w, TType::I32, 16, &mut |w| w.write_i32(v));
        }
        if let Some(v) = &self.maybe_item {
            field(w, TType::Struct, 17, &mut |w| v.encode(w));
        }
        if let Some(v) = &self.maybe_text {
            field(w, TType::Binary, 300, &mut |w| w.write_string(v));
        }
        if let Some(v) = self.maybe_flag {
            field(w, TType::Bool, -1, &mut |w| w.write_bool(v));
        }
    }
}

impl Message for Everything {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("Everything");
        self.encode_fields(w, 0);
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut v = Everything::default();
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::Bool) => v.flag = r.read_bool()?,
                (2, TType::I8) => v.byte = r.read_i8()?,
                (3, TType::I16) => v.short = r.read_i16()?,
                (4, TType::I32) => v.int = r.read_i32()?,
                (5, TType::I64) => v.long = r.read_i64()?,
                (6, TType::Double) => v.real = Real(r.read_double()?),
                (7, TType::Binary) => v.text = r.read_string()?,
                (8, TType::Binary) => v.blob = r.read_binary()?,
                (9, TType::Uuid) => v.uuid = r.read_uuid()?,
                (10, TType::Struct) => v.item = Item::decode(r)?,
                (11, TType::List) => v.ints = read_list(r, TType::I32, |r| r.read_i32())?,
                (12, TType::List) => v.names = read_list(r, TType::Binary, |r| r.read_string())?,
                (13, TType::Set) => {
                    let s = r.read_set_begin()?;
                    check_elem(s.len, s.elem, TType::I64)?;
                    for _ in 0..s.len {
                        v.longs.insert(r.read_i64()?);
                    }
                    r.read_set_end()?;
                }
                (14, TType::Map) => {
                    let m = r.read_map_begin()?;
                    check_elem(m.len, m.key, TType::Binary)?;
                    check_elem(m.len, m.value, TType::List)?;
                    for _ in 0..m.len {
                        let k = r.read_string()?;
                        let items = read_list(r, TType::Struct, Item::decode)?;
                        v.groups.insert(k, items);
                    }
                    r.read_map_end()?;
                }
                (15, TType::List) => v.flags = read_list(r, TType::Bool, |r| r.read_bool())?,
                (16, TType::I32) => v.maybe_int = Some(r.read_i32()?),
                (17, TType::Struct) => v.maybe_item = Some(Item::decode(r)?),
                (300, TType::Binary) => v.maybe_text = Some(r.read_string()?),
                (-1, TType::Bool) => v.maybe_flag = Some(r.read_bool()?),
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(v)
    }
}

/// Knows four of `Everything`'s fields; everything else is unknown to it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Small {
    int: i32,                               // 4
    text: Utf8Bytes,                        // 7
    item: Item,                             // 10
    groups: BTreeMap<Utf8Bytes, Vec<Item>>, // 14
}

impl Small {
    fn of(e: &Everything) -> Self {
        Small {
            int: e.int,
            text: e.text.clone(),
            item: e.item.clone(),
            groups: e.groups.clone(),
        }
    }
}

impl Message for Small {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        // Written as part of `Padded`; on its own it is `Everything`'s subset.
        let e = Everything {
            int: self.int,
            text: self.text.clone(),
            item: self.item.clone(),
            groups: self.groups.clone(),
            ..Everything::default()
        };
        e.encode(w);
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut v = Small::default();
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (4, TType::I32) => v.int = r.read_i32()?,
                (7, TType::Binary) => v.text = r.read_string()?,
                (10, TType::Struct) => v.item = Item::decode(r)?,
                (14, TType::Map) => {
                    let m = r.read_map_begin()?;
                    check_elem(m.len, m.key, TType::Binary)?;
                    check_elem(m.len, m.value, TType::List)?;
                    for _ in 0..m.len {
                        let k = r.read_string()?;
                        let items = read_list(r, TType::Struct, Item::decode)?;
                        v.groups.insert(k, items);
                    }
                    r.read_map_end()?;
                }
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(v)
    }
}

/// `Small`'s fields with unknown fields of every type before, between and
/// after them: a newer peer's struct, as an older reader sees it.
#[derive(Debug, Clone)]
struct Padded {
    known: Small,
    noise: Everything,
}

impl Padded {
    /// Unknown fields of the types `Everything` lacks in nesting: containers
    /// of containers, bool sets and maps, empty containers, doubles and uuids
    /// as elements, a struct inside a list inside a map.
    fn write_odd_fields<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_field_begin(TType::List, 200);
        write_list(w, TType::List, 0..3, |w, n| {
            write_list(w, TType::I32, 0..n, |w, v| w.write_i32(v - 1))
        });
        w.write_field_end();
        w.write_field_begin(TType::Set, 201);
        w.write_set_begin(TType::Bool, 2);
        w.write_bool(false);
        w.write_bool(true);
        w.write_set_end();
        w.write_field_end();
        w.write_field_begin(TType::Map, 202);
        w.write_map_begin(TType::I32, TType::Map, 2);
        for k in 0..2 {
            w.write_i32(k);
            w.write_map_begin(TType::Binary, TType::List, k as usize);
            for _ in 0..k {
                w.write_string(&self.noise.text);
                write_list(w, TType::Bool, self.noise.flags.iter(), |w, b| {
                    w.write_bool(*b)
                });
            }
            w.write_map_end();
        }
        w.write_map_end();
        w.write_field_end();
        w.write_field_begin(TType::Map, 203);
        w.write_map_begin(TType::Binary, TType::Double, 0);
        w.write_map_end();
        w.write_field_end();
        w.write_field_begin(TType::List, -300);
        write_list(w, TType::Double, 0..2, |w, v| w.write_double(v as f64));
        w.write_field_end();
        w.write_field_begin(TType::Set, 9999);
        write_list(w, TType::Uuid, 0..2, |w, v| w.write_uuid(&[v; 16]));
        w.write_field_end();
        w.write_field_begin(TType::Map, 204);
        w.write_map_begin(TType::Bool, TType::Struct, 1);
        w.write_bool(true);
        self.noise.item.encode(w);
        w.write_map_end();
        w.write_field_end();
        w.write_field_begin(TType::Struct, 205);
        w.write_struct_begin("Empty");
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_end();
        w.write_field_begin(TType::I8, 206);
        w.write_i8(self.noise.byte);
        w.write_field_end();
    }
}

impl Message for Padded {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("Padded");
        self.noise.encode_fields(w, 100);
        w.write_field_begin(TType::I32, 4);
        w.write_i32(self.known.int);
        w.write_field_end();
        w.write_field_begin(TType::Binary, 7);
        w.write_string(&self.known.text);
        w.write_field_end();
        self.write_odd_fields(w);
        w.write_field_begin(TType::Struct, 10);
        self.known.item.encode(w);
        w.write_field_end();
        self.noise.encode_fields(w, -1000);
        w.write_field_begin(TType::Map, 14);
        w.write_map_begin(TType::Binary, TType::List, self.known.groups.len());
        for (k, items) in &self.known.groups {
            w.write_string(k);
            write_list(w, TType::Struct, items.iter(), |w, it| it.encode(w));
        }
        w.write_map_end();
        w.write_field_end();
        self.noise.encode_fields(w, 1000);
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(_: &mut R) -> Result<Self> {
        unreachable!("only written: an older reader decodes it as `Small`")
    }
}

// ---------------------------------------------------------------------------
// Strategies.

fn utf8(max: usize) -> impl Strategy<Value = Utf8Bytes> {
    proptest::string::string_regex(&format!("\\PC{{0,{max}}}"))
        .expect("a valid regex")
        .prop_map(Utf8Bytes::from)
}

fn item() -> impl Strategy<Value = Item> {
    (any::<i64>(), utf8(12), any::<bool>()).prop_map(|(id, name, on_sale)| Item {
        id,
        name,
        on_sale,
    })
}

fn scalars() -> impl Strategy<Value = Everything> {
    (
        any::<bool>(),
        any::<i8>(),
        any::<i16>(),
        any::<i32>(),
        any::<i64>(),
        any::<f64>(),
        utf8(24),
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<[u8; 16]>(),
        item(),
    )
        .prop_map(
            |(flag, byte, short, int, long, real, text, blob, uuid, item)| Everything {
                flag,
                byte,
                short,
                int,
                long,
                real: Real(real),
                text,
                blob: Bytes::from(blob),
                uuid,
                item,
                ..Everything::default()
            },
        )
}

fn everything() -> impl Strategy<Value = Everything> {
    use proptest::collection::{btree_map, btree_set, vec};
    (
        scalars(),
        vec(any::<i32>(), 0..20),
        vec(utf8(8), 0..6),
        btree_set(any::<i64>(), 0..20),
        btree_map(utf8(6), vec(item(), 0..4), 0..4),
        vec(any::<bool>(), 0..20),
        proptest::option::of(any::<i32>()),
        proptest::option::of(item()),
        proptest::option::of(utf8(8)),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(e, ints, names, longs, groups, flags, mi, mit, mt, mf)| Everything {
                ints,
                names,
                longs,
                groups,
                flags,
                maybe_int: mi,
                maybe_item: mit,
                maybe_text: mt,
                maybe_flag: mf,
                ..e
            },
        )
}

// ---------------------------------------------------------------------------
// Round trips and skipping.

fn round_trips<P: Proto>(e: &Everything) {
    let b = encode::<P, _>(e);
    let back: Everything = decode::<P, _>(b.clone()).expect("decodes");
    assert_eq!(&back, e);
    // Skipping the whole struct consumes exactly its encoding.
    let mut r = P::reader(b);
    r.skip(TType::Struct).expect("skips");
    assert_eq!(r.remaining(), 0);
}

fn skips_unknown_fields<P: Proto>(e: &Everything, noise: &Everything) {
    // Everything's extra fields are unknown to Small.
    let small: Small = decode::<P, _>(encode::<P, _>(e)).expect("decodes");
    assert_eq!(small, Small::of(e));
    // Unknown fields of every type around and between the known ones.
    let padded = Padded {
        known: Small::of(e),
        noise: noise.clone(),
    };
    let small: Small = decode::<P, _>(encode::<P, _>(&padded)).expect("decodes");
    assert_eq!(small, padded.known);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn binary_round_trips(e in everything()) {
        round_trips::<Binary>(&e);
    }

    #[test]
    fn compact_round_trips(e in everything()) {
        round_trips::<Compact>(&e);
    }

    #[test]
    fn binary_skips_unknown_fields(e in everything(), noise in everything()) {
        skips_unknown_fields::<Binary>(&e, &noise);
    }

    #[test]
    fn compact_skips_unknown_fields(e in everything(), noise in everything()) {
        skips_unknown_fields::<Compact>(&e, &noise);
    }
}

#[test]
fn compact_is_smaller_than_binary_for_small_numbers() {
    let e = Everything {
        ints: (0..10).collect(),
        ..Everything::default()
    };
    assert!(encode::<Compact, _>(&e).len() < encode::<Binary, _>(&e).len());
}

// ---------------------------------------------------------------------------
// The Pair: a client and a server wired together in memory.

/// `getItem(1: Everything req) -> Item`'s arguments.
#[derive(Debug, Clone, Default, PartialEq)]
struct GetItemArgs {
    req: Everything,
}

impl Message for GetItemArgs {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("getItem_args");
        w.write_field_begin(TType::Struct, 1);
        self.req.encode(w);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut v = GetItemArgs::default();
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::Struct) => v.req = Everything::decode(r)?,
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(v)
    }
}

/// `getItem`'s result: field 0 `success`.
#[derive(Debug, Clone, Default, PartialEq)]
struct GetItemResult {
    success: Option<Item>,
}

impl Message for GetItemResult {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("getItem_result");
        if let Some(it) = &self.success {
            w.write_field_begin(TType::Struct, 0);
            it.encode(w);
            w.write_field_end();
        }
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut v = GetItemResult::default();
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (0, TType::Struct) => v.success = Some(Item::decode(r)?),
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(v)
    }
}

/// What the client got back.
#[derive(Debug, PartialEq)]
enum Outcome {
    Reply(GetItemResult),
    Exception(ApplicationException),
}

/// Client encoder → server decoder → server encoder → client decoder, all
/// in memory. The bytes of each hop are kept for inspection.
struct Pair<P: Proto> {
    to_server: Bytes,
    to_client: Bytes,
    _proto: PhantomData<P>,
}

impl<P: Proto> Pair<P> {
    fn new() -> Self {
        Pair {
            to_server: Bytes::new(),
            to_client: Bytes::new(),
            _proto: PhantomData,
        }
    }

    /// The client encodes a call.
    fn client_call(&mut self, method: &'static str, seqid: i32, args: &GetItemArgs) {
        self.to_server = written::<P>(|w| {
            w.write_message_begin(&MessageIdent::new(
                Utf8Bytes::from_static(method),
                MessageType::Call,
                seqid,
            ));
            args.encode(w);
            w.write_message_end();
        });
    }

    /// The server decodes the call, runs the handler (the request's item
    /// with its id doubled) and encodes the reply.
    fn server_serve(&mut self) -> Result<()> {
        let mut r = P::reader(self.to_server.clone());
        let call = r.read_message_begin()?;
        assert_eq!(call.msg_type, MessageType::Call);
        self.to_client = if call.name == "getItem" {
            let args = GetItemArgs::decode(&mut r)?;
            r.read_message_end()?;
            assert_eq!(r.remaining(), 0);
            let mut item = args.req.item;
            item.id = item.id.wrapping_mul(2);
            let result = GetItemResult {
                success: Some(item),
            };
            written::<P>(|w| {
                w.write_message_begin(&MessageIdent::new(
                    call.name.clone(),
                    MessageType::Reply,
                    call.seqid,
                ));
                result.encode(w);
                w.write_message_end();
            })
        } else {
            r.skip(TType::Struct)?;
            let e = ApplicationException::new(
                ExceptionKind::UnknownMethod,
                format!("unknown method {}", call.name),
            );
            written::<P>(|w| {
                w.write_message_begin(&MessageIdent::new(
                    call.name.clone(),
                    MessageType::Exception,
                    call.seqid,
                ));
                e.encode(w);
                w.write_message_end();
            })
        };
        Ok(())
    }

    /// The client decodes the reply and matches it to its call.
    fn client_receive(&self, method: &str, seqid: i32) -> Result<Outcome> {
        let mut r = P::reader(self.to_client.clone());
        let reply = r.read_message_begin()?;
        assert_eq!(reply.name, method);
        assert_eq!(reply.seqid, seqid);
        let outcome = match reply.msg_type {
            MessageType::Reply => Outcome::Reply(GetItemResult::decode(&mut r)?),
            MessageType::Exception => Outcome::Exception(ApplicationException::decode(&mut r)?),
            other => panic!("unexpected reply type {other:?}"),
        };
        r.read_message_end()?;
        assert_eq!(r.remaining(), 0);
        Ok(outcome)
    }
}

fn pair_calls<P: Proto>(req: Everything, seqid: i32) {
    let mut pair = Pair::<P>::new();
    let want = Item {
        id: req.item.id.wrapping_mul(2),
        ..req.item.clone()
    };
    pair.client_call("getItem", seqid, &GetItemArgs { req });
    pair.server_serve().expect("server decodes the call");
    assert_eq!(
        pair.client_receive("getItem", seqid)
            .expect("client decodes the reply"),
        Outcome::Reply(GetItemResult {
            success: Some(want)
        })
    );
}

fn pair_unknown_method<P: Proto>() {
    let mut pair = Pair::<P>::new();
    pair.client_call("putItem", -7, &GetItemArgs::default());
    pair.server_serve().expect("server decodes the call");
    assert_eq!(
        pair.client_receive("putItem", -7)
            .expect("client decodes the exception"),
        Outcome::Exception(ApplicationException::new(
            ExceptionKind::UnknownMethod,
            "unknown method putItem"
        ))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn binary_pair_call_and_reply(req in everything(), seqid in any::<i32>()) {
        pair_calls::<Binary>(req, seqid);
    }

    #[test]
    fn compact_pair_call_and_reply(req in everything(), seqid in any::<i32>()) {
        pair_calls::<Compact>(req, seqid);
    }
}

#[test]
fn binary_pair_unknown_method_gets_an_exception() {
    pair_unknown_method::<Binary>();
}

#[test]
fn compact_pair_unknown_method_gets_an_exception() {
    pair_unknown_method::<Compact>();
}

// ---------------------------------------------------------------------------
// Truncation and hostile bytes.

/// A whole call message: header, then `Everything` as the arguments.
fn call_message<P: Proto>(e: &Everything) -> Bytes {
    written::<P>(|w| {
        w.write_message_begin(&MessageIdent::new(
            Utf8Bytes::from_static("getItem"),
            MessageType::Call,
            1,
        ));
        e.encode(w);
        w.write_message_end();
    })
}

fn decode_call<P: Proto>(b: Bytes) -> Result<Everything> {
    let mut r = P::reader(b);
    r.read_message_begin()?;
    let e = Everything::decode(&mut r)?;
    r.read_message_end()?;
    Ok(e)
}

/// Every strict prefix of a valid message fails, and fails for want of
/// bytes: decoding a prefix follows the same path as the whole until the
/// bytes run out, so no other error can come first.
fn every_prefix_fails<P: Proto>(e: &Everything) {
    let b = call_message::<P>(e);
    assert!(decode_call::<P>(b.clone()).is_ok());
    for n in 0..b.len() {
        let got = decode_call::<P>(b.slice(..n));
        assert!(
            matches!(got, Err(Error::UnexpectedEof { .. })),
            "prefix of {n} of {} bytes gave {got:?}",
            b.len()
        );
        let mut r = P::reader(b.slice(..n));
        if r.read_message_begin().is_ok() {
            assert!(r.skip(TType::Struct).is_err());
        }
    }
}

/// Everything a decoder does with a payload from the network; the result
/// does not matter, only that nothing panics or loops.
fn decode_anything<P: Proto>(b: Bytes) {
    let _ = decode_call::<P>(b.clone());
    let _ = Everything::decode(&mut P::reader(b.clone()));
    let mut r = P::reader(b.clone());
    if r.read_message_begin().is_ok() {
        let _ = r.skip(TType::Struct);
        assert!(r.remaining() <= b.len());
    }
    let _ = ApplicationException::decode(&mut P::reader(b.clone()));
    for t in [
        TType::Bool,
        TType::I8,
        TType::I16,
        TType::I32,
        TType::I64,
        TType::Double,
        TType::Binary,
        TType::Uuid,
        TType::Struct,
        TType::List,
        TType::Set,
        TType::Map,
        TType::Stop,
        TType::Void,
    ] {
        let _ = P::reader(b.clone()).skip(t);
    }
}

/// A random edit of a valid encoding: flip, overwrite, insert or delete
/// bytes, so the decoder gets deep into plausible but wrong input.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        (any::<usize>(), 1u8..).prop_map(|(i, v)| Edit::Xor(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Insert(i, v)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

fn apply(b: &Bytes, edits: &[Edit]) -> Bytes {
    let mut v = b.to_vec();
    for e in edits {
        let n = v.len().max(1);
        match *e {
            Edit::Set(i, x) if !v.is_empty() => v[i % n] = x,
            Edit::Xor(i, x) if !v.is_empty() => v[i % n] ^= x,
            Edit::Insert(i, x) => v.insert(i % (v.len() + 1), x),
            Edit::Remove(i) if !v.is_empty() => {
                v.remove(i % n);
            }
            _ => {}
        }
    }
    Bytes::from(v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn binary_every_strict_prefix_fails(e in everything()) {
        every_prefix_fails::<Binary>(&e);
    }

    #[test]
    fn compact_every_strict_prefix_fails(e in everything()) {
        every_prefix_fails::<Compact>(&e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn binary_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_anything::<Binary>(Bytes::from(b));
    }

    #[test]
    fn compact_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_anything::<Compact>(Bytes::from(b));
    }

    #[test]
    fn compact_random_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        // Past a valid header, so the body is what gets exercised.
        let mut v = b"\x82\x21\x01\x01m".to_vec();
        v.extend_from_slice(&b);
        decode_anything::<Compact>(Bytes::from(v));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binary_edited_messages_never_panic(
        e in everything(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        decode_anything::<Binary>(apply(&call_message::<Binary>(&e), &edits));
    }

    #[test]
    fn compact_edited_messages_never_panic(
        e in everything(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        decode_anything::<Compact>(apply(&call_message::<Compact>(&e), &edits));
    }
}

/// A list claiming more elements than there are bytes fails before
/// anything is allocated for them, in both protocols.
#[test]
fn huge_counts_are_refused_up_front() {
    // list<i32> of i32::MAX elements, 2 bytes of data.
    let binary = Bytes::from_static(b"\x08\x7f\xff\xff\xff\x00\x00");
    let compact = Bytes::from_static(b"\xf5\xff\xff\xff\xff\x07\x00\x00");
    for got in [
        BinaryReader::new(binary).read_list_begin(),
        CompactReader::new(compact).read_list_begin(),
    ] {
        assert!(
            matches!(
                got,
                Err(Error::UnexpectedEof { .. } | Error::SizeLimit { .. })
            ),
            "{got:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Zero copy.

fn decoded_values_point_into_the_input<P: Proto>() {
    let e = Everything {
        text: Utf8Bytes::from("s".repeat(1024)),
        // Large enough that the writer links it instead of copying.
        blob: Bytes::from(vec![0xab; 8 * 1024]),
        ..Everything::default()
    };
    let b = encode::<P, _>(&e);
    let back: Everything = decode::<P, _>(b.clone()).expect("decodes");
    assert_eq!(back, e);
    let input = b.as_ptr_range();
    for (what, v) in [("string", back.text.as_bytes()), ("binary", &back.blob)] {
        let range = v.as_ptr_range();
        assert!(
            input.start <= range.start && range.end <= input.end,
            "the decoded {what} was copied out of the input"
        );
    }
}

#[test]
fn binary_decoded_values_point_into_the_input() {
    decoded_values_point_into_the_input::<Binary>();
}

#[test]
fn compact_decoded_values_point_into_the_input() {
    decoded_values_point_into_the_input::<Compact>();
}
