//! The counting global allocator the benches share: every allocation on any
//! thread adds one to [`ALLOCS`], and [`record`] keeps a per-benchmark
//! figure that [`print_table`] prints after criterion's output.
#![allow(dead_code)] // each bench uses what it needs

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

/// Allocations (alloc, alloc_zeroed, realloc) since the process started.
pub static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; counting is one atomic
// add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static TABLE: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

/// The allocation count now.
pub fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Keeps `per` allocations per operation for benchmark `name`.
pub fn record(name: &str, per: f64) {
    TABLE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((name.to_string(), per));
}

/// Counts `f`'s allocations per call (after a warm-up), then benchmarks it.
pub fn bench(c: &mut criterion::Criterion, name: &str, mut f: impl FnMut()) {
    for _ in 0..100 {
        f();
    }
    const N: u64 = 1000;
    let before = allocs();
    for _ in 0..N {
        f();
    }
    record(name, (allocs() - before) as f64 / N as f64);
    c.bench_function(name, |b| b.iter(&mut f));
}

/// For a round trip timed by the bench itself (`call_n(n)` makes `n`
/// calls and returns how long they took): warms up, counts allocations per
/// call, then benchmarks it with `iter_custom`.
pub fn round_trips(
    c: &mut criterion::Criterion,
    name: &str,
    mut call_n: impl FnMut(u64) -> std::time::Duration,
) {
    const N: u64 = 2000;
    call_n(N);
    let before = allocs();
    call_n(N);
    record(name, (allocs() - before) as f64 / N as f64);
    c.bench_function(name, |b| b.iter_custom(&mut call_n));
}

/// Prints the allocations per operation of every benchmark recorded.
pub fn print_table() {
    let t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    println!("\nallocations per operation (after warm-up):");
    for (name, per) in t.iter() {
        println!("  {name:<44} {per:>6.2}");
    }
}
