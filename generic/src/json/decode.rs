//! Thrift to JSON: values are read off the wire with the codec's
//! [`ProtocolReader`] and written as JSON text as they are read, through
//! `serde_json`'s [`Formatter`] (which does the escaping and the number
//! formatting), guided by the descriptor, with no tree in between.
//!
//! As generated code does, unknown field ids and fields whose wire type is
//! not the IDL's are skipped; a missing `required` field is an error.

use base64::Engine as _;
use ringrpc_codec::thrift::{ProtocolReader, TType};
use serde_json::ser::{CompactFormatter, Formatter};

use super::encode::{Failure, Seen};
use super::{B64_OUT, JsonOptions, JsonReply, format_uuid};
use crate::descriptor::{MethodDesc, StructId, TypeDesc, Types};
use crate::error::{Path, Segment};

/// Reads one value and writes its JSON.
pub(crate) struct Decoder<'a, F> {
    pub(crate) types: &'a Types,
    pub(crate) opts: &'a JsonOptions,
    pub(crate) out: &'a mut Vec<u8>,
    /// Compact, or pretty with [`JsonOptions::pretty`] (strings and
    /// numbers are written alike by both).
    pub(crate) fmt: F,
}

type Res = Result<(), Failure>;

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        path: Path::default(),
        message: message.into(),
    }
}

fn codec(e: ringrpc_codec::Error) -> Failure {
    fail(e.to_string())
}

fn at(seg: impl FnOnce() -> Segment) -> impl FnOnce(Failure) -> Failure {
    move |mut f| {
        f.path.push_outer(seg());
        f
    }
}

// `Vec<u8>` as an `io::Write` cannot fail.
#[inline]
fn w(r: std::io::Result<()>) {
    debug_assert!(r.is_ok());
}

