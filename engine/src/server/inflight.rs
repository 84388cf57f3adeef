//! The requests one connection serves concurrently, polled by the
//! connection's own task: no task is spawned per request.
//!
//! Each future lives in a boxed slot that is reused for later requests, so
//! once the connection has seen its peak concurrency, serving allocates
//! nothing. A request is polled once when it is added (most finish right
//! away) and again whenever the connection task is woken.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

/// The futures in flight on one connection.
pub(crate) struct Inflight<F> {
    slots: Vec<Pin<Box<Option<F>>>>,
    free: Vec<usize>,
    active: usize,
}

impl<F: Future<Output = ()>> Inflight<F> {
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

    /// Adds a request without polling it (allocating a slot only when every
    /// existing slot is busy); returns its slot, to poll with
    /// [`poll_slot`](Self::poll_slot). The future moves into its slot here,
    /// so a caller that awaits afterwards does not carry it.
    pub(crate) fn insert(&mut self, fut: F) -> usize {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i].set(Some(fut));
                i
            }
            None => {
                self.slots.push(Box::pin(Some(fut)));
                self.slots.len() - 1
            }
        };
        self.active += 1;
        i
    }

    /// Polls the request in slot `i`, if any; frees the slot when it is done.
    pub(crate) fn poll_slot(&mut self, i: usize, cx: &mut Context<'_>) {
        let done = match self.slots[i].as_mut().as_pin_mut() {
            Some(f) => f.poll(cx).is_ready(),
            None => return,
        };
        if done {
            self.slots[i].set(None);
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
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::{Poll, Waker};

    use super::*;

    /// A future that finishes after it has been polled `n` times.
    struct After {
        left: usize,
        done: Rc<Cell<usize>>,
    }

    impl Future for After {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.left == 0 {
                self.done.set(self.done.get() + 1);
                return Poll::Ready(());
            }
            self.left -= 1;
            Poll::Pending
        }
    }

    #[test]
    fn a_request_that_finishes_at_its_first_poll_frees_its_slot() {
        let done = Rc::new(Cell::new(0));
        let mut set = Inflight::new();
        let mut cx = Context::from_waker(Waker::noop());
        let i = set.insert(After {
            left: 0,
            done: done.clone(),
        });
        set.poll_slot(i, &mut cx);
        assert_eq!(set.len(), 0);
        assert_eq!(done.get(), 1);
    }

    #[test]
    fn slots_are_reused_once_the_peak_is_reached() {
        let done = Rc::new(Cell::new(0));
        let mut set = Inflight::new();
        let mut cx = Context::from_waker(Waker::noop());
        for left in [1, 2, 3] {
            let i = set.insert(After {
                left,
                done: done.clone(),
            });
            set.poll_slot(i, &mut cx);
        }
        assert_eq!(set.len(), 3);
        assert_eq!(set.slots.len(), 3);
        set.poll_all(&mut cx); // the first finishes
        assert_eq!((set.len(), done.get()), (2, 1));
        let i = set.insert(After {
            left: 5,
            done: done.clone(),
        });
        set.poll_slot(i, &mut cx);
        assert_eq!(set.slots.len(), 3, "the freed slot is reused");
        for _ in 0..5 {
            set.poll_all(&mut cx);
        }
        assert_eq!((set.len(), done.get()), (0, 4));
        assert_eq!(set.free.len(), 3);
    }
}
