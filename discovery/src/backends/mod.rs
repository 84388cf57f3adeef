//! Where instances come from: a static list, DNS, etcd.
//!
//! Each backend implements [`Resolver`](crate::Resolver) (and etcd also
//! [`Registry`](crate::Registry)). They are called from the resolver cache's
//! background thread, so they may block; a backend whose client library is
//! async (etcd) runs its own small tokio runtime on its own thread.
//!
//! The etcd backend is behind the `etcd` feature (off by default; the
//! `ringrpc` facade's `etcd` feature turns it on): it needs tonic, prost and
//! `protoc` to build.

pub mod dns;
#[cfg(feature = "etcd")]
pub mod etcd;
mod static_list;

pub use dns::{DnsOptions, DnsResolver};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdRegistry, EtcdResolver};
pub use static_list::StaticResolver;
