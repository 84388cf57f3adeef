//! Skipping a value of any type, for unknown fields and for measuring an
//! unframed message. Bounded by the reader's depth limit: each nested struct
//! or container goes through the reader's `*_begin`, which counts depth.

use super::{ProtocolReader, TType};
use crate::{Error, Result};

/// Skips one value of type `ttype`.
///
/// Never loops without consuming input: every element consumes at least one
/// byte (container counts are checked against the bytes present), and nesting
/// fails past [`DecodeLimits::max_depth`](super::DecodeLimits::max_depth).
pub fn skip<R: ProtocolReader + ?Sized>(r: &mut R, ttype: TType) -> Result<()> {
    match ttype {
        TType::Bool => r.read_bool().map(drop),
        TType::I8 => r.read_i8().map(drop),
        TType::I16 => r.read_i16().map(drop),
        TType::I32 => r.read_i32().map(drop),
        TType::I64 => r.read_i64().map(drop),
        TType::Double => r.read_double().map(drop),
        TType::Uuid => r.read_uuid().map(drop),
        TType::Binary => r.read_binary().map(drop),
        TType::Struct => {
            r.read_struct_begin()?;
            loop {
                let f = r.read_field_begin()?;
                if f.ttype == TType::Stop {
                    break;
                }
                skip(r, f.ttype)?;
                r.read_field_end()?;
            }
            r.read_struct_end()
        }
        TType::List => {
            let l = r.read_list_begin()?;
            for _ in 0..l.len {
                skip(r, l.elem)?;
            }
            r.read_list_end()
        }
        TType::Set => {
            let l = r.read_set_begin()?;
            for _ in 0..l.len {
                skip(r, l.elem)?;
            }
            r.read_set_end()
        }
        TType::Map => {
            let m = r.read_map_begin()?;
            for _ in 0..m.len {
                skip(r, m.key)?;
                skip(r, m.value)?;
            }
            r.read_map_end()
        }
        TType::Stop | TType::Void => Err(Error::InvalidType(ttype as u8)),
    }
}
