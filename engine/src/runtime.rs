//! The thread-per-core runtime: N worker threads, each one monoio event loop
//! pinned to its own CPU.
//!
//! Each worker runs io_uring where the kernel allows it and falls back to the
//! epoll driver otherwise (`MONOIO_FORCE_LEGACY_DRIVER=1` forces the
//! fallback); the fallback is logged once. Work reaches a core only at start
//! (or through [`Runtime::spawn_on_every_core`], which is for setup, not for
//! requests): after that, a core's tasks own their state and never hop.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;

use crate::notify::Signal;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    cores: Option<usize>,
    first_core: usize,
    pin: bool,
    entries: u32,
    name: String,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            cores: None,
            first_core: 0,
            pin: true,
            entries: 1024,
            name: "ringrpc-core".into(),
        }
    }
}

impl RuntimeBuilder {
    /// A builder with the defaults: one worker per available core, pinned,
    /// 1024 io_uring entries per worker.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many worker threads (default: every available core).
    pub fn cores(mut self, n: usize) -> Self {
        self.cores = Some(n.max(1));
        self
    }

    /// The CPU index the first worker is pinned to (default 0); worker `i`
    /// goes to CPU `first + i` modulo the CPU count. Lets a load generator
    /// and a server share a machine without sharing cores.
    pub fn first_core(mut self, first: usize) -> Self {
        self.first_core = first;
        self
    }

    /// Whether to pin workers to CPUs (default true).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// io_uring submission queue entries per worker (default 1024).
    pub fn uring_entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// The worker threads' name prefix (default `ringrpc-core`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Starts the workers. Each runs `init(core_index)` as its first task.
    pub fn start<F, Fut>(self, init: F) -> std::io::Result<Runtime>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let n = self.cores.unwrap_or_else(available_cores);
        let cpus = core_affinity::get_core_ids().unwrap_or_default();
        let stop = Signal::new();
        let init = Arc::new(init);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let inbox = Arc::new(Inbox::default());
            let cpu = if self.pin && !cpus.is_empty() {
                Some(cpus[(self.first_core + i) % cpus.len()])
            } else {
                None
            };
            let (stop, init, inbox2, entries) =
                (stop.clone(), init.clone(), inbox.clone(), self.entries);
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        core_affinity::set_for_current(cpu);
                    }
                    let mut rt = match build_local(entries) {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    rt.block_on(async move {
                        monoio::spawn(init(i));
                        loop {
                            for job in inbox2.take() {
                                monoio::spawn(job());
                            }
                            if stop.is_raised() {
                                break;
                            }
                            monoio::select! {
                                _ = stop.wait() => {}
                                _ = inbox2.signal.wait_reset() => {}
                            }
                        }
                    });
                })?;
            ready_rx
                .recv()
                .map_err(|_| std::io::Error::other("worker died while starting"))??;
            workers.push(Worker { thread, inbox });
        }
        Ok(Runtime { workers, stop })
    }
}

/// The CPUs this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The monoio runtime type every ringrpc core runs.
pub type LocalRuntime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// Builds one core's event loop: io_uring when available, epoll otherwise
/// (logged once per process), with timers.
pub fn build_local(entries: u32) -> std::io::Result<LocalRuntime> {
    static FALLBACK: Once = Once::new();
    if !monoio::utils::detect_uring() {
        FALLBACK.call_once(|| {
            tracing::warn!(
                "io_uring unavailable (or MONOIO_FORCE_LEGACY_DRIVER set): using the epoll driver"
            );
        });
    }
    let base = || {
        monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .with_entries(entries)
            .enable_timer()
    };
    // By default the kernel interrupts the ring's thread (an IPI) to run each
    // socket completion's task work as soon as data arrives; on loopback
    // under load that storm costs more than the RPC (measured with
    // ringrpc-perf: 147k → 210k QPS, 6.7 → 4.7 µs of server CPU per request).
    // COOP_TASKRUN defers the work to the thread's next syscall. Kernels
    // before 5.19 refuse the flag: then the default ring. (DEFER_TASKRUN
    // would stall IO behind a task that keeps waking itself, since monoio
    // reaps deferred work only when it parks.)
    let mut ring = io_uring::IoUring::builder();
    ring.setup_coop_taskrun().setup_taskrun_flag();
    match base().uring_builder(ring).build() {
        Ok(rt) => Ok(rt),
        Err(_) => base().build(),
    }
}

/// Runs a future to completion on a fresh single-core event loop on this
/// thread (clients in tools and tests).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut rt = build_local(256).expect("build a monoio runtime");
    rt.block_on(f)
}

/// Whether this process's cores run on io_uring (false: the epoll fallback).
pub fn uses_io_uring() -> bool {
    monoio::utils::detect_uring()
}

#[derive(Default)]
struct Inbox {
    jobs: Mutex<Vec<Job>>,
    signal: ResettableSignal,
}

impl Inbox {
    fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A signal raised by `spawn_on_every_core` and reset by the core when it
/// drains its inbox.
#[derive(Default)]
struct ResettableSignal(Mutex<Signal>);

impl ResettableSignal {
    fn raise(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).raise();
    }
    async fn wait_reset(&self) {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        s.wait().await;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Signal::new();
    }
}

struct Worker {
    thread: JoinHandle<()>,
    inbox: Arc<Inbox>,
}

/// Running worker threads, one event loop each.
pub struct Runtime {
    workers: Vec<Worker>,
    stop: Signal,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.workers.len())
            .field("stopped", &self.stop.is_raised())
            .finish()
    }
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    /// The number of worker cores.
    pub fn cores(&self) -> usize {
        self.workers.len()
    }

    /// Runs `f(core_index)` as a new task on every core (setup work; not for
    /// the request path).
    pub fn spawn_on_every_core<F, Fut>(&self, f: F)
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let f = Arc::new(f);
        for (i, w) in self.workers.iter().enumerate() {
            let f = f.clone();
            let job: Job = Box::new(move || Box::pin(f(i)));
            w.inbox
                .jobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(job);
            w.inbox.signal.raise();
        }
    }

    /// Stops every core's event loop (tasks still running are dropped) and
    /// joins the threads. For a graceful stop, drain the server first.
    pub fn stop(self) {
        self.stop.raise();
        for w in self.workers {
            let _ = w.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_init_and_jobs_on_every_core_and_stops() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let rt = Runtime::builder()
            .cores(2)
            .pin(false)
            .start(move |_| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                }
            })
            .expect("start");
        let h = hits.clone();
        rt.spawn_on_every_core(move |i| {
            let h = h.clone();
            async move {
                h.fetch_add(10 + i, Ordering::SeqCst);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hits.load(Ordering::SeqCst) != 2 + 10 + 11 {
            assert!(std::time::Instant::now() < deadline, "cores ran their work");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        rt.stop();
    }
}
