//! rustls driven over the engine's buffers: the handshake, then a read half
//! that decrypts into a `LinkBuffer` and a write half that encrypts an
//! `OutChain` into one reusable buffer per write.
//!
//! The two halves share the connection's rustls state in a `RefCell` on
//! their core; neither holds the borrow across an await, so reads and
//! writes interleave freely (the TTHeader writer task and the reader).

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use ringrpc_codec::buffer::LinkBuffer;
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};

use super::ClientTls;
use crate::context::PeerIdentity;
use crate::io::OutChain;

/// Ciphertext read per syscall: two full records.
const CIPHER_READ: usize = 2 * (16 * 1024 + 256);
/// Ciphertext gathered before it is written (a large reply goes out in
/// pieces of this size, so the buffer stays bounded).
const FLUSH_AT: usize = 256 * 1024;

type Shared = Rc<RefCell<Connection>>;

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Reads ciphertext into `cipher` (cleared first, capacity ensured).
async fn read_cipher(
    rd: &mut TcpOwnedReadHalf,
    mut cipher: BytesMut,
    cancel: Option<&RefCell<Canceller>>,
) -> (io::Result<usize>, BytesMut) {
    cipher.clear();
    if cipher.capacity() < CIPHER_READ {
        cipher.reserve(CIPHER_READ);
    }
    match cancel {
        Some(c) => {
            let handle = c.borrow().handle();
            rd.cancelable_read(cipher, handle).await
        }
        None => rd.read(cipher).await,
    }
}

/// Writes whatever rustls has queued (handshake messages, alerts).
async fn send_queued(
    wr: &mut TcpOwnedWriteHalf,
    conn: &mut Connection,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    if out.is_empty() {
        return Ok(());
    }
    let (res, mut o) = wr.write_all(std::mem::take(out)).await;
    o.clear();
    *out = o;
    res.map(drop)
}

/// Runs the handshake on `rd`/`wr`. Returns the ciphertext read past the
/// handshake (the peer's first records may share its last segment), for
/// the read half to decrypt first.
async fn handshake(
    rd: &mut TcpOwnedReadHalf,
    wr: &mut TcpOwnedWriteHalf,
    conn: &mut Connection,
    cancel: Option<&RefCell<Canceller>>,
) -> io::Result<(BytesMut, usize)> {
    let mut cipher = BytesMut::new();
    let mut out = Vec::new();
    loop {
        send_queued(wr, conn, &mut out).await?;
        if !conn.is_handshaking() {
            return Ok((cipher, 0));
        }
        let (res, c) = read_cipher(rd, cipher, cancel).await;
        cipher = c;
        if res? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection during the TLS handshake",
            ));
        }
        let mut data = &cipher[..];
        while !data.is_empty() && conn.is_handshaking() {
            conn.read_tls(&mut data)?;
            if let Err(e) = conn.process_new_packets() {
                // Tell the peer why (rustls queued an alert), then fail.
                let _ = send_queued(wr, conn, &mut out).await;
                return Err(tls_err(e));
            }
        }
        if !conn.is_handshaking() {
            let fed = cipher.len() - data.len();
            send_queued(wr, conn, &mut out).await?;
            return Ok((cipher, fed));
        }
    }
}

/// What a server handshake produced.
pub(crate) struct Accepted {
    pub(crate) reader: TlsReader,
    pub(crate) writer: TlsWriter,
    /// The client's verified certificate, read (mutual TLS).
    pub(crate) identity: Option<PeerIdentity>,
    /// The client resumed an earlier session.
    pub(crate) resumed: bool,
}

/// The server side of a handshake on an accepted connection.
pub(crate) async fn server_handshake(
    mut rd: TcpOwnedReadHalf,
    mut wr: TcpOwnedWriteHalf,
    config: Arc<ServerConfig>,
    cancel: Option<&RefCell<Canceller>>,
) -> io::Result<Accepted> {
    let mut conn = Connection::Server(ServerConnection::new(config).map_err(tls_err)?);
    let (cipher, fed) = handshake(&mut rd, &mut wr, &mut conn, cancel).await?;
    let identity = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|leaf| super::identity_of(leaf));
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let (reader, writer) = halves(rd, wr, conn, cipher, fed);
    Ok(Accepted {
        reader,
        writer,
        identity,
        resumed,
    })
}

