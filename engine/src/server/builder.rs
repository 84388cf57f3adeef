//! Building and starting a server: its settings, services, layers and
//! registry.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use ringrpc_discovery::{RegistrationTask, Registry};

use super::config::ServerConfig;
use super::handle::ServerHandle;
use super::limit::{CoreLimits, LimitHandle, Limiter, Limits, Shared};
use super::listener;
use super::registration::{Registration, RegistryHook};
use super::router::{
    ChainFactory, Cloned, CoreRouting, Described, DescribedFactory, Handler, MakeService,
    RouteFactory, ServiceDescriptor, ServiceFactory,
};
use crate::context::ServerContext;
use crate::middleware::Service;
use crate::middleware::{Identity, Layer, Stack};
use crate::notify::Signal;
use crate::runtime::Runtime;
use crate::stats::{MakeTracer, StatsLevel, Tracer, observers};

/// The server entry point.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with the default [`ServerConfig`].
    pub fn builder() -> ServerBuilder<NoRoutes> {
        ServerBuilder {
            cfg: ServerConfig::default(),
            routes: NoRoutes,
            layer: Identity,
            registry: None,
            limiter: None,
            tracers: Vec::new(),
            stats_level: None,
        }
    }
}

/// No service added yet.
#[derive(Debug, Clone, Copy)]
pub struct NoRoutes;

/// Builds a server. `F` is the factory of its services (grown by
/// [`service`](ServerBuilder::service)); `L` the layers that wrap the
/// services added from now on (grown by [`layer`](ServerBuilder::layer)).
#[derive(Debug)]
pub struct ServerBuilder<F, L = Identity> {
    cfg: ServerConfig,
    routes: F,
    layer: L,
    registry: Option<RegistryHook>,
    limiter: Option<MakeLimiter>,
    tracers: Vec<MakeTracer>,
    stats_level: Option<StatsLevel>,
}

/// Makes a core's user limiter.
#[derive(Clone)]
struct MakeLimiter(Arc<dyn Fn() -> Rc<dyn Limiter> + Send + Sync>);

impl std::fmt::Debug for MakeLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MakeLimiter")
    }
}

impl<F, L> ServerBuilder<F, L> {
    /// Replaces the whole configuration.
    pub fn config(mut self, cfg: ServerConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// Where to listen (port 0 picks a free port; see
    /// [`ServerHandle::local_addr`]). Default `127.0.0.1:8888`.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.cfg.addr = addr;
        self
    }

    /// How many cores serve. Default: every available core.
    pub fn cores(mut self, n: usize) -> Self {
        self.cfg.cores = Some(n);
        self
    }

    /// The CPU the first core is pinned to. Default 0.
    pub fn first_core(mut self, first: usize) -> Self {
        self.cfg.first_core = first;
        self
    }

    /// Edits the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.cfg);
        self
    }

    /// Serves a gRPC service on the port (feature `grpc`): connections that
    /// open with the HTTP/2 preface are gRPC's, the others Thrift's. Call
    /// once per service (a generated `<Service>Server`).
    #[cfg(feature = "grpc")]
    pub fn grpc<S: crate::grpc::GrpcService>(mut self, svc: S) -> Self {
        let g = self.cfg.grpc.take().unwrap_or_default();
        let router = std::sync::Arc::unwrap_or_clone(g.router).add_service(svc);
        self.cfg.grpc = Some(crate::grpc::GrpcServer::new(router, g.config));
        self
    }

    /// Serves the methods of a gRPC router on the port (feature `grpc`),
    /// with its settings; replaces what [`grpc`](Self::grpc) added.
    #[cfg(feature = "grpc")]
    pub fn grpc_router(
        mut self,
        router: crate::grpc::Router,
        config: crate::grpc::GrpcConfig,
    ) -> Self {
        self.cfg.grpc = Some(crate::grpc::GrpcServer::new(router, config));
        self
    }

    /// Serves TLS on the port (feature `tls`): TLS-only, unless `tls`
    /// accepts plaintext too. See [`crate::tls`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.cfg.tls = Some(tls);
        self
    }

    /// The server-wide limits: QPS, calls in flight, connections (see
    /// [`limit`](super::limit)). Default: none.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.cfg.limits = limits;
        self
    }

    /// A limiter of your own, consulted on each core for every call the
    /// built-in limits admit (per method, per caller, ...): `make` runs
    /// once on each core. A call it refuses is answered with an over-limit
    /// exception and never reaches the handler. Default: none.
    pub fn limiter<M, T>(mut self, make: M) -> Self
    where
        M: Fn() -> T + Send + Sync + 'static,
        T: Limiter,
    {
        self.limiter = Some(MakeLimiter(Arc::new(move || {
            Rc::new(make()) as Rc<dyn Limiter>
        })));
        self
    }

    /// Adds a tracer that sees every call start and finish (see
    /// [`stats`](crate::stats)): `make` runs once on each core. With a
    /// tracer, calls record at [`StatsLevel::Base`] unless
    /// [`stats_level`](Self::stats_level) says otherwise. Default: none.
    pub fn tracer<M, T>(mut self, make: M) -> Self
    where
        M: Fn() -> T + Send + Sync + 'static,
        T: Tracer,
    {
        self.tracers.push(MakeTracer::new(make));
        self
    }

    /// How much each call records for the tracers. Default:
    /// [`StatsLevel::Base`] with a tracer, [`StatsLevel::Disabled`] without.
    pub fn stats_level(mut self, level: StatsLevel) -> Self {
        self.stats_level = Some(level);
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

    /// Wraps the services added *after* this call in `outer` (middleware),
    /// around the layers added before it: the last layer added runs first,
    /// as on the client. Each core gets its own clone of the layer.
    pub fn layer<O>(self, outer: O) -> ServerBuilder<F, Stack<L, O>> {
        ServerBuilder {
            cfg: self.cfg,
            routes: self.routes,
            layer: Stack::new(self.layer, outer),
            registry: self.registry,
            limiter: self.limiter,
            tracers: self.tracers,
            stats_level: self.stats_level,
        }
    }

    fn with_routes<G>(self, routes: G) -> ServerBuilder<G, L> {
        self.map_routes(|_| routes)
    }

    /// The same builder with its routes made from the old ones.
    fn map_routes<G>(self, f: impl FnOnce(F) -> G) -> ServerBuilder<G, L> {
        ServerBuilder {
            cfg: self.cfg,
            routes: f(self.routes),
            layer: self.layer,
            registry: self.registry,
            limiter: self.limiter,
            tracers: self.tracers,
            stats_level: self.stats_level,
        }
    }
}

