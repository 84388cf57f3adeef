//! The handshake, by rustls, and then the record layer, here: a read half
//! that opens records in place in its ciphertext buffer and copies the
//! plaintext into a `LinkBuffer`, and a write half that seals an
//! `OutChain` into one reusable buffer per write (see [`super::record`]).
//! Neither allocates per request.
//!
//! The two halves share rustls's post-handshake state (key updates, a
//! client's session tickets) in a `RefCell` on their core; neither holds
//! the borrow across an await.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use ringrpc_codec::buffer::LinkBuffer;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::kernel::KernelConnection;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{
    CommonState, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, ServerConfig,
};

use super::ClientTls;
use super::record::{self, Keys};
use crate::context::PeerIdentity;
use crate::io::OutChain;

/// Ciphertext read per syscall at most: two whole records.
const CIPHER_READ: usize = 2 * (record::HEADER + record::MAX_BODY);
/// Ciphertext gathered before it is written (a large reply goes out in
/// pieces of this size, so the buffer stays bounded).
const FLUSH_AT: usize = 256 * 1024;

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// rustls after the handshake: what it still does for us.
enum Kernel {
    Server(KernelConnection<ServerConnectionData>),
    Client(KernelConnection<ClientConnectionData>),
}

impl Kernel {
    fn update_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_rx_secret(),
            Kernel::Client(k) => k.update_rx_secret(),
        }
    }

    fn update_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_tx_secret(),
            Kernel::Client(k) => k.update_tx_secret(),
        }
    }
}

/// What the halves of one connection share.
struct Shared {
    kernel: Kernel,
    tls13: bool,
    version: Option<ProtocolVersion>,
    resumed: bool,
    /// The peer asked for a key update: ours goes out before our next
    /// record.
    update_requested: bool,
}

