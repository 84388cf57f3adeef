//! etcd: a resolver that watches, and a registry that keeps a lease alive.
//!
//! The key layout is Kitex's etcd registry's (`kitex-contrib/registry-etcd`,
//! `common.go` and `etcd_registry.go`), so ringrpc and Kitex services find
//! each other in the same etcd:
//!
//! ```text
//! key:   kitex/registry-etcd/<service>/<ip:port>
//! value: {"network":"tcp","address":"<ip:port>","weight":10,"tags":{...}}
//! ```
//!
//! attached to a lease of 60 s (registry-etcd's `defaultTTL`), kept alive
//! while registered and revoked on deregister; a registration whose process
//! dies disappears when its lease runs out. A weight of 0 or less reads as
//! 10, as registry-etcd's resolver does. Unlike registry-etcd's resolver, a
//! service with no key left resolves to an empty list (not an error), so
//! the cache publishes the removals instead of keeping the last instances.
//!
//! `etcd-client` is async (tonic); the backend runs a one-worker tokio
//! runtime of its own and blocks on it from the resolver cache's thread or
//! the registration thread. Watches and keepalives are tasks on that
//! runtime. Nothing here runs on a core.

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, DeleteOptions, GetOptions, PutOptions, WatchOptions};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

use crate::{
    DEFAULT_WEIGHT, Error, Instance, RegistryInfo, ResolveResult, Resolver, Result, WatchGuard,
    WatchSink,
};

/// registry-etcd's default key prefix (`etcd_registry.go`).
pub const DEFAULT_PREFIX: &str = "kitex/registry-etcd";
/// registry-etcd's default lease TTL in seconds (`defaultTTL`).
pub const DEFAULT_LEASE_TTL: i64 = 60;

/// How to reach etcd and lay out keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    endpoints: Vec<String>,
    prefix: String,
    lease_ttl: i64,
    timeout: Duration,
}

impl EtcdOptions {
    /// Options for `endpoints` (e.g. `"http://127.0.0.1:2379"`), with the
    /// default prefix, a 60 s lease and a 3 s request timeout
    /// (registry-etcd's put timeout).
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: DEFAULT_PREFIX.into(),
            lease_ttl: DEFAULT_LEASE_TTL,
            timeout: Duration::from_secs(3),
        }
    }

    /// Sets the key prefix (registry-etcd's `WithEtcdServicePrefix`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the lease TTL in seconds (at least 1).
    pub fn lease_ttl(mut self, seconds: i64) -> Self {
        self.lease_ttl = seconds.max(1);
        self
    }

    /// Sets the timeout of each request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn service_prefix(&self, service: &str) -> String {
        format!("{}/{}/", self.prefix, service)
    }

    fn service_key(&self, service: &str, addr: SocketAddr) -> String {
        format!("{}{}", self.service_prefix(service), addr)
    }
}

/// The value stored per instance (registry-etcd's `instanceInfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct InstanceInfo {
    network: String,
    address: String,
    weight: i64,
    #[serde(default)]
    tags: HashMap<String, String>,
}

/// The client and the runtime it runs on; shared by a resolver and a
/// registry made from it.
struct Backend {
    runtime: Runtime,
    client: Client,
    options: EtcdOptions,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Backend {
    fn connect(options: EtcdOptions) -> Result<Arc<Self>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ringrpc-etcd")
            .enable_all()
            .build()?;
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout);
        let endpoints = options.endpoints.clone();
        let client = runtime.block_on(async {
            tokio::time::timeout(options.timeout, Client::connect(endpoints, Some(connect)))
                .await
                .map_err(|_| Error::Timeout {
                    what: "etcd connect",
                })?
                .map_err(Error::from)
        })?;
        Ok(Arc::new(Backend {
            runtime,
            client,
            options,
        }))
    }

    /// Runs `f` on the runtime, bounded by the request timeout.
    fn call<T, F>(&self, what: &'static str, f: impl FnOnce(Client) -> F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let fut = f(self.client.clone());
        self.runtime.block_on(async {
            match tokio::time::timeout(self.options.timeout, fut).await {
                Ok(r) => r.map_err(Error::from),
                Err(_) => Err(Error::Timeout { what }),
            }
        })
    }
}

/// Resolves a service from the keys under `<prefix>/<service>/`, and
/// watches that prefix so a change reaches the cache at once. Its name is
/// `"etcd"`; its cache key is the service name.
#[derive(Debug, Clone)]
pub struct EtcdResolver {
    backend: Arc<Backend>,
}