impl<L: Clone + Send + Sync + 'static> ServerBuilder<NoRoutes, L> {
    /// Starts a server with no Thrift service: gRPC services alone
    /// ([`grpc`](ServerBuilder::grpc), feature `grpc`). A Thrift call is
    /// answered `UNKNOWN_METHOD`. See [`ServerBuilder::start`].
    pub fn start(self) -> crate::Result<ServerHandle> {
        self.map_routes(|_| super::router::NoThrift).start()
    }

    /// Serves `svc` (a generated `<Service>Server::new(handler)`), cloned
    /// onto every core and wrapped in the layers added so far. For a
    /// handler that cannot be cloned or sent, see
    /// [`service_per_core`](Self::service_per_core).
    pub fn service<S>(self, svc: S) -> ServerBuilder<ServiceFactory<S::Descriptor, Cloned<S>, L>, L>
    where
        S: Described + Clone + Send + Sync + 'static,
        L: Layer<S>,
        L::Service: Handler<S::Descriptor>,
    {
        let routes = ServiceFactory::new(Cloned(svc), self.layer.clone());
        self.with_routes(routes)
    }

    /// Serves the service `make` builds, called once on each core (so the
    /// handler may hold per-core state: `Rc`, `RefCell`, a client), wrapped
    /// in the layers added so far.
    pub fn service_per_core<M>(
        self,
        make: M,
    ) -> ServerBuilder<ServiceFactory<<M::Service as Described>::Descriptor, M, L>, L>
    where
        M: MakeService,
        M::Service: Described,
        L: Layer<M::Service>,
        L::Service: Handler<<M::Service as Described>::Descriptor>,
    {
        let routes = ServiceFactory::new(make, self.layer.clone());
        self.with_routes(routes)
    }

    /// Serves `svc` as the service `desc` describes: a descriptor value,
    /// for a service known only at run time (a generic server built from
    /// IDL loaded at run time; see `ringrpc-generic`). Both are cloned onto
    /// every core; the service is wrapped in the layers added so far.
    pub fn dynamic_service<D, S>(
        self,
        desc: D,
        svc: S,
    ) -> ServerBuilder<DescribedFactory<D, Cloned<S>, L>, L>
    where
        D: ServiceDescriptor + Clone + Send + Sync,
        S: Clone + Send + Sync + 'static,
        L: Layer<S>,
        L::Service: Service<ServerContext, D::Request, Response = D::Response, Error = crate::Error>
            + 'static,
    {
        let routes = DescribedFactory::new(desc, Cloned(svc), self.layer.clone());
        self.with_routes(routes)
    }
}