/// A connection in its handshake, server or client side.
trait Handshaking {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn common(&self) -> &CommonState;
    fn finish(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error>;
}

impl Handshaking for UnbufferedServerConnection {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &CommonState {
        self
    }
    fn finish(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error> {
        self.dangerous_into_kernel_connection()
            .map(|(s, k)| (s, Kernel::Server(k)))
    }
}

impl Handshaking for UnbufferedClientConnection {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &CommonState {
        self
    }
    fn finish(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error> {
        self.dangerous_into_kernel_connection()
            .map(|(s, k)| (s, Kernel::Client(k)))
    }
}

/// Appends what `encode` writes to `out`, growing it as rustls asks.
fn encode(
    out: &mut Vec<u8>,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, EncodeError>,
) -> io::Result<()> {
    let start = out.len();
    out.resize(start + 2048, 0);
    let n = match encode(&mut out[start..]) {
        Ok(n) => n,
        Err(EncodeError::InsufficientSize(e)) => {
            out.resize(start + e.required_size, 0);
            encode(&mut out[start..]).map_err(|e| io::Error::other(e.to_string()))?
        }
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    out.truncate(start + n);
    Ok(())
}

/// Writes all of `out`, then empties it (keeping its capacity).
async fn send(wr: &mut TcpOwnedWriteHalf, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let (res, mut o) = wr.write_all(std::mem::take(out)).await;
    o.clear();
    *out = o;
    res.map(drop)
}

/// Reads more ciphertext after what `cipher` holds.
async fn read_more(
    rd: &mut TcpOwnedReadHalf,
    mut cipher: BytesMut,
    cancel: Option<&RefCell<Canceller>>,
) -> (io::Result<usize>, BytesMut) {
    if cipher.capacity() - cipher.len() < record::HEADER + record::MAX_BODY {
        cipher.reserve(CIPHER_READ);
    }
    // monoio reads into a buffer from its start: point it past what is
    // held.
    let held = cipher.len();
    let spare = cipher.slice_mut(held..);
    let (res, spare) = match cancel {
        Some(c) => {
            let handle = c.borrow().handle();
            rd.cancelable_read(spare, handle).await
        }
        None => rd.read(spare).await,
    };
    (res, spare.into_inner())
}

/// Drops the first `n` bytes of `buf`, keeping its capacity.
fn discard(buf: &mut BytesMut, n: usize) {
    if n > 0 {
        let len = buf.len();
        buf.copy_within(n..len, 0);
        buf.truncate(len - n);
    }
}

/// One step of rustls's handshake. A panic in it (a bug there, reached by
/// a peer's bytes) fails this connection, not the core.
fn step<'c, 'i, C: Handshaking>(
    conn: &'c mut C,
    incoming: &'i mut [u8],
) -> io::Result<UnbufferedStatus<'c, 'i, C::Data>> {
    let once = move || {
        let conn = conn;
        conn.process(incoming)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(once))
        .map_err(|_| io::Error::other("the TLS library panicked on this connection"))
}

/// The alerts rustls queued on a failed handshake (why it failed, for the
/// peer), encoded into `out`. `incoming` must be the buffer the failed
/// step saw, less what it said to discard: rustls keeps places in it.
fn queued_alerts<C: Handshaking>(conn: &mut C, incoming: &mut [u8], out: &mut Vec<u8>) {
    for _ in 0..8 {
        let Ok(UnbufferedStatus { state, .. }) = step(conn, incoming) else {
            return;
        };
        match state {
            Ok(ConnectionState::EncodeTlsData(mut st)) => {
                if encode(out, |b| st.encode(b)).is_err() {
                    return;
                }
            }
            Ok(ConnectionState::TransmitTlsData(st)) => st.done(),
            _ => return,
        }
    }
}

/// Runs the handshake on `rd`/`wr`. Returns the ciphertext read past it
/// (records the peer sent right after), and the plaintext of any records
/// rustls already opened.
async fn handshake<C: Handshaking>(
    rd: &mut TcpOwnedReadHalf,
    wr: &mut TcpOwnedWriteHalf,
    conn: &mut C,
    cancel: Option<&RefCell<Canceller>>,
) -> io::Result<(BytesMut, Vec<u8>)> {
    let mut incoming = BytesMut::with_capacity(CIPHER_READ);
    let mut out = Vec::new();
    let mut early = Vec::new();
    loop {
        let UnbufferedStatus { discard: n, state } = step(conn, &mut incoming)?;
        let mut used = n;
        let mut need_read = false;
        match state {
            Err(e) => {
                discard(&mut incoming, used);
                queued_alerts(conn, &mut incoming, &mut out);
                let _ = send(wr, &mut out).await;
                return Err(tls_err(e));
            }
            Ok(ConnectionState::ReadTraffic(mut st)) => {
                while let Some(r) = st.next_record() {
                    let r = r.map_err(tls_err)?;
                    used += r.discard;
                    early.extend_from_slice(r.payload);
                }
            }
            Ok(ConnectionState::EncodeTlsData(mut st)) => encode(&mut out, |b| st.encode(b))?,
            Ok(ConnectionState::TransmitTlsData(st)) => {
                st.done();
                send(wr, &mut out).await?;
            }
            Ok(ConnectionState::BlockedHandshake) => need_read = true,
            Ok(ConnectionState::WriteTraffic(_)) => {
                send(wr, &mut out).await?;
                discard(&mut incoming, used);
                return Ok((incoming, early));
            }
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                ));
            }
            Ok(_) => return Err(bad("unexpected TLS handshake state")),
        }
        discard(&mut incoming, used);
        if need_read {
            send(wr, &mut out).await?;
            let (res, c) = read_more(rd, incoming, cancel).await;
            incoming = c;
            if res? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                ));
            }
        }
    }
}

