//! Notifications between threads and within a core (not OS signals: those
//! are [`crate::server::signals`]).
//!
//! [`Signal`] is a one-shot flag a plain thread raises (shutdown, drain) and
//! any number of cores await; monoio's `sync` feature makes waking a core from
//! another thread legal. Raising and registering take a mutex, but neither is
//! on the request path: a core checks [`Signal::is_raised`] with one atomic
//! load. [`LocalNotify`] wakes one task on the same core, with no atomics.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct SignalInner {
    raised: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

/// A one-shot flag shared across threads, awaitable on a core.
#[derive(Debug, Clone, Default)]
pub struct Signal(Arc<SignalInner>);

impl Signal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal and wakes every waiter. Idempotent.
    pub fn raise(&self) {
        self.0.raised.store(true, Ordering::Release);
        let waiters =
            std::mem::take(&mut *self.0.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for w in waiters {
            w.wake();
        }
    }

    /// Whether the signal is raised (one atomic load).
    pub fn is_raised(&self) -> bool {
        self.0.raised.load(Ordering::Acquire)
    }

    /// Resolves once the signal is raised.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait(self)
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
pub struct SignalWait<'a>(&'a Signal);

impl Future for SignalWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.is_raised() {
            return Poll::Ready(());
        }
        let mut w = self.0.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if self.0.is_raised() {
            return Poll::Ready(());
        }
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Wakes one waiting task on the same core. `notify` before `notified` is
/// remembered (one permit), so a wake-up is never lost.
#[derive(Default)]
pub struct LocalNotify {
    permit: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl std::fmt::Debug for LocalNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNotify")
            .field("permit", &self.permit.get())
            .finish()
    }
}

impl LocalNotify {
    /// A notify with no permit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the permit and wakes the waiter, if any.
    pub fn notify(&self) {
        self.permit.set(true);
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }

    /// Resolves once a permit is available, consuming it.
    pub fn notified(&self) -> Notified<'_> {
        Notified(self)
    }
}

/// The future of [`LocalNotify::notified`].
#[derive(Debug)]
pub struct Notified<'a>(&'a LocalNotify);

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.permit.replace(false) {
            return Poll::Ready(());
        }
        // Replacing the waker each poll costs a clone only when it changed.
        match self.0.waiter.take() {
            Some(w) if w.will_wake(cx.waker()) => self.0.waiter.set(Some(w)),
            _ => self.0.waiter.set(Some(cx.waker().clone())),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_wakes_when_another_thread_raises() {
        let s = Signal::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .build()
                .expect("runtime");
            rt.block_on(async move { s2.wait().await });
        });
        // Whether the core parks before or after the raise, it must finish.
        s.raise();
        t.join().expect("the core woke and finished");
        assert!(s.is_raised());
    }

    #[test]
    fn local_notify_keeps_one_permit() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let n = LocalNotify::new();
            n.notify();
            n.notify();
            n.notified().await; // the permit given before waiting
            assert!(!n.permit.get(), "one permit, consumed");
        });
    }
}
