//! The position, nesting depth and limits both protocol readers keep over
//! one contiguous payload, with the bounds checks they share: every read is
//! checked against the bytes present, every length and count against
//! [`DecodeLimits`], before anything is sliced or allocated.

use bytes::Bytes;

use super::DecodeLimits;
use crate::{Error, Result};

/// A read position in one payload.
#[derive(Debug)]
pub(crate) struct Cursor {
    buf: Bytes,
    pos: usize,
    depth: usize,
    limits: DecodeLimits,
}

impl Cursor {
    pub(crate) fn new(buf: Bytes, limits: DecodeLimits) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
            limits,
        }
    }

    /// How many bytes have been read.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `N` bytes, copied out.
    #[inline]
    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(s) => {
                self.pos += N;
                let mut a = [0u8; N];
                a.copy_from_slice(s);
                Ok(a)
            }
            None => Err(Error::UnexpectedEof {
                needed: self.pos + N - self.buf.len(),
            }),
        }
    }

    /// The next byte.
    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(Error::UnexpectedEof { needed: 1 }),
        }
    }

    /// The next `n` bytes as a zero-copy slice of the payload.
    #[inline]
    pub(crate) fn slice(&mut self, n: usize) -> Result<Bytes> {
        let left = self.remaining();
        if n > left {
            return Err(Error::UnexpectedEof { needed: n - left });
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// The bytes read since position `start` (an earlier
    /// [`position`](Self::position)): a zero-copy slice of the payload.
    #[inline]
    pub(crate) fn since(&self, start: usize) -> Bytes {
        self.buf.slice(start.min(self.pos)..self.pos)
    }

    /// A string or binary of `n` bytes: a zero-copy slice, within the limit.
    #[inline]
    pub(crate) fn string(&mut self, n: usize) -> Result<Bytes> {
        if n > self.limits.max_string_len {
            return Err(Error::SizeLimit {
                what: "string",
                len: n as u64,
                max: self.limits.max_string_len as u64,
            });
        }
        self.slice(n)
    }

    /// One level deeper (a struct or container starts).
    #[inline]
    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::DepthLimit(self.limits.max_depth));
        }
        Ok(())
    }

    /// One level up.
    #[inline]
    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Checks a container's count against the limit and the bytes present,
    /// given the fewest bytes one element takes (`per_elem`; 0 is an
    /// element type no container may hold, reported as `invalid_type`).
    pub(crate) fn count(&self, len: usize, per_elem: usize, invalid_type: u8) -> Result<usize> {
        if len > self.limits.max_container_len {
            return Err(Error::SizeLimit {
                what: "container",
                len: len as u64,
                max: self.limits.max_container_len as u64,
            });
        }
        if len > 0 && per_elem == 0 {
            return Err(Error::InvalidType(invalid_type));
        }
        let need = len.saturating_mul(per_elem);
        let left = self.remaining();
        if need > left {
            return Err(Error::UnexpectedEof {
                needed: need - left,
            });
        }
        Ok(len)
    }
}
