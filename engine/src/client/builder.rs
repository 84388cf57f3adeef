//! Building clients: the settings shared by every core's client, and
//! [`ClientBuilder::build`], which makes one core's client.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ringrpc_codec::thrift::Protocol;
use ringrpc_codec::transport::Transport;
use ringrpc_discovery::balance::BalancerKind;
use ringrpc_discovery::breaker::BreakerOptions;
use ringrpc_discovery::retry::BudgetOptions;
use ringrpc_discovery::{EndpointInfo, PolicyTable, ResolverCache};

use super::breaker::ServiceBreakers;
use super::call::Client;
use super::discover::{self, DiscoveryConfig};
use super::fallback::Fallback;
use super::governance::{CoreState, GovernanceConfig};
use super::invoke::Invoke;
use super::options::{ClientConfig, PoolKind};
use super::resolve::Resolve;
use super::retry::{self, MethodRetry, ResultRetry, RetryConfig};
use super::warmup::WarmUp;
use crate::Result;
use crate::error::ConfigError;
use crate::middleware::{Identity, Layer, Stack};
use crate::stats::{MakeTracer, StatsLevel, Tracer, observers};

/// Builds clients: shareable across threads; [`build`](Self::build) on each
/// core that calls.
#[derive(Debug, Clone)]
pub struct ClientBuilder<L = Identity> {
    cfg: ClientConfig,
    discovery: DiscoveryConfig,
    retry: RetryConfig,
    governance: GovernanceConfig,
    layer: L,
    tracers: Vec<MakeTracer>,
    stats_level: Option<StatsLevel>,
}

impl ClientBuilder {
    /// A builder for calling `service` (its IDL name).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            cfg: ClientConfig {
                service: service.into(),
                ..ClientConfig::default()
            },
            discovery: DiscoveryConfig::default(),
            retry: RetryConfig::default(),
            governance: GovernanceConfig::default(),
            layer: Identity,
            tracers: Vec::new(),
            stats_level: None,
        }
    }
}

impl<L> ClientBuilder<L> {
    /// Replaces the whole configuration (keeps the service name if the new
    /// one has none).
    pub fn config(mut self, mut cfg: ClientConfig) -> Self {
        if cfg.service.is_empty() {
            cfg.service = std::mem::take(&mut self.cfg.service);
        }
        self.cfg = cfg;
        self
    }

    /// Adds a target address (a fixed instance, weight
    /// [`DEFAULT_WEIGHT`](ringrpc_discovery::DEFAULT_WEIGHT)). Ignored once
    /// a [`resolver`](Self::resolver) is set.
    pub fn target(mut self, addr: SocketAddr) -> Self {
        self.cfg.targets.push(addr);
        self
    }

    /// Resolves the callee through `cache` (shared by every core) as
    /// `endpoint` (its service name, e.g. `EndpointInfo::new("echo")`),
    /// instead of the fixed targets. Each core subscribes once, at
    /// [`build`](Self::build), and its first call waits for the first
    /// resolve, within the RPC timeout.
    pub fn resolver(mut self, cache: Arc<ResolverCache>, endpoint: EndpointInfo) -> Self {
        self.discovery.resolver = Some((cache, endpoint));
        self
    }

    /// Sets the load balancer each core builds. Default weighted round
    /// robin.
    pub fn balancer(mut self, kind: BalancerKind) -> Self {
        self.discovery.balancer = kind;
        self
    }

    /// Sets the per-instance circuit breakers' options (default: on, with
    /// [`BreakerOptions::default`]).
    pub fn instance_breakers(mut self, options: BreakerOptions) -> Self {
        self.discovery.instance_breakers = Some(options);
        self
    }

    /// Turns the per-instance circuit breakers off.
    pub fn no_instance_breakers(mut self) -> Self {
        self.discovery.instance_breakers = None;
        self
    }

    /// Replaces the retry settings per method (default: none for any
    /// method).
    pub fn retry(mut self, methods: PolicyTable<MethodRetry>) -> Self {
        self.retry.methods = methods;
        self
    }

    /// Sets one method's retry settings (`"*"`: every method without its
    /// own).
    pub fn method_retry(mut self, method: impl Into<String>, retry: MethodRetry) -> Self {
        self.retry.methods = std::mem::take(&mut self.retry.methods).with_method(method, retry);
        self
    }

    /// Sets the per-core retry budget (default: 10 % of calls, reserve 10).
    pub fn retry_budget(mut self, options: BudgetOptions) -> Self {
        self.retry.budget = options;
        self
    }

    /// Sets which answers and errors of `method` (`"*"`: every method
    /// without its own) its failure or mixed retry sends again (Kitex's
    /// `WithSpecifiedResultRetry`). Default: none.
    pub fn result_retry(mut self, method: impl Into<String>, rule: ResultRetry) -> Self {
        self.retry.results =
            std::mem::take(&mut self.retry.results).with_method(method, Some(rule));
        self
    }

    /// Gives every method a service-level circuit breaker with `options`
    /// (Kitex's CBSuite service breakers, keyed `caller/callee/method`; its
    /// defaults are [`BreakerOptions::default`]). Default: none, as Kitex
    /// without `WithCircuitBreaker`. See [`method_breaker`](Self::method_breaker)
    /// for one method.
    pub fn service_breakers(mut self, options: BreakerOptions) -> Self {
        let methods = std::mem::take(&mut self.governance.service_breakers);
        self.governance.service_breakers = methods.with_default(Some(options));
        self
    }

