//! ringrpc's engine: the thread-per-core runtime, the server and the client.
//!
//! Each core runs one monoio event loop (io_uring, or epoll where io_uring is
//! unavailable), pinned to its CPU ([`runtime`]). A core owns everything on
//! its request path: its listener (`SO_REUSEPORT`, one per core on the same
//! port), the connections it accepted, their buffers, its handler instances,
//! and its client connection pools. Decoding, middleware and handler dispatch
//! run inline on that core; nothing on the path takes a lock or crosses a
//! thread. Bytes are parsed by [`ringrpc_codec`]; this crate only moves them
//! between io_uring and the codec.
//!
//! - [`server`]: listeners, connection tasks, routing to services, graceful
//!   shutdown.
//! - [`client`]: per-core clients with long and multiplexed connection pools,
//!   timeouts, and Kitex's client chain.
//! - [`middleware`]: the `Service` / `Layer` pair both sides are built from.
//! - [`context`]: the RPC information middleware sees.
//! - [`metainfo`]: the key/value context Kitex and Volo pass along a call
//!   chain (persistent, transient, backward), and the W3C trace context.
//! - [`metrics`]: Prometheus metrics compatible with Kitex's
//!   monitor-prometheus, and their `/metrics` endpoint.
//! - [`stats`]: per-call events, sizes and outcome, and the [`stats::Tracer`]
//!   hook that metrics and users build on.
//! - [`testing`]: a server's connection in memory, for tests without sockets.
//! - `tls` (feature `tls`): TLS and mutual TLS for servers and clients.
//! - [`notify`]: wake-ups between threads and within a core.
//!
//! Generated code also uses a hidden `codegen` module: the service
//! descriptors and route types a user never names.
#![deny(missing_docs)]
#![allow(async_fn_in_trait)] // per-core futures are deliberately not `Send`

pub mod client;
#[doc(hidden)]
pub mod codegen;
pub mod context;
mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
mod io;
mod memory;
pub mod metainfo;
pub mod metrics;
pub mod middleware;
pub mod notify;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;

pub use error::{BizStatus, ConfigError, Error, HandlerError, NoInstanceReason, Result};
