//! The read side of the linked buffer.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::pool;

/// Not enough bytes are buffered yet: at least `0` more are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedMore(pub usize);

/// The read side of a connection: a chain of filled chunks that socket reads
/// land in, consumed from the front.
///
/// The chain holds [`Bytes`] slices of pooled chunks. A read goes into the
/// spare capacity of the tail chunk ([`LinkBuffer::read_target`] hands it out
/// by value, as io_uring wants an owned buffer, and
/// [`LinkBuffer::commit_read`] takes it back); the filled part is split off
/// into the chain without copying.
///
/// No read method panics on a short buffer: each returns [`NeedMore`] with how
/// many bytes are missing.
#[derive(Debug, Default)]
pub struct LinkBuffer {
    chain: VecDeque<Bytes>,
    len: usize,
    /// The chunk the next read fills (its spare capacity).
    tail: Option<BytesMut>,
    /// Reused for `peek` across chunk boundaries.
    scratch: Vec<u8>,
}

/// Reads smaller than this leave the tail chunk for a fresh one.
const MIN_READ: usize = 2 * 1024;

impl LinkBuffer {
    /// An empty buffer. Allocates nothing until the first read.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of unread bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no unread bytes are buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hands out the chunk the next socket read should fill, with at least
    /// `MIN_READ` (2 KiB) of spare capacity. Reuses the current tail when it
    /// has room; otherwise takes a chunk from the per-thread pool (allocating
    /// only when the pool has none free).
    pub fn read_target(&mut self) -> BytesMut {
        match self.tail.take() {
            Some(t) if t.capacity() - t.len() >= MIN_READ => t,
            Some(t) => {
                pool::give(t);
                pool::take(MIN_READ)
            }
            None => pool::take(MIN_READ),
        }
    }

    /// Takes back a chunk handed out by [`read_target`](Self::read_target)
    /// after a read filled some of it: the filled bytes join the chain
    /// (no copy) and the rest stays the tail.
    pub fn commit_read(&mut self, mut chunk: BytesMut) {
        if !chunk.is_empty() {
            let filled = chunk.split().freeze();
            self.len += filled.len();
            self.chain.push_back(filled);
        }
        self.tail = Some(chunk);
    }

    /// Appends bytes to the chain without copying (tests, and callers that
    /// already hold `Bytes`).
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chain.push_back(bytes);
        }
    }

    /// Appends a copy of `data` (tests and fuzzing).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.push(Bytes::copy_from_slice(data));
    }

    /// The first `n` unread bytes as one slice, without consuming them.
    ///
    /// No copy when they lie in one chunk; otherwise one copy into a scratch
    /// buffer owned by the `LinkBuffer` (which allocates only when it grows).
    pub fn peek(&mut self, n: usize) -> Result<&[u8], NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        if n == 0 {
            return Ok(&[]);
        }
        if self.chain[0].len() >= n {
            return Ok(&self.chain[0][..n]);
        }
        self.scratch.clear();
        for chunk in &self.chain {
            let take = (n - self.scratch.len()).min(chunk.len());
            self.scratch.extend_from_slice(&chunk[..take]);
            if self.scratch.len() == n {
                break;
            }
        }
        Ok(&self.scratch)
    }

    /// As much of the unread bytes as lie in the first chunk, without
    /// consuming them. Never copies.
    pub fn first_chunk(&self) -> &[u8] {
        self.chain.front().map(|b| &b[..]).unwrap_or(&[])
    }

    /// Consumes the next `n` bytes and returns them.
    ///
    /// Zero copy (a slice of the chunk) when they lie in one chunk; one copy
    /// into a new allocation when the range straddles chunks.
    pub fn next(&mut self, n: usize) -> Result<Bytes, NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        if n == 0 {
            return Ok(Bytes::new());
        }
        self.len -= n;
        let front = &mut self.chain[0];
        if front.len() > n {
            return Ok(front.split_to(n));
        }
        if front.len() == n {
            return Ok(self.chain.pop_front().unwrap_or_default());
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let front = &mut self.chain[0];
            let take = (n - out.len()).min(front.len());
            out.extend_from_slice(&front[..take]);
            front.advance(take);
            if front.is_empty() {
                self.chain.pop_front();
            }
        }
        Ok(out.freeze())
    }

    /// Consumes the next `n` bytes and returns them as a `LinkBuffer` of their
    /// own, sharing the chunks (zero copy, even across chunk boundaries; the
    /// new buffer's chain allocates when it holds more than one chunk).
    pub fn slice(&mut self, n: usize) -> Result<LinkBuffer, NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        let mut out = LinkBuffer::new();
        let mut left = n;
        while left > 0 {
            let front = &mut self.chain[0];
            if front.len() > left {
                out.push(front.split_to(left));
                left = 0;
            } else {
                let whole = self.chain.pop_front().unwrap_or_default();
                left -= whole.len();
                out.push(whole);
            }
        }
        self.len -= n;
        Ok(out)
    }

    /// Drops the next `n` bytes. Never copies or allocates.
    pub fn skip(&mut self, n: usize) -> Result<(), NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        self.len -= n;
        let mut left = n;
        while left > 0 {
            let front = &mut self.chain[0];
            if front.len() > left {
                front.advance(left);
                left = 0;
            } else {
                left -= front.len();
                self.chain.pop_front();
            }
        }
        Ok(())
    }

    /// Returns idle memory to the per-thread pool: the tail chunk when no
    /// bytes are buffered. Consumed chunks go back on their own: a chunk is
    /// reusable as soon as the last value decoded from it is dropped.
    pub fn release(&mut self) {
        if self.chain.is_empty() {
            if let Some(t) = self.tail.take() {
                pool::give(t);
            }
            self.chain.shrink_to(4);
        }
    }
}