/// The client side of a handshake with `addr`, verifying the server's
/// certificate for `tls`'s server name (default: `addr`'s IP).
pub(crate) async fn client_handshake(
    mut rd: TcpOwnedReadHalf,
    mut wr: TcpOwnedWriteHalf,
    tls: &ClientTls,
    addr: SocketAddr,
) -> io::Result<(TlsReader, TlsWriter)> {
    let conn = ClientConnection::new(tls.config().clone(), tls.name_for(addr)).map_err(tls_err)?;
    let mut conn = Connection::Client(conn);
    let (cipher, fed) = handshake(&mut rd, &mut wr, &mut conn, None).await?;
    Ok(halves(rd, wr, conn, cipher, fed))
}

fn halves(
    rd: TcpOwnedReadHalf,
    wr: TcpOwnedWriteHalf,
    conn: Connection,
    cipher: BytesMut,
    fed: usize,
) -> (TlsReader, TlsWriter) {
    let conn = Rc::new(RefCell::new(conn));
    (
        TlsReader {
            rd,
            conn: conn.clone(),
            cipher,
            fed,
            closed: false,
        },
        TlsWriter {
            wr,
            conn,
            out: Vec::new(),
        },
    )
}

/// The read half of a TLS connection.
pub(crate) struct TlsReader {
    rd: TcpOwnedReadHalf,
    conn: Shared,
    /// Ciphertext read, of which `fed` bytes were given to rustls.
    cipher: BytesMut,
    fed: usize,
    /// The peer sent `close_notify`.
    closed: bool,
}

impl TlsReader {
    /// Reads plaintext into `buf`: returns how many bytes were added, 0 when
    /// the peer closed. Reads the socket only when rustls holds no
    /// plaintext; records that carry none (a session ticket, a key update)
    /// are handled and the read goes on.
    pub(crate) async fn read(
        &mut self,
        buf: &mut LinkBuffer,
        cancel: Option<&RefCell<Canceller>>,
    ) -> io::Result<usize> {
        loop {
            let got = self.feed(buf)?;
            if got > 0 || self.closed {
                return Ok(got);
            }
            let (res, c) =
                read_cipher(&mut self.rd, std::mem::take(&mut self.cipher), cancel).await;
            self.cipher = c;
            self.fed = 0;
            if res? == 0 {
                return Ok(0);
            }
        }
    }

    /// Gives rustls the ciphertext not fed yet, moving plaintext into `buf`
    /// between records (so rustls's own plaintext buffer never fills).
    fn feed(&mut self, buf: &mut LinkBuffer) -> io::Result<usize> {
        let mut conn = self.conn.borrow_mut();
        let mut got = 0;
        loop {
            got += drain(&mut conn, buf, &mut self.closed)?;
            let mut data = &self.cipher[self.fed..];
            if data.is_empty() || self.closed {
                return Ok(got);
            }
            let before = data.len();
            conn.read_tls(&mut data)?;
            self.fed += before - data.len();
            conn.process_new_packets().map_err(tls_err)?;
        }
    }

    /// Whether rustls has records to send that the write half should flush
    /// (an alert, a key update's answer).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// The socket (for readiness and `MSG_PEEK`).
    pub(crate) fn tcp(&self) -> &TcpStream {
        // SAFETY: as for `TcpOwnedReadHalf` elsewhere: only this task
        // reaches the stream through the read half, and only by `&`.
        unsafe { &*self.rd.0.get() }
    }
}

