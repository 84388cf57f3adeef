//! JSON to Thrift: a JSON text is read with `serde_json` and each value is
//! written to the wire as it is read, guided by the descriptor, with no
//! tree in between (`DeserializeSeed`s that write instead of building).
//!
//! Errors carry the path of the value that failed. The path is built only
//! when something fails, as the error unwinds (each level adds its own
//! step), so a value that encodes pays nothing for it.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{B64_IN, JsonReply, parse_uuid};
use crate::descriptor::{MethodDesc, StructId, TypeDesc, Types};
use crate::error::{Path, Segment};
use crate::wire::Wire;

/// A failure, its path built from the inside out.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) path: Path,
    pub(crate) message: String,
}

/// What the encoder shares down the tree.
pub(crate) struct Cx<'a, W> {
    pub(crate) w: &'a mut W,
    pub(crate) types: &'a Types,
    pub(crate) failure: Option<Failure>,
}

impl<W> Cx<'_, W> {
    /// Records `message` as the failure and returns an error to unwind with.
    fn fail<E: de::Error>(&mut self, message: impl fmt::Display) -> E {
        self.failure = Some(Failure {
            path: Path::default(),
            message: message.to_string(),
        });
        E::custom("")
    }

    /// Notes that an error from below passes through `seg`: the first
    /// level to see an error that is not ours (JSON syntax, a wrong JSON
    /// type) records its message.
    fn unwind<E: de::Error>(&mut self, e: E, seg: impl FnOnce() -> Segment) -> E {
        let f = self.failure.get_or_insert_with(|| Failure {
            path: Path::default(),
            message: e.to_string(),
        });
        f.path.push_outer(seg());
        e
    }
}

/// `json` as text: JSON is UTF-8 (RFC 8259). Checked once for the whole
/// input (SIMD), so that `serde_json` reads it as a `str` and does not
/// check every string again (a tenth of the encode's time when it did).
fn utf8(json: &[u8]) -> Result<&str, Failure> {
    simdutf8::compat::from_utf8(json).map_err(|e| Failure {
        path: Path::default(),
        message: format!("the JSON is not UTF-8 (at byte {})", e.valid_up_to()),
    })
}

/// Encodes the JSON object `json` as the struct `sid`.
pub(crate) fn encode_struct<W: Wire>(
    w: &mut W,
    types: &Types,
    sid: StructId,
    json: &[u8],
) -> Result<(), Failure> {
    let json = utf8(json)?;
    let mut cx = Cx {
        w,
        types,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let r = StructSeed { cx: &mut cx, sid }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            let mut f = cx.failure.take().unwrap_or_else(|| Failure {
                path: Path::default(),
                message: e.to_string(),
            });
            if f.message.is_empty() {
                f.message = e.to_string();
            }
            f.path.finish();
            Err(f)
        }
    }
}

/// Which fields of a struct were written: a bit each, inline up to 256
/// fields. Wider structs borrow their words from a per-thread pool and give
/// them back when done, so that a list of them (or the next call) does not
/// allocate per struct: warm, nothing is allocated.
pub(crate) struct Seen {
    inline: [u64; 4],
    spill: Vec<u64>,
}

/// Spill buffers kept per thread, at most this many (one per level of
/// nested wide structs in use at once)...
const SPILL_POOL: usize = 16;
/// ... of at most this many words (32 768 fields, more than an `i16` id
/// can number).
const SPILL_WORDS: usize = 512;

thread_local! {
    static SPILLS: std::cell::RefCell<Vec<Vec<u64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Seen {
    #[inline]
    pub(crate) fn new(n: usize) -> Self {
        Self {
            inline: [0; 4],
            spill: if n > 256 {
                Self::spill(n.div_ceil(64))
            } else {
                Vec::new()
            },
        }
    }
    /// `words` zeroed words, from the pool when it has a buffer.
    #[cold]
    fn spill(words: usize) -> Vec<u64> {
        let mut v = SPILLS
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        v.clear();
        v.resize(words, 0);
        v
    }
    #[inline]
    fn words(&mut self) -> &mut [u64] {
        if self.spill.is_empty() {
            &mut self.inline
        } else {
            &mut self.spill
        }
    }
    /// Marks `i`; whether it was already marked.
    #[inline]
    pub(crate) fn set(&mut self, i: usize) -> bool {
        let w = &mut self.words()[i / 64];
        let bit = 1u64 << (i % 64);
        let was = *w & bit != 0;
        *w |= bit;
        was
    }
    #[inline]
    pub(crate) fn get(&mut self, i: usize) -> bool {
        self.words()[i / 64] & (1u64 << (i % 64)) != 0
    }
}

impl Drop for Seen {
    #[inline]
    fn drop(&mut self) {
        if self.spill.capacity() != 0 {
            Self::give_back(std::mem::take(&mut self.spill));
        }
    }
}

impl Seen {
    /// Returns a spill buffer to the pool (unless the pool is full or the
    /// buffer oversized).
    #[cold]
    fn give_back(v: Vec<u64>) {
        if v.capacity() > SPILL_WORDS {
            return;
        }
        let _ = SPILLS.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < SPILL_POOL {
                p.push(v);
            }
        });
    }
}

