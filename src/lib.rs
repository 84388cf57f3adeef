//! ringrpc: an RPC engine on io_uring, one event loop per core, wire compatible
//! with Kitex and Volo (Thrift over TTHeader or Framed).
//!
//! This facade re-exports the library crates so that a user depends on one
//! crate: [`codec`], [`engine`] and [`discovery`].

pub use ringrpc_codec as codec;
pub use ringrpc_discovery as discovery;
pub use ringrpc_engine as engine;
