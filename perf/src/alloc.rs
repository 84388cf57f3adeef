//! A counting global allocator: counts the allocations made on threads that
//! declared a role (server core or load core), so the harness can report
//! heap allocations per request on the server in the steady state.
//!
//! Counting costs one thread-local read per allocation on every thread and
//! one relaxed atomic add on the counted threads. The counters only grow;
//! the harness takes a [`snapshot`] at the start and the end of the
//! measurement window and reports the difference.
//!
//! In trace mode ([`set_tracing`]), each counted allocation on a server
//! thread also captures a backtrace (up to [`TRACE_CAP`] of them), so the
//! harness can say *where* the server allocates. Capturing allocates; a
//! per-thread guard keeps those allocations out of the counts and out of the
//! trace.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Which counters a thread's allocations go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Not counted.
    None = 0,
    /// A server core.
    Server = 1,
    /// A load-generator core.
    Load = 2,
}

thread_local! {
    static ROLE: Cell<u8> = const { Cell::new(Role::None as u8) };
    /// Set while this thread is inside the tracer (its allocations are not
    /// counted or traced again).
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

/// A padded counter pair (allocations, bytes), on its own cache line so the
/// server core and the load core never share one.
#[repr(align(128))]
struct Counters {
    allocs: AtomicU64,
    bytes: AtomicU64,
    /// Bytes freed on the role's threads (live heap = bytes - freed, as far
    /// as memory allocated and freed on those threads goes).
    freed: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            allocs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            freed: AtomicU64::new(0),
        }
    }
}

static SERVER: Counters = Counters::new();
static LOAD: Counters = Counters::new();
static TRACING: AtomicBool = AtomicBool::new(false);
static TRACES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());

/// The most backtraces one run keeps in trace mode.
pub const TRACE_CAP: usize = 20_000;

/// The allocator: the system allocator, counted.
#[derive(Debug)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counting touches only atomics and `const`-initialised
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        uncount(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        uncount(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[inline]
fn count(size: usize) {
    let role = ROLE.try_with(Cell::get).unwrap_or(0);
    if role == Role::None as u8 {
        return;
    }
    if IN_TRACE.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let c = if role == Role::Server as u8 {
        &SERVER
    } else {
        &LOAD
    };
    c.allocs.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(size as u64, Ordering::Relaxed);
    if role == Role::Server as u8 && TRACING.load(Ordering::Relaxed) {
        trace();
    }
}

#[inline]
fn uncount(size: usize) {
    if ROLE.try_with(Cell::get).unwrap_or(0) == Role::Server as u8
        && !IN_TRACE.try_with(Cell::get).unwrap_or(true)
    {
        SERVER.freed.fetch_add(size as u64, Ordering::Relaxed);
    }
}

/// Bytes allocated minus bytes freed on server threads: the server's live
/// heap, as far as it is allocated and freed on its own cores.
pub fn server_live_bytes() -> i64 {
    SERVER.bytes.load(Ordering::Relaxed) as i64 - SERVER.freed.load(Ordering::Relaxed) as i64
}

#[cold]
fn trace() {
    IN_TRACE.with(|t| t.set(true));
    let mut traces = TRACES.lock().unwrap_or_else(|p| p.into_inner());
    if traces.len() < TRACE_CAP {
        traces.push(Backtrace::force_capture());
    }
    drop(traces);
    IN_TRACE.with(|t| t.set(false));
}

/// Declares the calling thread's role: its allocations count from now on.
pub fn set_role(role: Role) {
    ROLE.with(|r| r.set(role as u8));
}

/// Allocation counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Allocations (and reallocations) on server threads.
    pub server_allocs: u64,
    /// Bytes asked for on server threads.
    pub server_bytes: u64,
    /// Allocations on load threads.
    pub load_allocs: u64,
    /// Bytes asked for on load threads.
    pub load_bytes: u64,
}

impl AllocSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &AllocSnapshot) -> AllocSnapshot {
        AllocSnapshot {
            server_allocs: self.server_allocs - earlier.server_allocs,
            server_bytes: self.server_bytes - earlier.server_bytes,
            load_allocs: self.load_allocs - earlier.load_allocs,
            load_bytes: self.load_bytes - earlier.load_bytes,
        }
    }
}

