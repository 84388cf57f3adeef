//! The engine's edge with monoio: an owned vectored write of a
//! [`LinkWriter`]'s chain, reusing its iovec array across writes.

use bytes::Bytes;
use monoio::buf::IoVecBuf;
use monoio::io::AsyncWriteRent;
use ringrpc_codec::buffer::LinkWriter;

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

    /// Drops the buffers (their chunks become reusable), keeps the capacity.
    pub(crate) fn clear(&mut self) {
        self.bufs.clear();
        self.iovs.clear();
        self.start = 0;
    }
}

/// Writes all of `chain` to `io`, handling short writes; returns the chain
/// (cleared) for reuse.
pub(crate) async fn write_all<W: AsyncWriteRent>(
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