/// A struct (a JSON object).
struct StructSeed<'c, 'a, W> {
    cx: &'c mut Cx<'a, W>,
    sid: StructId,
}

impl<'de, W: Wire> DeserializeSeed<'de> for StructSeed<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Wire> Visitor<'de> for StructSeed<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object ({})", self.cx.types.get(self.sid).name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let cx = self.cx;
        let types = cx.types;
        let s = types.get(self.sid);
        cx.w.struct_begin();
        let mut seen = Seen::new(s.fields.len());
        let mut hint = 0;
        let mut count = 0usize;
        while let Some(i) = map.next_key_seed(FieldName { s, hint })? {
            let f = &s.fields[i];
            if seen.get(i) {
                let e = cx.fail(format!("field `{}` given twice", f.name));
                return Err(cx.unwind(e, || Segment::Field(f.name.to_string())));
            }
            let mark = cx.w.mark();
            cx.w.field_begin(f.ty.ttype(), f.id);
            let written = map.next_value_seed(Nullable(ValueSeed { cx, ty: &f.ty }));
            match written {
                Ok(true) => {
                    seen.set(i);
                    count += 1;
                }
                // `null` is an absent field.
                Ok(false) => cx.w.rewind(mark),
                Err(e) => return Err(cx.unwind(e, || Segment::Field(f.name.to_string()))),
            }
            hint = i + 1;
        }
        if s.kind == ringrpc_thrift_idl::model::StructKind::Union && count > 1 {
            return Err(cx.fail(format!("a union takes one field, not {count}")));
        }
        for &i in &s.required {
            let i = usize::from(i);
            if !seen.get(i) {
                return Err(cx.fail(format!("missing required field `{}`", s.fields[i].name)));
            }
        }
        for &i in &s.defaulted {
            let i = usize::from(i);
            if !seen.get(i) {
                let f = &s.fields[i];
                if let Some(v) = &f.default {
                    cx.w.field_begin(f.ty.ttype(), f.id);
                    if let Err(e) = crate::value::write_value(cx.w, types, &f.ty, v) {
                        return Err(cx.fail(format!("default of `{}`: {}", f.name, e.message)));
                    }
                }
            }
        }
        cx.w.struct_end();
        Ok(())
    }
}

/// A struct's key: the index of the field it names.
struct FieldName<'s> {
    s: &'s crate::descriptor::StructDesc,
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for FieldName<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        self.s
            .field_by_name(v, self.hint)
            .ok_or_else(|| E::custom(format_args!("unknown field `{v}` (not in {})", self.s.name)))
    }
}

/// A value that may be `null` (a struct field: `null` means absent).
/// Yields whether a value was written.
struct Nullable<S>(S);

impl<'de, W: Wire> DeserializeSeed<'de> for Nullable<ValueSeed<'_, '_, '_, W>> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, W: Wire> Visitor<'de> for Nullable<ValueSeed<'_, '_, '_, W>> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        self.0.deserialize(d).map(|()| true)
    }
}

/// One value of type `ty`.
struct ValueSeed<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    ty: &'t TypeDesc,
}

