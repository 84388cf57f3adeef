//! Dynamic values: a value typed as Thrift types it, for code that builds
//! requests (or reads replies) programmatically without generated types.
//! Encoding and decoding are guided by the [`Idl`]: a [`StructValue`]
//! names its fields, the descriptor gives their ids and wire types.
//!
//! Encoding is lenient where no meaning is lost: any integer variant fits
//! any integer type it is in range of, a `String` names an enum value, a
//! `List` may be given for a set and a `Set` for a list. Decoding gives
//! each type its own variant (enums as `I32`).

use std::sync::Arc;

use bytes::Bytes;
use ringrpc_codec::thrift::{
    BinaryReader, CompactReader, DecodeLimits, Protocol, ProtocolReader, TType, Utf8Bytes,
};
use ringrpc_thrift_idl::model::StructKind;

use crate::descriptor::{Idl, StructId, TypeDesc, Types};
use crate::error::{Path, Segment};
use crate::json::encode::{Failure, Seen};
use crate::wire::{BinaryOut, CompactOut, Wire};
use crate::{Error, Result};

/// A Thrift value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// `i8` / `byte`.
    I8(i8),
    /// `i16`.
    I16(i16),
    /// `i32`, and enums.
    I32(i32),
    /// `i64`.
    I64(i64),
    /// `double`.
    Double(f64),
    /// `string` (decoded: a zero-copy slice of the message).
    String(Utf8Bytes),
    /// `binary` (decoded: a zero-copy slice of the message).
    Binary(Bytes),
    /// `uuid`.
    Uuid([u8; 16]),
    /// `list<T>`.
    List(Vec<Value>),
    /// `set<T>`, in wire order (duplicates are not removed).
    Set(Vec<Value>),
    /// `map<K, V>`, in wire order.
    Map(Vec<(Value, Value)>),
    /// A struct, union or exception.
    Struct(StructValue),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i8> for Value {
    fn from(v: i8) -> Self {
        Value::I8(v)
    }
}
impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::I16(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I32(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<&str> for Value {
    /// Copies the string.
    fn from(v: &str) -> Self {
        Value::String(v.into())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v.into())
    }
}
impl From<StructValue> for Value {
    fn from(v: StructValue) -> Self {
        Value::Struct(v)
    }
}

/// A struct's fields by name, in the order given (or read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StructValue {
    fields: Vec<(Arc<str>, Value)>,
}

impl StructValue {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// With the field `name` set to `v` (builder style).
    pub fn with(mut self, name: &str, v: impl Into<Value>) -> Self {
        self.set(name, v.into());
        self
    }

    /// Sets the field `name` (replacing an earlier value).
    pub fn set(&mut self, name: &str, v: Value) {
        match self.fields.iter_mut().find(|(n, _)| &**n == name) {
            Some(f) => f.1 = v,
            None => self.fields.push((Arc::from(name), v)),
        }
    }

    /// The field `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| &**n == name).map(|f| &f.1)
    }

    /// The fields set, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(n, v)| (&**n, v))
    }

    /// The number of fields set.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Encodes `v` as the struct `sid` of `idl` in `protocol`. Errors
/// ([`Error::Value`]) name the path of what does not match the IDL.
pub fn encode_struct(
    idl: &Idl,
    sid: StructId,
    v: &StructValue,
    protocol: Protocol,
) -> Result<Bytes> {
    let types = idl.types();
    let r = match protocol {
        Protocol::Binary => {
            let mut w = BinaryOut::default();
            write_struct(&mut w, types, sid, v).map(|()| w.buf)
        }
        Protocol::Compact => {
            let mut w = CompactOut::default();
            write_struct(&mut w, types, sid, v).map(|()| w.buf)
        }
    };
    r.map(Bytes::from).map_err(|mut f| {
        f.path.finish();
        Error::Value {
            path: f.path,
            message: f.message,
        }
    })
}

/// Decodes the struct `sid` of `idl` from `bytes` (in `protocol`), within
/// the codec's default [`DecodeLimits`].
pub fn decode_struct(
    idl: &Idl,
    sid: StructId,
    bytes: Bytes,
    protocol: Protocol,
) -> Result<StructValue> {
    match protocol {
        Protocol::Binary => read_struct_from(
            idl,
            sid,
            &mut BinaryReader::with_limits(bytes, DecodeLimits::default()),
        ),
        Protocol::Compact => read_struct_from(
            idl,
            sid,
            &mut CompactReader::with_limits(bytes, DecodeLimits::default()),
        ),
    }
}

/// Reads the struct `sid` from `r`.
pub fn read_struct_from<R: ProtocolReader>(
    idl: &Idl,
    sid: StructId,
    r: &mut R,
) -> Result<StructValue> {
    read_struct(r, idl.types(), sid).map_err(|mut f| {
        f.path.finish();
        Error::Wire {
            path: f.path,
            message: f.message,
        }
    })
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        path: Path::default(),
        message: message.into(),
    }
}

