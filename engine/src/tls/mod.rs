//! TLS and mutual TLS for every transport (TTHeader, Framed, Buffered), on
//! the server and the client (feature `tls`).
//!
//! rustls does the handshake and the records, with the ring provider; TLS
//! 1.3 and 1.2 are both offered. The engine drives rustls over its own
//! buffers: ciphertext is read with the same io_uring reads as plaintext,
//! decrypted by rustls, and the plaintext lands in the connection's
//! `LinkBuffer`, where framing and routing see it as they would on a plain
//! connection; replies are encrypted from the connection's `LinkWriter`
//! chain into one reusable buffer and written in one write. Each core owns
//! its connections' TLS state (a `RefCell` on that core; no lock on the data
//! path). Only a handshake touches shared state: the configuration (an
//! `ArcSwap` load) and rustls's session caches.
//!
//! - Server: [`ServerTls`] (certificate and key from PEM files, reloadable
//!   while running; client certificates required and verified against a CA
//!   for mutual TLS; a port TLS-only, or TLS and plaintext told apart by the
//!   first byte), given to
//!   [`ServerBuilder::tls`](crate::server::ServerBuilder::tls). A verified
//!   client's certificate is read into a [`PeerIdentity`](crate::context::PeerIdentity) (subject, SANs)
//!   that middleware and handlers find in
//!   [`ServerContext::peer_identity`](crate::context::ServerContext::peer_identity).
//! - Client: [`ClientTls`] (the CA to trust, the server name to verify, a
//!   client certificate for mutual TLS), given to
//!   [`ClientBuilder::tls`](crate::client::ClientBuilder::tls). Both the long
//!   and the multiplexed pools use it; sessions are resumed (TLS 1.3
//!   tickets, TLS 1.2 session ids) across every connection of the client.
//! - [`TlsStream`]: a client connection of one's own (the perf harness's
//!   load generator uses it).
//!
//! ALPN is off unless configured (Kitex and Volo send none on Thrift
//! ports); a configured list is offered by the client and enforced by the
//! server. The client sends SNI when the server name is a DNS name (not for
//! an IP address, as RFC 6066 says).

mod config;
mod identity;
mod record;
mod stream;

pub use config::{ClientTls, ClientTlsBuilder, ServerTls, ServerTlsBuilder, TlsError, TlsWatch};
pub use rustls;
pub use stream::TlsStream;

pub(crate) use identity::identity_of;
#[doc(hidden)]
pub use record::fuzz_records;
pub(crate) use stream::{TlsReader, TlsWriter, client_handshake, server_handshake};

/// The first byte of a TLS record carrying a handshake message: what a
/// ClientHello starts with (RFC 8446 §5.1, content type 22). No Thrift
/// transport starts with it: a Framed or TTHeader length of 0x16xxxxxx is
/// over any frame limit, a strict Binary message starts 0x80, Compact 0x82,
/// and HTTP/2's preface `P`.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;
