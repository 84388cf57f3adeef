//! A core's own view of one key: the snapshot it built its state from, and
//! the change to apply when the key moves on.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Snapshot, Subscription};
use crate::{Change, resolver::default_diff};

/// What [`LocalView::update`] found.
#[derive(Debug, Clone)]
pub enum ViewUpdate {
    /// No result yet for this key: await [`Subscription::ready`] first.
    Pending,
    /// Same generation as last time: keep using the current state.
    Unchanged,
    /// The key moved to a new snapshot ([`LocalView::current`]); apply this
    /// change (rebuild the balancer, close connections to `removed`).
    Changed(Arc<Change>),
}

/// Per-core reader of one key. Holds the snapshot the core's state was built
/// from; [`update`](Self::update) costs one atomic load when nothing changed.
///
/// If the core missed generations (it read generation 3, then 5), the change
/// returned is computed between the two snapshots it actually saw (with the
/// resolver's `diff`), so no removal is lost.
#[derive(Debug, Clone)]
pub struct LocalView {
    sub: Subscription,
    current: Option<Arc<Snapshot>>,
}

impl LocalView {
    /// A view on `sub` that has seen nothing yet.
    pub fn new(sub: Subscription) -> Self {
        LocalView { sub, current: None }
    }

    /// The subscription behind the view.
    pub fn subscription(&self) -> &Subscription {
        &self.sub
    }

    /// The snapshot the view holds (the one the last `Changed` moved to).
    pub fn current(&self) -> Option<&Arc<Snapshot>> {
        self.current.as_ref()
    }

    /// Checks for a new generation. The fast path (nothing changed) is one
    /// `Acquire` load of the generation and one relaxed load of the used
    /// flag; no lock, no allocation, no refcount traffic.
    #[inline]
    pub fn update(&mut self) -> ViewUpdate {
        let entry = self.sub.entry();
        entry.touch(self.sub.shared());
        let generation = entry.generation.load(Ordering::Acquire);
        match &self.current {
            Some(cur) if cur.generation() == generation => ViewUpdate::Unchanged,
            _ if generation == 0 => ViewUpdate::Pending,
            _ => self.reload(),
        }
    }

    #[cold]
    fn reload(&mut self) -> ViewUpdate {
        let Some(next) = self.sub.entry().snapshot.load_full() else {
            return ViewUpdate::Pending;
        };
        let change = match (&self.current, next.change()) {
            (Some(prev), _) if prev.generation() == next.generation() => {
                return ViewUpdate::Unchanged;
            }
            (Some(prev), Some(c)) if prev.generation() + 1 == next.generation() => c.clone(),
            (None, Some(c)) if next.generation() == 1 => c.clone(),
            (Some(prev), _) => Arc::new(self.sub.shared().resolver().diff(
                self.sub.key(),
                prev.instances(),
                next.instances(),
            )),
            (None, _) => Arc::new(default_diff(&[], next.instances())),
        };
        self.current = Some(next);
        ViewUpdate::Changed(change)
    }
}
