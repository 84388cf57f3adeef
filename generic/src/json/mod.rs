//! JSON generic: JSON text straight to Thrift binary or compact and back,
//! guided by an [`Idl`], with no tree in between. See the
//! [crate docs](crate#the-json-mapping) for the mapping.
//!
//! [`JsonCodec`] keeps no state between calls, and allocates nothing per
//! value: into a reused `Vec` ([`JsonCodec::encode_into`],
//! [`JsonCodec::decode_into`]) a call allocates nothing at all, however
//! many fields, elements and nested structs it carries;
//! [`encode`](JsonCodec::encode) and [`decode`](JsonCodec::decode)
//! allocate only the output they hand back (`tests/alloc.rs` counts). The
//! exceptions are per call, not per value: JSON strings with escapes are
//! unescaped into one scratch buffer per call (`serde_json`'s), and the
//! compact protocol spills the field ids of structs nested deeper than 16.

mod decode;
pub(crate) mod encode;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use ringrpc_codec::thrift::{BinaryReader, CompactReader, DecodeLimits, Protocol, ProtocolReader};

use crate::descriptor::{Idl, MethodDesc, StructId};
use crate::wire::{BinaryOut, CompactOut};
use crate::{Error, Result};

/// Base64 as Kitex writes binary in JSON (Go's `base64.StdEncoding`:
/// standard alphabet, padded).
pub(crate) const B64_OUT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 as read: the standard alphabet, padded or not.
pub(crate) const B64_IN: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How values are written as JSON (reading accepts every form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Write `i64` values as JSON strings (`"9007199254740993"`), for
    /// readers whose numbers are doubles (JavaScript) and lose precision
    /// past 2^53, as dynamicgo's `Int642String` does. Default off: JSON
    /// numbers.
    pub i64_as_string: bool,
    /// Write enum values as numbers. Default off: the value's name, or
    /// its number when the IDL does not declare it.
    pub enums_as_numbers: bool,
    /// Write indented JSON (two spaces, a member a line), for people.
    /// Default off: compact.
    pub pretty: bool,
}

impl JsonOptions {
    /// The defaults: `i64` as numbers, enums by name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`i64_as_string`](Self::i64_as_string).
    pub fn i64_as_string(mut self, on: bool) -> Self {
        self.i64_as_string = on;
        self
    }

    /// Sets [`enums_as_numbers`](Self::enums_as_numbers).
    pub fn enums_as_numbers(mut self, on: bool) -> Self {
        self.enums_as_numbers = on;
        self
    }

    /// Sets [`pretty`](Self::pretty).
    pub fn pretty(mut self, on: bool) -> Self {
        self.pretty = on;
        self
    }
}

/// A method's outcome as JSON: what a generic client gets back, and what
/// a generic server's handler answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonReply {
    /// The method returned: the return value's JSON (`null` for `void`).
    Success(String),
    /// The method threw one of its declared exceptions: `name` is the
    /// exception's name in the method's `throws` list (`err1` in
    /// `throws (1: Xception err1)`), `json` the exception struct.
    Exception {
        /// The `throws` entry's name.
        name: String,
        /// The exception struct as JSON.
        json: String,
    },
}

impl JsonReply {
    /// A success carrying `json` (the return value).
    pub fn success(json: impl Into<String>) -> Self {
        JsonReply::Success(json.into())
    }

    /// The declared exception `name` carrying `json`.
    pub fn exception(name: impl Into<String>, json: impl Into<String>) -> Self {
        JsonReply::Exception {
            name: name.into(),
            json: json.into(),
        }
    }

    /// The reply as one JSON object, the method's result struct: `{"success":
    /// ...}` (`{}` for `void`) or `{"<name>": {...}}`.
    pub fn to_result_json(&self) -> String {
        match self {
            JsonReply::Success(j) if j == "null" => "{}".to_owned(),
            JsonReply::Success(j) => format!("{{\"success\":{j}}}"),
            JsonReply::Exception { name, json } => {
                let key = serde_json::to_string(name).unwrap_or_default();
                format!("{{{key}:{json}}}")
            }
        }
    }
}

