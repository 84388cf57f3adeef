//! The cache's background thread: resolves, refreshes, sweeps, watches.
//!
//! Everything that may block (a resolver's network round trip) happens here,
//! one key at a time, so cores never wait on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::entry::{Entry, Snapshot};
use super::{CacheOptions, EntryMap, Request, Shared};
use crate::Instance;
use crate::resolver::{WatchGuard, WatchSink, default_diff};

pub(super) struct Worker {
    shared: Arc<Shared>,
    rx: Receiver<Request>,
    options: CacheOptions,
    watches: HashMap<Arc<str>, Box<dyn WatchGuard>>,
}

impl Worker {
    pub(super) fn new(shared: Arc<Shared>, rx: Receiver<Request>, options: CacheOptions) -> Self {
        Worker {
            shared,
            rx,
            options,
            watches: HashMap::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut next_refresh = Instant::now() + self.options.refresh_interval;
        let mut next_sweep = Instant::now() + self.options.expire_interval;
        loop {
            let deadline = next_refresh.min(next_sweep);
            let timeout = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(timeout) {
                Ok(Request::Resolve(entry)) => {
                    if entry.wants_resolve() {
                        self.activate_and_resolve(&entry);
                    } else {
                        // Single flight: a resolve that had started when this
                        // request was made has published since (see
                        // `Entry::wants_resolve`). Running another would be a
                        // second resolve for one key; the requester's waiters
                        // were woken by that publish.
                        entry.in_flight.store(false, Ordering::Release);
                    }
                }
                Ok(Request::Refresh(key)) => {
                    let entry = self.shared.entries.load().get(&key).cloned();
                    if let Some(entry) = entry {
                        self.activate_and_resolve(&entry);
                    }
                }
                Ok(Request::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= next_refresh {
                self.refresh_all();
                next_refresh = Instant::now() + self.options.refresh_interval;
            }
            if now >= next_sweep {
                self.sweep();
                next_sweep = Instant::now() + self.options.expire_interval;
            }
        }
        self.shared.closed.store(true, Ordering::Release);
        self.watches.clear();
        for entry in self.shared.entries.load().values() {
            entry.wake_all();
        }
    }

    /// Makes a mapped entry active (watch installed) and resolves it.
    fn activate_and_resolve(&mut self, entry: &Arc<Entry>) {
        if entry.in_map.load(Ordering::Acquire) {
            entry.active.store(true, Ordering::SeqCst);
            if !self.watches.contains_key(&entry.key) {
                let sink = WatchSink {
                    key: entry.key.clone(),
                    tx: self.shared.tx.clone(),
                };
                if let Some(guard) = self.shared.resolver.watch(&entry.key, sink) {
                    self.watches.insert(entry.key.clone(), guard);
                }
            }
        }
        entry.in_flight.store(true, Ordering::Release);
        self.resolve(entry);
    }

    fn refresh_all(&mut self) {
        let map = self.shared.entries.load_full();
        for entry in map.values() {
            if entry.active.load(Ordering::Acquire) && !entry.in_flight.swap(true, Ordering::AcqRel)
            {
                self.resolve(entry);
            }
        }
    }

    /// Resolves `entry` and publishes the outcome. Clears `in_flight`
    /// before publishing, so a waiter woken by a failure can at once ask
    /// for another attempt. A waiter that saw no snapshot before the publish
    /// can still take the cleared flag and queue a request; the run loop
    /// drops it (`Entry::wants_resolve`). The flag only keeps duplicate
    /// requests off the channel; this thread decides whether one resolves.
    /// Such a request can make one `refresh_all` skip the entry (it is still
    /// `in_flight`), just after this resolve refreshed it.
    fn resolve(&mut self, entry: &Arc<Entry>) {
        let resolver = &self.shared.resolver;
        let result = resolver.resolve(&entry.key);
        entry.in_flight.store(false, Ordering::Release);
        let prev = entry.snapshot.load_full();
        match result {
            Ok(res) => {
                let instances: Arc<[Arc<Instance>]> = res.instances.into();
                let change = match &prev {
                    None => default_diff(&[], &instances),
                    Some(p) => resolver.diff(&entry.key, p.instances(), &instances),
                };
                let cacheable_changed = prev
                    .as_ref()
                    .is_some_and(|p| p.cacheable() != res.cacheable);
                if prev.is_none() || !change.is_empty() || cacheable_changed {
                    let generation = prev.as_ref().map_or(1, |p| p.generation() + 1);
                    tracing::debug!(
                        resolver = resolver.name(),
                        key = &*entry.key,
                        generation,
                        added = change.added.len(),
                        updated = change.updated.len(),
                        removed = change.removed.len(),
                        "discovery change"
                    );
                    entry.publish(Snapshot::new(
                        generation,
                        instances,
                        Some(Arc::new(change)),
                        res.cacheable,
                    ));
                } else {
                    entry.finish_attempt();
                }
                if !res.cacheable {
                    self.remove(&entry.key);
                }
            }
            Err(error) => {
                tracing::warn!(
                    resolver = resolver.name(),
                    key = &*entry.key,
                    %error,
                    "resolve failed"
                );
                if prev.is_none() {
                    entry.fail(error);
                } else {
                    entry.finish_attempt();
                }
            }
        }
    }

    /// Removes `key` from the map and stops its watch.
    fn remove(&mut self, key: &Arc<str>) {
        let _guard = self.shared.lock_writers();
        let map = self.shared.entries.load();
        if let Some(entry) = map.get(key) {
            entry.in_map.store(false, Ordering::Release);
            entry.active.store(false, Ordering::SeqCst);
            let mut next: EntryMap = (**map).clone();
            next.remove(key);
            self.shared.entries.store(Arc::new(next));
        }
        self.watches.remove(key);
    }

    /// Kitex-style mark and sweep: an entry not read since the last sweep is
    /// dropped if nothing holds it, made dormant if a subscription does.
    fn sweep(&mut self) {
        let _guard = self.shared.lock_writers();
        let map = self.shared.entries.load();
        let mut removed = Vec::new();
        for (key, entry) in map.iter() {
            if entry.used.swap(false, Ordering::SeqCst) {
                if !entry.active.load(Ordering::SeqCst)
                    && entry.generation.load(Ordering::Acquire) > 0
                {
                    // Read again while dormant, in a race with the last sweep.
                    self.shared.request_resolve(entry);
                }
                continue;
            }
            if Arc::strong_count(entry) == 1 {
                entry.in_map.store(false, Ordering::Release);
                entry.active.store(false, Ordering::SeqCst);
                removed.push(key.clone());
                continue;
            }
            entry.active.store(false, Ordering::SeqCst);
            if entry.used.load(Ordering::SeqCst) {
                // Read between our swap and our store: stay active.
                entry.active.store(true, Ordering::SeqCst);
            } else {
                self.watches.remove(key);
            }
        }
        if !removed.is_empty() {
            let mut next: EntryMap = (**map).clone();
            for key in &removed {
                next.remove(key);
                self.watches.remove(key);
                tracing::debug!(key = &**key, "discovery key expired");
            }
            self.shared.entries.store(Arc::new(next));
        }
    }
}
