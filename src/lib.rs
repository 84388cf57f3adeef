//! ringrpc: an RPC engine on io_uring, one event loop per core, wire compatible
//! with Kitex and Volo (Thrift over TTHeader, Framed or Buffered).
//!
//! This facade re-exports the library crates so that a user depends on one
//! crate: [`codec`] (buffers, Thrift protocols, transports), [`engine`]
//! (runtime, server, client, middleware) and [`discovery`] (resolvers, the
//! shared resolver cache, balancers, retry, breakers, registries). Code for
//! an IDL is generated at build time by `ringrpc-build` (a
//! build-dependency): types, a handler trait per service, a server adapter
//! and a typed client.
//!
//! ```no_run
//! # mod idl { pub use ringrpc_example_idl::echo; }
//! // `idl`: the module `ringrpc-build` generated from `echo.thrift`.
//! use idl::echo::{EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer};
//! use ringrpc::engine::{Result, context::ServerContext, runtime::block_on, server::Server};
//!
//! #[derive(Clone)]
//! struct Echo;
//!
//! impl EchoService for Echo {
//!     async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest) -> Result<EchoResponse> {
//!         Ok(EchoResponse { msg: req.msg })
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! let server = Server::builder()
//!     .addr("127.0.0.1:9000".parse().unwrap())
//!     .service(EchoServiceServer::new(Echo))
//!     .start()?;
//! let client = EchoServiceClient::builder().target(server.local_addr());
//! let reply = block_on(async {
//!     EchoServiceClient::new(client.build()?).echo(EchoRequest { msg: "hi".into() }).await
//! })?;
//! assert_eq!(reply.msg, "hi");
//! server.run_until_signal()?; // serves until SIGINT or SIGTERM, then drains
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `etcd` (off by default): the etcd resolver and registry
//!   (`discovery::backends::{EtcdResolver, EtcdRegistry}`). It pulls in
//!   tonic and prost, and building it needs `protoc`.
#![deny(missing_docs)]
#![allow(async_fn_in_trait)] // per-core handlers are deliberately not `Send`

pub use ringrpc_codec as codec;
pub use ringrpc_discovery as discovery;
pub use ringrpc_engine as engine;