fn at(seg: impl FnOnce() -> Segment) -> impl FnOnce(Failure) -> Failure {
    move |mut f| {
        f.path.push_outer(seg());
        f
    }
}

fn variant(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "Bool",
        Value::I8(_) => "I8",
        Value::I16(_) => "I16",
        Value::I32(_) => "I32",
        Value::I64(_) => "I64",
        Value::Double(_) => "Double",
        Value::String(_) => "String",
        Value::Binary(_) => "Binary",
        Value::Uuid(_) => "Uuid",
        Value::List(_) => "List",
        Value::Set(_) => "Set",
        Value::Map(_) => "Map",
        Value::Struct(_) => "Struct",
    }
}

fn as_int(v: &Value) -> Option<i64> {
    Some(match v {
        Value::I8(x) => i64::from(*x),
        Value::I16(x) => i64::from(*x),
        Value::I32(x) => i64::from(*x),
        Value::I64(x) => *x,
        _ => return None,
    })
}

pub(crate) fn write_struct<W: Wire>(
    w: &mut W,
    types: &Types,
    sid: StructId,
    v: &StructValue,
) -> Result<(), Failure> {
    let s = types.get(sid);
    let mut seen = Seen::new(s.fields.len());
    if s.kind == StructKind::Union && v.len() > 1 {
        return Err(fail(format!("a union takes one field, not {}", v.len())));
    }
    w.struct_begin();
    let mut hint = 0;
    for (name, value) in v.fields() {
        let Some(i) = s.field_by_name(name, hint) else {
            return Err(fail(format!("unknown field `{name}` (not in {})", s.name)));
        };
        hint = i + 1;
        seen.set(i);
        let f = &s.fields[i];
        w.field_begin(f.ty.ttype(), f.id);
        write_value(w, types, &f.ty, value).map_err(at(|| Segment::Field(name.to_owned())))?;
    }
    for &i in &s.required {
        if !seen.get(usize::from(i)) {
            return Err(fail(format!(
                "missing required field `{}`",
                s.fields[usize::from(i)].name
            )));
        }
    }
    for &i in &s.defaulted {
        let i = usize::from(i);
        if !seen.get(i)
            && let Some(d) = &s.fields[i].default
        {
            let f = &s.fields[i];
            w.field_begin(f.ty.ttype(), f.id);
            write_value(w, types, &f.ty, d)?;
        }
    }
    w.struct_end();
    Ok(())
}