impl<'de, W: Wire> DeserializeSeed<'de> for ValueSeed<'_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let cx = self.cx;
        match self.ty {
            TypeDesc::Bool => d.deserialize_bool(Scalar { cx, ty: self.ty }),
            TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 => {
                d.deserialize_i64(Scalar { cx, ty: self.ty })
            }
            TypeDesc::I64 | TypeDesc::Double | TypeDesc::Enum(_) => {
                d.deserialize_any(Scalar { cx, ty: self.ty })
            }
            TypeDesc::String | TypeDesc::Binary | TypeDesc::Uuid => {
                d.deserialize_str(Scalar { cx, ty: self.ty })
            }
            TypeDesc::List(e) | TypeDesc::Set(e) => d.deserialize_seq(List { cx, elem: e }),
            TypeDesc::Map(k, v) if k.is_scalar_key() => d.deserialize_map(Map { cx, k, v }),
            TypeDesc::Map(k, v) => d.deserialize_seq(Pairs { cx, k, v }),
            TypeDesc::Struct(sid) => d.deserialize_map(StructSeed { cx, sid: *sid }),
        }
    }
}

/// A scalar written from a JSON scalar (or, for a map key, from the key's
/// string).
struct Scalar<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    ty: &'t TypeDesc,
}

impl<W: Wire> Scalar<'_, '_, '_, W> {
    fn int<E: de::Error>(self, v: i128) -> Result<(), E> {
        let cx = self.cx;
        let out_of_range = |cx: &mut Cx<'_, W>, what: &str| -> E {
            cx.fail(format!("{v} is out of range for {what}"))
        };
        match self.ty {
            TypeDesc::I8 => match i8::try_from(v) {
                Ok(x) => cx.w.i8(x),
                Err(_) => return Err(out_of_range(cx, "i8")),
            },
            TypeDesc::I16 => match i16::try_from(v) {
                Ok(x) => cx.w.i16(x),
                Err(_) => return Err(out_of_range(cx, "i16")),
            },
            TypeDesc::I32 => match i32::try_from(v) {
                Ok(x) => cx.w.i32(x),
                Err(_) => return Err(out_of_range(cx, "i32")),
            },
            TypeDesc::Enum(e) => match i32::try_from(v) {
                Ok(x) => cx.w.i32(x),
                Err(_) => {
                    let name = cx.types.enum_desc(*e).name.clone();
                    return Err(out_of_range(cx, &name));
                }
            },
            TypeDesc::I64 => match i64::try_from(v) {
                Ok(x) => cx.w.i64(x),
                Err(_) => return Err(out_of_range(cx, "i64")),
            },
            TypeDesc::Double => cx.w.double(v as f64),
            _ => return Err(self_mismatch(cx, self.ty, "a number")),
        }
        Ok(())
    }

    /// A value given as a string: the string types themselves, and the
    /// scalars a string may stand for (i64, enum names, doubles' NaN and
    /// infinities; and every scalar as a map key).
    fn string<E: de::Error>(self, v: &str, key: bool) -> Result<(), E> {
        let cx = self.cx;
        match self.ty {
            TypeDesc::String => cx.w.binary(v.as_bytes()),
            TypeDesc::Binary => write_base64(cx, v)?,
            TypeDesc::Uuid => match parse_uuid(v) {
                Some(u) => cx.w.uuid(&u),
                None => return Err(cx.fail(format!("{v:?} is not a uuid"))),
            },
            TypeDesc::Enum(e) => {
                let desc = cx.types.enum_desc(*e);
                match desc.value_of(v).or_else(|| v.parse::<i32>().ok()) {
                    Some(n) => cx.w.i32(n),
                    None => {
                        let msg = format!("{v:?} is not a value of enum {}", desc.name);
                        return Err(cx.fail(msg));
                    }
                }
            }
            TypeDesc::I64 => match v.parse::<i64>() {
                Ok(n) => cx.w.i64(n),
                Err(_) => return Err(cx.fail(format!("{v:?} is not an i64"))),
            },
            TypeDesc::Double => match v {
                "NaN" => cx.w.double(f64::NAN),
                "Infinity" => cx.w.double(f64::INFINITY),
                "-Infinity" => cx.w.double(f64::NEG_INFINITY),
                _ if key => match v.parse::<f64>() {
                    Ok(d) => cx.w.double(d),
                    Err(_) => return Err(cx.fail(format!("{v:?} is not a double"))),
                },
                _ => {
                    return Err(cx.fail(format!(
                        "{v:?} is not a double (strings stand only for NaN, Infinity, -Infinity)"
                    )));
                }
            },
            TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 if key => match v.parse::<i64>() {
                Ok(n) => return Scalar { cx, ty: self.ty }.int(i128::from(n)),
                Err(_) => return Err(cx.fail(format!("key {v:?} is not an integer"))),
            },
            TypeDesc::Bool if key => match v {
                "true" => cx.w.bool(true),
                "false" => cx.w.bool(false),
                _ => return Err(cx.fail(format!("key {v:?} is not true or false"))),
            },
            _ => return Err(self_mismatch(cx, self.ty, "a string")),
        }
        Ok(())
    }
}

