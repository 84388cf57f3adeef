//! The last two steps of the client chain: IO-error handling and invoke,
//! over this core's pools.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, CompactReader, ExceptionKind, Message, MessageType,
    Protocol, ProtocolReader,
};
use ringrpc_codec::transport::ttheader::int_key;
use ringrpc_codec::transport::{self, Frame, Transport, TtHeader};

use super::call::{ClientReply, ClientRequest};
use super::options::{ClientConfig, PoolKind};
use super::{mux, pool};
use crate::context::ClientContext;
use crate::metainfo::{Kind, MetainfoError, TRACEPARENT};
use crate::stats::Event;
use crate::{Error, Result};

/// The seq id of a reply frame, and whether its connection may carry the
/// next call. A server may close the connection after telling a caller it
/// could not read its request (Volo does after an unknown method or a
/// request it cannot decode, over Framed too): after such an exception the
/// connection is not reused. Other exceptions (a handler's error) keep it.
fn reply_ident(frame: &Frame) -> Result<(i32, bool)> {
    fn read<R: ProtocolReader>(mut r: R) -> Result<(i32, bool)> {
        let ident = r.read_message_begin()?;
        let keep = ident.msg_type != MessageType::Exception
            || ApplicationException::decode(&mut r).is_ok_and(|ex| {
                !matches!(
                    ex.kind,
                    ExceptionKind::UnknownMethod
                        | ExceptionKind::InvalidMessageType
                        | ExceptionKind::ProtocolError
                        | ExceptionKind::WrongMethodName
                )
            });
        Ok((ident.seqid, keep))
    }
    let payload = frame.payload.clone();
    match frame.codec.protocol {
        Protocol::Binary => read(BinaryReader::new(payload)),
        Protocol::Compact => read(CompactReader::new(payload)),
    }
}

/// Room in a request's TTHeader kept for what ringrpc itself sends (method,
/// service names, timeout, forwarded metainfo, trace context).
const HEADER_RESERVE: usize = 4096;

/// Refuses a call whose own keys would not leave the TTHeader room for
/// ringrpc's, before anything is sent.
fn check_room(cx: &ClientContext) -> Result<()> {
    let need: usize = cx
        .request_keys
        .iter()
        .map(|(k, v)| 4 + k.len() + v.len())
        .sum();
    let max = ringrpc_codec::transport::ttheader::MAX_INFO_LEN - HEADER_RESERVE;
    if need > max {
        return Err(Error::Metainfo(MetainfoError::HeaderFull(format!(
            "the call's keys take {need} bytes; at most {max}"
        ))));
    }
    Ok(())
}

/// The IO-error handling and invoke steps, over this core's pools.
#[derive(Debug)]
pub struct Invoke {
    cfg: Rc<ClientConfig>,
    /// The service and caller names as `Bytes`, made once: a TTHeader
    /// carries them on every call.
    service_name: Bytes,
    caller_name: Bytes,
    long: pool::LongPool,
    mux: mux::MuxPool,
    /// The TTHeader of the call being encoded, reused call after call.
    header: RefCell<TtHeader>,
    /// The last RPC timeout sent, and its text.
    timeout_text: RefCell<Option<(Duration, Bytes)>>,
}

impl Invoke {
    pub(super) fn new(cfg: Rc<ClientConfig>) -> Self {
        let (max_idle, idle_timeout, per_addr) = match cfg.pool {
            PoolKind::Long {
                max_idle_per_addr,
                idle_timeout,
            } => (max_idle_per_addr, idle_timeout, 1),
            PoolKind::Mux { conns_per_addr } => (0, Duration::ZERO, conns_per_addr),
        };
        Self {
            long: pool::LongPool::new(max_idle, idle_timeout),
            mux: mux::MuxPool::new(per_addr),
            service_name: Bytes::from(cfg.service.clone()),
            caller_name: Bytes::from(cfg.caller.clone()),
            header: RefCell::new(TtHeader::default()),
            timeout_text: RefCell::new(None),
            cfg,
        }
    }

    /// How many of `n` warm-up connections to one address the pool keeps:
    /// the long pool's idle cap, the mux pool's connections per address.
    pub(super) fn warm_conns(&self, n: usize) -> usize {
        match self.cfg.pool {
            PoolKind::Long {
                max_idle_per_addr, ..
            } => n.min(max_idle_per_addr),
            PoolKind::Mux { conns_per_addr } => n.min(conns_per_addr.max(1)),
        }
    }

    /// Opens one pool connection to `addr` ahead of the calls (warm-up): an
    /// idle long connection, or one of the mux pool's.
    pub(super) async fn warm(&self, addr: SocketAddr) -> Result<()> {
        let codec = transport::Codec {
            transport: self.cfg.transport,
            protocol: self.cfg.protocol,
        };
        match self.cfg.pool {
            PoolKind::Mux { .. } => self
                .mux
                .get(
                    addr,
                    self.cfg.connect_timeout,
                    codec,
                    self.cfg.frame_limits,
                    self.tls(),
                )
                .await
                .map(drop),
            PoolKind::Long { .. } => {
                let halves = pool::connect(addr, self.cfg.connect_timeout, self.tls()).await?;
                self.long.put(addr, pool::LongConn::new(halves));
                Ok(())
            }
        }
    }

    /// The TLS settings connections take, if any.
    fn tls(&self) -> Option<&super::Tls> {
        #[cfg(feature = "tls")]
        return self.cfg.tls.as_ref();
        #[cfg(not(feature = "tls"))]
        None
    }

