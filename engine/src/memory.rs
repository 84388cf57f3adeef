//! Giving freed memory back to the operating system.
//!
//! Buffers a core lets go (idle pooled buffers, the state of closed
//! connections) go back to the allocator, but glibc's malloc keeps freed
//! memory in its arenas: after a wave of connections or a burst of large
//! messages, the process's RSS would stay at its peak. [`release`] asks the
//! allocator to return free pages (`malloc_trim`), at most once per second
//! for the whole process however many cores ask. Elsewhere (other C
//! libraries, or Rust's own allocator replaced) it does nothing: this module
//! is the one place that knows which allocator is underneath.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The least time between two trims.
const INTERVAL: Duration = Duration::from_secs(1);

/// When the last trim ran, in milliseconds since `epoch()`.
static LAST_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Returns free heap memory to the operating system, unless another core
/// did less than a second ago. Returns whether it ran. Takes a few
/// milliseconds on a large heap: call it from a sweeper, never per request.
pub(crate) fn release() -> bool {
    let now = epoch().elapsed().as_millis() as u64 + INTERVAL.as_millis() as u64;
    let last = LAST_MS.load(Ordering::Relaxed);
    if now < last + INTERVAL.as_millis() as u64 {
        return false;
    }
    if LAST_MS
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    trim();
    true
}

#[cfg(target_env = "gnu")]
fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas; 0 asks it to keep
    // no padding at the top of the heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_at_most_once_a_second() {
        // The first call may or may not run (another test's core may have
        // trimmed); right after one that ran, the next must not.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !release() {
            assert!(Instant::now() < deadline, "never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!release(), "a second trim within the interval");
    }
}
