//! The client: one per core, made from a shareable [`ClientBuilder`].
//!
//! A call goes through Kitex's client chain, in its order:
//!
//! 1. **RPC timeout**: the whole call (every attempt, retries and backups
//!    included, and the first resolve) is bounded by the call's or the
//!    client's RPC timeout ([`Error::Timeout`](crate::Error::Timeout)).
//! 2. **Context middleware**: the user's [`Layer`](crate::middleware::Layer)s, around
//! 3. **Resolve** ([`Resolve`]): finds the instances, picks one, and
//!    retries or backs up.
//!    * *Instances* come from the call's own address
//!      ([`CallOptions::addr`]), else from a shared
//!      `ResolverCache` ([`ClientBuilder::resolver`]), read through this
//!      core's `LocalView` (one atomic load per call when nothing changed),
//!      else from the fixed [`ClientConfig::targets`]. The first call on a
//!      core awaits the first resolve. When discovery reports a change, the
//!      core rebuilds its balancer (O(instances)) and closes its pooled
//!      connections to removed instances ([`Invoke::forget`]).
//!    * *Picking* is the core's own balancer ([`ClientBuilder::balancer`]:
//!      weighted round robin by default, weighted random, consistent
//!      hashing by [`CallOptions::hash_key`], or power of two choices fed
//!      with each attempt's start, latency and outcome), skipping instances
//!      whose per-instance circuit breaker is open.
//!    * *Retry* follows the method's [`MethodRetry`]
//!      ([`ClientBuilder::method_retry`], or [`CallOptions::retry`] for one
//!      call): failure retry of errors safe to resend (connect failures
//!      always; a broken connection or an attempt timeout only for methods
//!      marked idempotent; see [`retry`](MethodRetry#structfield.idempotent)),
//!      on another instance, never past the deadline, within a per-core
//!      retry budget; or backup requests (the same encoded request to
//!      another instance after a delay; the first answer wins, the others
//!      are dropped). Each attempt's outcome goes to its instance's breaker.
//! 4. **IO-error handling**: a connection that failed is dropped, not
//!    returned to the pool, then
//! 5. **Invoke** ([`Invoke`]): frames the request in the call's transport,
//!    sends it on a pooled connection (long or multiplexed) and waits for
//!    the reply.
//!
//! The request is encoded once, before the chain, into a [`ClientRequest`]
//! whose payload is shared `Bytes`, so a retry or a backup request resends
//! it without encoding again.
//!
//! Everything a call touches is this core's: the view, the balancer, the
//! breakers, the budget and the pools are plain per-core values (`RefCell`,
//! borrowed only between awaits); the only shared state read is the
//! resolver cache's generation, lock-free.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! use ringrpc_discovery::backends::StaticResolver;
//! use ringrpc_discovery::retry::FailurePolicy;
//! use ringrpc_discovery::{CacheOptions, EndpointInfo, Instance, ResolverCache};
//! use ringrpc_engine::client::{ClientBuilder, MethodRetry};
//!
//! let resolver = StaticResolver::new().with_service(
//!     "echo",
//!     vec![Instance::new("127.0.0.1:9001".parse().unwrap())],
//! );
//! let cache = Arc::new(ResolverCache::new(Arc::new(resolver), CacheOptions::default()).unwrap());
//! let builder = ClientBuilder::new("EchoService")
//!     .resolver(cache, EndpointInfo::new("echo"))
//!     .rpc_timeout(Duration::from_secs(1))
//!     .method_retry("echo", MethodRetry::failure(FailurePolicy::new()).idempotent(true));
//! // On each core: `let client = builder.build()?;`
//! # let _ = builder;
//! ```

mod breaker;
mod builder;
mod call;
mod discover;
mod fallback;
pub mod governance;
mod invoke;
mod mux;
mod options;
mod pool;
mod reply;
mod resolve;
mod retry;
mod warmup;

pub use builder::ClientBuilder;
pub use call::{Client, ClientReply, ClientRequest, RawReply, decode_raw_reply, decode_reply};
pub use discover::DiscoveryConfig;
pub use fallback::Fallback;
pub use governance::{CallCounters, Counters, Governance, GovernanceConfig, GovernanceSnapshot};
pub use invoke::Invoke;
pub use options::{CallOptions, ClientConfig, PoolKind};
pub use reply::ReplyKind;
pub use resolve::Resolve;
pub use retry::{MethodRetry, ResultRetry, RetryConfig};
pub use warmup::{OnWarmUpError, WarmUp, WarmUpReport};

/// A client's TLS settings, where the pools take them.
#[cfg(feature = "tls")]
pub(crate) type Tls = crate::tls::ClientTls;
/// Without the `tls` feature there are none.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub(crate) enum Tls {}
