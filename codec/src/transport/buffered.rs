//! PLACEHOLDER (being written): Buffered transport.
use super::{Decoded, Frame, FrameLimits};
use crate::buffer::LinkBuffer;
use crate::thrift::Protocol;
use crate::{Error, Result};

/// PLACEHOLDER.
pub fn decode(_buf: &mut LinkBuffer, _p: Protocol, _l: &FrameLimits) -> Result<Decoded<Frame>> {
    Err(Error::Unsupported("buffered"))
}
