//! Listening: one `SO_REUSEPORT` socket per core on the same address, the
//! accept loop, and the per-core sweeper that enforces read timeouts.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::Splitable;
use socket2::{Domain, Protocol, Socket, Type};

use super::config::ServerConfig;
use super::connection;
use super::core::CoreState;
use super::limit::{CoreLimits, REBALANCE};
use super::router::Route;
use crate::notify::Signal;

/// Binds `n` listeners on `addr` with `SO_REUSEPORT` (the kernel spreads
/// connections over them). With port 0, the first picks the port and the
/// rest join it.
pub(crate) fn bind_all(
    addr: SocketAddr,
    n: usize,
    backlog: i32,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.set_tcp_nodelay(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(backlog)?;
        let l: std::net::TcpListener = s.into();
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// A core's server: accepts until shutdown, then drains its connections.
pub(crate) async fn run_core<R: Route>(
    std_listener: std::net::TcpListener,
    routes: Rc<R>,
    cfg: Rc<ServerConfig>,
    limits: Rc<CoreLimits>,
    shutdown: Signal,
) {
    let listener = match monoio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("listener: {e}");
            return;
        }
    };
    let core = Rc::new(CoreState::new(limits.clone()));
    let sweeper = monoio::spawn(sweep_loop(core.clone(), cfg.clone(), shutdown.clone()));
    let rebalancer = monoio::spawn(rebalance_loop(limits.clone()));
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if core.len() >= cfg.max_conns_per_core {
                        tracing::warn!(%peer, "closing: {} connections on this core", core.len());
                        drop(stream);
                        continue;
                    }
                    let Some(slot) = limits.connection() else {
                        tracing::warn!(%peer, "closing: the server is at its connection limit");
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let serve = connection::serve(stream.into_split(), peer, routes.clone(), cfg.clone(), core.clone());
                    monoio::spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    // Out of descriptors and the like: back off briefly.
                    monoio::time::sleep(Duration::from_millis(5)).await;
                }
            },
            _ = shutdown.wait() => break,
        }
    }
    drop(listener);
    core.drain(cfg.shutdown_timeout);
    let deadline = Instant::now() + cfg.shutdown_timeout;
    while core.len() > 0 && Instant::now() < deadline {
        monoio::select! {
            _ = core.all_closed.notified() => {}
            _ = monoio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    if core.len() > 0 {
        tracing::warn!(
            "{} connections still open at the shutdown deadline",
            core.len()
        );
    }
    drop(sweeper);
    drop(rebalancer);
}

/// Every [`REBALANCE`], publishes this core's demand and takes its share of
/// the server's limits (see [`super::limit`]).
async fn rebalance_loop(limits: Rc<CoreLimits>) {
    loop {
        monoio::time::sleep(REBALANCE).await;
        limits.rebalance();
    }
}

/// Every tick, times out reads past their deadline, parks quiet
/// connections, and lets the core's buffer pool free what sat idle (giving
/// memory back to the system when a lot was freed or many connections
/// closed). One timer per core, not one per read.
async fn sweep_loop(core: Rc<CoreState>, cfg: Rc<ServerConfig>, shutdown: Signal) {
    let tick = (cfg.read_timeout.min(cfg.idle_timeout) / 8)
        .clamp(Duration::from_millis(5), Duration::from_millis(500));
    // Connections at the last trim: a large drop since means their state
    // went back to the allocator.
    let mut conns_at_trim = core.len();
    let mut freed = 0usize;
    loop {
        monoio::time::sleep(tick).await;
        core.sweep(Instant::now());
        freed += ringrpc_codec::buffer::pool::trim();
        // A parked connection let go of its request state and buffers.
        freed += core.take_parks() * PARKED_BYTES;
        let conns = core.len();
        conns_at_trim = conns_at_trim.max(conns);
        if (freed >= RELEASE_AFTER_BYTES || conns_at_trim >= conns + RELEASE_AFTER_CONNS)
            && crate::memory::release()
        {
            freed = 0;
            conns_at_trim = conns;
        }
        if shutdown.is_raised() && core.len() == 0 {
            break;
        }
    }
}

/// About what a connection lets go when it parks: its active phase and
/// its read and write chunks.
const PARKED_BYTES: usize = 16 * 1024;

/// Freed pool memory after which the sweeper returns free memory to the
/// system.
const RELEASE_AFTER_BYTES: usize = 4 * 1024 * 1024;

/// Closed connections after which the sweeper returns free memory to the
/// system (each left its task and buffers to the allocator).
const RELEASE_AFTER_CONNS: usize = 256;
