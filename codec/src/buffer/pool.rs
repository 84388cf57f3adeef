//! A per-thread pool of buffers for [`LinkBuffer`](super::LinkBuffer) reads
//! and [`LinkWriter`](super::LinkWriter) writes, and the thread's budget for
//! reserving memory ahead of the bytes that will fill it.
//!
//! ringrpc runs one event loop per core, so the pool is thread-local: taking
//! or returning a buffer takes no lock and touches no other core's memory.
//! A buffer is a [`BytesMut`] whose allocation may still be shared with
//! `Bytes` values decoded from it; [`take`] only hands out a buffer once
//! [`BytesMut::try_reclaim`] shows nothing else refers to it, so a buffer is
//! reused in place (no allocation) once every value decoded from it is
//! dropped.
//!
//! Two kinds of buffers:
//!
//! - **chunks** of [`CHUNK_SIZE`] (8 KiB) for ordinary reads and writes;
//! - **large buffers** in size classes (16 KiB, then four classes per power
//!   of two: 20, 24, 28, 32, 40, 48 KiB, ... up to 32 MiB) for frames read
//!   in one piece and for reads grown past a chunk. A request for `n` bytes
//!   gets the smallest class that holds `n`, so a buffer wastes at most a
//!   quarter.
//!
//! Memory goes back: at most [`MAX_POOLED`] idle chunks and
//! [`MAX_LARGE_POOLED`] bytes of idle large buffers are kept per thread, and
//! [`trim`] (the engine calls it on every core's sweeper tick) frees large
//! buffers that sat unused for a few ticks and idle chunks beyond
//! [`KEEP_CHUNKS`], so a burst of big messages or a wave of connections
//! does not pin memory afterwards.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use bytes::BytesMut;

/// The size of a chunk: 8 KiB, enough for most RPCs in one read, as
/// netpoll's default block of a LinkBuffer node.
pub const CHUNK_SIZE: usize = 8 * 1024;

/// At most this many idle chunks are kept per thread; more are freed.
pub const MAX_POOLED: usize = 256;

/// Idle chunks [`trim`] keeps: enough for a few busy connections.
pub const KEEP_CHUNKS: usize = 32;

/// At most this many bytes of idle large buffers are kept per thread.
pub const MAX_LARGE_POOLED: usize = 64 * 1024 * 1024;

/// The smallest large buffer.
const LARGE_MIN: usize = 16 * 1024;

/// The largest size class (a 16 MiB frame and its header fit).
const LARGE_MAX: usize = 32 * 1024 * 1024;

/// A large buffer sitting unused for this many [`trim`] ticks is freed.
const IDLE_TICKS: u64 = 4;

/// The smallest step a reservation grows by once the budget is spent: a
/// frame's buffer then grows to twice the bytes arrived, and at least this
/// much more.
pub const MIN_STEP: usize = 64 * 1024;

/// The default reservation budget per thread: 64 MiB.
pub const DEFAULT_RESERVE_BUDGET: usize = 64 * 1024 * 1024;

struct Large {
    /// Idle buffers per size class, with the tick they came back at.
    classes: Vec<(usize, VecDeque<(BytesMut, u64)>)>,
    /// Bytes of idle large buffers held.
    bytes: usize,
    tick: u64,
}

thread_local! {
    static POOL: RefCell<VecDeque<BytesMut>> = const { RefCell::new(VecDeque::new()) };
    static LARGE: RefCell<Large> = const {
        RefCell::new(Large {
            classes: Vec::new(),
            bytes: 0,
            tick: 0,
        })
    };
    static RESERVED: Cell<usize> = const { Cell::new(0) };
    /// Bytes of buffers let go since the last [`trim`] (a full pool).
    static DROPPED: Cell<usize> = const { Cell::new(0) };
    static BUDGET: Cell<usize> = const { Cell::new(DEFAULT_RESERVE_BUDGET) };
}

/// How many pooled chunks one [`take`] looks at before allocating.
const SCAN: usize = 32;

/// How many large buffers of a class one [`take`] looks at: more than for
/// chunks, since each may still be held by a large reply being written,
/// and a look costs little next to the message.
const SCAN_LARGE: usize = 64;

/// The size class that holds `n` bytes (`n > CHUNK_SIZE`): 16 KiB, then the
/// next multiple of a quarter of the power of two below `n`.
pub fn size_class(n: usize) -> usize {
    if n <= LARGE_MIN {
        return LARGE_MIN;
    }
    let base = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
    let step = base / 4;
    n.div_ceil(step) * step
}