impl Drop for LinkBuffer {
    fn drop(&mut self) {
        if let Some(t) = self.tail.take() {
            pool::give(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chained(parts: &[&[u8]]) -> LinkBuffer {
        let mut b = LinkBuffer::new();
        for p in parts {
            b.extend_from_slice(p);
        }
        b
    }

    #[test]
    fn short_reads_report_what_is_missing() {
        let mut b = chained(&[b"abc"]);
        assert_eq!(b.peek(5), Err(NeedMore(2)));
        assert_eq!(b.next(4), Err(NeedMore(1)));
        assert_eq!(b.skip(10).unwrap_err(), NeedMore(7));
        assert_eq!(b.len(), 3, "a failed read consumes nothing");
    }

    #[test]
    fn next_inside_one_chunk_is_zero_copy() {
        let mut b = LinkBuffer::new();
        let mut chunk = b.read_target();
        chunk.extend_from_slice(&[7u8; 1024]);
        let base = chunk.as_ptr() as usize;
        b.commit_read(chunk);
        let head = b.next(10).unwrap();
        let body = b.next(1000).unwrap();
        assert_eq!(head.as_ptr() as usize, base);
        assert_eq!(
            body.as_ptr() as usize,
            base + 10,
            "points into the read chunk"
        );
    }

    #[test]
    fn next_across_chunks_copies_the_right_bytes() {
        let mut b = chained(&[b"ab", b"cd", b"efg"]);
        assert_eq!(&b.next(5).unwrap()[..], b"abcde");
        assert_eq!(&b.next(2).unwrap()[..], b"fg");
        assert!(b.is_empty());
    }

    #[test]
    fn peek_across_chunks_does_not_consume() {
        let mut b = chained(&[b"ab", b"cd"]);
        assert_eq!(b.peek(3).unwrap(), b"abc");
        assert_eq!(b.first_chunk(), b"ab");
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn read_target_keeps_filling_the_same_chunk() {
        let mut b = LinkBuffer::new();
        let mut c = b.read_target();
        let base = c.as_ptr() as usize;
        c.extend_from_slice(b"one");
        b.commit_read(c);
        let mut c = b.read_target();
        assert_eq!(
            c.as_ptr() as usize,
            base + 3,
            "the tail continues after the filled part"
        );
        c.extend_from_slice(b"two");
        b.commit_read(c);
        assert_eq!(&b.next(6).unwrap()[..], b"onetwo");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Peek(usize),
        Next(usize),
        Skip(usize),
        Slice(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..64).prop_map(Op::Peek),
            (0usize..64).prop_map(Op::Next),
            (0usize..64).prop_map(Op::Skip),
            (0usize..64).prop_map(Op::Slice),
        ]
    }

    proptest! {
        /// Any chunking of the input and any sequence of reads give the same
        /// bytes as reading a flat `Vec<u8>`.
        #[test]
        fn matches_a_flat_vec(
            data in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(0usize..512, 0..16),
            ops in proptest::collection::vec(op(), 0..64),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort_unstable();
            let mut b = LinkBuffer::new();
            for w in cuts.windows(2) {
                b.extend_from_slice(&data[w[0]..w[1]]);
            }
            let mut pos = 0usize;
            for op in ops {
                let left = data.len() - pos;
                match op {
                    Op::Peek(n) => match b.peek(n) {
                        Ok(s) => prop_assert_eq!(s, &data[pos..pos + n]),
                        Err(NeedMore(m)) => prop_assert_eq!(m, n - left),
                    },
                    Op::Next(n) => match b.next(n) {
                        Ok(s) => { prop_assert_eq!(&s[..], &data[pos..pos + n]); pos += n; }
                        Err(NeedMore(m)) => prop_assert_eq!(m, n - left),
                    },
                    Op::Skip(n) => match b.skip(n) {
                        Ok(()) => pos += n,
                        Err(NeedMore(m)) => prop_assert_eq!(m, n - left),
                    },
                    Op::Slice(n) => match b.slice(n) {
                        Ok(mut s) => {
                            prop_assert_eq!(s.len(), n);
                            prop_assert_eq!(&s.next(n).unwrap()[..], &data[pos..pos + n]);
                            pos += n;
                        }
                        Err(NeedMore(m)) => prop_assert_eq!(m, n - left),
                    },
                }
                prop_assert_eq!(b.len(), data.len() - pos);
            }
        }
    }
}
