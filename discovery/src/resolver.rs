//! The `Resolver` trait: how a name becomes a list of instances.
//!
//! The shape is Kitex's (`pkg/discovery/discovery.go`): `target` turns what
//! the client knows into a cache key, `resolve` looks the key up, `diff`
//! compares two results, `name` identifies the resolver. Ours adds `watch`, so
//! a backend that can push (etcd) tells the cache to re-resolve at once rather
//! than at the next refresh tick.
//!
//! Resolvers are called only from the resolver cache's background thread (and
//! from the backends' own threads), never from a core: `resolve` may block.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::{EndpointInfo, Instance, Result};

/// What one resolve found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveResult {
    /// The instances, in the resolver's order.
    pub instances: Vec<Arc<Instance>>,
    /// Whether the cache may keep this result under its key and refresh it
    /// (Kitex's `Result.Cacheable`). A non-cacheable result is handed to the
    /// subscribers that asked for it, and the key is resolved afresh on the
    /// next subscribe; it is never refreshed in the background.
    pub cacheable: bool,
}

impl ResolveResult {
    /// A cacheable result holding `instances`.
    pub fn cacheable(instances: Vec<Arc<Instance>>) -> Self {
        ResolveResult {
            instances,
            cacheable: true,
        }
    }
}

/// How a result differs from the one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Instances whose address is new.
    pub added: Vec<Arc<Instance>>,
    /// Instances whose address was there before but something else (by the
    /// default diff: the weight) changed; these are the new values.
    pub updated: Vec<Arc<Instance>>,
    /// Instances whose address is gone: close pooled connections to them.
    pub removed: Vec<Arc<Instance>>,
}

impl Change {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// The default diff, as Kitex's `DefaultDiff`: instances are matched by
/// address; a matched instance whose weight differs is `updated`. Tags are not
/// compared. O(prev + next).
pub fn default_diff(prev: &[Arc<Instance>], next: &[Arc<Instance>]) -> Change {
    let before: HashMap<SocketAddr, &Arc<Instance>> = prev.iter().map(|i| (i.addr(), i)).collect();
    let mut change = Change::default();
    let mut seen = HashMap::with_capacity(next.len());
    for inst in next {
        seen.insert(inst.addr(), ());
        match before.get(&inst.addr()) {
            None => change.added.push(inst.clone()),
            Some(old) if old.weight() != inst.weight() => change.updated.push(inst.clone()),
            Some(_) => {}
        }
    }
    for inst in prev {
        if !seen.contains_key(&inst.addr()) {
            change.removed.push(inst.clone());
        }
    }
    change
}

/// Where a watching resolver reports that a key changed. Cheap to clone and
/// `Send`: a backend may call [`WatchSink::changed`] from any thread.
#[derive(Debug, Clone)]
pub struct WatchSink {
    pub(crate) key: Arc<str>,
    pub(crate) tx: crossbeam_channel::Sender<crate::cache::Request>,
}

impl WatchSink {
    /// Asks the cache to re-resolve this sink's key now. Never blocks; a
    /// no-op after the cache has shut down.
    pub fn changed(&self) {
        let _ = self
            .tx
            .send(crate::cache::Request::Refresh(self.key.clone()));
    }

    /// The key being watched.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Keeps a watch running; dropping it stops the watch.
pub trait WatchGuard: Send + std::fmt::Debug {}

/// Turns a service name into instances. See the module docs.
pub trait Resolver: Send + Sync + 'static {
    /// The cache key for `endpoint`. Endpoints with equal keys share one
    /// cache entry. The default is the service name (as the etcd and DNS
    /// resolvers of Kitex do).
    fn target(&self, endpoint: &EndpointInfo) -> String {
        endpoint.service().to_owned()
    }

    /// Looks `key` up. May block (it runs on the cache's background thread).
    fn resolve(&self, key: &str) -> Result<ResolveResult>;

    /// How `next` differs from `prev` for `key`; an empty change means the
    /// cache keeps its current snapshot. Defaults to [`default_diff`].
    fn diff(&self, key: &str, prev: &[Arc<Instance>], next: &[Arc<Instance>]) -> Change {
        let _ = key;
        default_diff(prev, next)
    }

    /// A short name for logs and metrics (e.g. `"static"`, `"dns"`, `"etcd"`).
    fn name(&self) -> &str;

    /// Starts pushing changes of `key` into `sink`, if this resolver can; the
    /// watch lasts as long as the returned guard. The default (and a `None`)
    /// means the cache relies on its periodic refresh alone.
    fn watch(&self, key: &str, sink: WatchSink) -> Option<Box<dyn WatchGuard>> {
        let _ = (key, sink);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(port: u16, weight: u32) -> Arc<Instance> {
        Arc::new(Instance::new(([127, 0, 0, 1], port).into()).with_weight(weight))
    }

    #[test]
    fn default_diff_by_address_and_weight() {
        let prev = vec![inst(1, 10), inst(2, 10), inst(3, 10)];
        let next = vec![inst(2, 10), inst(3, 20), inst(4, 10)];
        let c = default_diff(&prev, &next);
        assert_eq!(c.added, vec![inst(4, 10)]);
        assert_eq!(c.updated, vec![inst(3, 20)]);
        assert_eq!(c.removed, vec![inst(1, 10)]);
        assert!(default_diff(&next, &next).is_empty());
    }

    #[test]
    fn tags_alone_are_not_a_change() {
        let a = vec![inst(1, 10)];
        let b = vec![Arc::new((*inst(1, 10)).clone().with_tag("zone", "b"))];
        assert!(default_diff(&a, &b).is_empty());
    }
}