/// Converts between JSON and Thrift for the structs of one [`Idl`]: a
/// method's arguments ([`MethodDesc::args`](crate::descriptor::MethodDesc::args)),
/// its result, or any struct. Cheap to clone (the IDL is shared), `Send`
/// and `Sync`; it keeps no state between calls.
#[derive(Debug, Clone)]
pub struct JsonCodec {
    idl: Idl,
    opts: JsonOptions,
    limits: DecodeLimits,
}

impl JsonCodec {
    /// A codec for `idl` with the default [`JsonOptions`] and the codec's
    /// default [`DecodeLimits`].
    pub fn new(idl: Idl) -> Self {
        Self {
            idl,
            opts: JsonOptions::default(),
            limits: DecodeLimits::default(),
        }
    }

    /// Sets how JSON is written.
    pub fn options(mut self, opts: JsonOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Sets the bounds decoding applies to the wire bytes. Default:
    /// [`DecodeLimits::default`].
    pub fn limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The IDL.
    pub fn idl(&self) -> &Idl {
        &self.idl
    }

    /// The options JSON is written with.
    pub fn json_options(&self) -> &JsonOptions {
        &self.opts
    }

    /// Encodes the JSON object `json` as the struct `sid` in `protocol`.
    /// Errors ([`Error::Value`]) name the path of the value that does not
    /// match the IDL; the JSON is untrusted (its nesting is bounded by
    /// `serde_json`'s recursion limit, 128).
    pub fn encode(&self, sid: StructId, json: &[u8], protocol: Protocol) -> Result<Bytes> {
        let mut out = Vec::with_capacity(json.len());
        self.encode_into(sid, json, protocol, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// [`encode`](Self::encode), appending to `out` (which keeps what it
    /// held; on error, `out` is as it was). With a reused `out` that has
    /// room, it allocates nothing (nesting deeper than 16 structs aside).
    pub fn encode_into(
        &self,
        sid: StructId,
        json: &[u8],
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start = out.len();
        let types = self.idl.types();
        let r = match protocol {
            Protocol::Binary => {
                let mut w = BinaryOut {
                    buf: std::mem::take(out),
                };
                let r = encode::encode_struct(&mut w, types, sid, json);
                *out = w.buf;
                r
            }
            Protocol::Compact => {
                let mut w = CompactOut::with(std::mem::take(out));
                let r = encode::encode_struct(&mut w, types, sid, json);
                *out = std::mem::take(&mut w.buf);
                r
            }
        };
        r.map_err(|f| {
            out.truncate(start);
            Error::Value {
                path: f.path,
                message: f.message,
            }
        })
    }

    /// Decodes the struct `sid` from `bytes` (the struct alone, in
    /// `protocol`) and writes it as JSON into `out`.
    pub fn decode_into(
        &self,
        sid: StructId,
        bytes: Bytes,
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        match protocol {
            Protocol::Binary => {
                self.decode_from(&mut BinaryReader::with_limits(bytes, self.limits), sid, out)
            }
            Protocol::Compact => self.decode_from(
                &mut CompactReader::with_limits(bytes, self.limits),
                sid,
                out,
            ),
        }
    }

    /// [`decode_into`](Self::decode_into), returning the JSON text.
    pub fn decode(&self, sid: StructId, bytes: Bytes, protocol: Protocol) -> Result<String> {
        let mut out = Vec::with_capacity(bytes.len() * 2);
        self.decode_into(sid, bytes, protocol, &mut out)?;
        // serde_json's formatter writes UTF-8 only.
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Encodes `method`'s result struct carrying `reply` in `protocol` (what
    /// a generic server sends). Errors ([`Error::Value`]) name what does
    /// not match the IDL: a success value of the wrong type, an exception
    /// the method does not declare.
    pub fn encode_result(
        &self,
        method: &MethodDesc,
        reply: &JsonReply,
        protocol: Protocol,
    ) -> Result<Bytes> {
        let types = self.idl.types();
        let r = match protocol {
            Protocol::Binary => {
                let mut w = BinaryOut::default();
                encode::encode_result(&mut w, types, method, reply).map(|()| w.buf)
            }
            Protocol::Compact => {
                let mut w = CompactOut::default();
                encode::encode_result(&mut w, types, method, reply).map(|()| w.buf)
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

    /// Decodes `method`'s result struct from `bytes` (in `protocol`): the
    /// success value or the declared exception, as JSON.
    pub fn decode_result(
        &self,
        method: &MethodDesc,
        bytes: Bytes,
        protocol: Protocol,
    ) -> Result<JsonReply> {
        let types = self.idl.types();
        let mut out = Vec::with_capacity(bytes.len() * 2);
        let r = match protocol {
            Protocol::Binary => {
                let r = &mut BinaryReader::with_limits(bytes, self.limits);
                with_decoder!(types, &self.opts, &mut out, |d| d.result(r, method))
            }
            Protocol::Compact => {
                let r = &mut CompactReader::with_limits(bytes, self.limits);
                with_decoder!(types, &self.opts, &mut out, |d| d.result(r, method))
            }
        };
        r.map_err(|mut f| {
            f.path.finish();
            Error::Wire {
                path: f.path,
                message: f.message,
            }
        })
    }

    /// Reads the struct `sid` from `r` (a reader positioned at it, as a
    /// server's request decoder is) and writes it as JSON into `out`.
    /// Errors ([`Error::Wire`]) name the path of the value that failed.
    pub fn decode_from<R: ProtocolReader>(
        &self,
        r: &mut R,
        sid: StructId,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        decode_struct(self.idl.types(), &self.opts, r, sid, out)
    }
}

/// Reads the struct `sid` from `r` as JSON into `out` (on error, `out` is
/// as it was).
pub(crate) fn decode_struct<R: ProtocolReader>(
    types: &crate::descriptor::Types,
    opts: &JsonOptions,
    r: &mut R,
    sid: StructId,
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    with_decoder!(types, opts, &mut *out, |d| d.structure(r, sid)).map_err(|mut f| {
        out.truncate(start);
        f.path.finish();
        Error::Wire {
            path: f.path,
            message: f.message,
        }
    })
}

/// Runs `$body` with `$d` a decoder writing compact or pretty JSON, as
/// the options say (the formatter is a type parameter, so two bodies).
macro_rules! with_decoder {
    ($types:expr, $opts:expr, $out:expr, |$d:ident| $body:expr) => {
        if $opts.pretty {
            let $d = &mut decode::Decoder {
                types: $types,
                opts: $opts,
                out: $out,
                fmt: serde_json::ser::PrettyFormatter::new(),
            };
            $body
        } else {
            let $d = &mut decode::Decoder {
                types: $types,
                opts: $opts,
                out: $out,
                fmt: serde_json::ser::CompactFormatter,
            };
            $body
        }
    };
}
use with_decoder;

/// Parses a uuid in its canonical form (`8-4-4-4-12` hex digits, either
/// case); also accepts the 32 digits without dashes.
pub(crate) fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    let digits: &mut [u8; 32] = &mut [0; 32];
    let mut n = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'-' && b.len() == 36 && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        if n == 32 {
            return None;
        }
        digits[n] = c;
        n += 1;
    }
    if n != 32 || !(b.len() == 32 || b.len() == 36) {
        return None;
    }
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex(digits[2 * i])? << 4 | hex(digits[2 * i + 1])?;
    }
    Some(out)
}

/// A uuid in its canonical form, lower case.
pub(crate) fn format_uuid(v: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut j = 0;
    for (i, b) in v.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            j += 1;
        }
        out[j] = HEX[usize::from(b >> 4)];
        out[j + 1] = HEX[usize::from(b & 0xf)];
        j += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn uuids_round_trip() {
        let u = parse_uuid("00112233-4455-6677-8899-AaBbCcDdEeFf").unwrap();
        assert_eq!(u[0], 0x00);
        assert_eq!(u[15], 0xff);
        assert_eq!(&format_uuid(&u), b"00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(parse_uuid("00112233445566778899aabbccddeeff"), Some(u));
        for bad in [
            "",
            "0011",
            "00112233-4455-6677-8899-aabbccddeefg",
            "0011223-34455-6677-8899-aabbccddeeff",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64_reads_padded_and_unpadded() {
        let mut out = [0u8; 5];
        assert_eq!(B64_IN.decode_slice("aGVsbG8=", &mut out).unwrap(), 5);
        assert_eq!(B64_IN.decode_slice("aGVsbG8", &mut out).unwrap(), 5);
        assert_eq!(&out, b"hello");
    }
}
