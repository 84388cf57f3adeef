//! The write side of the linked buffer.

use bytes::{BufMut, Bytes, BytesMut};

use super::pool;

/// Buffers at least this large are linked into the chain instead of copied:
/// 4 KiB, netpoll's threshold for `WriteBinary` to link instead of copy.
pub const LINK_THRESHOLD: usize = 4 * 1024;

/// A region reserved in a [`LinkWriter`] for bytes known only later (a length
/// prefix written after the payload). Filled with [`LinkWriter::backfill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reserved region holds zeros until it is back-filled"]
pub struct Reserved {
    at: usize,
    len: usize,
}

impl Reserved {
    /// The absolute offset of the region in the writer.
    pub fn offset(&self) -> usize {
        self.at
    }
}

#[derive(Debug)]
enum Segment {
    /// Bytes written by copy; still mutable so a reservation can be filled.
    Owned(BytesMut),
    /// A buffer linked in without copying.
    Linked(Bytes),
}

impl Segment {
    fn as_slice(&self) -> &[u8] {
        match self {
            Segment::Owned(b) => b,
            Segment::Linked(b) => b,
        }
    }
}

/// The write side of a connection: replies are encoded into it, then written
/// to the socket as one vectored write of its chain.
///
/// Small values are copied into the current pooled chunk; buffers of at least
/// [`LINK_THRESHOLD`] bytes are linked without copying
/// ([`write_bytes`](Self::write_bytes)).
#[derive(Debug, Default)]
pub struct LinkWriter {
    /// Finished segments, in order, before `cur`.
    segs: Vec<Segment>,
    /// Where copies go now.
    cur: BytesMut,
    /// The capacity `cur`'s buffer had when taken from the pool (what it
    /// goes back as, however little of it is left to write into).
    cur_size: usize,
    /// Total bytes written (all segments plus `cur`).
    len: usize,
}

impl LinkWriter {
    /// An empty writer. Allocates nothing until the first write.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of bytes written and not yet taken.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `n` contiguous bytes in the current chunk. Allocates
    /// only when the chunk is full and the pool has no free chunk.
    ///
    /// Inline, with the chunk change out of line: every primitive a
    /// protocol writer puts goes through here, and a call per put was a
    /// third of an encode's time (`interop/benches/codegen_vs_pilota.rs`).
    #[inline]
    fn room(&mut self, n: usize) {
        if self.cur.capacity() - self.cur.len() < n {
            self.next_chunk(n);
        }
    }

    /// The slow half of [`room`](Self::room): moves on to a chunk with room
    /// for `n` bytes.
    #[cold]
    #[inline(never)]
    fn next_chunk(&mut self, n: usize) {
        if self.cur.is_empty() {
            // Nothing written in it: reclaim in place or swap for a pooled chunk.
            if !self.cur.try_reclaim(n) {
                self.swap_chunk(n);
            }
            return;
        }
        let done = self.cur.split();
        self.segs.push(Segment::Owned(done));
        if !self.cur.try_reclaim(n) {
            self.swap_chunk(n);
        }
    }

    /// Gives the current chunk back to the pool (as the size it was taken
    /// at: it is reclaimed whole once what was written from it is sent) and
    /// takes one with room for `n`.
    fn swap_chunk(&mut self, n: usize) {
        let fresh = pool::take(n);
        let size = std::mem::replace(&mut self.cur_size, fresh.capacity());
        let old = std::mem::replace(&mut self.cur, fresh);
        pool::give_sized(old, size);
    }

    /// Makes sure the next `n` bytes fit in the current chunk, moving to a
    /// fresh one if they would not (so a message of about that size is
    /// written in one piece). Writes nothing. Allocates only when the pool
    /// has no free chunk.
    #[inline]
    pub fn make_room(&mut self, n: usize) {
        self.room(n);
    }

    /// Copies `data` in. Allocates only when a new chunk is needed.
    #[inline]
    pub fn put_slice(&mut self, data: &[u8]) {
        self.room(data.len());
        self.cur.extend_from_slice(data);
        self.len += data.len();
    }

    /// Writes one byte.
    #[inline]
    pub fn put_u8(&mut self, v: u8) {
        self.room(1);
        self.cur.put_u8(v);
        self.len += 1;
    }

    /// Writes a big-endian `i16`.
    #[inline]
    pub fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `u16`.
    #[inline]
    pub fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `i32`.
    #[inline]
    pub fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `u32`.
    #[inline]
    pub fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `i64`.
    #[inline]
    pub fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a buffer: linked without copying when it is at least
    /// [`LINK_THRESHOLD`] bytes, copied otherwise.
    pub fn write_bytes(&mut self, data: Bytes) {
        if data.len() < LINK_THRESHOLD {
            self.put_slice(&data);
            return;
        }
        if !self.cur.is_empty() {
            let done = self.cur.split();
            self.segs.push(Segment::Owned(done));
        }
        self.len += data.len();
        self.segs.push(Segment::Linked(data));
    }

    /// Reserves `n` zero bytes to be filled later with
    /// [`backfill`](Self::backfill). The region is contiguous.
    pub fn reserve(&mut self, n: usize) -> Reserved {
        self.room(n);
        let at = self.len;
        self.cur.put_bytes(0, n);
        self.len += n;
        Reserved { at, len: n }
    }

    /// The number of bytes written since a reservation's start.
    pub fn written_since(&self, r: Reserved) -> usize {
        self.len - r.at
    }