/// Runs the handshake and takes the traffic keys over from rustls.
async fn establish<C: Handshaking>(
    rd: &mut TcpOwnedReadHalf,
    wr: &mut TcpOwnedWriteHalf,
    mut conn: C,
    cancel: Option<&RefCell<Canceller>>,
) -> io::Result<(TlsReader, TlsWriter, Option<PeerIdentity>)> {
    let (cipher, early) = handshake(rd, wr, &mut conn, cancel).await?;
    let common = conn.common();
    let identity = common
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|leaf| super::identity_of(leaf));
    let version = common.protocol_version();
    let resumed = common.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let tls13 = version == Some(ProtocolVersion::TLSv1_3);
    let (secrets, kernel) = conn.finish().map_err(tls_err)?;
    let rx = Keys::new(tls13, secrets.rx.1, secrets.rx.0)?;
    let tx = Keys::new(tls13, secrets.tx.1, secrets.tx.0)?;
    let shared = Rc::new(RefCell::new(Shared {
        kernel,
        tls13,
        version,
        resumed,
        update_requested: false,
    }));
    Ok((
        TlsReader {
            shared: shared.clone(),
            rx,
            cipher,
            early: (!early.is_empty()).then_some(early),
            closed: false,
        },
        TlsWriter {
            shared,
            tx,
            out: Vec::new(),
            scratch: Vec::new(),
        },
        identity,
    ))
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
    rd: &mut TcpOwnedReadHalf,
    wr: &mut TcpOwnedWriteHalf,
    config: Arc<ServerConfig>,
    cancel: Option<&RefCell<Canceller>>,
) -> io::Result<Accepted> {
    let conn = UnbufferedServerConnection::new(config).map_err(tls_err)?;
    let (reader, writer, identity) = establish(rd, wr, conn, cancel).await?;
    let resumed = reader.shared.borrow().resumed;
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
    rd: &mut TcpOwnedReadHalf,
    wr: &mut TcpOwnedWriteHalf,
    tls: &ClientTls,
    addr: SocketAddr,
) -> io::Result<(TlsReader, TlsWriter)> {
    let conn = UnbufferedClientConnection::new(tls.config().clone(), tls.name_for(addr))
        .map_err(tls_err)?;
    let (r, w, _) = establish(rd, wr, conn, None).await?;
    Ok((r, w))
}

/// The read side of a TLS connection (its socket half is the caller's).
pub(crate) struct TlsReader {
    shared: Rc<RefCell<Shared>>,
    rx: Keys,
    /// Ciphertext read and not yet opened (at most a partial record between
    /// reads).
    cipher: BytesMut,
    /// Plaintext rustls opened during the handshake, handed out first.
    early: Option<Vec<u8>>,
    /// The peer sent `close_notify`.
    closed: bool,
}

impl TlsReader {
    /// Reads plaintext into `buf`: returns how many bytes were added, 0 when
    /// the peer closed. Records that carry none (a session ticket, a key
    /// update) are handled and the read goes on.
    pub(crate) async fn read(
        &mut self,
        rd: &mut TcpOwnedReadHalf,
        buf: &mut LinkBuffer,
        cancel: Option<&RefCell<Canceller>>,
    ) -> io::Result<usize> {
        let mut got = 0;
        if let Some(e) = self.early.take() {
            buf.copy_in(&e);
            got += e.len();
        }
        loop {
            got += self.open_records(buf)?;
            if got > 0 || self.closed {
                return Ok(got);
            }
            let (res, c) = read_more(rd, std::mem::take(&mut self.cipher), cancel).await;
            self.cipher = c;
            if res? == 0 {
                return Ok(0);
            }
        }
    }

    /// Opens every whole record buffered, in place, moving application data
    /// into `buf`; keeps a partial record at the front for the next read.
    fn open_records(&mut self, buf: &mut LinkBuffer) -> io::Result<usize> {
        let mut at = 0;
        let mut got = 0;
        while !self.closed {
            let Some((head, len)) = record::header(&self.cipher[at..])? else {
                break;
            };
            if self.cipher.len() - at < record::HEADER + len {
                break;
            }
            let body = &mut self.cipher[at + record::HEADER..at + record::HEADER + len];
            at += record::HEADER + len;
            let (typ, range) = self.rx.open(head, body)?;
            let plain = &body[range];
            match typ {
                record::APPLICATION_DATA => {
                    buf.copy_in(plain);
                    got += plain.len();
                }
                record::ALERT => match plain {
                    // close_notify (RFC 8446 §6.1).
                    [_, 0] => self.closed = true,
                    [_, desc] => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!(
                                "received fatal alert: {:?}",
                                rustls::AlertDescription::from(*desc)
                            ),
                        ));
                    }
                    _ => return Err(bad("malformed TLS alert")),
                },
                record::HANDSHAKE => post_handshake(&self.shared, &mut self.rx, plain)?,
                _ => return Err(bad("unexpected TLS record type")),
            }
        }
        discard(&mut self.cipher, at);
        Ok(got)
    }

    /// Whether the write half owes the peer a record (a key update's
    /// answer).
    pub(crate) fn wants_write(&self) -> bool {
        self.shared.borrow().update_requested
    }

    /// Whether no ciphertext or plaintext is held back: a readiness wait
    /// on the socket then sees everything still to come.
    pub(crate) fn holds_nothing(&self) -> bool {
        self.cipher.is_empty() && self.early.is_none()
    }

    /// Frees the ciphertext buffer when it holds nothing (a quiet
    /// connection); the next read takes a new one.
    pub(crate) fn release(&mut self) {
        if self.cipher.is_empty() {
            self.cipher = BytesMut::new();
        }
    }
}

