//! The harness's own event loops (load cores and the raw echo server), with
//! a choice of io_uring task-run mode.
//!
//! By default the kernel runs a socket completion's task work by
//! interrupting the thread that owns the ring (an IPI) as soon as data
//! arrives. On loopback TCP under load that interrupt storm costs more than
//! the RPC itself. `IORING_SETUP_COOP_TASKRUN` lets the kernel run the work
//! at the thread's next syscall instead, and `DEFER_TASKRUN` only when the
//! thread asks for completions. The generator uses `coop` by default: it is
//! safe with a task that spins (the open loop's pacer), which `defer` is not
//! (monoio only asks for completions when it parks).

use ringrpc::engine::runtime::LocalRuntime;

/// How the ring runs completion task work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UringMode {
    /// The kernel's default: interrupt the thread (monoio's default).
    Plain,
    /// `IORING_SETUP_COOP_TASKRUN | TASKRUN_FLAG`: at the next syscall.
    Coop,
    /// `IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER`: when reaping.
    Defer,
}

/// Builds an event loop like `ringrpc::engine::runtime::build_local`, with
/// `mode`; falls back to the default mode where the kernel refuses it (and
/// to epoll where io_uring is unavailable).
pub fn build(entries: u32, mode: UringMode) -> std::io::Result<LocalRuntime> {
    let base = || {
        monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .with_entries(entries)
            .enable_timer()
    };
    let mut u = io_uring::IoUring::builder();
    match mode {
        UringMode::Plain => return base().build(),
        UringMode::Coop => {
            u.setup_coop_taskrun().setup_taskrun_flag();
        }
        UringMode::Defer => {
            u.setup_defer_taskrun().setup_single_issuer();
        }
    }
    match base().uring_builder(u).build() {
        Ok(rt) => Ok(rt),
        Err(_) => base().build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_builds_and_runs_a_timer() {
        for mode in [UringMode::Plain, UringMode::Coop, UringMode::Defer] {
            let mut rt = build(64, mode).unwrap();
            rt.block_on(async {
                monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            });
        }
    }
}