impl<F: Formatter> Decoder<'_, F> {
    /// Reads the struct `sid` (its fields up to the stop).
    pub(crate) fn structure<R: ProtocolReader>(&mut self, r: &mut R, sid: StructId) -> Res {
        let s = self.types.get(sid);
        r.read_struct_begin().map_err(codec)?;
        w(self.fmt.begin_object(self.out));
        let mut seen = Seen::new(s.fields.len());
        let mut hint = 0;
        let mut first = true;
        loop {
            let h = r.read_field_begin().map_err(codec)?;
            if h.ttype == TType::Stop {
                break;
            }
            match s.field_by_id(h.id, hint) {
                Some(i) if s.fields[i].ty.ttype() == h.ttype => {
                    let fd = &s.fields[i];
                    seen.set(i);
                    hint = i + 1;
                    w(self.fmt.begin_object_key(self.out, first));
                    first = false;
                    self.str(&fd.name);
                    w(self.fmt.end_object_key(self.out));
                    w(self.fmt.begin_object_value(self.out));
                    self.value(r, &fd.ty)
                        .map_err(at(|| Segment::Field(fd.name.to_string())))?;
                    w(self.fmt.end_object_value(self.out));
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
        w(self.fmt.end_object(self.out));
        Ok(())
    }

    /// Reads a method's result struct: the success value or the declared
    /// exception it carries, each as its own JSON.
    pub(crate) fn result<R: ProtocolReader>(
        &mut self,
        r: &mut R,
        method: &MethodDesc,
    ) -> Result<JsonReply, Failure> {
        let s = self.types.get(method.result);
        r.read_struct_begin().map_err(codec)?;
        let mut reply = None;
        loop {
            let h = r.read_field_begin().map_err(codec)?;
            if h.ttype == TType::Stop {
                break;
            }
            match s.field_by_id(h.id, 0) {
                Some(i) if reply.is_none() && s.fields[i].ty.ttype() == h.ttype => {
                    let fd = &s.fields[i];
                    let start = self.out.len();
                    self.value(r, &fd.ty)
                        .map_err(at(|| Segment::Field(fd.name.to_string())))?;
                    let json = String::from_utf8(self.out.split_off(start)).unwrap_or_default();
                    reply = Some(if fd.id == 0 {
                        JsonReply::Success(json)
                    } else {
                        JsonReply::Exception {
                            name: fd.name.to_string(),
                            json,
                        }
                    });
                }
                _ => r.skip(h.ttype).map_err(codec)?,
            }
            r.read_field_end().map_err(codec)?;
        }
        r.read_struct_end().map_err(codec)?;
        match reply {
            Some(reply) => Ok(reply),
            None if method.ret.is_none() => Ok(JsonReply::Success("null".to_owned())),
            // Apache Thrift's MISSING_RESULT.
            None => Err(fail(format!("`{}` replied with no result", method.name))),
        }
    }

    /// A JSON string.
    #[inline]
    fn str(&mut self, s: &str) {
        // serde_json escapes; writing into a `Vec` cannot fail.
        let r =
            serde::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut *self.out), s);
        debug_assert!(r.is_ok());
    }

    fn value<R: ProtocolReader>(&mut self, r: &mut R, ty: &TypeDesc) -> Res {
        match ty {
            TypeDesc::Bool => w(self.fmt.write_bool(self.out, r.read_bool().map_err(codec)?)),
            TypeDesc::I8 => w(self.fmt.write_i8(self.out, r.read_i8().map_err(codec)?)),
            TypeDesc::I16 => w(self.fmt.write_i16(self.out, r.read_i16().map_err(codec)?)),
            TypeDesc::I32 => w(self.fmt.write_i32(self.out, r.read_i32().map_err(codec)?)),
            TypeDesc::I64 => {
                let v = r.read_i64().map_err(codec)?;
                if self.opts.i64_as_string {
                    w(self.fmt.begin_string(self.out));
                    w(self.fmt.write_i64(self.out, v));
                    w(self.fmt.end_string(self.out));
                } else {
                    w(self.fmt.write_i64(self.out, v));
                }
            }
            TypeDesc::Double => self.double(r.read_double().map_err(codec)?, false),
            TypeDesc::String => {
                let v = r.read_string().map_err(codec)?;
                self.str(&v);
            }
            TypeDesc::Binary => {
                let v = r.read_binary().map_err(codec)?;
                self.base64(&v);
            }
            TypeDesc::Uuid => {
                let v = r.read_uuid().map_err(codec)?;
                self.uuid(&v);
            }
            TypeDesc::Enum(e) => {
                let v = r.read_i32().map_err(codec)?;
                match self.types.enum_desc(*e).name_of(v) {
                    Some(name) if !self.opts.enums_as_numbers => self.str(name),
                    _ => w(self.fmt.write_i32(self.out, v)),
                }
            }
            TypeDesc::List(e) | TypeDesc::Set(e) => {
                let l = if matches!(ty, TypeDesc::Set(_)) {
                    r.read_set_begin()
                } else {
                    r.read_list_begin()
                }
                .map_err(codec)?;
                if l.len > 0 && l.elem != e.ttype() {
                    return Err(fail(format!(
                        "elements are {:?} on the wire, {} in the IDL",
                        l.elem,
                        self.types.type_name(e)
                    )));
                }
                w(self.fmt.begin_array(self.out));
                for i in 0..l.len {
                    w(self.fmt.begin_array_value(self.out, i == 0));
                    self.value(r, e).map_err(at(|| Segment::Index(i)))?;
                    w(self.fmt.end_array_value(self.out));
                }
                w(self.fmt.end_array(self.out));
                if matches!(ty, TypeDesc::Set(_)) {
                    r.read_set_end()
                } else {
                    r.read_list_end()
                }
                .map_err(codec)?;
            }
            TypeDesc::Map(k, v) => {
                let m = r.read_map_begin().map_err(codec)?;
                if m.len > 0 && (m.key != k.ttype() || m.value != v.ttype()) {
                    return Err(fail(format!(
                        "entries are {:?} to {:?} on the wire, {} in the IDL",
                        m.key,
                        m.value,
                        self.types.type_name(ty)
                    )));
                }
                if k.is_scalar_key() {
                    w(self.fmt.begin_object(self.out));
                    for i in 0..m.len {
                        w(self.fmt.begin_object_key(self.out, i == 0));
                        self.key(r, k).map_err(at(|| Segment::Index(i)))?;
                        w(self.fmt.end_object_key(self.out));
                        w(self.fmt.begin_object_value(self.out));
                        self.value(r, v).map_err(at(|| Segment::Index(i)))?;
                        w(self.fmt.end_object_value(self.out));
                    }
                    w(self.fmt.end_object(self.out));
                } else {
                    w(self.fmt.begin_array(self.out));
                    for i in 0..m.len {
                        w(self.fmt.begin_array_value(self.out, i == 0));
                        w(self.fmt.begin_array(self.out));
                        w(self.fmt.begin_array_value(self.out, true));
                        self.value(r, k).map_err(at(|| Segment::Index(i)))?;
                        w(self.fmt.end_array_value(self.out));
                        w(self.fmt.begin_array_value(self.out, false));
                        self.value(r, v).map_err(at(|| Segment::Index(i)))?;
                        w(self.fmt.end_array_value(self.out));
                        w(self.fmt.end_array(self.out));
                        w(self.fmt.end_array_value(self.out));
                    }
                    w(self.fmt.end_array(self.out));
                }
                r.read_map_end().map_err(codec)?;
            }
            TypeDesc::Struct(sid) => self.structure(r, *sid)?,
        }
        Ok(())
    }

    /// A map key, as a JSON string.
    fn key<R: ProtocolReader>(&mut self, r: &mut R, ty: &TypeDesc) -> Res {
        match ty {
            TypeDesc::String | TypeDesc::Binary | TypeDesc::Uuid => return self.value(r, ty),
            TypeDesc::Enum(e) => {
                let v = r.read_i32().map_err(codec)?;
                match self.types.enum_desc(*e).name_of(v) {
                    Some(name) if !self.opts.enums_as_numbers => self.str(name),
                    _ => self.quoted(|f, out| f.write_i32(out, v)),
                }
            }
            TypeDesc::Double => self.double(r.read_double().map_err(codec)?, true),
            TypeDesc::Bool => {
                let v = r.read_bool().map_err(codec)?;
                self.str(if v { "true" } else { "false" });
            }
            TypeDesc::I8 => {
                let v = r.read_i8().map_err(codec)?;
                self.quoted(|f, out| f.write_i8(out, v))
            }
            TypeDesc::I16 => {
                let v = r.read_i16().map_err(codec)?;
                self.quoted(|f, out| f.write_i16(out, v))
            }
            TypeDesc::I32 => {
                let v = r.read_i32().map_err(codec)?;
                self.quoted(|f, out| f.write_i32(out, v))
            }
            TypeDesc::I64 => {
                let v = r.read_i64().map_err(codec)?;
                self.quoted(|f, out| f.write_i64(out, v))
            }
            _ => return Err(fail("a map key JSON cannot spell as a string")),
        }
        Ok(())
    }

    /// Something written between quotes (digits need no escaping).
    fn quoted(
        &mut self,
        write: impl FnOnce(&mut CompactFormatter, &mut Vec<u8>) -> std::io::Result<()>,
    ) {
        w(self.fmt.begin_string(self.out));
        w(write(&mut CompactFormatter, self.out));
        w(self.fmt.end_string(self.out));
    }

    /// A double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON
    /// has no such numbers); between quotes as a map key.
    fn double(&mut self, v: f64, key: bool) {
        if v.is_nan() {
            self.str("NaN");
        } else if v.is_infinite() {
            self.str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        } else if key {
            self.quoted(|f, out| f.write_f64(out, v));
        } else {
            w(self.fmt.write_f64(self.out, v));
        }
    }

    /// Binary as a base64 string, encoded in pieces on the stack.
    fn base64(&mut self, v: &[u8]) {
        w(self.fmt.begin_string(self.out));
        let mut buf = [0u8; 1024];
        // 768 input bytes are exactly 1024 output bytes, with no padding
        // but at the very end.
        for chunk in v.chunks(768) {
            let n = B64_OUT.encode_slice(chunk, &mut buf).unwrap_or_default();
            self.out.extend_from_slice(&buf[..n]);
        }
        w(self.fmt.end_string(self.out));
    }

    fn uuid(&mut self, v: &[u8; 16]) {
        let s = format_uuid(v);
        // Hex digits and dashes need no escaping.
        w(self.fmt.begin_string(self.out));
        self.out.extend_from_slice(&s);
        w(self.fmt.end_string(self.out));
    }
}
