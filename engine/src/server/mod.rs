//! The server: one listener per core on the same port (`SO_REUSEPORT`, so the
//! kernel spreads connections), connection tasks owned by the core that
//! accepted them, routing to services, and graceful shutdown.
//!
//! With a registry ([`ServerBuilder::registry`]) the server announces itself
//! as Kitex does: a [`RegistrationTask`] registers it after a delay once the
//! listeners are up (1 s by default, so clients do not arrive before the
//! cores are ready), and [`ServerHandle::shutdown`] deregisters it *first*,
//! so clients stop picking it, then stops accepting and drains.
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
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringrpc_codec::thrift::DecodeLimits;
use ringrpc_codec::transport::FrameLimits;
use ringrpc_discovery::registry::DEFAULT_REGISTER_DELAY;
use ringrpc_discovery::{RegistrationStatus, RegistrationTask, Registry, RegistryInfo};
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
    /// Reply bytes a connection may have waiting to be written before it
    /// stops reading requests (a peer that does not read its replies).
    /// Default 8 MiB.
    pub max_unflushed_bytes: usize,
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
            max_unflushed_bytes: 8 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            backlog: 1024,
        }
    }
}

/// What a server registers, besides its address: set with
/// [`ServerBuilder::registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The service name clients resolve.
    pub service_name: String,
    /// The weight clients should give this server. Default
    /// [`DEFAULT_WEIGHT`](ringrpc_discovery::DEFAULT_WEIGHT) (10, Kitex's).
    pub weight: u32,
    /// Free-form tags (cluster, zone, ...).
    pub tags: HashMap<String, String>,
    /// How long after listening to register. Default 1 s (Kitex's
    /// [`DEFAULT_REGISTER_DELAY`]).
    pub delay: Duration,
    /// The address clients should connect to. Default: the listening
    /// address, which must then be a specific IP (not `0.0.0.0`).
    pub advertise: Option<SocketAddr>,
}

impl Registration {
    /// Registers as `service_name` with the defaults.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            weight: ringrpc_discovery::DEFAULT_WEIGHT,
            tags: HashMap::new(),
            delay: DEFAULT_REGISTER_DELAY,
            advertise: None,
        }
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the delay between listening and registering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the address clients should connect to.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// The registry entry for a server listening on `listening`.
    fn info(&self, listening: SocketAddr) -> std::io::Result<RegistryInfo> {
        let addr = self.advertise.unwrap_or(listening);
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "cannot register {addr}: listen on a specific address or set \
                     Registration::advertise"
                ),
            ));
        }
        let mut info = RegistryInfo::new(self.service_name.clone(), addr).with_weight(self.weight);
        info.tags = self.tags.clone();
        Ok(info)
    }
}

/// A registry and what to register in it.
#[derive(Clone)]
struct RegistryHook {
    registry: Arc<dyn Registry>,
    registration: Registration,
}

impl std::fmt::Debug for RegistryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryHook")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}

/// Builds a server. `F` is the factory of its services (built up by
/// [`service`](ServerBuilder::service)).
#[derive(Debug)]
pub struct ServerBuilder<F> {
    cfg: ServerConfig,
    routes: F,
    registry: Option<RegistryHook>,
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
            registry: None,
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

    /// Announces the server in `registry` once it listens (after
    /// `registration.delay`, retrying a failed registration), and withdraws
    /// it first at shutdown. Default: no registry.
    pub fn registry(mut self, registry: Arc<dyn Registry>, registration: Registration) -> Self {
        self.registry = Some(RegistryHook {
            registry,
            registration,
        });
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
            registry: self.registry,
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
            registry: self.registry,
        }
    }

    /// Binds every core's listener and starts serving. Returns once every
    /// core listens (and, with a registry, once the registration task is
    /// started; it registers after its delay).
    pub fn start(self) -> std::io::Result<ServerHandle> {
        let cfg = self.cfg;
        let cores = cfg.cores.unwrap_or_else(crate::runtime::available_cores);
        let listeners = listener::bind_all(cfg.addr, cores, cfg.backlog)?;
        let local_addr = listeners[0].local_addr()?;
        let registry = match self.registry {
            Some(hook) => {
                let info = hook.registration.info(local_addr)?;
                Some((hook.registry, info, hook.registration.delay))
            }
            None => None,
        };
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
        let mut handle = ServerHandle {
            runtime: Some(runtime),
            local_addr,
            shutdown,
            drained: drained_rx,
            cores,
            shutdown_timeout: cfg.shutdown_timeout,
            registration: None,
        };
        if let Some((registry, info, delay)) = registry {
            // On failure the handle is dropped, which stops the cores.
            handle.registration = Some(
                RegistrationTask::start(registry, info, delay).map_err(std::io::Error::other)?,
            );
        }
        Ok(handle)
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
    registration: Option<RegistrationTask>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the registration stands (`None`: no registry, or already
    /// deregistered).
    pub fn registration_status(&self) -> Option<RegistrationStatus> {
        self.registration.as_ref().map(|t| t.status().0)
    }

    /// Blocks until the server is registered (true), or `timeout` passes or
    /// there is no registration (false).
    pub fn wait_registered(&self, timeout: Duration) -> bool {
        self.registration
            .as_ref()
            .is_some_and(|t| t.wait_registered(timeout))
    }

    /// Withdraws the server from its registry (or cancels a registration
    /// still waiting for its delay) and keeps serving: clients stop picking
    /// it as their discovery catches up, and calls already sent finish.
    /// A no-op without a registry or when already done. Blocks for the
    /// registry's round trip.
    pub fn deregister(&mut self) -> ringrpc_discovery::Result<()> {
        match self.registration.take() {
            Some(task) => task.stop(),
            None => Ok(()),
        }
    }

    /// Graceful shutdown: deregisters first (with a registry), then every
    /// core stops accepting, TTHeader replies carry `crrst`, in-flight
    /// requests finish (up to the shutdown timeout), then connections close
    /// and the cores stop. Blocks until done.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Err(error) = self.deregister() {
            tracing::warn!(%error, "deregistering at shutdown failed");
        }
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
        if self.drain_deadline.get().is_some() {
            c.draining.set(true);
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
