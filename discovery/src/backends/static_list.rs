//! A fixed (but replaceable) list of instances per service.
//!
//! For tests, local development and services addressed directly. The lists
//! live in an `ArcSwap`, so [`StaticResolver::set`] can change them at run
//! time and the cache picks the change up at its next refresh (or at once
//! with `ResolverCache::refresh_now`).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::{Error, Instance, ResolveResult, Resolver, Result};

type Lists = HashMap<String, Vec<Arc<Instance>>>;

/// Resolves service names to lists given in code. Its name is `"static"`.
#[derive(Debug, Default)]
pub struct StaticResolver {
    lists: ArcSwap<Lists>,
}

impl StaticResolver {
    /// A resolver that knows no service.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `service`'s list.
    pub fn with_service(self, service: impl Into<String>, instances: Vec<Instance>) -> Self {
        self.set(service, instances);
        self
    }

    /// Replaces `service`'s list (an empty list removes every instance).
    pub fn set(&self, service: impl Into<String>, instances: Vec<Instance>) {
        let service = service.into();
        let list: Vec<Arc<Instance>> = instances.into_iter().map(Arc::new).collect();
        self.lists.rcu(|cur| {
            let mut next = (**cur).clone();
            next.insert(service.clone(), list.clone());
            next
        });
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, key: &str) -> Result<ResolveResult> {
        match self.lists.load().get(key) {
            Some(list) => Ok(ResolveResult::cacheable(list.clone())),
            None => Err(Error::NoInstance { key: key.into() }),
        }
    }

    fn name(&self) -> &str {
        "static"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointInfo;

    #[test]
    fn resolves_known_services_only() {
        let r = StaticResolver::new()
            .with_service("a", vec![Instance::new("127.0.0.1:1".parse().unwrap())]);
        assert_eq!(r.target(&EndpointInfo::new("a").with_method("m")), "a");
        assert_eq!(r.resolve("a").unwrap().instances.len(), 1);
        assert!(matches!(r.resolve("b"), Err(Error::NoInstance { .. })));
        r.set("a", vec![]);
        assert!(r.resolve("a").unwrap().instances.is_empty());
    }
}
