//! What a resolver finds: instances of a service, and what the client asks for.
//!
//! An [`Instance`] is immutable once built and shared by every core as
//! `Arc<Instance>`: a snapshot of the resolver cache is a slice of them, and a
//! core's balancer holds the same `Arc`s, so a change costs one pointer copy
//! per instance, never a copy of its tags.

use std::collections::HashMap;
use std::net::SocketAddr;

/// The weight an instance gets when its source says nothing: 10, as Kitex's
/// `discovery.DefaultWeight` (`pkg/discovery/discovery.go`).
pub const DEFAULT_WEIGHT: u32 = 10;

/// One reachable instance of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    addr: SocketAddr,
    weight: u32,
    tags: HashMap<String, String>,
}

impl Instance {
    /// An instance at `addr` with weight [`DEFAULT_WEIGHT`] and no tags.
    pub fn new(addr: SocketAddr) -> Self {
        Instance {
            addr,
            weight: DEFAULT_WEIGHT,
            tags: HashMap::new(),
        }
    }

    /// Sets the weight. Balancers skip instances of weight 0 (as Kitex's
    /// weighted balancer does, `pkg/loadbalance/weighted_balancer.go`).
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Adds one tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Replaces all tags.
    pub fn with_tags(mut self, tags: HashMap<String, String>) -> Self {
        self.tags = tags;
        self
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The weight (relative share of traffic; 0 = none).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// One tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// All tags.
    pub fn tags(&self) -> &HashMap<String, String> {
        &self.tags
    }
}

/// What the client knows about the callee when it asks for instances: the
/// service name, and optionally the method and tags (Kitex's
/// `rpcinfo.EndpointInfo`). A resolver turns it into a cache key with
/// [`Resolver::target`](crate::Resolver::target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointInfo {
    service: String,
    method: Option<String>,
    tags: HashMap<String, String>,
}

impl EndpointInfo {
    /// The callee named `service`.
    pub fn new(service: impl Into<String>) -> Self {
        EndpointInfo {
            service: service.into(),
            method: None,
            tags: HashMap::new(),
        }
    }

    /// Sets the method being called.
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Adds one tag (e.g. a cluster or an environment).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The callee's service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The method, if the caller gave one.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// One tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}