/// Moves the plaintext rustls decrypted into `buf`.
fn drain(conn: &mut Connection, buf: &mut LinkBuffer, closed: &mut bool) -> io::Result<usize> {
    let mut got = 0;
    let mut reader = conn.reader();
    loop {
        let n = match reader.fill_buf() {
            Ok(d) if d.is_empty() => {
                *closed = true;
                return Ok(got);
            }
            Ok(d) => {
                buf.copy_in(d);
                d.len()
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
            Err(e) => return Err(e),
        };
        reader.consume(n);
        got += n;
    }
}

/// The write half of a TLS connection.
pub(crate) struct TlsWriter {
    wr: TcpOwnedWriteHalf,
    conn: Shared,
    /// Ciphertext to write; its capacity is kept across writes.
    out: Vec<u8>,
}

impl TlsWriter {
    /// Encrypts and writes all of `chain` (and any record rustls queued
    /// itself). On failure, the chain's written count is 0 if no byte left,
    /// else all of it (a TLS stream cannot tell which records the peer got).
    pub(crate) async fn write(&mut self, mut chain: OutChain) -> (io::Result<()>, OutChain) {
        let total = chain.remaining();
        let res = self.write_slices(chain.slices()).await;
        chain.finish(match &res {
            Err((_, false)) => 0,
            _ => total,
        });
        (res.map_err(|(e, _)| e), chain)
    }

    /// Encrypts and writes `bufs`; on failure, whether any byte was sent.
    async fn write_slices<B: AsRef<[u8]>>(&mut self, bufs: &[B]) -> Result<(), (io::Error, bool)> {
        let (mut idx, mut off) = (0, 0);
        let mut sent = false;
        loop {
            self.encrypt(bufs, &mut idx, &mut off)
                .map_err(|e| (e, sent))?;
            if self.out.is_empty() {
                return Ok(());
            }
            let (res, mut o) = self.wr.write_all(std::mem::take(&mut self.out)).await;
            o.clear();
            self.out = o;
            res.map_err(|e| (e, sent))?;
            sent = true;
        }
    }

    /// Encrypts `bufs` from slice `idx`, byte `off`, into `out` until it
    /// holds [`FLUSH_AT`] bytes or all is done.
    fn encrypt<B: AsRef<[u8]>>(
        &mut self,
        bufs: &[B],
        idx: &mut usize,
        off: &mut usize,
    ) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        loop {
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
            if *idx == bufs.len() || self.out.len() >= FLUSH_AT {
                return Ok(());
            }
            let whole = bufs[*idx].as_ref();
            let b = &whole[*off..];
            let n = conn.writer().write(b)?;
            if n == 0 && !b.is_empty() && !conn.wants_write() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "TLS connection takes no more data",
                ));
            }
            *off += n;
            if *off == whole.len() {
                *idx += 1;
                *off = 0;
            }
        }
    }

    /// Whether rustls has records queued to send.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// Sends `close_notify` (best effort).
    pub(crate) async fn close(&mut self) {
        self.conn.borrow_mut().send_close_notify();
        let _ = self.write_slices::<&[u8]>(&[]).await;
    }
}

/// A TLS client connection of one's own: connect, handshake, then write
/// bytes and read into a [`LinkBuffer`]. The engine's client pools use the
/// same machinery; this is for code that drives a connection itself (the
/// perf harness's load generator).
pub struct TlsStream {
    rd: TlsReader,
    wr: TlsWriter,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

impl TlsStream {
    /// Connects to `addr` and completes the handshake within `timeout`.
    pub async fn connect(addr: SocketAddr, tls: &ClientTls, timeout: Duration) -> io::Result<Self> {
        let go = async {
            let stream = TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true);
            Self::handshake(stream, tls, addr).await
        };
        match monoio::time::timeout(timeout, go).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS connect timed out",
            )),
        }
    }

    /// Runs the client handshake on a connected `stream` to `addr`.
    pub async fn handshake(
        stream: TcpStream,
        tls: &ClientTls,
        addr: SocketAddr,
    ) -> io::Result<Self> {
        let (rd, wr) = stream.into_split();
        let (rd, wr) = client_handshake(rd, wr, tls, addr).await?;
        Ok(Self { rd, wr })
    }

    /// Whether the handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.rd.conn.borrow().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The protocol version negotiated.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.rd.conn.borrow().protocol_version()
    }

    /// Encrypts and writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.wr.write_slices(&[data]).await.map_err(|(e, _)| e)
    }

    /// Reads plaintext into `buf`: the bytes added, 0 when the server
    /// closed.
    pub async fn read(&mut self, buf: &mut LinkBuffer) -> io::Result<usize> {
        self.rd.read(buf, None).await
    }

    /// Sends `close_notify` and drops the connection.
    pub async fn close(mut self) {
        self.wr.close().await;
    }
}
