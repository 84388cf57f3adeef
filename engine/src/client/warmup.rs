//! Warm-up: resolve the callee and open pool connections before the first
//! call (Kitex's `pkg/warmup`), so the first calls of a new process do not
//! pay the resolve and the connect.
//!
//! Clients are per core, so warm-up runs on the core that builds:
//! [`ClientBuilder::build_warmed`](super::ClientBuilder::build_warmed)
//! builds this core's client and warms it before handing it out;
//! [`Resolve::warm_up`] does it for a client already built and returns
//! what happened. It waits for the first resolve (with a resolver), then
//! opens up to [`WarmUp::conns_per_addr`] connections to every instance, all
//! at once: on the long pool they wait idle (at most the pool's
//! `max_idle_per_addr`), on the mux pool they are the pool's connections (at
//! most its `conns_per_addr`).

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::Resolve;
use crate::{Error, Result};

/// What a failure during warm-up does (Kitex's `warmup.ErrorHandling`,
/// `pkg/warmup/warmup.go`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnWarmUpError {
    /// Carry on (Kitex's `IgnoreError`, its zero value and so its default).
    #[default]
    Ignore,
    /// Log each failure as a warning and carry on (`WarningLog`).
    WarnLog,
    /// Log each failure as an error and carry on (`ErrorLog`).
    ErrorLog,
    /// Fail the warm-up with the first failure (`FailFast`).
    FailFast,
}

/// Warm-up options. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    /// Connections to open to each instance. Default 1 (ours: Kitex's
    /// `PoolOption.ConnNum` has no default, and opens none at 0).
    pub conns_per_addr: usize,
    /// What a failure does. Default [`OnWarmUpError::Ignore`] (Kitex's).
    pub on_error: OnWarmUpError,
    /// The most the whole warm-up may take (resolve and connects; each
    /// connect is also bounded by the client's connect timeout). Default
    /// 5 s (ours: Kitex's warm-up has no bound of its own).
    pub timeout: Duration,
}

impl Default for WarmUp {
    fn default() -> Self {
        Self {
            conns_per_addr: 1,
            on_error: OnWarmUpError::Ignore,
            timeout: Duration::from_secs(5),
        }
    }
}

impl WarmUp {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens `n` connections to each instance.
    pub fn conns_per_addr(mut self, n: usize) -> Self {
        self.conns_per_addr = n;
        self
    }

    /// Sets what a failure does.
    pub fn on_error(mut self, on_error: OnWarmUpError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Bounds the whole warm-up.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
}

/// What a warm-up did.
#[derive(Debug, Default)]
pub struct WarmUpReport {
    /// The instances found.
    pub instances: usize,
    /// Connections opened.
    pub connected: usize,
    /// What failed (connects, the resolve, the time limit), unless
    /// [`OnWarmUpError::FailFast`] returned the first instead.
    pub failures: Vec<Error>,
}

impl WarmUpReport {
    fn failed(&mut self, e: Error, on_error: OnWarmUpError) -> Result<()> {
        match on_error {
            OnWarmUpError::Ignore => {}
            OnWarmUpError::WarnLog => tracing::warn!(error = %e, "client warm-up"),
            OnWarmUpError::ErrorLog => tracing::error!(error = %e, "client warm-up"),
            OnWarmUpError::FailFast => return Err(e),
        }
        self.failures.push(e);
        Ok(())
    }
}

type Connect<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

impl Resolve {
    /// Warms this core's client up: waits for the first resolve, then opens
    /// connections to every instance (see the module docs). With
    /// [`OnWarmUpError::FailFast`] the first failure is returned; otherwise
    /// failures are in the report.
    pub async fn warm_up(&self, opts: &WarmUp) -> Result<WarmUpReport> {
        let mut report = WarmUpReport::default();
        let work = async {
            if let Err(e) = self.refresh().await {
                return report.failed(e, opts.on_error);
            }
            let addrs: Vec<SocketAddr> = self.core().instances.borrow().addrs();
            report.instances = addrs.len();
            let mut connects: Vec<Connect<'_>> = addrs
                .iter()
                .flat_map(|&a| {
                    (0..self.invoke().warm_conns(opts.conns_per_addr))
                        .map(move |_| Box::pin(self.invoke().warm(a)) as Connect<'_>)
                })
                .collect();
            // All at once; each result as it comes.
            while !connects.is_empty() {
                let r = poll_fn(|cx| {
                    for i in 0..connects.len() {
                        if let Poll::Ready(r) = connects[i].as_mut().poll(cx) {
                            drop(connects.swap_remove(i));
                            return Poll::Ready(r);
                        }
                    }
                    Poll::Pending
                })
                .await;
                match r {
                    Ok(()) => report.connected += 1,
                    Err(e) => report.failed(e, opts.on_error)?,
                }
            }
            Ok::<(), Error>(())
        };
        let done = monoio::time::timeout(opts.timeout, work).await;
        match done {
            Ok(r) => r?,
            Err(_) => report.failed(Error::Timeout(opts.timeout), opts.on_error)?,
        }
        tracing::debug!(
            instances = report.instances,
            connected = report.connected,
            failed = report.failures.len(),
            "client warmed up"
        );
        Ok(report)
    }
}
