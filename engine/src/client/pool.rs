//! Long connections: one request in flight on each, kept idle per address
//! between calls (Kitex's long-connection pool). Per core, so the pool is a
//! plain `RefCell` map: no lock, no atomics.

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::Splitable;
use monoio::net::TcpStream;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::transport::{self, Codec, Decoded, Frame, FrameLimits};

use super::Tls;
use crate::io::{OutChain, ReadHalf, WriteHalf};
use crate::{Error, Result};

/// How long a TLS handshake may take after the TCP connect at most (the
/// call's RPC timeout bounds it too).
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr` within `timeout`, with `TCP_NODELAY`; with `tls`,
/// then runs the TLS handshake.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&Tls>,
) -> Result<(ReadHalf, WriteHalf)> {
    let stream = match monoio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            s
        }
        Ok(Err(source)) => return Err(Error::Connect { addr, source }),
        Err(_) => {
            return Err(Error::Connect {
                addr,
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            });
        }
    };
    let (rd, wr) = stream.into_split();
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let (mut rd, mut wr) = (ReadHalf::plain(rd), WriteHalf::plain(wr));
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        let hs = crate::tls::client_handshake(rd.socket(), wr.socket(), tls, addr);
        return match monoio::time::timeout(HANDSHAKE_TIMEOUT, hs).await {
            Ok(Ok((r, w))) => {
                rd.set_tls(r);
                wr.set_tls(w);
                Ok((rd, wr))
            }
            Ok(Err(source)) => Err(Error::Connect { addr, source }),
            Err(_) => Err(Error::Connect {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ),
            }),
        };
    }
    Ok((rd, wr))
}

/// One long connection and its buffers.
pub(crate) struct LongConn {
    rd: ReadHalf,
    wr: WriteHalf,
    rbuf: LinkBuffer,
    wbuf: LinkWriter,
    chain: OutChain,
}

impl std::fmt::Debug for LongConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongConn")
            .field("buffered", &self.rbuf.len())
            .finish_non_exhaustive()
    }
}

impl LongConn {
    pub(crate) fn new((rd, wr): (ReadHalf, WriteHalf)) -> Self {
        Self {
            rd,
            wr,
            rbuf: LinkBuffer::new(),
            wbuf: LinkWriter::new(),
            chain: OutChain::default(),
        }
    }

    /// The write buffer, to encode a request frame into.
    pub(crate) fn writer(&mut self) -> &mut LinkWriter {
        &mut self.wbuf
    }

    /// Sends what was encoded into [`writer`](Self::writer) to `addr` (the
    /// connection's peer). A failure before any byte left is
    /// [`Error::NotSent`]; after, [`Error::Io`].
    pub(crate) async fn send(&mut self, addr: SocketAddr) -> Result<()> {
        let mut chain = std::mem::take(&mut self.chain);
        chain.fill(&mut self.wbuf);
        let (res, chain) = self.wr.write(chain).await;
        let written = chain.written();
        self.chain = chain;
        res.map_err(|source| match written {
            0 => Error::NotSent { addr, source },
            _ => Error::Io(source),
        })
    }

    /// Reads the next whole frame in `codec`.
    pub(crate) async fn recv(&mut self, codec: Codec, limits: &FrameLimits) -> Result<Frame> {
        loop {
            match transport::decode_frame(&mut self.rbuf, codec, limits)? {
                Decoded::Ready(f) => return Ok(f),
                // A reply whose length is known is read into one buffer.
                Decoded::NeedMore(n) => self.rbuf.reserve_contiguous(self.rbuf.len() + n),
            }
            match self.rd.read(&mut self.rbuf, None).await {
                Ok(0) => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed by peer",
                    )));
                }
                Ok(_) => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Whether the peer has not closed the idle connection (and sent
    /// nothing unasked): one non-blocking `MSG_PEEK` of one byte. A server
    /// may close a connection right after a reply (Volo does after an
    /// unknown method over Framed), so a pooled connection is checked before
    /// each reuse rather than failing the call that picks it.
    pub(crate) fn is_alive(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut byte = 0u8;
        // SAFETY: `recv` writes at most 1 byte into `byte`, which lives for
        // the call; the fd is the stream's, open while `self` is borrowed.
        let n = unsafe {
            libc::recv(
                self.rd.tcp().as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && {
            let e = std::io::Error::last_os_error();
            e.kind() == std::io::ErrorKind::WouldBlock
        }
    }

    /// Whether the connection can carry another call: nothing unread is
    /// left over from the last one.
    pub(crate) fn is_clean(&self) -> bool {
        self.rbuf.is_empty() && self.wbuf.is_empty()
    }
}

/// Idle long connections of one core, per address.
#[derive(Debug)]
pub(crate) struct LongPool {
    idle: RefCell<HashMap<SocketAddr, Vec<(LongConn, Instant)>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl LongPool {
    pub(crate) fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: RefCell::new(HashMap::default()),
            max_idle,
            idle_timeout,
        }
    }

    /// An idle connection to `addr` (the most recently used), or a new one.
    ///
    /// Each is checked with a non-blocking `MSG_PEEK` before reuse: a server
    /// may close a connection right after its reply (Volo does after an
    /// exception over Framed; any server on a restart), and a call sent on
    /// it could not be told from one the server ran. Checking only
    /// connections idle for a while would save the syscall but lose that
    /// race on back-to-back calls. Connections the server marked for reset
    /// (TTHeader `crrst`) or answered with an exception never come back to
    /// the pool at all.
    pub(crate) async fn get(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        tls: Option<&Tls>,
    ) -> Result<LongConn> {
        let now = Instant::now();
        if let Some(list) = self.idle.borrow_mut().get_mut(&addr) {
            while let Some((conn, since)) = list.pop() {
                if now.duration_since(since) < self.idle_timeout && conn.is_alive() {
                    return Ok(conn);
                }
            }
        }
        // Boxed: a new connection is rare, and the connect's state (a timer
        // among it) would otherwise size every call's future.
        Ok(LongConn::new(
            Box::pin(connect(addr, connect_timeout, tls)).await?,
        ))
    }

    /// Returns a healthy connection after a call. It keeps its chunks for
    /// the next call (no allocation per call), but not a large buffer a big
    /// reply needed.
    pub(crate) fn put(&self, addr: SocketAddr, mut conn: LongConn) {
        if !conn.is_clean() {
            return;
        }
        conn.rbuf.release_large();
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() < self.max_idle {
            list.push((conn, Instant::now()));
        }
    }

    /// Closes every idle connection to `addr` (the instance went away).
    pub(crate) fn remove_addr(&self, addr: &SocketAddr) {
        self.idle.borrow_mut().remove(addr);
    }

    /// Idle connections to `addr` (tests and metrics).
    pub(crate) fn idle_count(&self, addr: &SocketAddr) -> usize {
        self.idle.borrow().get(addr).map_or(0, Vec::len)
    }
}
