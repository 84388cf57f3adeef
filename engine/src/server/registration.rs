//! What a server announces in a registry, and when.
//!
//! With a registry ([`ServerBuilder::registry`](super::ServerBuilder::registry))
//! the server announces itself as Kitex does: a [`RegistrationTask`]
//! registers it after a delay once the listeners are up (1 s by default, so
//! clients do not arrive before the cores are ready), and
//! [`ServerHandle::shutdown`](super::ServerHandle::shutdown) deregisters it
//! *first*, so clients stop picking it, then stops accepting and drains.
//!
//! [`RegistrationTask`]: ringrpc_discovery::RegistrationTask

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringrpc_discovery::registry::DEFAULT_REGISTER_DELAY;
use ringrpc_discovery::{Registry, RegistryInfo};

use crate::error::ConfigError;

/// What a server registers, besides its address: set with
/// [`ServerBuilder::registry`](super::ServerBuilder::registry).
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
    pub(super) fn info(&self, listening: SocketAddr) -> Result<RegistryInfo, ConfigError> {
        let addr = self.advertise.unwrap_or(listening);
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(ConfigError::Unadvertisable(addr));
        }
        let mut info = RegistryInfo::new(self.service_name.clone(), addr).with_weight(self.weight);
        info.tags = self.tags.clone();
        Ok(info)
    }
}

/// A registry and what to register in it.
#[derive(Clone)]
pub(super) struct RegistryHook {
    pub(super) registry: Arc<dyn Registry>,
    pub(super) registration: Registration,
}

impl std::fmt::Debug for RegistryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryHook")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}