impl EtcdResolver {
    /// Connects to etcd.
    pub fn connect(options: EtcdOptions) -> Result<Self> {
        Ok(EtcdResolver {
            backend: Backend::connect(options)?,
        })
    }

    /// A registry on the same connection and runtime.
    pub fn registry(&self) -> EtcdRegistry {
        EtcdRegistry::from_backend(self.backend.clone())
    }
}

fn parse_instance(key: &[u8], value: &[u8]) -> Option<Instance> {
    let info: InstanceInfo = match serde_json::from_slice(value) {
        Ok(i) => i,
        Err(error) => {
            tracing::warn!(key = %String::from_utf8_lossy(key), %error, "bad registry value, skipped");
            return None;
        }
    };
    let addr = info
        .address
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| info.address.to_socket_addrs().ok()?.next());
    let Some(addr) = addr else {
        tracing::warn!(address = %info.address, "unresolvable registry address, skipped");
        return None;
    };
    let weight = if info.weight <= 0 {
        DEFAULT_WEIGHT
    } else {
        u32::try_from(info.weight).unwrap_or(u32::MAX)
    };
    Some(Instance::new(addr).with_weight(weight).with_tags(info.tags))
}

impl Resolver for EtcdResolver {
    fn resolve(&self, key: &str) -> Result<ResolveResult> {
        let prefix = self.backend.options.service_prefix(key);
        let resp = self.backend.call("etcd get", |mut c| async move {
            c.get(prefix, Some(GetOptions::new().with_prefix())).await
        })?;
        let instances = resp
            .kvs()
            .iter()
            .filter_map(|kv| parse_instance(kv.key(), kv.value()))
            .map(Arc::new)
            .collect();
        Ok(ResolveResult::cacheable(instances))
    }

    fn name(&self) -> &str {
        "etcd"
    }

    fn watch(&self, key: &str, sink: WatchSink) -> Option<Box<dyn WatchGuard>> {
        let prefix = self.backend.options.service_prefix(key);
        let client = self.backend.client.clone();
        let task = self.backend.runtime.spawn(watch_loop(client, prefix, sink));
        Some(Box::new(EtcdWatch(task.abort_handle())))
    }
}

