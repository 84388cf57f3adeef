//! The OS signals a server stops on: SIGINT and SIGTERM.
//!
//! [`wait_for_termination`] installs a handler for both, blocks the calling
//! thread until one arrives, and puts the previous handlers back, so a
//! second signal during a slow shutdown acts as it would have (by default,
//! it ends the process). The handler only writes the signal's number to a
//! pipe (`write` is async-signal-safe), and it does not matter which thread
//! the kernel delivers the signal to: no thread's signal mask needs to be
//! set up before the cores start.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The write end of the pipe the handler writes to (-1: none).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Whether the handlers are installed (a waiter is waiting).
static ARMED: AtomicBool = AtomicBool::new(false);

/// One waiter at a time installs the handlers.
static WAITING: Mutex<()> = Mutex::new(());

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: `write` is async-signal-safe; `byte` lives for the call.
        // A full pipe (EAGAIN: the waiter has a signal already) is fine.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Turns a libc return value of -1 into the OS error.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Blocks the calling thread until the process receives SIGINT or SIGTERM;
/// returns the signal's number. Errors if the pipe or the handlers cannot
/// be set up.
pub fn wait_for_termination() -> io::Result<i32> {
    let _one = WAITING.lock().unwrap_or_else(|p| p.into_inner());
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `pipe2` writes two descriptors into `fds`.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    let [rd, wr] = fds;
    // The handler must never block: a non-blocking write end.
    // SAFETY: plain fcntl calls on a descriptor this function owns.
    let set_nonblock = unsafe {
        let flags = libc::fcntl(wr, libc::F_GETFL);
        if flags == -1 {
            -1
        } else {
            libc::fcntl(wr, libc::F_SETFL, flags | libc::O_NONBLOCK)
        }
    };
    let out = check(set_nonblock).and_then(|_| {
        PIPE_WRITE.store(wr, Ordering::Relaxed);
        let sig = Handlers::install().and_then(|_handlers| {
            ARMED.store(true, Ordering::Release);
            let sig = read_signal(rd);
            ARMED.store(false, Ordering::Release);
            sig
        });
        PIPE_WRITE.store(-1, Ordering::Relaxed);
        sig
    });
    // SAFETY: both descriptors are this function's; nothing uses them now.
    unsafe {
        libc::close(rd);
        libc::close(wr);
    }
    out
}

/// Reads one signal number off the pipe, retrying when interrupted.
fn read_signal(rd: libc::c_int) -> io::Result<i32> {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into `byte`.
        let n = unsafe { libc::read(rd, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 => return Ok(i32::from(byte)),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// The handlers of SIGINT and SIGTERM while installed; the previous ones
/// come back on drop.
struct Handlers {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Handlers {
    fn install() -> io::Result<Self> {
        let mut h = Handlers {
            previous: Vec::with_capacity(2),
        };
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed `sigaction` is a valid starting value; the
            // handler is an `extern "C" fn(c_int)` as `sa_sigaction` expects
            // without SA_SIGINFO; `old` receives the previous action.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                check(libc::sigemptyset(&mut action.sa_mask))?;
                let mut old: libc::sigaction = std::mem::zeroed();
                check(libc::sigaction(sig, &action, &mut old))?;
                h.previous.push((sig, old));
            }
        }
        Ok(h)
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for (sig, old) in self.previous.drain(..) {
            // SAFETY: puts back the action `sigaction` returned earlier.
            let restored = unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
            if restored == -1 {
                tracing::warn!(
                    signal = sig,
                    "could not restore the previous handler: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_to_any_thread_ends_the_wait_and_the_old_handler_returns() {
        let waiter = std::thread::spawn(wait_for_termination);
        // Raise until the waiter has its handler in place: before that the
        // default action would end the test process, so look first.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ARMED.load(Ordering::Acquire) {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiter never armed"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: sends SIGTERM to this process; the handler is installed.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        let sig = waiter.join().expect("no panic").expect("a signal");
        assert_eq!(sig, libc::SIGTERM);
        // The default disposition is back (checked without raising it).
        // SAFETY: queries the current action into `now`.
        unsafe {
            let mut now: libc::sigaction = std::mem::zeroed();
            assert_eq!(
                libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut now),
                0
            );
            assert_eq!(now.sa_sigaction, libc::SIG_DFL);
        }
    }
}
