//! The engine's edge with monoio: a connection's read and write halves
//! (plain TCP, or TLS over it), and an owned vectored write of a
//! [`LinkWriter`]'s chain, reusing its iovec array across writes.

use std::cell::RefCell;

use bytes::Bytes;
use monoio::buf::IoVecBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};

/// A connection's read side: the socket's read half, and over it the TLS
/// layer once a handshake set one up.
pub(crate) struct ReadHalf {
    rd: TcpOwnedReadHalf,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsReader>>,
}

impl ReadHalf {
    pub(crate) fn plain(rd: TcpOwnedReadHalf) -> Self {
        Self {
            rd,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The socket's half (for a handshake, or a read of its own).
    pub(crate) fn socket(&mut self) -> &mut TcpOwnedReadHalf {
        &mut self.rd
    }

    /// The socket's half, when no TLS layer is set (a connection handed
    /// whole to another protocol).
    #[cfg(feature = "grpc")]
    pub(crate) fn into_plain(self) -> Option<TcpOwnedReadHalf> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return None;
        }
        Some(self.rd)
    }

    /// From now on, reads go through `tls`.
    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, tls: crate::tls::TlsReader) {
        self.tls = Some(Box::new(tls));
    }

    /// Reads into `buf` (plaintext: for TLS, what the records carried):
    /// the bytes added, 0 when the peer closed. With `cancel`, the read can
    /// be cancelled through that canceller (a time-out, parking).
    pub(crate) async fn read(
        &mut self,
        buf: &mut LinkBuffer,
        cancel: Option<&RefCell<Canceller>>,
    ) -> std::io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(t) = &mut self.tls {
            return t.read(&mut self.rd, buf, cancel).await;
        }
        let target = buf.read_target();
        let (res, chunk) = match cancel {
            Some(c) => {
                let handle = c.borrow().handle();
                self.rd.cancelable_read(target, handle).await
            }
            None => self.rd.read(target).await,
        };
        buf.commit_read(chunk);
        res
    }

    /// Whether a readiness wait on the socket tells when there is more to
    /// read: for TLS, only when no partial record is held.
    pub(crate) fn can_park(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(t) = &self.tls {
            return t.holds_nothing();
        }
        true
    }

    /// Gives back the memory a quiet connection does not need (a parked
    /// TLS connection's ciphertext buffer).
    pub(crate) fn release(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(t) = &mut self.tls {
            t.release();
        }
    }

    /// Whether the TLS layer has records of its own to send (a key
    /// update's answer) that the write half should flush.
    pub(crate) fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(t) = &self.tls {
            return t.wants_write();
        }
        false
    }

    /// The socket (readiness, `MSG_PEEK`).
    pub(crate) fn tcp(&self) -> &TcpStream {
        // SAFETY: only the task that owns this read half reaches the stream
        // through it, and only by `&` (readiness, fd); monoio's split halves
        // reach the stream the same way.
        unsafe { &*self.rd.0.get() }
    }
}

/// A connection's write side: the socket's write half, and the TLS layer
/// once a handshake set one up.
pub(crate) struct WriteHalf {
    wr: TcpOwnedWriteHalf,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsWriter>>,
}

impl WriteHalf {
    pub(crate) fn plain(wr: TcpOwnedWriteHalf) -> Self {
        Self {
            wr,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The socket's half (for a handshake on it).
    #[cfg(feature = "tls")]
    pub(crate) fn socket(&mut self) -> &mut TcpOwnedWriteHalf {
        &mut self.wr
    }

    /// The socket's half (a connection handed whole to another protocol).
    #[cfg(feature = "grpc")]
    pub(crate) fn into_plain(self) -> TcpOwnedWriteHalf {
        self.wr
    }

    /// From now on, writes go through `tls`.
    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, tls: crate::tls::TlsWriter) {
        self.tls = Some(Box::new(tls));
    }

    /// Writes all of `chain` (sealed into records, for TLS); returns it,
    /// cleared, for reuse. Also sends a record the TLS layer owes.
    pub(crate) async fn write(&mut self, chain: OutChain) -> (std::io::Result<()>, OutChain) {
        #[cfg(feature = "tls")]
        if let Some(t) = &mut self.tls {
            return t.write(&mut self.wr, chain).await;
        }
        write_all(&mut self.wr, chain).await
    }

    /// Whether the TLS layer owes the peer a record.
    pub(crate) fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(t) = &self.tls {
            return t.wants_write();
        }
        false
    }

    /// Gives back the memory a quiet connection does not need (a TLS
    /// writer's record buffer).
    pub(crate) fn release(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(t) = &mut self.tls {
            t.release();
        }
    }

    /// Ends the connection's writing: a TLS `close_notify` (best effort).
    pub(crate) async fn close(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(t) = &mut self.tls {
            t.close(&mut self.wr).await;
        }
    }
}

