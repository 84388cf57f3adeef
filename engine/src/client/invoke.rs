//! The last two steps of the client chain: IO-error handling and invoke,
//! over this core's pools.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::transport::{self, Transport, TtHeader};

use super::call::{ClientReply, ClientRequest};
use super::options::{ClientConfig, PoolKind};
use super::{mux, pool};
use crate::Result;
use crate::context::ClientContext;

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
            cfg,
        }
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

    fn request_header(&self, cx: &ClientContext, req: &ClientRequest) -> Option<TtHeader> {
        if !matches!(
            req.codec.transport,
            Transport::TtHeader | Transport::TtHeaderFramed
        ) {
            return None;
        }
        let mut h = TtHeader::new(cx.info.seqid);
        h.protocol = req.codec.protocol;
        let _ = h.set_to_method(req.method.clone().into_bytes());
        if !self.service_name.is_empty() {
            let _ = h.set_idl_service_name(self.service_name.clone());
        }
        if !self.caller_name.is_empty() {
            let _ = h.set_from_service(self.caller_name.clone());
        }
        if let Some(left) = cx.info.remaining() {
            let _ = h.set_rpc_timeout(left);
        }
        for (k, v) in &cx.request_keys {
            let _ = h.set_str(k.clone().into_bytes(), v.clone().into_bytes());
        }
        Some(h)
    }

    /// Sends `req` to `addr` and waits for the reply. Takes the context
    /// shared, so a backup request can run beside the first attempt.
    pub(super) async fn call(
        &self,
        cx: &ClientContext,
        addr: SocketAddr,
        req: &ClientRequest,
    ) -> Result<ClientReply> {
        let header = self.request_header(cx, req);
        let encode = |w: &mut LinkWriter| {
            transport::encode_frame(w, req.codec, header.as_ref(), |out| {
                out.write_bytes(req.payload.clone())
            })
        };
        match self.cfg.pool {
            PoolKind::Mux { .. } => {
                let conn = self
                    .mux
                    .get(addr, req.connect_timeout, req.codec, self.cfg.frame_limits)
                    .await?;
                let frame = conn.call(cx.info.seqid, req.oneway, encode).await?;
                Ok(ClientReply { frame })
            }
            PoolKind::Long { .. } => {
                let mut conn = self.long.get(addr, req.connect_timeout).await?;
                encode(conn.writer());
                // IO-error handling: on any error the connection is dropped
                // here instead of going back to the pool.
                conn.send().await?;
                if req.oneway {
                    self.long.put(addr, conn);
                    return Ok(ClientReply { frame: None });
                }
                let frame = conn.recv(req.codec, &self.cfg.frame_limits).await?;
                let reset = frame
                    .header
                    .as_ref()
                    .is_some_and(TtHeader::connection_ready_to_reset);
                if !reset {
                    self.long.put(addr, conn);
                }
                Ok(ClientReply { frame: Some(frame) })
            }
        }
    }
}