    /// Sets `method`'s service-level breaker: `Some(options)`, or `None` for
    /// none (over [`service_breakers`](Self::service_breakers)).
    pub fn method_breaker(
        mut self,
        method: impl Into<String>,
        options: Option<BreakerOptions>,
    ) -> Self {
        let methods = std::mem::take(&mut self.governance.service_breakers);
        self.governance.service_breakers = methods.with_method(method, options);
        self
    }

    /// Answers `method`'s failed calls (`"*"`: any method without its own)
    /// with `fallback` (Kitex's `WithFallback`, per method). Default: none.
    pub fn fallback(mut self, method: impl Into<String>, fallback: Fallback) -> Self {
        self.governance.fallbacks.insert(method.into(), fallback);
        self
    }

    /// Sets what [`build_warmed`](Self::build_warmed) does (default:
    /// [`WarmUp::default`]).
    pub fn warm_up(mut self, options: WarmUp) -> Self {
        self.governance.warm_up = options;
        self
    }

    /// Sets the RPC timeout.
    pub fn rpc_timeout(mut self, t: Duration) -> Self {
        self.cfg.rpc_timeout = Some(t);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.cfg.connect_timeout = t;
        self
    }

    /// Connects with TLS (feature `tls`): every connection of the long and
    /// multiplexed pools, sessions resumed across them. See [`crate::tls`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.cfg.tls = Some(tls);
        self
    }

    /// Sets the transport.
    pub fn transport(mut self, t: Transport) -> Self {
        self.cfg.transport = t;
        self
    }

    /// Sets the protocol.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.cfg.protocol = p;
        self
    }

    /// Sets the connection pool.
    pub fn pool(mut self, p: PoolKind) -> Self {
        self.cfg.pool = p;
        self
    }

    /// Sets the caller's service name.
    pub fn caller(mut self, name: impl Into<String>) -> Self {
        self.cfg.caller = name.into();
        self
    }

    /// Wraps the client's context middleware in `outer` (the last added runs
    /// first).
    pub fn layer<O>(self, outer: O) -> ClientBuilder<Stack<L, O>> {
        ClientBuilder {
            cfg: self.cfg,
            discovery: self.discovery,
            retry: self.retry,
            governance: self.governance,
            layer: Stack::new(self.layer, outer),
            tracers: self.tracers,
            stats_level: self.stats_level,
        }
    }

    /// Adds a tracer that sees every call start and finish (see
    /// [`stats`](crate::stats)): `make` runs once for each client built
    /// (on each core). With a tracer, calls record at
    /// [`StatsLevel::Base`] unless [`stats_level`](Self::stats_level) says
    /// otherwise. Default: none.
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

    /// The configuration.
    pub fn client_config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// How instances are found and chosen.
    pub fn discovery_config(&self) -> &DiscoveryConfig {
        &self.discovery
    }

    /// The retry settings.
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// The service breakers, fallbacks and warm-up settings.
    pub fn governance_config(&self) -> &GovernanceConfig {
        &self.governance
    }

    /// Builds this core's client: its pools, balancer, breakers and retry
    /// budget, and (with a resolver) its subscription to the cache. Opens
    /// no connection: see [`build_warmed`](Self::build_warmed).
    pub fn build(&self) -> Result<Client<L::Service>>
    where
        L: Layer<Resolve> + Clone,
    {
        let (resolve, cfg) = self.resolve_step()?;
        Ok(self.client(resolve, cfg))
    }

    /// Builds this core's client as [`build`](Self::build) does, then warms
    /// it up before handing it out (see [`warm_up`](Self::warm_up)): waits
    /// for the first resolve and opens pool connections to every instance,
    /// on this core. Fails only if the warm-up's
    /// [`on_error`](super::WarmUp::on_error) is
    /// [`FailFast`](super::OnWarmUpError::FailFast) and something failed.
    pub async fn build_warmed(&self) -> Result<Client<L::Service>>
    where
        L: Layer<Resolve> + Clone,
    {
        let (resolve, cfg) = self.resolve_step()?;
        resolve.warm_up(&self.governance.warm_up).await?;
        Ok(self.client(resolve, cfg))
    }

    fn client(&self, resolve: Resolve, cfg: Rc<ClientConfig>) -> Client<L::Service>
    where
        L: Layer<Resolve> + Clone,
    {
        let governance = resolve.governance();
        Client::new(
            self.layer.clone().layer(resolve),
            cfg,
            governance,
            self.governance.fallbacks.clone(),
            observers(&self.tracers, self.stats_level),
        )
    }

    /// This core's resolve step (everything below the user's layers).
    fn resolve_step(&self) -> Result<(Resolve, Rc<ClientConfig>)> {
        let cfg = Rc::new(self.cfg.clone());
        if matches!(cfg.pool, PoolKind::Mux { .. })
            && !matches!(
                cfg.transport,
                Transport::TtHeader | Transport::TtHeaderFramed
            )
        {
            return Err(ConfigError::MuxNeedsTtHeader(cfg.transport).into());
        }
        let invoke = Invoke::new(cfg.clone());
        let instances = discover::Instances::new(&self.discovery, &cfg.targets, &cfg.service)?;
        let callee = instances.name().to_owned();
        let service =
            ServiceBreakers::new(&self.governance.service_breakers, &cfg.caller, &callee)?;
        let core = CoreState::new(
            instances,
            retry::RetryState::new(&self.retry)?,
            service,
            callee,
        );
        let resolve = Resolve::new(
            core,
            self.retry.methods.clone(),
            self.retry.results.clone(),
            invoke,
        );
        Ok((resolve, cfg))
    }
}