/// A JSON value of the wrong kind for `ty`.
fn self_mismatch<W, E: de::Error>(cx: &mut Cx<'_, W>, ty: &TypeDesc, got: &str) -> E {
    let want = cx.types.type_name(ty);
    cx.fail(format!("expected {want}, got {got}"))
}

/// Decodes base64 straight into the output, after its length.
fn write_base64<W: Wire, E: de::Error>(cx: &mut Cx<'_, W>, v: &str) -> Result<(), E> {
    let unpadded = v.trim_end_matches('=');
    // The exact decoded length of valid base64; anything else fails below.
    let len = unpadded.len() / 4 * 3 + (unpadded.len() % 4 * 3) / 4;
    cx.w.binary_len(len);
    let out = cx.w.out();
    let start = out.len();
    out.resize(start + len, 0);
    match B64_IN.decode_slice(v.as_bytes(), &mut out[start..]) {
        Ok(n) if n == len => Ok(()),
        Ok(_) => Err(cx.fail(format!("{v:?} is not base64"))),
        Err(e) => Err(cx.fail(format!("not base64 ({e})"))),
    }
}

impl<'de, W: Wire> Visitor<'de> for Scalar<'_, '_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            TypeDesc::I64 => f.write_str("an i64 (a number or a string)"),
            TypeDesc::Enum(_) => f.write_str("an enum value (a name or a number)"),
            TypeDesc::Binary => f.write_str("binary (a base64 string)"),
            TypeDesc::Uuid => f.write_str("a uuid string"),
            TypeDesc::Double => f.write_str("a double"),
            TypeDesc::Bool => f.write_str("a bool"),
            TypeDesc::String => f.write_str("a string"),
            TypeDesc::I8 => f.write_str("an i8"),
            TypeDesc::I16 => f.write_str("an i16"),
            _ => f.write_str("an i32"),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.ty {
            TypeDesc::Bool => {
                self.cx.w.bool(v);
                Ok(())
            }
            _ => Err(self_mismatch(self.cx, self.ty, "a bool")),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.int(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.int(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.ty {
            TypeDesc::Double => {
                self.cx.w.double(v);
                Ok(())
            }
            _ => {
                let want = self.cx.types.type_name(self.ty);
                Err(self.cx.fail(format!("{v} is not an integer ({want})")))
            }
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v, false)
    }
}

/// A list or set (a JSON array).
struct List<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    elem: &'t TypeDesc,
}

impl<'de, W: Wire> Visitor<'de> for List<'_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {}", self.cx.types.type_name(self.elem))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cx = self.cx;
        let m = cx.w.list_begin(self.elem.ttype());
        let mut n = 0;
        loop {
            match seq.next_element_seed(ValueSeed { cx, ty: self.elem }) {
                Ok(Some(())) => n += 1,
                Ok(None) => break,
                Err(e) => return Err(cx.unwind(e, || Segment::Index(n))),
            }
        }
        cx.w.list_end(m, n);
        Ok(())
    }
}

/// A map with scalar keys (a JSON object whose keys are the keys written
/// as strings).
struct Map<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    k: &'t TypeDesc,
    v: &'t TypeDesc,
}

impl<'de, W: Wire> Visitor<'de> for Map<'_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object ({})",
            self.cx.types.type_name(&TypeDesc::Map(
                Box::new(self.k.clone()),
                Box::new(self.v.clone())
            ))
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let cx = self.cx;
        let m = cx.w.map_begin(self.k.ttype(), self.v.ttype());
        let mut n = 0;
        loop {
            let key = match map.next_key_seed(MapKey { cx, ty: self.k }) {
                Ok(Some(k)) => k,
                Ok(None) => break,
                Err(e) => return Err(cx.unwind(e, || Segment::Index(n))),
            };
            if let Err(e) = map.next_value_seed(ValueSeed { cx, ty: self.v }) {
                return Err(cx.unwind(e, || match key {
                    Some(k) => Segment::Key(k.to_owned()),
                    None => Segment::Index(n),
                }));
            }
            n += 1;
        }
        cx.w.map_end(m, n);
        Ok(())
    }
}

