//! What each core counts about its traffic and its limits, on cache lines
//! of its own, for [`ServerHandle::stats`](super::ServerHandle::stats), the
//! limits' rebalancing, and metrics.
//!
//! Each core is the only writer of its counters: it adds with a relaxed
//! load and store (no locked read-modify-write), and readers on other
//! threads (a scrape, `stats()`) load them relaxed. A reader may see a
//! count a moment old, never a torn one.

use std::sync::atomic::{AtomicU64, Ordering};

/// One core's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CoreCounters {
    /// Connections open on the core now.
    pub(crate) connections: AtomicU64,
    /// Calls being served now (admitted, reply not yet written).
    pub(crate) inflight: AtomicU64,
    /// Calls that reached a service (admitted or not).
    pub(crate) requests: AtomicU64,
    /// Bytes read from and written to connections.
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    /// Metainfo values that arrived malformed and were ignored.
    pub(crate) malformed_metainfo: AtomicU64,
    /// The limits' refusals and deadline outcomes.
    pub(crate) rejected_qps: AtomicU64,
    pub(crate) rejected_concurrency: AtomicU64,
    pub(crate) rejected_limiter: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    /// TLS handshakes completed, and those that failed (a bad or missing
    /// certificate, a plaintext client on a TLS-only port, a stall).
    pub(crate) tls_handshakes: AtomicU64,
    /// Times a quiet connection parked (let go of its buffers).
    pub(crate) parks: AtomicU64,
    pub(crate) tls_resumed: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    /// HTTP/2 (gRPC) connections accepted, and those closed with GOAWAY
    /// `ENHANCE_YOUR_CALM` for resetting too many streams.
    pub(crate) grpc_connections: AtomicU64,
    pub(crate) grpc_rapid_resets: AtomicU64,
    /// The demand this core published at its last rebalance.
    pub(crate) qps_demand: AtomicU64,
    pub(crate) concurrency_demand: AtomicU64,
}

/// Adds `n` to a counter only this core writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Subtracts `n` from a gauge only this core writes.
#[inline]
pub(crate) fn drop_by(c: &AtomicU64, n: u64) {
    c.store(
        c.load(Ordering::Relaxed).saturating_sub(n),
        Ordering::Relaxed,
    );
}

/// One core's view, as [`ServerHandle::stats`](super::ServerHandle::stats)
/// reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Connections open now.
    pub connections: u64,
    /// Calls being served now.
    pub inflight: u64,
    /// Calls that reached a service so far (refused ones included).
    pub requests: u64,
    /// Bytes read from connections so far.
    pub bytes_read: u64,
    /// Bytes written to connections so far.
    pub bytes_written: u64,
    /// Malformed metainfo values ignored so far.
    pub malformed_metainfo: u64,
    /// Times a quiet connection parked, giving back its buffers, so far.
    pub parks: u64,
    /// TLS handshakes completed so far.
    pub tls_handshakes: u64,
    /// Of those, the ones that resumed a session.
    pub tls_resumed: u64,
    /// TLS handshakes that failed so far.
    pub tls_handshake_failures: u64,
    /// HTTP/2 (gRPC) connections accepted so far.
    pub grpc_connections: u64,
    /// gRPC connections closed for resetting too many streams (rapid
    /// reset) so far.
    pub grpc_rapid_resets: u64,
}

impl CoreCounters {
    pub(crate) fn snapshot(&self) -> CoreStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CoreStats {
            connections: l(&self.connections),
            inflight: l(&self.inflight),
            requests: l(&self.requests),
            bytes_read: l(&self.bytes_read),
            bytes_written: l(&self.bytes_written),
            malformed_metainfo: l(&self.malformed_metainfo),
            parks: l(&self.parks),
            tls_handshakes: l(&self.tls_handshakes),
            tls_resumed: l(&self.tls_resumed),
            tls_handshake_failures: l(&self.tls_handshake_failures),
            grpc_connections: l(&self.grpc_connections),
            grpc_rapid_resets: l(&self.grpc_rapid_resets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_writer_adds_and_drops() {
        let c = CoreCounters::default();
        bump(&c.connections, 3);
        drop_by(&c.connections, 1);
        drop_by(&c.inflight, 5);
        assert_eq!(c.snapshot().connections, 2);
        assert_eq!(c.snapshot().inflight, 0, "a gauge never goes below zero");
        assert_eq!(std::mem::align_of::<CoreCounters>(), 128);
    }
}