/// Handshake messages after the handshake (TLS 1.3 only; TLS 1.2's would
/// be a renegotiation, refused): a server's session tickets, for a client
/// to resume with, and key updates.
fn post_handshake(shared: &RefCell<Shared>, rx: &mut Keys, mut msgs: &[u8]) -> io::Result<()> {
    let mut s = shared.borrow_mut();
    if !s.tls13 {
        return Err(bad("TLS renegotiation is not supported"));
    }
    while let Some((typ, body, rest)) = record::next_handshake(msgs)? {
        match (typ, &mut s.kernel) {
            // NewSessionTicket (RFC 8446 §4.6.1).
            (4, Kernel::Client(k)) => k.handle_new_session_ticket(body).map_err(tls_err)?,
            // KeyUpdate (§4.6.3): the peer's next records use new keys; if
            // it asks, ours must change too.
            (24, kernel) => {
                let requested = match body {
                    [0] => false,
                    [1] => true,
                    _ => return Err(bad("malformed KeyUpdate")),
                };
                let (seq, secrets) = kernel.update_rx().map_err(tls_err)?;
                *rx = Keys::new(true, secrets, seq)?;
                s.update_requested |= requested;
            }
            _ => return Err(bad("unexpected handshake message after the handshake")),
        }
        msgs = rest;
    }
    Ok(())
}

/// The write side of a TLS connection (its socket half is the caller's).
pub(crate) struct TlsWriter {
    shared: Rc<RefCell<Shared>>,
    tx: Keys,
    /// Sealed records to write; capacity kept across writes.
    out: Vec<u8>,
    /// Small pieces of a reply gathered into one record's plaintext.
    scratch: Vec<u8>,
}

impl TlsWriter {
    /// Seals and writes all of `chain` (and a key update the peer asked
    /// for). On failure, the chain's written count is 0 if no byte left,
    /// else all of it (a TLS stream cannot tell which records the peer got).
    pub(crate) async fn write(
        &mut self,
        wr: &mut TcpOwnedWriteHalf,
        mut chain: OutChain,
    ) -> (io::Result<()>, OutChain) {
        let total = chain.remaining();
        let res = self.write_slices(wr, chain.slices()).await;
        chain.finish(match &res {
            Err((_, false)) => 0,
            _ => total,
        });
        (res.map_err(|(e, _)| e), chain)
    }

    /// Seals and writes `bufs`; on failure, whether any byte was sent.
    async fn write_slices<B: AsRef<[u8]>>(
        &mut self,
        wr: &mut TcpOwnedWriteHalf,
        bufs: &[B],
    ) -> Result<(), (io::Error, bool)> {
        let (mut idx, mut off) = (0, 0);
        let mut sent = false;
        loop {
            self.seal(bufs, &mut idx, &mut off).map_err(|e| (e, sent))?;
            if self.out.is_empty() {
                return Ok(());
            }
            let (res, mut o) = wr.write_all(std::mem::take(&mut self.out)).await;
            o.clear();
            self.out = o;
            res.map_err(|e| (e, sent))?;
            sent = true;
        }
    }

