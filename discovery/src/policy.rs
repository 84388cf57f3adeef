//! Per-method policies: set when the client is built, overridable per call.
//!
//! Kitex keys retry policies by method name with `"*"` for any method
//! (`Wildcard`, `pkg/retry/util.go`); a [`PolicyTable`] does the same for
//! any policy type (a [`RetryPolicy`](crate::retry::RetryPolicy), breaker
//! options, a timeout): an exact method entry first, then the wildcard, then
//! the table's default. A call option may override the result.

use rustc_hash::FxHashMap as HashMap;

/// The method key that matches any method (Kitex's `retry.Wildcard`).
pub const WILDCARD: &str = "*";

/// Policies by method. Built once, read per call (one hash lookup).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyTable<P> {
    default: P,
    methods: HashMap<String, P>,
}

impl<P> PolicyTable<P> {
    /// A table whose every method gets `default`.
    pub fn new(default: P) -> Self {
        PolicyTable {
            default,
            methods: HashMap::default(),
        }
    }

    /// Replaces the default: the policy of a method without an entry and
    /// with no wildcard entry.
    pub fn with_default(mut self, default: P) -> Self {
        self.default = default;
        self
    }

    /// Sets the policy of `method` (or of every method without its own
    /// entry, for [`WILDCARD`]).
    pub fn with_method(mut self, method: impl Into<String>, policy: P) -> Self {
        self.methods.insert(method.into(), policy);
        self
    }

    /// The policy of `method`: its entry, else the wildcard's, else the
    /// default.
    #[inline]
    pub fn get(&self, method: &str) -> &P {
        self.methods
            .get(method)
            .or_else(|| self.methods.get(WILDCARD))
            .unwrap_or(&self.default)
    }

    /// Every policy the table holds: the default, then the methods' (in no
    /// particular order).
    pub fn values(&self) -> impl Iterator<Item = &P> {
        std::iter::once(&self.default).chain(self.methods.values())
    }

    /// The policy for one call: the call's own override if it has one, else
    /// [`get`](Self::get).
    #[inline]
    pub fn for_call<'a>(&'a self, method: &str, call_override: Option<&'a P>) -> &'a P {
        call_override.unwrap_or_else(|| self.get(method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{BackupPolicy, FailurePolicy, RetryPolicy};
    use std::time::Duration;

    #[test]
    fn exact_then_wildcard_then_default_then_call_override() {
        let failure = RetryPolicy::Failure(FailurePolicy::new());
        let backup = RetryPolicy::Backup(BackupPolicy::new(Duration::from_millis(5)).unwrap());
        let t = PolicyTable::new(RetryPolicy::None).with_method("get", backup);
        assert_eq!(*t.get("get"), backup);
        assert_eq!(*t.get("put"), RetryPolicy::None);
        let t = t.with_method(WILDCARD, failure);
        assert_eq!(*t.get("put"), failure);
        assert_eq!(*t.get("get"), backup);
        assert_eq!(
            *t.for_call("get", Some(&RetryPolicy::None)),
            RetryPolicy::None
        );
        assert_eq!(*t.for_call("get", None), backup);
    }
}
