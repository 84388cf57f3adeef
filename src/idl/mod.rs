//! The types and service glue of the IDLs the examples, tests and benchmarks
//! use (`idl/echo.thrift` and `idl/item.thrift`, copies of the shared IDLs).
//!
//! They are written by hand in exactly the shape the code generator emits,
//! so the engine could be built and measured before the generator existed.

pub mod echo;
pub mod item;

use ringrpc_codec::thrift::{ProtocolReader, TType};
use ringrpc_codec::{Error, Result};

/// Reads a struct's fields, calling `field(id, type)` for each, which must
/// read the value (or return `false` to have it skipped).
pub(crate) fn read_struct<R: ProtocolReader>(
    r: &mut R,
    mut field: impl FnMut(&mut R, i16, TType) -> Result<bool>,
) -> Result<()> {
    r.read_struct_begin()?;
    loop {
        let f = r.read_field_begin()?;
        if f.ttype == TType::Stop {
            break;
        }
        if !field(r, f.id, f.ttype)? {
            r.skip(f.ttype)?;
        }
        r.read_field_end()?;
    }
    r.read_struct_end()
}

/// A missing required field.
pub(crate) fn missing(name: &'static str, field: &'static str) -> Error {
    Error::MissingField { name, field }
}
