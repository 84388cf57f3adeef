//! The sans-IO codec of ringrpc.
//!
//! Every byte-level decision of the engine lives here, as pure functions over
//! buffers: the [`LinkBuffer`](buffer::LinkBuffer) that reads land in and the
//! [`LinkWriter`](buffer::LinkWriter) that replies are written from, the Thrift
//! binary and compact protocols ([`thrift`]), and the transports that carry a
//! Thrift message on a byte stream: Framed, Buffered and TTHeader
//! ([`transport`]), plus detection of which one a peer speaks.
//!
//! Nothing here does IO or knows about the runtime; everything is unit- and
//! property-tested without sockets, and every decoder has a fuzz target in
//! `codec/fuzz/`.
//!
//! Input from the network is untrusted. Every length read off the wire is
//! checked against the bytes actually present before anything is allocated,
//! nesting depth is bounded ([`thrift::DecodeLimits`]), and no decoder panics
//! or loops on bad input: it returns an [`Error`].
#![deny(missing_docs)]

pub mod buffer;
mod error;
pub mod thrift;
pub mod transport;

pub use error::{Error, Result};
