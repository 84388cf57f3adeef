//! gRPC over HTTP/2 (feature `grpc`), on the same per-core engine as
//! Thrift.
//!
//! A server port answers both: a connection that opens with the HTTP/2
//! preface is handed, whole, to monoio-http's HTTP/2 implementation on the
//! core that accepted it, and its calls run on that connection's task. The
//! methods are a [`Router`]: generated `<Service>Server` types add
//! themselves to it ([`ServerBuilder::grpc`](crate::server::ServerBuilder::grpc)),
//! or methods are added by hand with [`Router::unary`] and friends. Every
//! kind of call is served: unary, server-, client- and bidi-streaming, with
//! HTTP/2 flow control as the back-pressure of a stream.
//!
//! What the server speaks (gRPC's `doc/PROTOCOL-HTTP2.md`):
//! - paths `/package.Service/Method`; an unknown one is `UNIMPLEMENTED`;
//!   a request that is not `POST` gets HTTP 405, one whose content-type
//!   is not `application/grpc*` HTTP 415;
//! - length-prefixed messages, at most [`GrpcConfig::max_recv_message`]
//!   (4 MiB) each, `RESOURCE_EXHAUSTED` past it;
//! - `grpc-encoding: gzip` (replies to a gzip request are gzip when the
//!   caller accepts it), any other encoding `UNIMPLEMENTED`;
//! - `grpc-timeout` as the call's deadline ([`Request::deadline`]): a
//!   handler still running then is dropped and the call answered with
//!   `DEADLINE_EXCEEDED`;
//! - custom headers as [`Metadata`], Kitex's metainfo headers
//!   (`rpc-persist-*`, ...) read and written with [`Metadata::metainfo`];
//! - `grpc-status` and `grpc-message` trailers, or a trailers-only
//!   response for a call that failed before any message;
//! - a reset from the peer cancels the call (its handler is dropped); a
//!   handler's panic is `INTERNAL`;
//! - the health checking service `grpc.health.v1.Health` ([`health`]),
//!   and server reflection `grpc.reflection.v1` and `v1alpha`
//!   ([`reflection`]) from the descriptors `ringrpc-build` embeds;
//! - middleware around every call, on the server ([`Router::layer`]) and
//!   on the client ([`ChannelBuilder::layer`]), with the engine's
//!   `Service`/`Layer` traits ([`middleware`]).
//!
//! ```no_run
//! use ringrpc_engine::grpc::{Request, Response, Router, Status};
//! use ringrpc_engine::server::Server;
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct Hello {
//!     #[prost(string, tag = "1")]
//!     name: String,
//! }
//!
//! # fn main() -> ringrpc_engine::Result<()> {
//! let router = Router::new().unary("/helloworld.Greeter/SayHello", |req: Request<Hello>| async move {
//!     let name = req.into_inner().name;
//!     Ok::<_, Status>(Response::new(Hello { name: format!("hello {name}") }))
//! });
//! let server = Server::builder()
//!     .grpc_router(router, Default::default())
//!     .start()?;
//! # Ok(()) }
//! ```
//!
//! Not yet: TLS for HTTP/2 connections (a TLS port closes an HTTP/2
//! connection, as before).

pub(crate) mod client;
pub mod health;
pub(crate) mod message;
pub(crate) mod metadata;
pub mod middleware;
pub mod reflection;
pub(crate) mod router;
pub(crate) mod status;
pub(crate) mod streaming;
pub(crate) mod wire;

pub use client::{Channel, ChannelBuilder, ClientStreamingCall, RequestSink};
pub use message::{IntoRequest, Request, Response};
pub use metadata::{Metadata, MetadataError};
pub use middleware::{
    ClientAnswer, ClientCall, ClientNext, GrpcContext, IntoPath, MethodKind, ServerAnswer,
    ServerCall, ServerNext,
};
pub use router::{GrpcConfig, GrpcServer, GrpcService, Router};
pub use status::{Code, Status};
pub use streaming::{ResponseSink, Streaming};
#[doc(hidden)]
pub use wire::fuzz_messages;
pub use wire::{DEFAULT_MAX_MESSAGE, Encoding};

/// prost, for generated messages (`#[derive(prost::Message)]` paths).
pub use prost;
