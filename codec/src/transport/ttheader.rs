//! PLACEHOLDER (being written): TTHeader transport.
use super::{Codec, Decoded, Frame, FrameLimits};
use crate::buffer::{LinkBuffer, LinkWriter};
use crate::{Error, Result};

/// PLACEHOLDER.
#[derive(Debug, Clone, Default)]
pub struct TtHeader {
    /// PLACEHOLDER.
    pub seq_id: i32,
}

/// PLACEHOLDER.
pub fn decode(_buf: &mut LinkBuffer, _l: &FrameLimits) -> Result<Decoded<Frame>> {
    Err(Error::Unsupported("ttheader"))
}

/// PLACEHOLDER.
pub fn encode(
    out: &mut LinkWriter,
    _codec: Codec,
    _header: Option<&TtHeader>,
    payload: impl FnOnce(&mut LinkWriter),
) {
    payload(out)
}
