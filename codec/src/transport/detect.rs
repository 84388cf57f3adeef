//! PLACEHOLDER (being written): detection.
use super::{Codec, Decoded, Transport};
use crate::Result;
use crate::thrift::Protocol;

/// PLACEHOLDER.
pub fn detect(first: &[u8]) -> Result<Decoded<Codec>> {
    if first.len() < 4 {
        return Ok(Decoded::NeedMore(4 - first.len()));
    }
    Ok(Decoded::Ready(Codec {
        transport: Transport::Framed,
        protocol: Protocol::Binary,
    }))
}
