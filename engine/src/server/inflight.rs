//! The requests one connection serves concurrently, polled by the
//! connection's own task: no task is spawned per request.
//!
//! Each slot holds a *worker*: a future, made once when the slot is made,
//! that serves the requests handed to it one after another for as long as
//! the connection lives. A request only moves its own small value into the
//! slot's mailbox; the worker's state (the whole dispatch future, a couple
//! of KiB: decode, context, middleware, handler, reply) is built in place
//! and never moved again. Slots are reused, so once a connection has seen
//! its peak concurrency, serving allocates nothing. A request is polled
//! once when it is added (most finish right away) and again whenever the
//! connection task is woken.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Where a slot's next request waits for its worker, and whether the worker
/// is serving one.
pub(crate) struct Mailbox<T> {
    next: Cell<Option<T>>,
    busy: Cell<bool>,
}

impl<T> Mailbox<T> {
    /// Waits for the next request handed to this slot.
    pub(crate) async fn recv(&self) -> T {
        poll_fn(|_| match self.next.take() {
            Some(t) => Poll::Ready(t),
            // The connection polls the worker right after it hands over a
            // request, so nothing needs waking.
            None => Poll::Pending,
        })
        .await
    }

    /// Marks the request the worker took as finished.
    pub(crate) fn done(&self) {
        self.busy.set(false);
    }
}

struct Slot<T, F> {
    mailbox: Rc<Mailbox<T>>,
    worker: Pin<Box<F>>,
}

/// The requests (of type `T`) in flight on one connection, and the workers
/// (of type `F`) that serve them.
pub(crate) struct Inflight<T, F> {
    slots: Vec<Slot<T, F>>,
    free: Vec<usize>,
    active: usize,
}

impl<T, F: Future> Inflight<T, F> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            active: 0,
        }
    }

    /// How many requests are in flight.
    pub(crate) fn len(&self) -> usize {
        self.active
    }

    /// Hands `req` to a free worker, making one with `make` (given its
    /// mailbox) only when every worker is busy; returns its slot, to poll
    /// with [`poll_slot`](Self::poll_slot).
    ///
    /// A worker must loop: [`Mailbox::recv`] a request, serve it, call
    /// [`Mailbox::done`]. If it ever finishes, its slot is retired.
    pub(crate) fn insert(&mut self, req: T, make: impl FnOnce(Rc<Mailbox<T>>) -> F) -> usize {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let mailbox = Rc::new(Mailbox {
                    next: Cell::new(None),
                    busy: Cell::new(false),
                });
                let worker = Box::pin(make(mailbox.clone()));
                self.slots.push(Slot { mailbox, worker });
                self.slots.len() - 1
            }
        };
        let m = &self.slots[i].mailbox;
        m.next.set(Some(req));
        m.busy.set(true);
        self.active += 1;
        i
    }

    /// Polls the worker in slot `i` if it is serving a request; frees the
    /// slot when the request is done.
    pub(crate) fn poll_slot(&mut self, i: usize, cx: &mut Context<'_>) {
        let slot = &mut self.slots[i];
        if !slot.mailbox.busy.get() {
            return;
        }
        if slot.worker.as_mut().poll(cx).is_ready() {
            // A worker that stops serving keeps its slot busy forever;
            // retire the slot's request from the count so the connection
            // does not wait on it.
            slot.mailbox.busy.set(false);
            slot.mailbox.next.set(None);
            self.active -= 1;
            return;
        }
        if !slot.mailbox.busy.get() {
            self.free.push(i);
            self.active -= 1;
        }
    }

    /// Polls every request in flight.
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>) {
        if self.active == 0 {
            return;
        }
        for i in 0..self.slots.len() {
            self.poll_slot(i, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// A request that finishes after its worker has been polled `left`
    /// more times; counts finished requests in `done`.
    async fn worker(m: Rc<Mailbox<usize>>, done: Rc<Cell<usize>>) {
        loop {
            let mut left = m.recv().await;
            poll_fn(|_| {
                if left == 0 {
                    Poll::Ready(())
                } else {
                    left -= 1;
                    Poll::Pending
                }
            })
            .await;
            done.set(done.get() + 1);
            m.done();
        }
    }

    #[test]
    fn a_request_that_finishes_at_its_first_poll_frees_its_slot() {
        let done = Rc::new(Cell::new(0));
        let mut set = Inflight::new();
        let mut cx = Context::from_waker(Waker::noop());
        let i = set.insert(0, |m| worker(m, done.clone()));
        set.poll_slot(i, &mut cx);
        assert_eq!(set.len(), 0);
        assert_eq!(done.get(), 1);
        let j = set.insert(0, |m| worker(m, done.clone()));
        assert_eq!(i, j, "the worker is reused");
        set.poll_slot(j, &mut cx);
        assert_eq!((set.len(), done.get(), set.slots.len()), (0, 2, 1));
    }

    #[test]
    fn slots_are_reused_once_the_peak_is_reached() {
        let done = Rc::new(Cell::new(0));
        let mut set = Inflight::new();
        let mut cx = Context::from_waker(Waker::noop());
        for left in [1, 2, 3] {
            let i = set.insert(left, |m| worker(m, done.clone()));
            set.poll_slot(i, &mut cx);
        }
        assert_eq!(set.len(), 3);
        assert_eq!(set.slots.len(), 3);
        set.poll_all(&mut cx); // the first finishes
        assert_eq!((set.len(), done.get()), (2, 1));
        let i = set.insert(5, |m| worker(m, done.clone()));
        set.poll_slot(i, &mut cx);
        assert_eq!(set.slots.len(), 3, "the freed slot is reused");
        for _ in 0..5 {
            set.poll_all(&mut cx);
        }
        assert_eq!((set.len(), done.get()), (0, 4));
        assert_eq!(set.free.len(), 3);
    }

    #[test]
    fn a_worker_that_stops_is_retired() {
        let mut set: Inflight<usize, _> = Inflight::new();
        let mut cx = Context::from_waker(Waker::noop());
        let i = set.insert(1, |m| async move {
            let _ = m.recv().await;
        });
        set.poll_slot(i, &mut cx);
        assert_eq!(set.len(), 0);
        assert!(set.free.is_empty(), "never handed a request again");
    }
}