    /// Closes pooled connections to an instance that went away.
    pub fn forget(&self, addr: &SocketAddr) {
        self.long.remove_addr(addr);
        self.mux.remove_addr(addr);
    }

    /// Idle long connections to `addr` (tests and metrics).
    pub fn idle_connections(&self, addr: &SocketAddr) -> usize {
        self.long.idle_count(addr)
    }

    /// Live multiplexed connections to `addr` in the pool (tests and
    /// metrics).
    pub fn mux_connections(&self, addr: &SocketAddr) -> usize {
        self.mux.live_count(addr)
    }

    /// Fills `h` with a call's TTHeader: seq id, protocol, method, callee
    /// and caller service, the RPC timeout as configured (Kitex sends the
    /// configured timeout, not what is left of it: kitex
    /// `pkg/transmeta/ttheader.go`, `ClientTTHeaderHandler.WriteMeta`), and
    /// the call's own keys. The header and the timeout's text are reused,
    /// so this allocates nothing once warm.
    fn fill_header(&self, h: &mut TtHeader, cx: &ClientContext, req: &ClientRequest) {
        h.reset(cx.info.seqid);
        h.protocol = req.codec.protocol;
        let _ = h.set_to_method(req.method.clone().into_bytes());
        if !self.service_name.is_empty() {
            let _ = h.set_idl_service_name(self.service_name.clone());
        }
        if !self.caller_name.is_empty() {
            let _ = h.set_from_service(self.caller_name.clone());
        }
        if let Some(t) = cx.info.timeout {
            let mut cached = self.timeout_text.borrow_mut();
            let text = match &*cached {
                Some((d, text)) if *d == t => text.clone(),
                _ => {
                    let text = Bytes::from(t.as_millis().to_string());
                    *cached = Some((t, text.clone()));
                    text
                }
            };
            let _ = h.set_int(int_key::RPC_TIMEOUT, text);
        }
        // Inside a server handler: the persistent metainfo that arrived,
        // what the handler added, and the trace (see `metainfo`).
        crate::metainfo::forward(h);
        if let Some(trace) = &cx.trace {
            let tp = bytes::Bytes::from(trace.to_traceparent());
            let _ = crate::metainfo::put(h, Kind::Transient, TRACEPARENT, tp);
        }
        for (k, v) in &cx.request_keys {
            let _ = h.set_str(k.clone().into_bytes(), v.clone().into_bytes());
        }
    }

    /// Sends `req` to `addr` and waits for the reply. Takes the context
    /// shared, so a backup request can run beside the first attempt.
    pub(super) async fn call(
        &self,
        cx: &ClientContext,
        addr: SocketAddr,
        req: &ClientRequest,
    ) -> Result<ClientReply> {
        let ttheader = matches!(
            req.codec.transport,
            Transport::TtHeader | Transport::TtHeaderFramed
        );
        if ttheader && !cx.request_keys.is_empty() {
            check_room(cx)?;
        }
        let stats = &cx.stats;
        let encode = |w: &mut LinkWriter| {
            let mut h = self.header.borrow_mut();
            let header = if ttheader {
                self.fill_header(&mut h, cx, req);
                Some(&*h)
            } else {
                None
            };
            transport::encode_frame(w, req.codec, header, |out| {
                out.write_bytes(req.payload.clone())
            })
        };
        match self.cfg.pool {
            PoolKind::Mux { .. } => {
                stats.record(Event::ClientConnStart);
                let conn = self
                    .mux
                    .get(
                        addr,
                        req.connect_timeout,
                        req.codec,
                        self.cfg.frame_limits,
                        self.tls(),
                    )
                    .await?;
                stats.record(Event::ClientConnFinish);
                // Written and read by the connection's own tasks: the
                // call sees the whole exchange.
                stats.record(Event::WriteStart);
                let frame = conn.call(cx.info.seqid, req.oneway, encode).await?;
                stats.record(Event::ReadFinish);
                Ok(ClientReply { frame })
            }
            PoolKind::Long { .. } => {
                stats.record(Event::ClientConnStart);
                let mut conn = self.long.get(addr, req.connect_timeout, self.tls()).await?;
                stats.record(Event::ClientConnFinish);
                stats.record(Event::WriteStart);
                encode(conn.writer());
                // IO-error handling: on any error the connection is dropped
                // here instead of going back to the pool.
                conn.send(addr).await?;
                stats.record(Event::WriteFinish);
                if req.oneway {
                    self.long.put(addr, conn);
                    return Ok(ClientReply { frame: None });
                }
                stats.record(Event::WaitReadStart);
                let frame = conn.recv(req.codec, &self.cfg.frame_limits).await?;
                stats.record(Event::ReadFinish);
                // A reply belongs to its call: one with another seq id means
                // the stream is out of step (Apache Thrift's clients raise
                // BAD_SEQUENCE_ID); the connection is dropped, not pooled.
                let (seqid, keep) = reply_ident(&frame)?;
                if seqid != cx.info.seqid {
                    return Err(Error::Application(ApplicationException::new(
                        ExceptionKind::BadSequenceId,
                        format!(
                            "reply seq id {seqid} to the call with seq id {}",
                            cx.info.seqid
                        ),
                    )));
                }
                let reset = frame
                    .header
                    .as_ref()
                    .is_some_and(TtHeader::connection_ready_to_reset);
                if !reset && keep {
                    self.long.put(addr, conn);
                }
                Ok(ClientReply { frame: Some(frame) })
            }
        }
    }
}
