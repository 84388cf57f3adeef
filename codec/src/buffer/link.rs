//! The read side of the linked buffer.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::pool;

/// Not enough bytes are buffered yet: at least `0` more are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedMore(pub usize);

/// One run of unread bytes: read into a pooled buffer (a view that later
/// reads into the same buffer can extend), or handed in as `Bytes`.
#[derive(Debug)]
enum Seg {
    Read(BytesMut),
    Given(Bytes),
}

impl Seg {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Seg::Read(b) => b,
            Seg::Given(b) => b,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` bytes, split off (zero copy).
    #[inline]
    fn split_to(&mut self, n: usize) -> Bytes {
        match self {
            Seg::Read(b) => b.split_to(n).freeze(),
            Seg::Given(b) => b.split_to(n),
        }
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        match self {
            Seg::Read(b) => b.advance(n),
            Seg::Given(b) => b.advance(n),
        }
    }

    #[inline]
    fn into_bytes(self) -> Bytes {
        match self {
            Seg::Read(b) => b.freeze(),
            Seg::Given(b) => b,
        }
    }
}

/// The read side of a connection: a chain of filled segments that socket
/// reads land in, consumed from the front.
///
/// Each segment is a view of a pooled buffer. A read goes into the spare
/// capacity of the *tail* ([`LinkBuffer::read_target`] hands it out by
/// value, as io_uring wants an owned buffer, and [`LinkBuffer::commit_read`]
/// takes it back); the filled bytes join the chain without copying, and when
/// they continue the last segment in the same buffer they are merged into
/// it, so a message that arrives in many reads into one buffer stays one
/// segment and is taken without a copy.
///
/// Large messages: once the length of the frame at the front is known,
/// [`LinkBuffer::reserve_contiguous`] moves what is buffered of it into one
/// buffer big enough for the whole frame (from the per-thread pool's size
/// classes), so the rest is read straight into place; reads grow from
/// [`pool::CHUNK_SIZE`] when they fill what they are offered. How much a
/// thread reserves ahead of the bytes is bounded (see [`pool::grant`]): a
/// peer that declares a large frame and stalls gets memory as its bytes
/// arrive, not up front.
///
/// No read method panics on a short buffer: each returns [`NeedMore`] with how
/// many bytes are missing.
#[derive(Debug)]
pub struct LinkBuffer {
    chain: VecDeque<Seg>,
    len: usize,
    /// The spare capacity the next read fills.
    tail: Option<BytesMut>,
    /// The capacity the tail's buffer had when taken from the pool (what
    /// it goes back as).
    tail_size: usize,
    /// Whether the chain's last segment ends exactly where `tail` begins, in
    /// the same buffer (so the next read's bytes merge into it).
    joined: bool,
    /// How much the next fresh read buffer offers; doubles when a read
    /// fills what it was offered, back to a chunk on [`release`](Self::release).
    read_size: usize,
    /// Bytes of this buffer's reservation counted in the thread's budget
    /// (reserved capacity not yet filled by reads).
    reserved: usize,
    /// The length of the last large frame granted in full: the next frame
    /// starts in a buffer that size (the next is likely as large), so its
    /// first bytes need not be moved once its length is known.
    expect: usize,
    /// Reused for `peek` across segments.
    scratch: Vec<u8>,
}

impl Default for LinkBuffer {
    fn default() -> Self {
        Self {
            chain: VecDeque::new(),
            len: 0,
            tail: None,
            tail_size: 0,
            joined: false,
            read_size: pool::CHUNK_SIZE,
            reserved: 0,
            expect: 0,
            scratch: Vec::new(),
        }
    }
}

/// Reads smaller than this leave the tail chunk for a fresh one.
const MIN_READ: usize = 2 * 1024;

/// The largest read a [`LinkBuffer`] offers without a frame to fill:
/// pipelined small messages grow reads to this.
pub const MAX_READ: usize = 64 * 1024;

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

    /// Hands out the buffer the next socket read should fill, with at least
    /// `MIN_READ` (2 KiB) of spare capacity. Reuses the tail when it has
    /// room; otherwise takes a buffer of the current read size from the
    /// per-thread pool (allocating only when the pool has none free).
    pub fn read_target(&mut self) -> BytesMut {
        // Between frames, the leftover of a large buffer is not where the
        // next frame should start: it would have to be moved out once its
        // length is known. A fresh chunk reads the next header.
        let between_large = self.chain.is_empty()
            && self.reserved == 0
            && self.tail_size > self.read_size.max(pool::CHUNK_SIZE);
        match self.tail.take() {
            Some(t) if t.capacity() >= MIN_READ && !between_large => t,
            old => {
                if let Some(t) = old {
                    pool::give_sized(t, self.tail_size);
                }
                self.joined = false;
                let size = if between_large {
                    self.expect.max(self.read_size)
                } else {
                    self.read_size
                };
                self.set_tail(pool::take(size))
            }
        }
    }

    /// Notes a fresh buffer's size and hands it back.
    fn set_tail(&mut self, buf: BytesMut) -> BytesMut {
        self.tail_size = buf.capacity();
        buf
    }

    /// Takes back a buffer handed out by [`read_target`](Self::read_target)
    /// after a read filled some of it: the filled bytes join the chain (no
    /// copy; merged into the last segment when they continue it) and the
    /// rest stays the tail.
    pub fn commit_read(&mut self, mut chunk: BytesMut) {
        let n = chunk.len();
        if n > 0 {
            let offered = chunk.capacity();
            let filled = chunk.split();
            self.len += n;
            self.unreserve(n);
            let filled = match self.chain.back_mut() {
                Some(Seg::Read(last)) if self.joined => last.try_unsplit(filled).err(),
                _ => Some(filled),
            };
            if let Some(f) = filled {
                self.chain.push_back(Seg::Read(f));
            }
            self.joined = true;
            if n == offered && self.reserved == 0 {
                // The read took all it was offered: offer more next time.
                self.read_size = (self.read_size * 2).min(MAX_READ);
            }
        }
        self.tail = Some(chunk);
    }

    /// Appends bytes to the chain without copying (tests, and callers that
    /// already hold `Bytes`).
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chain.push_back(Seg::Given(bytes));
            self.joined = false;
        }
    }

    /// Appends a copy of `data` into the buffer's read space, as a socket
    /// read would have put it (bytes a layer below produced: TLS's
    /// plaintext). It lands where [`reserve_contiguous`](Self::reserve_contiguous)
    /// made room, and allocates only when the per-thread pool has no free
    /// chunk.
    pub fn copy_in(&mut self, mut data: &[u8]) {
        // Keep a piece whole when a fresh buffer can hold it: the frames in
        // it (a TLS record's worth) then never straddle two buffers, which
        // would cost a join later. Not while a reservation holds the tail
        // for a large frame.
        let room = self.tail.as_ref().map_or(0, |t| t.capacity() - t.len());
        if room < data.len() && self.reserved == 0 && data.len() <= MAX_READ {
            if self.len > 0 {
                // Bytes buffered (a frame's start): move them where the new
                // ones fit after them, as a read after `NeedMore` would.
                self.reserve_contiguous(self.len + data.len());
            } else {
                if let Some(t) = self.tail.take() {
                    pool::give_sized(t, self.tail_size);
                }
                self.joined = false;
                let fresh = pool::take(data.len().max(self.read_size));
                self.tail = Some(self.set_tail(fresh));
            }
        }
        while !data.is_empty() {
            let mut target = self.read_target();
            let n = data.len().min(target.capacity() - target.len());
            target.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.commit_read(target);
        }
    }

    /// Appends a copy of `data` (tests and fuzzing).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.push(Bytes::copy_from_slice(data));
    }

    /// Makes sure the next `want` bytes (those buffered and those still to
    /// be read) will lie in one segment, so the frame they make is taken
    /// with [`next`](Self::next) without a copy. Call it when a decoder
    /// reports how long the frame at the front is.
    ///
    /// Nothing happens when they fit already. Otherwise the buffered bytes
    /// (the start of the frame) are copied once into a buffer from the pool
    /// with room for `want` bytes, or for as many as the thread's
    /// reservation budget allows ([`pool::grant`]; a later call grows it
    /// again as bytes arrive). Allocates only when the pool has no free
    /// buffer of that size.
    pub fn reserve_contiguous(&mut self, want: usize) {
        if want <= self.len && self.chain.len() <= 1 {
            return;
        }
        let tail_room = self.tail.as_ref().map_or(0, BytesMut::capacity);
        let room = match self.chain.len() {
            0 => tail_room,
            1 if self.joined => self.len + tail_room,
            1 => self.len,
            _ => 0,
        };
        if room >= want {
            return;
        }
        let (cap, full) = pool::grant(want, self.len, self.reserved);
        let mut big = pool::take(cap);
        for seg in self.chain.drain(..) {
            big.extend_from_slice(seg.as_slice());
        }
        if let Some(t) = self.tail.take() {
            pool::give_sized(t, self.tail_size);
        }
        self.tail_size = big.capacity();
        if big.is_empty() {
            self.joined = false;
        } else {
            self.chain.push_back(Seg::Read(big.split()));
            self.joined = true;
        }
        // A full grant holds room for bytes not yet arrived: counted in the
        // thread's budget until they arrive. A step past the budget is not
        // (it is bounded by the bytes that did arrive).
        self.unreserve(self.reserved);
        if full {
            let ahead = big.capacity().min(want.saturating_sub(self.len));
            self.reserved = ahead;
            pool::reserve(ahead);
            self.expect = want;
        }
        self.tail = Some(big);
    }

    /// Gives back `n` bytes of this buffer's reservation (they arrived, or
    /// the buffer no longer waits for them).
    fn unreserve(&mut self, n: usize) {
        let n = n.min(self.reserved);
        if n > 0 {
            self.reserved -= n;
            pool::unreserve(n);
        }
    }

    /// The first `n` unread bytes as one slice, without consuming them.
    ///
    /// No copy when they lie in one segment; otherwise one copy into a
    /// scratch buffer owned by the `LinkBuffer` (which allocates only when it
    /// grows).
    pub fn peek(&mut self, n: usize) -> Result<&[u8], NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        if n == 0 {
            return Ok(&[]);
        }
        if self.chain[0].len() >= n {
            return Ok(&self.chain[0].as_slice()[..n]);
        }
        self.scratch.clear();
        for seg in &self.chain {
            let take = (n - self.scratch.len()).min(seg.len());
            self.scratch.extend_from_slice(&seg.as_slice()[..take]);
            if self.scratch.len() == n {
                break;
            }
        }
        Ok(&self.scratch)
    }

    /// As much of the unread bytes as lie in the first segment, without
    /// consuming them. Never copies.
    pub fn first_chunk(&self) -> &[u8] {
        self.chain.front().map(Seg::as_slice).unwrap_or(&[])
    }

    /// Removes the front segment.
    fn pop_front(&mut self) -> Option<Seg> {
        let seg = self.chain.pop_front();
        if self.chain.is_empty() {
            self.joined = false;
        }
        seg
    }

    /// Consumes the next `n` bytes and returns them.
    ///
    /// Zero copy (a view of the segment's buffer) when they lie in one
    /// segment; one copy into a new allocation when the range straddles
    /// segments.
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
            return Ok(self.pop_front().map(Seg::into_bytes).unwrap_or_default());
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let front = &mut self.chain[0];
            let take = (n - out.len()).min(front.len());
            out.extend_from_slice(&front.as_slice()[..take]);
            front.advance(take);
            if front.is_empty() {
                self.pop_front();
            }
        }
        Ok(out.freeze())
    }

    /// Consumes the next `n` bytes and returns them as a `LinkBuffer` of their
    /// own, sharing the segments' buffers (zero copy, even across segment
    /// boundaries; the new buffer's chain allocates when it holds more than
    /// one segment).
    pub fn slice(&mut self, n: usize) -> Result<LinkBuffer, NeedMore> {
        if n > self.len {
            return Err(NeedMore(n - self.len));
        }
        let mut out = LinkBuffer::new();
        let mut left = n;
        while left > 0 {
            let front = &mut self.chain[0];
            let part = if front.len() > left {
                front.split_to(left)
            } else {
                self.pop_front().map(Seg::into_bytes).unwrap_or_default()
            };
            left -= part.len();
            out.push(part);
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
                self.pop_front();
            }
        }
        Ok(())
    }

    /// Returns idle memory: when no bytes are buffered, the tail goes back
    /// to the per-thread pool, any reservation is given back, and reads
    /// start again from one chunk. Consumed bytes go back on their own: a
    /// buffer is reusable as soon as the last value decoded from it is
    /// dropped. (The chain's few words of storage stay, so a buffer used
    /// again allocates nothing.)
    pub fn release(&mut self) {
        if self.chain.is_empty() {
            if let Some(t) = self.tail.take() {
                pool::give_sized(t, self.tail_size);
            }
            self.joined = false;
            self.read_size = pool::CHUNK_SIZE;
            self.expect = 0;
            self.unreserve(self.reserved);
        }
    }

    /// [`release`](Self::release) only if the tail is a large buffer (a
    /// large message came through): a connection kept for reuse keeps its
    /// chunk, which the next message needs anyway, but not megabytes.
    pub fn release_large(&mut self) {
        if self.tail_size > pool::CHUNK_SIZE || self.reserved > 0 {
            self.release();
        }
    }

    /// Whether this buffer holds pooled memory (a tail to read into, or
    /// unread bytes).
    pub fn holds_memory(&self) -> bool {
        self.tail.is_some() || !self.chain.is_empty()
    }
}

impl Drop for LinkBuffer {
    fn drop(&mut self) {
        if let Some(t) = self.tail.take() {
            pool::give_sized(t, self.tail_size);
        }
        self.unreserve(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_pieces_stay_whole_and_join_a_partial_frame() {
        let mut b = LinkBuffer::new();
        // Nearly fill the first chunk, and consume it: nothing buffered.
        b.copy_in(&vec![1u8; pool::CHUNK_SIZE - 100]);
        b.skip(pool::CHUNK_SIZE - 100).unwrap();
        // A piece that does not fit what is left goes whole into a fresh
        // buffer.
        b.copy_in(&[2u8; 3000]);
        assert_eq!(b.first_chunk().len(), 3000);
        // Its last 1000 bytes are a frame's start; the rest of the frame
        // does not fit either: the start moves so the frame is one piece.
        b.skip(2000).unwrap();
        b.copy_in(&[3u8; 9000]);
        assert_eq!(b.len(), 10_000);
        assert_eq!(b.first_chunk().len(), 10_000, "one contiguous piece");
        assert_eq!(&b.first_chunk()[..1000], &[2u8; 1000][..]);
        assert_eq!(&b.first_chunk()[1000..], &[3u8; 9000][..]);
    }
    use proptest::prelude::*;

    fn chained(parts: &[&[u8]]) -> LinkBuffer {
        let mut b = LinkBuffer::new();
        for p in parts {
            b.extend_from_slice(p);
        }
        b
    }

    /// Reads `data` into `b` as a socket read would.
    fn read_in(b: &mut LinkBuffer, data: &[u8]) -> usize {
        let mut c = b.read_target();
        let n = data.len().min(c.capacity());
        c.extend_from_slice(&data[..n]);
        b.commit_read(c);
        n
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
    fn reads_into_one_buffer_merge_into_one_segment() {
        let mut b = LinkBuffer::new();
        read_in(&mut b, b"one");
        read_in(&mut b, b"two");
        read_in(&mut b, b"three");
        assert_eq!(b.chain.len(), 1, "contiguous reads are one segment");
        assert_eq!(b.first_chunk(), b"onetwothree");
        assert!(matches!(b.chain[0], Seg::Read(_)));
        let base = b.first_chunk().as_ptr();
        let all = b.next(11).unwrap();
        assert_eq!(all.as_ptr(), base, "taken without a copy");
    }

    #[test]
    fn a_large_frame_is_read_into_one_buffer_and_taken_without_a_copy() {
        let frame: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut b = LinkBuffer::new();
        // The first read brings the start of the frame in an 8 KiB chunk.
        let mut at = read_in(&mut b, &frame);
        assert!(at <= pool::CHUNK_SIZE);
        b.reserve_contiguous(frame.len());
        while at < frame.len() {
            at += read_in(&mut b, &frame[at..]);
            b.reserve_contiguous(frame.len());
        }
        assert_eq!(b.chain.len(), 1);
        let base = b.first_chunk().as_ptr();
        let got = b.next(frame.len()).unwrap();
        assert_eq!(got.as_ptr(), base, "zero copy");
        assert_eq!(&got[..], &frame[..]);
        drop(got);
        b.release();
        assert_eq!(pool::reserved(), 0, "the reservation is given back");
    }

    #[test]
    fn a_stalled_large_frame_reserves_within_the_budget_only() {
        let budget = pool::reserve_budget();
        let mut stalled: Vec<LinkBuffer> = Vec::new();
        // Frames of 4 MiB each that send 100 bytes and stop.
        for _ in 0..(budget / (4 << 20) + 4) {
            let mut b = LinkBuffer::new();
            read_in(&mut b, &[1u8; 100]);
            b.reserve_contiguous(4 << 20);
            stalled.push(b);
        }
        assert!(
            pool::reserved() <= budget,
            "{} > {budget}",
            pool::reserved()
        );
        let over: Vec<usize> = stalled
            .iter()
            .map(|b| b.tail.as_ref().map_or(0, BytesMut::capacity))
            .filter(|c| *c < 1 << 20)
            .collect();
        assert!(
            !over.is_empty(),
            "past the budget, buffers grow with the bytes"
        );
        assert!(over.iter().all(|c| *c <= pool::MIN_STEP * 2), "{over:?}");
        drop(stalled);
        assert_eq!(pool::reserved(), 0);
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

    #[test]
    fn release_gives_the_tail_back_and_resets_the_read_size() {
        let mut b = LinkBuffer::new();
        read_in(&mut b, &[0u8; 100]);
        assert!(b.holds_memory());
        b.skip(100).unwrap();
        b.release();
        assert!(!b.holds_memory());
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

        /// Socket-like reads (into the handed-out tail, of any sizes) with
        /// reservations for frames of any length, consumed in any pieces,
        /// give back exactly the bytes read.
        #[test]
        fn reads_and_reservations_keep_the_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..40_000),
            reads in proptest::collection::vec(1usize..20_000, 1..16),
            frames in proptest::collection::vec(1usize..30_000, 1..8),
        ) {
            let mut b = LinkBuffer::new();
            let mut fed = 0;
            let mut out = Vec::new();
            let mut frames = frames.into_iter().cycle();
            for r in reads.iter().cycle().take(64) {
                if fed == data.len() {
                    break;
                }
                let want = frames.next().unwrap_or(1);
                b.reserve_contiguous(want);
                let mut c = b.read_target();
                let n = (*r).min(c.capacity()).min(data.len() - fed);
                c.extend_from_slice(&data[fed..fed + n]);
                fed += n;
                b.commit_read(c);
                let take = want.min(b.len());
                out.extend_from_slice(&b.next(take).unwrap());
            }
            let rest = b.len();
            out.extend_from_slice(&b.next(rest).unwrap());
            prop_assert_eq!(&out[..], &data[..fed]);
            drop(b);
            prop_assert_eq!(pool::reserved(), 0);
        }
    }
}
