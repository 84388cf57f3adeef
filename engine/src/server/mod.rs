//! The server: one listener per core on the same port (`SO_REUSEPORT`, so the
//! kernel spreads connections), connection tasks owned by the core that
//! accepted them, routing to services, and graceful shutdown.
//!
//! ```no_run
//! # use ringrpc_engine::server::{Described, Handler, Server};
//! # fn demo<S>(echo: S) -> ringrpc_engine::Result<()>
//! # where S: Described + Handler<S::Descriptor> + Clone + Send + Sync {
//! // `echo` is a generated adapter, e.g. `EchoServiceServer::new(Echo)`.
//! let server = Server::builder()
//!     .addr("127.0.0.1:9000".parse().unwrap())
//!     .service(echo)
//!     .start()?;
//! println!("listening on {}", server.local_addr());
//! server.run_until_signal()?; // SIGINT or SIGTERM, then a graceful drain
//! # Ok(()) }
//! ```
//!
//! The files, in the order a request meets them:
//!
//! - `builder.rs`: [`Server::builder`], services, layers, [`ServerBuilder::start`];
//! - `config.rs`: [`ServerConfig`] and its defaults;
//! - `listener.rs`: binding, the accept loop, the per-core sweeper;
//! - `core.rs`: what one core knows of its connections (timeouts, draining);
//! - `connection.rs`: one connection's socket: reads, writes, back-pressure;
//! - `requests.rs`: a connection's requests without the socket: detection,
//!   frames, heartbeats, in-order or concurrent dispatch;
//! - `inflight.rs`: the concurrent requests of one connection;
//! - `limit.rs`: the QPS, in-flight and connection limits, per core;
//! - `router.rs`: services, `ThriftService` descriptors, routing (by
//!   TTHeader `isn`, by Apache's multiplexed `Service:method` names, or by
//!   method), deadlines and limits, handlers;
//! - `reply.rs`: `ReplySink` and the encoding of replies;
//! - `grpc.rs` (feature `grpc`): a connection that opened with the HTTP/2
//!   preface: its streams, each call a task on the core, and the bounds on
//!   what a peer can make it do;
//! - `handle.rs`, `registration.rs`, `signals.rs`: a running server, its
//!   registry entry, and the OS signals it stops on.

mod builder;
mod config;
pub(crate) mod connection;
mod core;
mod counters;
#[cfg(feature = "grpc")]
mod grpc;
mod handle;
mod inflight;
pub mod limit;
mod listener;
mod registration;
pub(crate) mod reply;
pub(crate) mod requests;
pub(crate) mod router;
pub mod signals;

pub use builder::{NoRoutes, Server, ServerBuilder};
pub use config::ServerConfig;
pub use counters::CoreStats;
pub use handle::ServerHandle;
pub use limit::{CallInfo, LimitHandle, LimitStats, Limiter, Limits};
pub use registration::Registration;
pub use router::{Described, Handler, MakeService};
