//! A running server: its address, its registration, and graceful shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringrpc_discovery::{RegistrationStatus, RegistrationTask};

use super::limit::LimitHandle;
use crate::notify::Signal;
use crate::runtime::Runtime;

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    pub(super) runtime: Option<Runtime>,
    pub(super) local_addr: SocketAddr,
    pub(super) shutdown: Signal,
    pub(super) drained: crossbeam_channel::Receiver<()>,
    pub(super) cores: usize,
    pub(super) shutdown_timeout: Duration,
    pub(super) registration: Option<RegistrationTask>,
    pub(super) limits: LimitHandle,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's limits: read or change them while it runs, and see what
    /// they refused.
    pub fn limits(&self) -> &LimitHandle {
        &self.limits
    }

    /// Each core's traffic counters (connections and calls now, calls and
    /// bytes so far), indexed by core.
    pub fn stats(&self) -> Vec<super::CoreStats> {
        self.limits.core_stats()
    }

    /// Where the registration stands (`None`: no registry, or already
    /// deregistered).
    pub fn registration_status(&self) -> Option<RegistrationStatus> {
        self.registration.as_ref().map(|t| t.status().0)
    }

    /// Blocks until the server is registered (true), or `timeout` passes or
    /// there is no registration (false).
    pub fn wait_registered(&self, timeout: Duration) -> bool {
        self.registration
            .as_ref()
            .is_some_and(|t| t.wait_registered(timeout))
    }

    /// Withdraws the server from its registry (or cancels a registration
    /// still waiting for its delay) and keeps serving: clients stop picking
    /// it as their discovery catches up, and calls already sent finish.
    /// A no-op without a registry or when already done. Blocks for the
    /// registry's round trip.
    pub fn deregister(&mut self) -> ringrpc_discovery::Result<()> {
        match self.registration.take() {
            Some(task) => task.stop(),
            None => Ok(()),
        }
    }

    /// Graceful shutdown: deregisters first (with a registry), then every
    /// core stops accepting, TTHeader replies carry `crrst`, in-flight
    /// requests finish (up to the shutdown timeout), then connections close
    /// and the cores stop. Blocks until done.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Serves until the process receives SIGINT or SIGTERM, then shuts down
    /// gracefully (as [`shutdown`](Self::shutdown)); returns the signal's
    /// number. See [`signals::wait_for_termination`](super::signals::wait_for_termination).
    pub fn run_until_signal(self) -> std::io::Result<i32> {
        let sig = super::signals::wait_for_termination()?;
        tracing::info!(signal = sig, "shutting down");
        self.shutdown();
        Ok(sig)
    }

    fn stop_now(&mut self) {
        if let Err(error) = self.deregister() {
            tracing::warn!(%error, "deregistering at shutdown failed");
        }
        let Some(rt) = self.runtime.take() else {
            return;
        };
        self.shutdown.raise();
        let deadline = Instant::now() + self.shutdown_timeout + Duration::from_secs(1);
        for _ in 0..self.cores {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                tracing::warn!("a core did not drain before the shutdown timeout");
                break;
            }
        }
        rt.stop();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