/// The counters now.
pub fn snapshot() -> AllocSnapshot {
    AllocSnapshot {
        server_allocs: SERVER.allocs.load(Ordering::Relaxed),
        server_bytes: SERVER.bytes.load(Ordering::Relaxed),
        load_allocs: LOAD.allocs.load(Ordering::Relaxed),
        load_bytes: LOAD.bytes.load(Ordering::Relaxed),
    }
}

/// Starts or stops capturing a backtrace per server allocation.
pub fn set_tracing(on: bool) {
    TRACING.store(on, Ordering::SeqCst);
}

/// One allocation site: the frames that identify it and how often it was
/// seen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AllocSite {
    /// Allocations captured with this stack.
    pub count: u64,
    /// The innermost frames outside the allocator and the standard library,
    /// innermost first (`function at file:line`).
    pub frames: Vec<String>,
}

/// Takes the captured backtraces and groups them by their first frames
/// outside the allocator and std/alloc/core, most frequent first.
pub fn take_sites(depth: usize) -> Vec<AllocSite> {
    let traces = std::mem::take(&mut *TRACES.lock().unwrap_or_else(|p| p.into_inner()));
    let mut sites: std::collections::HashMap<Vec<String>, u64> = Default::default();
    for bt in &traces {
        let key = interesting_frames(&bt.to_string(), depth);
        *sites.entry(key).or_default() += 1;
    }
    let mut out: Vec<AllocSite> = sites
        .into_iter()
        .map(|(frames, count)| AllocSite { count, frames })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.frames.cmp(&b.frames)));
    out
}

/// Picks `depth` frames from a formatted backtrace, skipping the allocator,
/// the backtrace machinery and the standard library's own frames.
fn interesting_frames(text: &str, depth: usize) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim();
        // "N: symbol" lines, each optionally followed by "at file:line".
        let Some((_, sym)) = line.split_once(": ") else {
            continue;
        };
        if !line.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let at = match lines.peek() {
            Some(next) if next.trim_start().starts_with("at ") => {
                let a = next.trim_start()[3..].to_string();
                lines.next();
                a
            }
            _ => String::new(),
        };
        if boring(sym, &at) {
            continue;
        }
        let at = at
            .rsplit_once("/src/")
            .map(|(_, f)| format!("src/{f}"))
            .unwrap_or(at);
        frames.push(format!("{sym} at {at}"));
        if frames.len() == depth {
            break;
        }
    }
    frames
}

fn boring(sym: &str, at: &str) -> bool {
    const SKIP: &[&str] = &[
        "std::",
        "alloc::",
        "core::",
        "__rust",
        "<alloc::",
        "<core::",
        "<std::",
        "ringrpc_perf::alloc",
        "<ringrpc_perf::alloc",
        "bytes::bytes_mut::",
        "<bytes::",
        "bytes::bytes::",
    ];
    SKIP.iter().any(|s| sym.starts_with(s)) || at.contains("/rustc/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_frames_outside_std_and_the_allocator() {
        let text = "   0: ringrpc_perf::alloc::trace\n             at ./perf/src/alloc.rs:10:5\n   1: alloc::alloc::alloc\n             at /rustc/abc/library/alloc/src/alloc.rs:95:14\n   2: ringrpc_codec::transport::ttheader::Parsed::build\n             at ./codec/src/transport/ttheader.rs:400:27\n   3: ringrpc_engine::server::connection::serve::{{closure}}\n             at ./engine/src/server/connection.rs:200:1\n";
        let f = interesting_frames(text, 1);
        assert_eq!(
            f,
            vec![
                "ringrpc_codec::transport::ttheader::Parsed::build at src/transport/ttheader.rs:400:27"
            ]
        );
        assert_eq!(interesting_frames(text, 5).len(), 2);
    }
}
