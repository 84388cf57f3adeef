//! ringrpc's discovery and client governance: resolvers, the shared
//! lock-free resolver cache, per-core load balancers, retry and circuit
//! breaker policies, and service registries.
//!
//! # Why it is shaped like this
//!
//! The engine runs one event loop per core and nothing on the call path may
//! lock, cross threads or wait on the network for discovery. So:
//!
//! * [`Resolver`]s (static list, DNS, etcd) run on the [`ResolverCache`]'s
//!   background thread and publish immutable [`Snapshot`]s; cores read them
//!   through a per-core [`LocalView`] (one atomic load when nothing changed)
//!   and receive each [`Change`] to rebuild their balancer and drop pooled
//!   connections to removed instances.
//! * [balancers](balance), [`retry`] state and [`breaker`]s are per-core values
//!   (`&mut self`, no atomics); only the resolver cache is shared.
//! * Policies are plain data with documented defaults carried over from
//!   Kitex (each default names the Kitex file it comes from), looked up per
//!   method through a [`PolicyTable`].
//! * A server announces itself through a [`Registry`]; a
//!   [`RegistrationTask`] registers after a delay and deregisters first at
//!   shutdown, from a plain thread.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ringrpc_discovery::balance::{Balancer, BalancerKind, PickRequest};
//! use ringrpc_discovery::backends::StaticResolver;
//! use ringrpc_discovery::{
//!     CacheOptions, EndpointInfo, Instance, LocalView, ResolverCache, ViewUpdate,
//! };
//!
//! let resolver = StaticResolver::new().with_service(
//!     "echo",
//!     vec![
//!         Instance::new("127.0.0.1:9001".parse().unwrap()),
//!         Instance::new("127.0.0.1:9002".parse().unwrap()).with_weight(30),
//!     ],
//! );
//! let cache = Arc::new(ResolverCache::new(Arc::new(resolver), CacheOptions::default()).unwrap());
//!
//! // On a core: subscribe once (a core would `.await` `sub.ready()`).
//! let sub = cache.subscribe(&EndpointInfo::new("echo"));
//! sub.wait(Duration::from_secs(5)).unwrap();
//! let mut view = LocalView::new(sub);
//! let mut balancer = BalancerKind::default().build();
//!
//! // Per call: apply a change if there is one, then pick.
//! if let ViewUpdate::Changed(change) = view.update() {
//!     balancer.rebuild(view.current().unwrap().instances());
//!     assert_eq!(change.added.len(), 2);
//! }
//! let addr = balancer.pick(&PickRequest::default()).unwrap().addr();
//! assert_eq!(addr.ip().to_string(), "127.0.0.1");
//! ```

#![deny(missing_docs)]

pub mod backends;
pub mod balance;
pub mod breaker;
mod cache;
mod error;
mod instance;
pub mod policy;
pub mod registry;
mod resolver;
pub mod retry;
pub mod rng;

pub use cache::{
    CacheOptions, DEFAULT_EXPIRE_INTERVAL, DEFAULT_REFRESH_INTERVAL, LocalView, Ready,
    ResolverCache, Snapshot, Subscription, ViewUpdate,
};
pub use error::{DnsError, Error, Result};
pub use instance::{DEFAULT_WEIGHT, EndpointInfo, Instance};
pub use policy::PolicyTable;
pub use registry::{RegistrationStatus, RegistrationTask, Registry, RegistryInfo};
pub use resolver::{Change, ResolveResult, Resolver, WatchGuard, WatchSink, default_diff};
