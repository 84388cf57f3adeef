//! ringrpc: an RPC engine on io_uring, one event loop per core, wire compatible
//! with Kitex and Volo (Thrift over TTHeader or Framed).
//!
//! This facade re-exports the library crates so that a user depends on one
//! crate: [`codec`], [`engine`] and [`discovery`].
#![deny(missing_docs)]
#![allow(async_fn_in_trait)] // per-core handlers are deliberately not `Send`

pub use ringrpc_codec as codec;
pub use ringrpc_discovery as discovery;
pub use ringrpc_engine as engine;

pub mod idl;