/// Takes an empty buffer with at least `min` bytes of capacity: a chunk up
/// to [`CHUNK_SIZE`], a large buffer of `min`'s size class above.
///
/// Allocates only when no pooled buffer is free to reuse (its decoded slices
/// still alive) or large enough; otherwise reuses one in place. Pools are
/// queues: buffers come back at the back, often while a write or a request
/// still holds slices of them, so `take` looks at the oldest first (the
/// likeliest to be free by now) and moves a busy one to the back.
pub fn take(min: usize) -> BytesMut {
    if min > CHUNK_SIZE {
        return take_large(min.min(LARGE_MAX));
    }
    let reused = POOL.with(|p| reclaim_from(&mut p.borrow_mut(), CHUNK_SIZE));
    reused.unwrap_or_else(|| BytesMut::with_capacity(CHUNK_SIZE))
}

fn reclaim_from(q: &mut VecDeque<BytesMut>, want: usize) -> Option<BytesMut> {
    for _ in 0..SCAN.min(q.len()) {
        let mut b = q.pop_front()?;
        b.clear();
        if b.try_reclaim(want) {
            return Some(b);
        }
        q.push_back(b);
    }
    None
}

fn take_large(min: usize) -> BytesMut {
    let size = size_class(min);
    let reused = LARGE.with(|l| {
        let mut l = l.borrow_mut();
        let Large { classes, bytes, .. } = &mut *l;
        let (_, q) = classes.iter_mut().find(|(s, _)| *s == size)?;
        // The buffer returned last first: it is warm in the cache, and a
        // connection reading one large message after another usually gave
        // back the previous one's buffer, written out by now.
        if let Some((mut b, at)) = q.pop_back() {
            b.clear();
            if b.try_reclaim(size) {
                *bytes -= size;
                return Some(b);
            }
            q.push_back((b, at));
        }
        for _ in 0..SCAN_LARGE.min(q.len()) {
            let (mut b, at) = q.pop_front()?;
            b.clear();
            if b.try_reclaim(size) {
                *bytes -= size;
                return Some(b);
            }
            q.push_back((b, at));
        }
        None
    });
    reused.unwrap_or_else(|| BytesMut::with_capacity(size))
}

/// Returns a buffer to this thread's pool. Never allocates; frees the
/// buffer when the pool is full. A buffer that was split (its capacity now
/// less than it had when taken) should go back with [`give_sized`].
pub fn give(chunk: BytesMut) {
    let cap = chunk.capacity();
    give_sized(chunk, cap);
}

/// Returns a buffer that had `size` bytes of capacity when it was taken
/// (its allocation's size, reclaimable once the views of it are gone, even
/// if nothing of it is left to write into now).
pub fn give_sized(mut chunk: BytesMut, size: usize) {
    chunk.clear();
    if size == 0 && chunk.capacity() == 0 {
        // No allocation behind it.
        return;
    }
    if size >= LARGE_MIN {
        let size = size.max(chunk.capacity());
        give_large(chunk, size);
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < MAX_POOLED {
            p.push_back(chunk);
        } else {
            dropped(size);
        }
    });
}

/// Counts a buffer let go (its memory goes back to the allocator).
fn dropped(bytes: usize) {
    DROPPED.with(|d| d.set(d.get() + bytes));
}

fn give_large(chunk: BytesMut, cap: usize) {
    // The class this buffer can serve: the largest class size <= cap.
    let mut size = size_class(cap);
    if size > cap {
        let base = 1usize << (usize::BITS - 1 - (size - 1).leading_zeros());
        size -= (base / 4).max(1);
        if size < LARGE_MIN {
            return;
        }
    }
    LARGE.with(|l| {
        let mut l = l.borrow_mut();
        if l.bytes + size > MAX_LARGE_POOLED {
            dropped(size);
            return;
        }
        let tick = l.tick;
        l.bytes += size;
        match l.classes.iter_mut().find(|(s, _)| *s == size) {
            Some((_, q)) => q.push_back((chunk, tick)),
            None => {
                let mut q = VecDeque::new();
                q.push_back((chunk, tick));
                l.classes.push((size, q));
            }
        }
    });
}