/// The slices of one vectored write, owned so io_uring may hold them while
/// the write is in flight. Reused across writes: steady-state flushes
/// allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct OutChain {
    bufs: Vec<Bytes>,
    iovs: Vec<libc::iovec>,
    /// The first iovec not yet fully written.
    start: usize,
    /// Bytes of the last [`fill`](Self::fill) the socket took (kept after a
    /// failed write, so a caller can tell "nothing was sent" apart).
    written: usize,
}

// SAFETY: the iovecs point into `bufs`, whose heap data does not move while
// `OutChain` is owned by the runtime (moving the struct moves the `Vec`
// headers, not the buffers), and `iovs` is not touched during a write.
unsafe impl IoVecBuf for OutChain {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        // SAFETY: `start <= iovs.len()` (see `consume`).
        unsafe { self.iovs.as_ptr().add(self.start) }
    }
    fn read_iovec_len(&self) -> usize {
        self.iovs.len() - self.start
    }
}

// SAFETY: `iovec` holds raw pointers only into `bufs`, which `OutChain` owns.
unsafe impl Send for OutChain {}

impl OutChain {
    /// A chain with room for `n` slices, allocated now (a connection
    /// allocates its long-lived state when it is accepted, so that state
    /// does not pin pages among the buffers it lets go later).
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            bufs: Vec::with_capacity(n),
            iovs: Vec::with_capacity(n),
            start: 0,
            written: 0,
        }
    }

    /// Takes everything written in `w` (zero copy).
    pub(crate) fn fill(&mut self, w: &mut LinkWriter) {
        self.clear();
        self.written = 0;
        w.take_chain(&mut self.bufs);
        for b in &self.bufs {
            self.iovs.push(libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            });
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.iovs.len()
    }

    /// Bytes of the last [`fill`](Self::fill) written so far: after
    /// [`write_all`] failed, 0 means no byte of it left this process.
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Marks `n` bytes written.
    fn consume(&mut self, mut n: usize) {
        self.written += n;
        while n > 0 && self.start < self.iovs.len() {
            let iov = &mut self.iovs[self.start];
            if n >= iov.iov_len {
                n -= iov.iov_len;
                self.start += 1;
            } else {
                // SAFETY: advancing within the same buffer, `n < iov_len`.
                iov.iov_base = unsafe { (iov.iov_base as *mut u8).add(n) } as *mut libc::c_void;
                iov.iov_len -= n;
                n = 0;
            }
        }
    }

    /// The buffers of the last [`fill`](Self::fill), for a writer that
    /// encrypts them rather than handing iovecs to the kernel.
    #[cfg(feature = "tls")]
    pub(crate) fn slices(&self) -> &[Bytes] {
        &self.bufs
    }

    /// Bytes not yet written.
    #[cfg(feature = "tls")]
    pub(crate) fn remaining(&self) -> usize {
        self.iovs[self.start..].iter().map(|v| v.iov_len).sum()
    }

    /// Ends a write done without [`write_all`]: `written` bytes of the
    /// chain left, and the buffers are dropped.
    #[cfg(feature = "tls")]
    pub(crate) fn finish(&mut self, written: usize) {
        self.written = written;
        self.clear();
    }

    /// Drops the buffers (their chunks become reusable), keeps the capacity.
    pub(crate) fn clear(&mut self) {
        self.bufs.clear();
        self.iovs.clear();
        self.start = 0;
    }
}

/// Writes all of `chain` to `io`, handling short writes; returns the chain
/// (cleared) for reuse.
async fn write_all<W: AsyncWriteRent>(
    io: &mut W,
    mut chain: OutChain,
) -> (std::io::Result<()>, OutChain) {
    while !chain.is_empty() {
        let (res, c) = io.writev(chain).await;
        chain = c;
        match res {
            Ok(0) => {
                chain.clear();
                return (Err(std::io::ErrorKind::WriteZero.into()), chain);
            }
            Ok(n) => chain.consume(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                chain.clear();
                return (Err(e), chain);
            }
        }
    }
    chain.clear();
    (Ok(()), chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_advances_across_iovecs() {
        let mut w = LinkWriter::new();
        w.put_slice(b"abc");
        w.write_bytes(Bytes::from(vec![7u8; 5000]));
        w.put_slice(b"xy");
        let mut c = OutChain::default();
        c.fill(&mut w);
        assert_eq!(c.read_iovec_len(), 3);
        c.consume(2);
        assert_eq!(c.iovs[0].iov_len, 1);
        c.consume(1 + 5000);
        assert_eq!(c.read_iovec_len(), 1);
        c.consume(2);
        assert!(c.is_empty());
        assert_eq!(c.written(), 5005);
        c.clear();
        assert_eq!(c.written(), 5005, "kept until the next fill");
        w.put_slice(b"z");
        c.fill(&mut w);
        assert_eq!(c.written(), 0);
    }
}
