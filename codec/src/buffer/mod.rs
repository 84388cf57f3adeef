//! Zero-copy linked buffers: the read side ([`LinkBuffer`]) that socket reads
//! land in, the write side ([`LinkWriter`]) that replies are encoded into, and
//! the per-thread [`pool`] of chunks both draw from.
//!
//! This is ringrpc's analogue of netpoll's LinkBuffer: memory is handed out in
//! chunks, decoded `binary` and `string` values are [`bytes::Bytes`] slices of
//! those chunks (no copy), and a reply is written as one vectored write of the
//! chain. Each method's documentation says whether it copies or allocates.

mod link;
pub mod pool;
mod writer;

pub use link::{LinkBuffer, NeedMore};
pub use writer::{LinkWriter, Reserved};