pub(crate) fn write_value<W: Wire>(
    w: &mut W,
    types: &Types,
    ty: &TypeDesc,
    v: &Value,
) -> Result<(), Failure> {
    let mismatch = || {
        fail(format!(
            "expected {}, got {}",
            types.type_name(ty),
            variant(v)
        ))
    };
    let range = |n: i64, what: &str| fail(format!("{n} is out of range for {what}"));
    match (ty, v) {
        (TypeDesc::Bool, Value::Bool(b)) => w.bool(*b),
        (TypeDesc::I8, _) => {
            let n = as_int(v).ok_or_else(mismatch)?;
            w.i8(i8::try_from(n).map_err(|_| range(n, "i8"))?)
        }
        (TypeDesc::I16, _) => {
            let n = as_int(v).ok_or_else(mismatch)?;
            w.i16(i16::try_from(n).map_err(|_| range(n, "i16"))?)
        }
        (TypeDesc::I32, _) => {
            let n = as_int(v).ok_or_else(mismatch)?;
            w.i32(i32::try_from(n).map_err(|_| range(n, "i32"))?)
        }
        (TypeDesc::Enum(e), Value::String(name)) => {
            let d = types.enum_desc(*e);
            let n = d.value_of(name).ok_or_else(|| {
                fail(format!(
                    "{:?} is not a value of enum {}",
                    name.as_str(),
                    d.name
                ))
            })?;
            w.i32(n)
        }
        (TypeDesc::Enum(e), _) => {
            let n = as_int(v).ok_or_else(mismatch)?;
            w.i32(i32::try_from(n).map_err(|_| range(n, &types.enum_desc(*e).name))?)
        }
        (TypeDesc::I64, _) => w.i64(as_int(v).ok_or_else(mismatch)?),
        (TypeDesc::Double, Value::Double(d)) => w.double(*d),
        (TypeDesc::Double, _) => w.double(as_int(v).ok_or_else(mismatch)? as f64),
        (TypeDesc::String, Value::String(s)) => w.binary(s.as_bytes()),
        (TypeDesc::Binary, Value::Binary(b)) => w.binary(b),
        (TypeDesc::Binary, Value::String(s)) => w.binary(s.as_bytes()),
        (TypeDesc::Uuid, Value::Uuid(u)) => w.uuid(u),
        (TypeDesc::List(e) | TypeDesc::Set(e), Value::List(items) | Value::Set(items)) => {
            let m = w.list_begin(e.ttype());
            for (i, item) in items.iter().enumerate() {
                write_value(w, types, e, item).map_err(at(|| Segment::Index(i)))?;
            }
            w.list_end(m, items.len());
        }
        (TypeDesc::Map(k, val), Value::Map(entries)) => {
            let m = w.map_begin(k.ttype(), val.ttype());
            for (i, (a, b)) in entries.iter().enumerate() {
                write_value(w, types, k, a).map_err(at(|| Segment::Index(i)))?;
                write_value(w, types, val, b).map_err(at(|| Segment::Index(i)))?;
            }
            w.map_end(m, entries.len());
        }
        (TypeDesc::Struct(sid), Value::Struct(s)) => write_struct(w, types, *sid, s)?,
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn codec(e: ringrpc_codec::Error) -> Failure {
    fail(e.to_string())
}

pub(crate) fn read_struct<R: ProtocolReader>(
    r: &mut R,
    types: &Types,
    sid: StructId,
) -> Result<StructValue, Failure> {
    let s = types.get(sid);
    r.read_struct_begin().map_err(codec)?;
    let mut out = StructValue::default();
    let mut seen = Seen::new(s.fields.len());
    let mut hint = 0;
    loop {
        let h = r.read_field_begin().map_err(codec)?;
        if h.ttype == TType::Stop {
            break;
        }
        match s.field_by_id(h.id, hint) {
            Some(i) if s.fields[i].ty.ttype() == h.ttype => {
                let f = &s.fields[i];
                let v = read_value(r, types, &f.ty)
                    .map_err(at(|| Segment::Field(f.name.to_string())))?;
                seen.set(i);
                hint = i + 1;
                out.fields.push((f.name.clone(), v));
            }
            _ => r.skip(h.ttype).map_err(codec)?,
        }
        r.read_field_end().map_err(codec)?;
    }
    for &i in &s.required {
        if !seen.get(usize::from(i)) {
            return Err(fail(format!(
                "missing required field `{}`",
                s.fields[usize::from(i)].name
            )));
        }
    }
    r.read_struct_end().map_err(codec)?;
    Ok(out)
}

fn read_value<R: ProtocolReader>(
    r: &mut R,
    types: &Types,
    ty: &TypeDesc,
) -> Result<Value, Failure> {
    Ok(match ty {
        TypeDesc::Bool => Value::Bool(r.read_bool().map_err(codec)?),
        TypeDesc::I8 => Value::I8(r.read_i8().map_err(codec)?),
        TypeDesc::I16 => Value::I16(r.read_i16().map_err(codec)?),
        TypeDesc::I32 | TypeDesc::Enum(_) => Value::I32(r.read_i32().map_err(codec)?),
        TypeDesc::I64 => Value::I64(r.read_i64().map_err(codec)?),
        TypeDesc::Double => Value::Double(r.read_double().map_err(codec)?),
        TypeDesc::String => Value::String(r.read_string().map_err(codec)?),
        TypeDesc::Binary => Value::Binary(r.read_binary().map_err(codec)?),
        TypeDesc::Uuid => Value::Uuid(r.read_uuid().map_err(codec)?),
        TypeDesc::List(e) | TypeDesc::Set(e) => {
            let set = matches!(ty, TypeDesc::Set(_));
            let l = if set {
                r.read_set_begin()
            } else {
                r.read_list_begin()
            }
            .map_err(codec)?;
            if l.len > 0 && l.elem != e.ttype() {
                return Err(fail(format!(
                    "elements are {:?} on the wire, {} in the IDL",
                    l.elem,
                    types.type_name(e)
                )));
            }
            // The count was checked against the bytes present.
            let mut items = Vec::with_capacity(l.len);
            for i in 0..l.len {
                items.push(read_value(r, types, e).map_err(at(|| Segment::Index(i)))?);
            }
            if set {
                r.read_set_end()
            } else {
                r.read_list_end()
            }
            .map_err(codec)?;
            if set {
                Value::Set(items)
            } else {
                Value::List(items)
            }
        }
        TypeDesc::Map(k, v) => {
            let m = r.read_map_begin().map_err(codec)?;
            if m.len > 0 && (m.key != k.ttype() || m.value != v.ttype()) {
                return Err(fail(format!(
                    "entries are {:?} to {:?} on the wire, {} in the IDL",
                    m.key,
                    m.value,
                    types.type_name(ty)
                )));
            }
            let mut entries = Vec::with_capacity(m.len);
            for i in 0..m.len {
                let a = read_value(r, types, k).map_err(at(|| Segment::Index(i)))?;
                let b = read_value(r, types, v).map_err(at(|| Segment::Index(i)))?;
                entries.push((a, b));
            }
            r.read_map_end().map_err(codec)?;
            Value::Map(entries)
        }
        TypeDesc::Struct(sid) => Value::Struct(read_struct(r, types, *sid)?),
    })
}