/// Advances this thread's pool clock and frees what has sat idle: large
/// buffers unused for a few ticks, and chunks beyond [`KEEP_CHUNKS`].
/// Returns how many bytes went back to the allocator since the last call,
/// here or because the pool was full (the memory is free once the last
/// value decoded from a buffer is dropped).
pub fn trim() -> usize {
    let mut freed = DROPPED.with(|d| d.replace(0));
    LARGE.with(|l| {
        let mut l = l.borrow_mut();
        l.tick += 1;
        let now = l.tick;
        let Large { classes, bytes, .. } = &mut *l;
        for (size, q) in classes.iter_mut() {
            while let Some((_, at)) = q.front() {
                if now - at < IDLE_TICKS {
                    break;
                }
                q.pop_front();
                *bytes -= *size;
                freed += *size;
            }
        }
    });
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        while p.len() > KEEP_CHUNKS {
            p.pop_back();
            freed += CHUNK_SIZE;
        }
    });
    freed
}

/// How many idle chunks this thread's pool holds (for tests and metrics).
pub fn idle() -> usize {
    POOL.with(|p| p.borrow().len())
}

/// How many bytes of idle large buffers this thread's pool holds.
pub fn idle_large_bytes() -> usize {
    LARGE.with(|l| l.borrow().bytes)
}

/// How large a buffer to take for a frame of `want` bytes of which `have`
/// are buffered, and whether it is a full grant (counted in the thread's
/// reservation budget). The caller holds `held` of the budget already
/// (for the same frame).
///
/// The whole frame while the thread's reservations ahead of the bytes
/// stay within its budget ([`set_reserve_budget`], 64 MiB by default), so
/// honest large messages are read into place with no copy; past the budget,
/// twice what has arrived (at least [`MIN_STEP`] more), so a peer that
/// declares a large frame and stalls gets memory only as it sends bytes.
pub fn grant(want: usize, have: usize, held: usize) -> (usize, bool) {
    let ahead = want.saturating_sub(have);
    let others = reserved().saturating_sub(held);
    if others + ahead <= reserve_budget() {
        (want, true)
    } else {
        let step = (have * 2).max(have + MIN_STEP);
        (step.min(want), false)
    }
}

/// Counts `n` more bytes reserved ahead on this thread.
pub fn reserve(n: usize) {
    RESERVED.with(|r| r.set(r.get() + n));
}

/// Counts `n` reserved bytes as arrived (or no longer awaited).
pub fn unreserve(n: usize) {
    RESERVED.with(|r| r.set(r.get().saturating_sub(n)));
}

/// The bytes this thread has reserved ahead of their arrival.
pub fn reserved() -> usize {
    RESERVED.with(Cell::get)
}

/// This thread's reservation budget.
pub fn reserve_budget() -> usize {
    BUDGET.with(Cell::get)
}

/// Sets this thread's reservation budget (see [`grant`]).
pub fn set_reserve_budget(bytes: usize) {
    BUDGET.with(|b| b.set(bytes));
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
        let before = idle();
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
        assert_eq!(idle(), before + 1, "the busy chunk stays pooled for later");
        drop(held);
        let again = take(16);
        assert_eq!(idle(), before, "reclaimed once its slice is gone");
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

    #[test]
    fn size_classes_waste_at_most_a_quarter() {
        assert_eq!(size_class(9000), 16 * 1024);
        assert_eq!(size_class(64 * 1024), 64 * 1024);
        assert_eq!(size_class(64 * 1024 + 4), 80 * 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), (1 << 20) + (1 << 18));
        for n in [16_385usize, 100_000, 999_999, 5_000_000] {
            let c = size_class(n);
            assert!(c >= n && (c - n) * 4 <= c, "{n} -> {c}");
        }
    }

    #[test]
    fn large_buffers_are_reused_by_class_and_trimmed_when_idle() {
        let b = take(70_000);
        let ptr = b.as_ptr();
        assert_eq!(b.capacity(), size_class(70_000));
        give(b);
        let again = take(72_000); // the same class (80 KiB)
        assert_eq!(again.as_ptr(), ptr);
        give(again);
        assert!(idle_large_bytes() >= 80 * 1024);
        for _ in 0..IDLE_TICKS {
            trim();
        }
        assert_eq!(idle_large_bytes(), 0, "idle large buffers are freed");
    }

    #[test]
    fn grants_the_whole_frame_within_the_budget_and_steps_past_it() {
        let old = reserve_budget();
        set_reserve_budget(1 << 20);
        assert_eq!(grant(500_000, 1000, 0), (500_000, true));
        reserve(900_000);
        let (cap, full) = grant(500_000, 1000, 0);
        assert!(!full);
        assert_eq!(cap, 1000 + MIN_STEP);
        // What the caller already holds counts as its own.
        assert_eq!(grant(500_000, 1000, 900_000), (500_000, true));
        unreserve(900_000);
        set_reserve_budget(old);
    }
}
