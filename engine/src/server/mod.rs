//! The server: one listener per core on the same port (`SO_REUSEPORT`, so the
//! kernel spreads connections), connection tasks owned by the core that
//! accepted them, routing to services, and graceful shutdown.
//!
//! ```no_run
//! # use ringrpc_engine::server::{Server, ThriftService};
//! # fn demo<T: ThriftService, S>(make: fn() -> S) -> std::io::Result<()>
//! # where S: ringrpc_engine::middleware::Service<ringrpc_engine::context::ServerContext, T::Request,
//! #     Response = T::Response, Error = ringrpc_engine::Error> + 'static {
//! let server = Server::builder()
//!     .addr("127.0.0.1:9000".parse().unwrap())
//!     .cores(1)
//!     .service::<T, _, _>(make)
//!     .start()?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown();
//! # Ok(()) }
//! ```

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringrpc_codec::thrift::DecodeLimits;
use ringrpc_codec::transport::FrameLimits;
use slab::Slab;

use crate::runtime::Runtime;
use crate::signal::{LocalNotify, Signal};

pub(crate) mod connection;
mod listener;
mod router;

pub use connection::{ConnShared, ReplyPayload};
pub use router::{
    Chain, ChainFactory, Incoming, MethodKind, Route, RouteFactory, Served, ServiceFactory,
    ThriftService,
};

/// The server's settings, with documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen. Default `127.0.0.1:8888` (Kitex's default port).
    pub addr: SocketAddr,
    /// Worker cores. Default: every available core.
    pub cores: Option<usize>,
    /// The CPU the first worker is pinned to. Default 0.
    pub first_core: usize,
    /// Whether to pin workers to CPUs. Default true.
    pub pin: bool,
    /// Frame bounds. Default: 16 MiB frames.
    pub frame_limits: FrameLimits,
    /// Decoding bounds. Default: depth 64, strings and containers 16 Mi.
    pub decode_limits: DecodeLimits,
    /// How long a partial frame may wait for its remaining bytes before the
    /// connection is closed. Default 5 s (Kitex's read/write timeout).
    pub read_timeout: Duration,
    /// How long a connection may sit idle between requests. Default 10 min
    /// (Kitex's `MaxConnectionIdleTime`).
    pub idle_timeout: Duration,
    /// Connections a core holds at most; more are closed on accept.
    /// Default 10 000.
    pub max_conns_per_core: usize,
    /// Requests in flight on one connection at most (TTHeader); reading
    /// pauses at the limit. Default 1024.
    pub max_inflight_per_conn: usize,
    /// How long graceful shutdown waits for in-flight requests. Default 5 s
    /// (Kitex's `ExitWaitTime`).
    pub shutdown_timeout: Duration,
    /// The listen backlog. Default 1024.
    pub backlog: i32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8888)),
            cores: None,
            first_core: 0,
            pin: true,
            frame_limits: FrameLimits::default(),
            decode_limits: DecodeLimits::default(),
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_conns_per_core: 10_000,
            max_inflight_per_conn: 1024,
            shutdown_timeout: Duration::from_secs(5),
            backlog: 1024,
        }
    }
}

/// Builds a server. `F` is the factory of its services (built up by
/// [`service`](ServerBuilder::service)).
#[derive(Debug)]
pub struct ServerBuilder<F> {
    cfg: ServerConfig,
    routes: F,
}

/// No service registered yet.
#[derive(Debug, Clone, Copy)]
pub struct NoRoutes;

/// The server entry point.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with the default [`ServerConfig`].
    pub fn builder() -> ServerBuilder<NoRoutes> {
        ServerBuilder {
            cfg: ServerConfig::default(),
            routes: NoRoutes,
        }
    }
}

impl<F> ServerBuilder<F> {
    /// Replaces the whole configuration.
    pub fn config(mut self, cfg: ServerConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// Where to listen (port 0 picks a free port; see
    /// [`ServerHandle::local_addr`]).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.cfg.addr = addr;
        self
    }

    /// How many cores serve.
    pub fn cores(mut self, n: usize) -> Self {
        self.cfg.cores = Some(n);
        self
    }

    /// The CPU the first core is pinned to.
    pub fn first_core(mut self, first: usize) -> Self {
        self.cfg.first_core = first;
        self
    }

    /// Edits the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.cfg);
        self
    }
}

impl ServerBuilder<NoRoutes> {
    /// Adds the first service: descriptor `T`, handler made per core by
    /// `make` (wrap middleware around the handler inside `make`).
    pub fn service<T, S, M>(self, make: M) -> ServerBuilder<ServiceFactory<T, M>>
    where
        T: ThriftService,
        M: Fn() -> S + Send + Sync + 'static,
        S: crate::middleware::Service<
                crate::context::ServerContext,
                T::Request,
                Response = T::Response,
                Error = crate::Error,
            > + 'static,
    {
        ServerBuilder {
            cfg: self.cfg,
            routes: ServiceFactory::new(make),
        }
    }
}