    /// Fills a reserved region. Never allocates.
    ///
    /// # Panics
    /// If `data` is not exactly the reserved length, or the region lies
    /// beyond what is written (a reservation kept across
    /// [`take_chain`](Self::take_chain) or [`clear`](Self::clear)); both are
    /// programming errors, never input-dependent.
    pub fn backfill(&mut self, r: Reserved, data: &[u8]) {
        assert_eq!(data.len(), r.len, "back-fill must match the reservation");
        assert!(r.at + r.len <= self.len, "reservation outlived its bytes");
        let mut start = 0;
        for seg in &mut self.segs {
            let l = seg.as_slice().len();
            if r.at < start + l {
                if let Segment::Owned(b) = seg {
                    let off = r.at - start;
                    b[off..off + r.len].copy_from_slice(data);
                    return;
                }
                unreachable!("a reservation lies in an owned segment");
            }
            start += l;
        }
        let off = r.at - start;
        self.cur[off..off + r.len].copy_from_slice(data);
    }

    /// The written bytes as a list of slices, in order: the iovec list of one
    /// vectored write. Never copies.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.segs
            .iter()
            .map(Segment::as_slice)
            .chain(std::iter::once(&self.cur[..]))
            .filter(|s| !s.is_empty())
    }

    /// Moves the written bytes out as frozen slices (appended to `out`),
    /// leaving the writer empty, for an owned vectored write. Zero copy; the
    /// current chunk keeps its spare capacity, and reclaims its memory in place
    /// once the taken slices are dropped.
    pub fn take_chain(&mut self, out: &mut Vec<Bytes>) {
        for seg in self.segs.drain(..) {
            out.push(match seg {
                Segment::Owned(b) => b.freeze(),
                Segment::Linked(b) => b,
            });
        }
        if !self.cur.is_empty() {
            out.push(self.cur.split().freeze());
        }
        self.len = 0;
    }

    /// Drops everything written (after an encode error). Keeps the chunk.
    pub fn clear(&mut self) {
        self.segs.clear();
        self.cur.clear();
        self.len = 0;
    }

    /// Returns idle memory when nothing is written: the current chunk goes
    /// back to the per-thread pool and the segment list's storage is freed.
    pub fn release(&mut self) {
        if self.len == 0 {
            self.segs = Vec::new();
            if self.cur_size > 0 {
                pool::give_sized(std::mem::take(&mut self.cur), self.cur_size);
                self.cur_size = 0;
            }
        }
    }

    /// Whether the writer holds pooled memory (a chunk to copy into).
    pub fn holds_memory(&self) -> bool {
        self.cur_size > 0 || self.segs.capacity() > 0
    }

    /// Copies everything written into one `Vec` (tests and tools; allocates).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks() {
            v.extend_from_slice(c);
        }
        v
    }
}

impl Drop for LinkWriter {
    fn drop(&mut self) {
        if self.cur_size > 0 {
            pool::give_sized(std::mem::take(&mut self.cur), self.cur_size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backfills_a_length_prefix() {
        let mut w = LinkWriter::new();
        let r = w.reserve(4);
        w.put_slice(b"payload");
        let n = w.written_since(r) - 4;
        w.backfill(r, &(n as u32).to_be_bytes());
        assert_eq!(w.to_vec(), b"\0\0\0\x07payload");
    }

    #[test]
    fn links_large_buffers_without_copying() {
        let big = Bytes::from(vec![1u8; LINK_THRESHOLD]);
        let ptr = big.as_ptr();
        let mut w = LinkWriter::new();
        let r = w.reserve(4);
        w.write_bytes(big);
        w.put_u8(9);
        w.backfill(r, &[0, 0, 16, 1]);
        let chunks: Vec<&[u8]> = w.chunks().collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0], &[0, 0, 16, 1]);
        assert_eq!(chunks[1].as_ptr(), ptr, "linked, not copied");
        assert_eq!(chunks[2], &[9]);
        let mut out = Vec::new();
        w.take_chain(&mut out);
        assert_eq!(
            out.iter().map(Bytes::len).sum::<usize>(),
            4 + LINK_THRESHOLD + 1
        );
        assert!(w.is_empty());
    }

    #[test]
    fn small_buffers_are_copied() {
        let mut w = LinkWriter::new();
        w.write_bytes(Bytes::from_static(b"abc"));
        w.write_bytes(Bytes::from_static(b"def"));
        assert_eq!(w.chunks().count(), 1);
        assert_eq!(w.to_vec(), b"abcdef");
    }

    proptest! {
        /// Any mix of copies, links and back-filled reservations yields the
        /// same bytes as writing into a flat Vec.
        #[test]
        fn matches_a_flat_vec(parts in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..9000), any::<bool>()), 0..12)) {
            let mut w = LinkWriter::new();
            let mut flat = Vec::new();
            for (data, prefixed) in parts {
                if prefixed {
                    let r = w.reserve(4);
                    w.write_bytes(Bytes::from(data.clone()));
                    w.backfill(r, &(data.len() as u32).to_be_bytes());
                    flat.extend_from_slice(&(data.len() as u32).to_be_bytes());
                } else {
                    w.put_slice(&data);
                }
                flat.extend_from_slice(&data);
            }
            prop_assert_eq!(w.len(), flat.len());
            prop_assert_eq!(w.to_vec(), flat.clone());
            let mut out = Vec::new();
            w.take_chain(&mut out);
            let joined: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
            prop_assert_eq!(joined, flat);
        }
    }
}