    /// Our key update, when the peer asked for one or our keys are near
    /// their limit: a KeyUpdate message under the old keys, then new ones.
    fn update_keys(&mut self) -> io::Result<()> {
        let mut s = self.shared.borrow_mut();
        if !s.update_requested && self.tx.seq < record::UPDATE_AFTER {
            return Ok(());
        }
        if !s.tls13 {
            return Err(bad("TLS 1.2 keys exhausted"));
        }
        // KeyUpdate, update_not_requested (RFC 8446 §4.6.3).
        self.tx
            .seal(&mut self.out, record::HANDSHAKE, &[24, 0, 0, 1, 0])?;
        let (seq, secrets) = s.kernel.update_tx().map_err(tls_err)?;
        self.tx = Keys::new(true, secrets, seq)?;
        s.update_requested = false;
        Ok(())
    }

    /// Seals `bufs` from slice `idx`, byte `off`, into `out` until it holds
    /// [`FLUSH_AT`] bytes or all is done. Each record carries up to
    /// [`record::MAX_PLAIN`] bytes; small pieces are gathered first.
    fn seal<B: AsRef<[u8]>>(
        &mut self,
        bufs: &[B],
        idx: &mut usize,
        off: &mut usize,
    ) -> io::Result<()> {
        self.update_keys()?;
        while *idx < bufs.len() && self.out.len() < FLUSH_AT {
            let piece = &bufs[*idx].as_ref()[*off..];
            let take = piece.len().min(record::MAX_PLAIN - self.scratch.len());
            let last = *idx + 1 == bufs.len() && take == piece.len();
            if self.scratch.is_empty() && (take == record::MAX_PLAIN || last) {
                // A whole record from one piece: no gathering.
                self.tx
                    .seal(&mut self.out, record::APPLICATION_DATA, &piece[..take])?;
            } else {
                self.scratch.extend_from_slice(&piece[..take]);
                if self.scratch.len() == record::MAX_PLAIN || last {
                    self.tx
                        .seal(&mut self.out, record::APPLICATION_DATA, &self.scratch)?;
                    self.scratch.clear();
                }
            }
            *off += take;
            if *off == bufs[*idx].as_ref().len() {
                *idx += 1;
                *off = 0;
            }
        }
        Ok(())
    }

    /// Whether a record is owed to the peer (a key update's answer).
    pub(crate) fn wants_write(&self) -> bool {
        self.shared.borrow().update_requested
    }

    /// Frees the record buffers (a quiet connection).
    pub(crate) fn release(&mut self) {
        self.out = Vec::new();
        self.scratch = Vec::new();
    }

    /// Sends `close_notify` (best effort).
    pub(crate) async fn close(&mut self, wr: &mut TcpOwnedWriteHalf) {
        if self.tx.seal(&mut self.out, record::ALERT, &[1, 0]).is_ok() {
            let _ = send(wr, &mut self.out).await;
        }
    }
}

/// A TLS client connection of one's own: connect, handshake, then write
/// bytes and read into a [`LinkBuffer`]. The engine's client pools use the
/// same machinery; this is for code that drives a connection itself (the
/// perf harness's load generator).
pub struct TlsStream {
    rd: TcpOwnedReadHalf,
    wr: TcpOwnedWriteHalf,
    reader: TlsReader,
    writer: TlsWriter,
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
        let (mut rd, mut wr) = stream.into_split();
        let (reader, writer) = client_handshake(&mut rd, &mut wr, tls, addr).await?;
        Ok(Self {
            rd,
            wr,
            reader,
            writer,
        })
    }

    /// Whether the handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.reader.shared.borrow().resumed
    }

    /// The protocol version negotiated.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.reader.shared.borrow().version
    }

    /// Encrypts and writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer
            .write_slices(&mut self.wr, &[data])
            .await
            .map_err(|(e, _)| e)
    }

    /// Reads plaintext into `buf`: the bytes added, 0 when the server
    /// closed.
    pub async fn read(&mut self, buf: &mut LinkBuffer) -> io::Result<usize> {
        self.reader.read(&mut self.rd, buf, None).await
    }

    /// Sends `close_notify` and drops the connection.
    pub async fn close(mut self) {
        self.writer.close(&mut self.wr).await;
    }
}