impl<F: RouteFactory, L: Clone + Send + Sync + 'static> ServerBuilder<F, L> {
    /// Adds another service, routed by the TTHeader `isn` key; a request
    /// that names no service goes to the first service that has its method.
    /// See [`ServerBuilder::<NoRoutes>::service`](ServerBuilder::service).
    #[allow(clippy::type_complexity)]
    pub fn service<S>(
        self,
        svc: S,
    ) -> ServerBuilder<ChainFactory<F, ServiceFactory<S::Descriptor, Cloned<S>, L>>, L>
    where
        S: Described + Clone + Send + Sync + 'static,
        L: Layer<S>,
        L::Service: Handler<S::Descriptor>,
    {
        let tail = ServiceFactory::new(Cloned(svc), self.layer.clone());
        self.map_routes(|head| ChainFactory { head, tail })
    }

    /// Adds another service made on each core; see
    /// [`service_per_core`](ServerBuilder::service_per_core).
    #[allow(clippy::type_complexity)]
    pub fn service_per_core<M>(
        self,
        make: M,
    ) -> ServerBuilder<
        ChainFactory<F, ServiceFactory<<M::Service as Described>::Descriptor, M, L>>,
        L,
    >
    where
        M: MakeService,
        M::Service: Described,
        L: Layer<M::Service>,
        L::Service: Handler<<M::Service as Described>::Descriptor>,
    {
        let tail = ServiceFactory::new(make, self.layer.clone());
        self.map_routes(|head| ChainFactory { head, tail })
    }

    /// Adds another service described by a value; see
    /// [`dynamic_service`](ServerBuilder::dynamic_service).
    #[allow(clippy::type_complexity)]
    pub fn dynamic_service<D, S>(
        self,
        desc: D,
        svc: S,
    ) -> ServerBuilder<ChainFactory<F, DescribedFactory<D, Cloned<S>, L>>, L>
    where
        D: ServiceDescriptor + Clone + Send + Sync,
        S: Clone + Send + Sync + 'static,
        L: Layer<S>,
        L::Service: Service<ServerContext, D::Request, Response = D::Response, Error = crate::Error>
            + 'static,
    {
        let tail = DescribedFactory::new(desc, Cloned(svc), self.layer.clone());
        self.map_routes(|head| ChainFactory { head, tail })
    }

    /// One core's routes of this server, served over an in-memory
    /// connection instead of a socket (for tests): see
    /// [`testing::Pair`](crate::testing::Pair). Uses the configuration's
    /// frame and decode limits and in-flight cap; binds nothing.
    pub fn in_memory(
        self,
    ) -> crate::testing::Pair<F::Route, impl std::future::Future<Output = ()>> {
        let shared = Shared::new(self.cfg.limits, 1);
        let limiter = self.limiter.as_ref().map(|m| (m.0)());
        let core = CoreRouting {
            decode: self.cfg.decode_limits,
            limits: Rc::new(CoreLimits::new(shared, 0, limiter)),
            enforce_deadline: self.cfg.enforce_deadline,
            observers: observers(&self.tracers, self.stats_level),
        };
        let routes = self.routes.build(&core);
        crate::testing::pair(
            routes,
            self.cfg.frame_limits,
            self.cfg.max_inflight_per_conn,
        )
    }

    /// Binds every core's listener and starts serving. Returns once every
    /// core listens (and, with a registry, once the registration task is
    /// started; it registers after its delay).
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when binding fails,
    /// [`Error::Config`](crate::Error::Config) when the registry would get
    /// an address clients cannot reach, [`Error::Discovery`](crate::Error::Discovery)
    /// when the registration task cannot start.
    pub fn start(self) -> crate::Result<ServerHandle> {
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
        let limits = Shared::new(cfg.limits, cores);
        let make_limiter = self.limiter;
        let (make_tracers, stats_level) = (self.tracers, self.stats_level);
        let cfg = Arc::new(cfg);
        let (cfg2, shutdown2, limits2) = (cfg.clone(), shutdown.clone(), limits.clone());
        let runtime = Runtime::builder()
            .cores(cores)
            .first_core(cfg.first_core)
            .pin(cfg.pin)
            .name("ringrpc-server")
            .start(move |i| {
                let std_listener = slots.lock().unwrap_or_else(|p| p.into_inner())[i].take();
                let limiter = make_limiter.as_ref().map(|m| (m.0)());
                let core_limits = Rc::new(CoreLimits::new(limits2.clone(), i, limiter));
                let core = CoreRouting {
                    decode: cfg2.decode_limits,
                    limits: core_limits.clone(),
                    enforce_deadline: cfg2.enforce_deadline,
                    observers: observers(&make_tracers, stats_level),
                };
                let routes = Rc::new(routes.build(&core));
                let cfg = Rc::new((*cfg2).clone());
                let shutdown = shutdown2.clone();
                let drained = drained_tx.clone();
                async move {
                    if let Some(l) = std_listener {
                        listener::run_core(l, routes, cfg, core_limits, shutdown).await;
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
            limits: LimitHandle(limits),
        };
        if let Some((registry, info, delay)) = registry {
            // On failure the handle is dropped, which stops the cores.
            handle.registration = Some(RegistrationTask::start(registry, info, delay)?);
        }
        Ok(handle)
    }
}
