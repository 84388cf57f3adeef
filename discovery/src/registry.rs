//! Service registration: a server announces itself so clients can resolve
//! it.
//!
//! Kitex's server registers one second after it starts listening (so the
//! listener is ready when the first client arrives; `server/server.go`
//! waits `1 * time.Second`) and deregisters *first* when shutting down, so
//! clients stop picking it before it stops accepting. A
//! [`RegistrationTask`] does exactly that from a plain thread, with
//! `crossbeam-channel` for the stop signal, so the engine's shutdown path
//! (not a core) can start and stop it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::{DEFAULT_WEIGHT, Error, Result};

/// Kitex's delay between listening and registering (`server/server.go`).
pub const DEFAULT_REGISTER_DELAY: Duration = Duration::from_secs(1);

/// What a server registers (Kitex's `registry.Info`, less what we do not
/// use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInfo {
    /// The service name clients resolve.
    pub service_name: String,
    /// The address clients should connect to.
    pub addr: SocketAddr,
    /// The weight clients should give it (default [`DEFAULT_WEIGHT`]).
    pub weight: u32,
    /// Free-form tags (e.g. cluster, zone).
    pub tags: HashMap<String, String>,
}

impl RegistryInfo {
    /// Info for `service_name` at `addr` with the default weight and no
    /// tags.
    pub fn new(service_name: impl Into<String>, addr: SocketAddr) -> Self {
        RegistryInfo {
            service_name: service_name.into(),
            addr,
            weight: DEFAULT_WEIGHT,
            tags: HashMap::new(),
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// A service registry (etcd, ...). Calls may block; they are made from
/// plain threads.
pub trait Registry: Send + Sync + 'static {
    /// Announces `info` (and keeps it alive, e.g. by lease keepalive, until
    /// deregistered).
    fn register(&self, info: &RegistryInfo) -> Result<()>;
    /// Withdraws `info`.
    fn deregister(&self, info: &RegistryInfo) -> Result<()>;
}

/// Where a [`RegistrationTask`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// Waiting for the delay to pass (or retrying after a failure).
    Waiting,
    /// Registered.
    Registered,
    /// Stopped (deregistered if it had registered).
    Stopped,
}

#[derive(Debug)]
struct StatusCell {
    status: Mutex<(RegistrationStatus, Option<Error>)>,
    cond: Condvar,
}

impl StatusCell {
    fn set(&self, status: RegistrationStatus, error: Option<Error>) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = (status, error);
        self.cond.notify_all();
    }
}

/// Registers a server after a delay, retries a failed registration, and
/// deregisters on [`stop`](Self::stop) (or drop). Runs on its own thread.
#[derive(Debug)]
pub struct RegistrationTask {
    stop_tx: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
    status: Arc<StatusCell>,
}

impl RegistrationTask {
    /// Starts the task: register `info` with `registry` after `delay`
    /// ([`DEFAULT_REGISTER_DELAY`] as Kitex), retrying a failure after
    /// `delay` doubled each time (at most 30 s) until it succeeds or is
    /// stopped.
    pub fn start(registry: Arc<dyn Registry>, info: RegistryInfo, delay: Duration) -> Result<Self> {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let status = Arc::new(StatusCell {
            status: Mutex::new((RegistrationStatus::Waiting, None)),
            cond: Condvar::new(),
        });
        let cell = status.clone();
        let thread = std::thread::Builder::new()
            .name("ringrpc-registration".into())
            .spawn(move || run(&*registry, &info, delay, &stop_rx, &cell))?;
        Ok(RegistrationTask {
            stop_tx: Some(stop_tx),
            thread: Some(thread),
            status,
        })
    }

    /// The current status, and the last registration error if any.
    pub fn status(&self) -> (RegistrationStatus, Option<Error>) {
        self.status
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Blocks until registered (true) or `timeout` passes (false).
    pub fn wait_registered(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.status.status.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if guard.0 == RegistrationStatus::Registered {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || guard.0 == RegistrationStatus::Stopped {
                return false;
            }
            guard = self
                .status
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops the task: cancels a pending registration, or deregisters.
    /// Returns the deregistration's result. Call it first at shutdown.
    pub fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        drop(self.stop_tx.take());
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Err(Error::Closed)),
            None => Ok(()),
        }
    }
}

impl Drop for RegistrationTask {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::warn!(%error, "deregister failed");
        }
    }
}

fn run(
    registry: &dyn Registry,
    info: &RegistryInfo,
    delay: Duration,
    stop: &Receiver<()>,
    status: &StatusCell,
) -> Result<()> {
    let mut wait = delay;
    loop {
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop asked (or the handle is gone) before registering.
            _ => {
                status.set(RegistrationStatus::Stopped, None);
                return Ok(());
            }
        }
        match registry.register(info) {
            Ok(()) => {
                tracing::info!(service = %info.service_name, addr = %info.addr, "registered");
                status.set(RegistrationStatus::Registered, None);
                break;
            }
            Err(error) => {
                tracing::warn!(service = %info.service_name, %error, "register failed; will retry");
                status.set(RegistrationStatus::Waiting, Some(error));
                wait = (wait.max(Duration::from_millis(10)) * 2).min(Duration::from_secs(30));
            }
        }
    }
    // Registered: wait for stop, then deregister.
    let _ = stop.recv();
    let result = registry.deregister(info);
    status.set(RegistrationStatus::Stopped, result.clone().err());
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    struct Recorder {
        registered: Mutex<Vec<SocketAddr>>,
        fail_first: AtomicU32,
        deregisters: AtomicU32,
    }

    impl Registry for Recorder {
        fn register(&self, info: &RegistryInfo) -> Result<()> {
            if self
                .fail_first
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(Error::Timeout { what: "register" });
            }
            self.registered.lock().unwrap().push(info.addr);
            Ok(())
        }
        fn deregister(&self, info: &RegistryInfo) -> Result<()> {
            self.registered.lock().unwrap().retain(|a| *a != info.addr);
            self.deregisters.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }
    }

    fn info() -> RegistryInfo {
        RegistryInfo::new("echo", "127.0.0.1:9000".parse().unwrap())
    }

    #[test]
    fn registers_after_delay_and_deregisters_on_stop() {
        let reg = Arc::new(Recorder::default());
        let task = RegistrationTask::start(reg.clone(), info(), Duration::from_millis(10)).unwrap();
        assert!(task.wait_registered(Duration::from_secs(5)));
        assert_eq!(reg.registered.lock().unwrap().len(), 1);
        task.stop().unwrap();
        assert!(reg.registered.lock().unwrap().is_empty());
        assert_eq!(reg.deregisters.load(Ordering::Acquire), 1);
    }

    #[test]
    fn stop_before_delay_never_registers() {
        let reg = Arc::new(Recorder::default());
        let task = RegistrationTask::start(reg.clone(), info(), Duration::from_secs(60)).unwrap();
        assert_eq!(task.status().0, RegistrationStatus::Waiting);
        task.stop().unwrap();
        assert!(reg.registered.lock().unwrap().is_empty());
        assert_eq!(reg.deregisters.load(Ordering::Acquire), 0);
    }

    #[test]
    fn retries_a_failed_registration() {
        let reg = Arc::new(Recorder {
            fail_first: AtomicU32::new(2),
            ..Default::default()
        });
        let task = RegistrationTask::start(reg.clone(), info(), Duration::from_millis(1)).unwrap();
        assert!(task.wait_registered(Duration::from_secs(5)));
        drop(task);
        assert_eq!(reg.deregisters.load(Ordering::Acquire), 1);
    }
}
