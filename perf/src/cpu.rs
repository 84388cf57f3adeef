//! CPU time of threads and processes, read from another thread.
//!
//! A thread registers itself ([`CpuClock::this_thread`]) and anyone may read
//! its clock later (`pthread_getcpuclockid`); a child process's clock comes
//! from `clock_getcpuclockid`. Both have nanosecond resolution, unlike
//! `/proc/<pid>/stat`'s clock ticks.

use std::sync::Mutex;

/// A CPU-time clock of one thread or one process.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock(libc::clockid_t);

impl CpuClock {
    /// The calling thread's CPU clock (readable from any thread of this
    /// process while the thread lives).
    pub fn this_thread() -> std::io::Result<CpuClock> {
        let mut clk: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread and
        // `clk` is a valid out-pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clk) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(CpuClock(clk))
    }

    /// The CPU clock of process `pid` (all its threads).
    pub fn process(pid: u32) -> std::io::Result<CpuClock> {
        let mut clk: libc::clockid_t = 0;
        // SAFETY: `clk` is a valid out-pointer.
        let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clk) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(CpuClock(clk))
    }

    /// CPU time used so far, in nanoseconds (0 when the clock is gone).
    pub fn now_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; a stale clock id yields an
        // error return, not undefined behaviour.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        if rc != 0 {
            return 0;
        }
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// The clocks of a group of threads (the server's cores, the load cores).
#[derive(Debug, Default)]
pub struct ThreadGroup(Mutex<Vec<CpuClock>>);

impl ThreadGroup {
    /// An empty group.
    pub const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// Adds the calling thread.
    pub fn join(&self) {
        if let Ok(c) = CpuClock::this_thread() {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        }
    }

    /// The group's total CPU time, in nanoseconds.
    pub fn total_ns(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(CpuClock::now_ns)
            .sum()
    }

    /// Forgets every thread (before a new run).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_clock_advances() {
        // Spins until this thread's clock shows 1 ms of CPU, with a wall
        // bound only against a clock that never moves: on a loaded machine
        // a thread may get a small share of a core, so no CPU-per-wall
        // ratio is assumed.
        let c = CpuClock::this_thread().unwrap();
        let a = c.now_ns();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while c.now_ns() < a + 1_000_000 && t.elapsed() < std::time::Duration::from_secs(60) {
            for _ in 0..10_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        assert!(x > 0);
        assert!(
            c.now_ns() >= a + 1_000_000,
            "spinning shows on the thread's clock"
        );
        let p = CpuClock::process(std::process::id()).unwrap();
        assert!(p.now_ns() >= c.now_ns());
    }
}