impl<F: RouteFactory> ServerBuilder<F> {
    /// Adds another service, routed by the TTHeader `isn` key; requests
    /// that name no service go to the first one added.
    pub fn service<T, S, M>(self, make: M) -> ServerBuilder<ChainFactory<F, ServiceFactory<T, M>>>
    where
        T: ThriftService,
        M: Fn() -> S + Send + Sync + 'static,
        S: crate::middleware::Service<
                crate::context::ServerContext,
                T::Request,
                Response = T::Response,
                Error = crate::Error,
            > + 'static,
    {
        ServerBuilder {
            cfg: self.cfg,
            routes: ChainFactory {
                head: self.routes,
                tail: ServiceFactory::new(make),
            },
        }
    }

    /// Binds every core's listener and starts serving. Returns once every
    /// core listens.
    pub fn start(self) -> std::io::Result<ServerHandle> {
        let cfg = self.cfg;
        let cores = cfg.cores.unwrap_or_else(crate::runtime::available_cores);
        let listeners = listener::bind_all(cfg.addr, cores, cfg.backlog)?;
        let local_addr = listeners[0].local_addr()?;
        let slots: Arc<Mutex<Vec<Option<std::net::TcpListener>>>> =
            Arc::new(Mutex::new(listeners.into_iter().map(Some).collect()));
        let shutdown = Signal::new();
        let (drained_tx, drained_rx) = crossbeam_channel::bounded(cores);
        let routes = Arc::new(self.routes);
        let cfg = Arc::new(cfg);
        let (cfg2, shutdown2) = (cfg.clone(), shutdown.clone());
        let runtime = Runtime::builder()
            .cores(cores)
            .first_core(cfg.first_core)
            .pin(cfg.pin)
            .name("ringrpc-server")
            .start(move |i| {
                let std_listener = slots.lock().unwrap_or_else(|p| p.into_inner())[i].take();
                let routes = Rc::new(routes.build(cfg2.decode_limits));
                let cfg = Rc::new((*cfg2).clone());
                let shutdown = shutdown2.clone();
                let drained = drained_tx.clone();
                async move {
                    block_termination_signals();
                    if let Some(l) = std_listener {
                        listener::run_core(l, routes, cfg, shutdown).await;
                    }
                    let _ = drained.send(());
                }
            })?;
        Ok(ServerHandle {
            runtime: Some(runtime),
            local_addr,
            shutdown,
            drained: drained_rx,
            cores,
            shutdown_timeout: cfg.shutdown_timeout,
        })
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    runtime: Option<Runtime>,
    local_addr: SocketAddr,
    shutdown: Signal,
    drained: crossbeam_channel::Receiver<()>,
    cores: usize,
    shutdown_timeout: Duration,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Graceful shutdown: every core stops accepting, TTHeader replies carry
    /// `crrst`, in-flight requests finish (up to the shutdown timeout), then
    /// connections close and the cores stop. Blocks until done.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(rt) = self.runtime.take() else {
            return;
        };
        self.shutdown.raise();
        let deadline = Instant::now() + self.shutdown_timeout + Duration::from_secs(1);
        for _ in 0..self.cores {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                tracing::warn!("a core did not drain before the shutdown timeout");
                break;
            }
        }
        rt.stop();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Blocks SIGINT and SIGTERM on the calling thread, so that they reach the
/// thread waiting in [`wait_for_termination`] instead of a core.
pub fn block_termination_signals() {
    // SAFETY: plain libc calls on a local, fully initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Blocks the calling thread until SIGINT or SIGTERM arrives; returns the
/// signal number. Call it from the main thread (the cores block both).
pub fn wait_for_termination() -> i32 {
    // SAFETY: as above; `sigwait` writes the caught signal into `sig`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig: libc::c_int = 0;
        libc::sigwait(&set, &mut sig);
        sig
    }
}

/// One core's server state: its connections, for the sweeper (timeouts) and
/// for draining.
#[derive(Debug, Default)]
pub struct CoreState {
    conns: RefCell<Slab<Rc<ConnShared>>>,
    drain_deadline: Cell<Option<Instant>>,
    all_closed: LocalNotify,
}

impl CoreState {
    pub(crate) fn register(&self, c: Rc<ConnShared>) -> usize {
        if let Some(d) = self.drain_deadline.get() {
            c.draining.set(true);
            let _ = d;
        }
        self.conns.borrow_mut().insert(c)
    }

    pub(crate) fn unregister(&self, key: usize) {
        let mut conns = self.conns.borrow_mut();
        conns.try_remove(key);
        if conns.is_empty() {
            self.all_closed.notify();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Whether draining (if it began) still has time left.
    pub(crate) fn before_deadline(&self) -> bool {
        self.drain_deadline.get().is_none_or(|d| Instant::now() < d)
    }

    /// The deadline for a read starting now that may wait `timeout`.
    pub(crate) fn read_deadline(&self, timeout: Duration) -> Instant {
        let d = Instant::now() + timeout;
        match self.drain_deadline.get() {
            Some(dd) if dd < d => dd,
            _ => d,
        }
    }

    /// Times out reads past their deadline.
    fn sweep(&self, now: Instant) {
        for (_, c) in self.conns.borrow().iter() {
            if c.deadline.get().is_some_and(|d| d <= now) && !c.timed_out.get() {
                c.timed_out.set(true);
                c.cancel_read();
            }
        }
    }

    /// Starts draining: every connection finishes what it has and closes.
    fn drain(&self, timeout: Duration) {
        self.drain_deadline.set(Some(Instant::now() + timeout));
        for (_, c) in self.conns.borrow().iter() {
            c.draining.set(true);
            c.cancel_read();
        }
    }
}