/// A map key, from its string form. Yields the key when it was borrowed
/// from the input (for an error's path).
struct MapKey<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    ty: &'t TypeDesc,
}

impl<'de, W: Wire> DeserializeSeed<'de> for MapKey<'_, '_, '_, W> {
    type Value = Option<&'de str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, W: Wire> Visitor<'de> for MapKey<'_, '_, '_, W> {
    type Value = Option<&'de str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key ({})", self.cx.types.type_name(self.ty))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Scalar {
            cx: self.cx,
            ty: self.ty,
        }
        .string(v, true)?;
        Ok(Some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Scalar {
            cx: self.cx,
            ty: self.ty,
        }
        .string(v, true)?;
        Ok(None)
    }
}

/// A map with keys JSON cannot spell as strings (structs, containers): an
/// array of `[key, value]` pairs.
struct Pairs<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    k: &'t TypeDesc,
    v: &'t TypeDesc,
}

impl<'de, W: Wire> Visitor<'de> for Pairs<'_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [key, value] pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cx = self.cx;
        let m = cx.w.map_begin(self.k.ttype(), self.v.ttype());
        let mut n = 0;
        loop {
            let pair = Pair {
                cx,
                k: self.k,
                v: self.v,
            };
            match seq.next_element_seed(pair) {
                Ok(Some(())) => n += 1,
                Ok(None) => break,
                Err(e) => return Err(cx.unwind(e, || Segment::Index(n))),
            }
        }
        cx.w.map_end(m, n);
        Ok(())
    }
}

/// One `[key, value]` pair.
struct Pair<'c, 'a, 't, W> {
    cx: &'c mut Cx<'a, W>,
    k: &'t TypeDesc,
    v: &'t TypeDesc,
}

impl<'de, W: Wire> DeserializeSeed<'de> for Pair<'_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: Wire> Visitor<'de> for Pair<'_, '_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cx = self.cx;
        for ty in [self.k, self.v] {
            if seq.next_element_seed(ValueSeed { cx, ty })?.is_none() {
                return Err(cx.fail("a map entry is a [key, value] pair"));
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(cx.fail("a map entry is a [key, value] pair"));
        }
        Ok(())
    }
}

/// Encodes the JSON value `json` as one value of `ty` (not `null`).
pub(crate) fn encode_value<W: Wire>(
    w: &mut W,
    types: &Types,
    ty: &TypeDesc,
    json: &[u8],
) -> Result<(), Failure> {
    let json = utf8(json)?;
    let mut cx = Cx {
        w,
        types,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let r = ValueSeed { cx: &mut cx, ty }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    r.map_err(|e| {
        let mut f = cx.failure.take().unwrap_or_else(|| Failure {
            path: Path::default(),
            message: e.to_string(),
        });
        if f.message.is_empty() {
            f.message = e.to_string();
        }
        f
    })
}

/// Encodes a method's result struct from a handler's reply.
pub(crate) fn encode_result<W: Wire>(
    w: &mut W,
    types: &Types,
    method: &MethodDesc,
    reply: &JsonReply,
) -> Result<(), Failure> {
    let result = types.get(method.result);
    w.struct_begin();
    match reply {
        JsonReply::Success(json) => {
            // A `void` method's success is an empty result struct.
            if let Some(ret) = &method.ret {
                w.field_begin(ret.ttype(), 0);
                encode_value(w, types, ret, json.as_bytes()).map_err(|mut f| {
                    f.path.push_outer(Segment::Field("success".into()));
                    f
                })?;
            }
        }
        JsonReply::Exception { name, json } => {
            let Some(f) = result.fields.iter().find(|f| f.id != 0 && &*f.name == name) else {
                return Err(Failure {
                    path: Path::default(),
                    message: format!("`{name}` is not an exception `{}` declares", method.name),
                });
            };
            w.field_begin(f.ty.ttype(), f.id);
            encode_value(w, types, &f.ty, json.as_bytes()).map_err(|mut e| {
                e.path.push_outer(Segment::Field(name.clone()));
                e
            })?;
        }
    }
    w.struct_end();
    Ok(())
}