/// Watches `prefix` for as long as the task lives, re-watching after an
/// error; every event (and every re-watch, which may have missed some)
/// asks the cache to re-resolve.
async fn watch_loop(mut client: Client, prefix: String, sink: WatchSink) {
    let mut first = true;
    loop {
        match client
            .watch(prefix.clone(), Some(WatchOptions::new().with_prefix()))
            .await
        {
            Ok(mut stream) => {
                if !first {
                    sink.changed();
                }
                loop {
                    match stream.message().await {
                        Ok(Some(resp)) if !resp.events().is_empty() => sink.changed(),
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, prefix, "etcd watch broke");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, prefix, "etcd watch failed"),
        }
        first = false;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops an etcd watch when dropped.
#[derive(Debug)]
struct EtcdWatch(AbortHandle);

impl WatchGuard for EtcdWatch {}

impl Drop for EtcdWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Registers instances under registry-etcd's layout with a lease kept
/// alive in the background. Dropping the registry stops the keepalives
/// without deleting: keys then expire with their lease, as after a crash.
#[derive(Debug)]
pub struct EtcdRegistry {
    backend: Arc<Backend>,
    /// Keepalive task per registered key. Touched only by register and
    /// deregister, never per call.
    live: Mutex<HashMap<String, (i64, AbortHandle)>>,
}

impl EtcdRegistry {
    /// Connects to etcd.
    pub fn connect(options: EtcdOptions) -> Result<Self> {
        Ok(Self::from_backend(Backend::connect(options)?))
    }

    fn from_backend(backend: Arc<Backend>) -> Self {
        EtcdRegistry {
            backend,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn value(info: &RegistryInfo) -> Result<String> {
        Ok(serde_json::to_string(&InstanceInfo {
            network: "tcp".into(),
            address: info.addr.to_string(),
            weight: i64::from(info.weight),
            tags: info.tags.clone(),
        })?)
    }

    /// Grants a lease and puts the key with it.
    fn put_with_lease(&self, key: &str, value: &str) -> Result<i64> {
        let ttl = self.backend.options.lease_ttl;
        let lease = self
            .backend
            .call("etcd lease grant", |mut c| async move {
                c.lease_grant(ttl, None).await
            })?
            .id();
        let (k, v) = (key.to_owned(), value.to_owned());
        self.backend.call("etcd put", |mut c| async move {
            c.put(k, v, Some(PutOptions::new().with_lease(lease))).await
        })?;
        Ok(lease)
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, AbortHandle)>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::Registry for EtcdRegistry {
    fn register(&self, info: &RegistryInfo) -> Result<()> {
        if info.service_name.is_empty() {
            return Err(Error::InvalidConfig("missing service name in register"));
        }
        let key = self
            .backend
            .options
            .service_key(&info.service_name, info.addr);
        let value = Self::value(info)?;
        let lease = self.put_with_lease(&key, &value)?;
        let task = self.backend.runtime.spawn(keepalive_loop(
            self.backend.client.clone(),
            lease,
            self.backend.options.lease_ttl,
            key.clone(),
            value,
        ));
        if let Some((_, old)) = self.lock_live().insert(key, (lease, task.abort_handle())) {
            old.abort();
        }
        Ok(())
    }

    fn deregister(&self, info: &RegistryInfo) -> Result<()> {
        let key = self
            .backend
            .options
            .service_key(&info.service_name, info.addr);
        let live = self.lock_live().remove(&key);
        if let Some((_, task)) = &live {
            task.abort();
        }
        let k = key.clone();
        self.backend.call("etcd delete", |mut c| async move {
            c.delete(k, None::<DeleteOptions>).await
        })?;
        if let Some((lease, _)) = live {
            // The key is gone already; a failed revoke only delays the
            // lease's own expiry.
            if let Err(error) = self.backend.call("etcd lease revoke", |mut c| async move {
                c.lease_revoke(lease).await
            }) {
                tracing::warn!(%error, "lease revoke failed");
            }
        }
        Ok(())
    }
}

impl Drop for EtcdRegistry {
    fn drop(&mut self) {
        for (_, (_, task)) in self.lock_live().drain() {
            task.abort();
        }
    }
}

/// Keeps `lease` alive, renewing at a third of the TTL. If the lease is
/// lost (expired while etcd was unreachable), grants a new one and puts the
/// key again, as registry-etcd's `keepRegister` does.
async fn keepalive_loop(mut client: Client, mut lease: i64, ttl: i64, key: String, value: String) {
    let period = Duration::from_millis((ttl.max(1) as u64 * 1000) / 3);
    loop {
        let alive = async {
            let (mut keeper, mut stream) = client.lease_keep_alive(lease).await?;
            loop {
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(resp) if resp.ttl() > 0 => {}
                    // TTL 0: the lease is gone.
                    _ => return Ok::<(), etcd_client::Error>(()),
                }
                tokio::time::sleep(period).await;
            }
        }
        .await;
        if let Err(error) = alive {
            tracing::warn!(%error, key, "etcd keepalive failed");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Re-register under a new lease.
        let granted = client.lease_grant(ttl, None).await;
        match granted {
            Ok(g) => {
                let put = client
                    .put(
                        key.clone(),
                        value.clone(),
                        Some(PutOptions::new().with_lease(g.id())),
                    )
                    .await;
                match put {
                    Ok(_) => lease = g.id(),
                    Err(error) => tracing::warn!(%error, key, "etcd re-register failed"),
                }
            }
            Err(error) => tracing::warn!(%error, key, "etcd lease re-grant failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout_is_registry_etcd_s() {
        let o = EtcdOptions::new(["http://127.0.0.1:2379"]);
        assert_eq!(
            o.service_key("echo", "127.0.0.1:8888".parse().unwrap()),
            "kitex/registry-etcd/echo/127.0.0.1:8888"
        );
        let info = RegistryInfo::new("echo", "127.0.0.1:8888".parse().unwrap()).with_tag("k", "v");
        let v: serde_json::Value =
            serde_json::from_str(&EtcdRegistry::value(&info).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"network":"tcp","address":"127.0.0.1:8888","weight":10,"tags":{"k":"v"}})
        );
    }

    #[test]
    fn values_parse_like_registry_etcd() {
        let i = parse_instance(
            b"k",
            br#"{"network":"tcp","address":"127.0.0.1:1","weight":0,"tags":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(i.weight(), DEFAULT_WEIGHT);
        assert_eq!(i.tag("a"), Some("b"));
        let i = parse_instance(
            b"k",
            br#"{"network":"tcp","address":"127.0.0.1:1","weight":7}"#,
        )
        .unwrap();
        assert_eq!(i.weight(), 7);
        assert!(parse_instance(b"k", b"not json").is_none());
        assert!(
            parse_instance(b"k", br#"{"network":"tcp","address":"nohost","weight":1}"#).is_none()
        );
    }
}
