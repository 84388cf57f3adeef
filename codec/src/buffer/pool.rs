//! A per-thread pool of chunks for [`LinkBuffer`](super::LinkBuffer) reads and
//! [`LinkWriter`](super::LinkWriter) writes.
//!
//! ringrpc runs one event loop per core, so the pool is a thread-local free
//! list: taking or returning a chunk takes no lock and touches no other core's
//! memory. A chunk is a [`BytesMut`] whose allocation may still be shared with
//! `Bytes` values decoded from it; [`take`] only hands out a chunk once
//! [`BytesMut::try_reclaim`] shows nothing else refers to it, so a chunk is
//! reused in place (no allocation) once every value decoded from it is dropped.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::BytesMut;

/// The size of a chunk the pool allocates: 8 KiB, enough for most RPCs in one
/// read, as netpoll's default block of a LinkBuffer node.
pub const CHUNK_SIZE: usize = 8 * 1024;

/// At most this many idle chunks are kept per thread; more are freed.
pub const MAX_POOLED: usize = 256;

thread_local! {
    static POOL: RefCell<VecDeque<BytesMut>> = const { RefCell::new(VecDeque::new()) };
}

/// How many pooled chunks one [`take`] looks at before allocating.
const SCAN: usize = 8;

/// Takes an empty chunk with at least `min` bytes of capacity.
///
/// Allocates only when no pooled chunk is free to reuse (its decoded slices
/// still alive) or large enough; otherwise reuses one in place. The pool is
/// a queue: chunks are returned at the back, often while a write or a
/// request still holds slices of them, so `take` looks at the oldest first
/// (the likeliest to be free by now) and moves a busy one to the back.
pub fn take(min: usize) -> BytesMut {
    let want = min.max(CHUNK_SIZE);
    let reused = POOL.with(|p| {
        let mut p = p.borrow_mut();
        for _ in 0..SCAN.min(p.len()) {
            let mut chunk = p.pop_front()?;
            chunk.clear();
            if chunk.try_reclaim(want) {
                return Some(chunk);
            }
            p.push_back(chunk);
        }
        None
    });
    reused.unwrap_or_else(|| BytesMut::with_capacity(want))
}

/// Returns a chunk to this thread's pool. Never allocates; frees the chunk
/// when the pool is full.
pub fn give(mut chunk: BytesMut) {
    chunk.clear();
    if chunk.capacity() == 0 && !chunk.try_reclaim(1) {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < MAX_POOLED {
            p.push_back(chunk);
        }
    });
}

/// How many idle chunks this thread's pool holds (for tests and metrics).
pub fn idle() -> usize {
    POOL.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_returned_chunk_in_place() {
        let mut c = take(100);
        c.extend_from_slice(b"hello");
        let ptr = c.as_ptr();
        give(c);
        let again = take(100);
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        assert!(again.is_empty());
        assert!(again.capacity() >= CHUNK_SIZE);
    }

    #[test]
    fn passes_over_busy_chunks_to_a_free_one_and_keeps_the_busy() {
        let mut busy = take(16);
        busy.extend_from_slice(b"in flight");
        let held = busy.split().freeze();
        give(busy);
        let free = BytesMut::with_capacity(CHUNK_SIZE);
        let free_ptr = free.as_ptr();
        give(free);
        let got = take(16);
        assert_eq!(
            got.as_ptr(),
            free_ptr,
            "the free chunk, behind the busy one"
        );
        assert_eq!(idle(), 1, "the busy chunk stays pooled for later");
        drop(held);
        let again = take(16);
        assert_eq!(idle(), 0, "reclaimed once its slice is gone");
        assert!(again.capacity() >= CHUNK_SIZE);
    }

    #[test]
    fn does_not_hand_out_a_chunk_whose_slices_live() {
        let mut c = take(16);
        c.extend_from_slice(b"payload");
        let frozen = c.split().freeze(); // shares the allocation
        give(c);
        let other = take(16);
        assert_eq!(&frozen[..], b"payload", "the live slice is untouched");
        // `other` must not overlap `frozen`'s bytes.
        let f = frozen.as_ptr() as usize;
        let o = other.as_ptr() as usize;
        assert!(o >= f + frozen.len() || o + other.capacity() <= f);
    }
}
