//! Service- and method-level circuit breakers (Kitex's CBSuite service
//! breakers), per core.
//!
//! One breaker per method of the client, keyed as Kitex keys them:
//! `caller/callee/method` (`circuitbreak.RPCInfo2Key`,
//! `pkg/circuitbreak/cbsuite.go`), where the callee is the resolver's
//! endpoint name, else the client's service. The breakers are the discovery
//! crate's [`Breaker`], so the defaults are Kitex's (`defaultCBConfig`:
//! error rate 0.5 over at least 200 samples, per core) and gopkg's (10 s
//! window, 5 s cool-down, one probe per 200 ms, 2 probe successes close).
//!
//! Every attempt asks its method's breaker first (a retry or backup too, as
//! each of Kitex's retry attempts passes its service breaker middleware): an
//! open breaker refuses the call with [`Error::CircuitBreak`], and a refused
//! retry or backup is simply not sent. Each attempt's outcome is recorded
//! as Kitex's `ErrorTypeOnServiceLevel` classifies it
//! (`pkg/circuitbreak/default.go`): a timeout is a timeout; a discovery or
//! balancing failure (no instance) is ignored; any other error, and an
//! application exception in the reply, is a failure; a reply (a declared
//! exception or a business status included) is a success.
//!
//! Off by default, as in Kitex (a client has no service breaker unless
//! `WithCircuitBreaker` is given): with none configured the call path does
//! not look here at all.

use std::time::Instant;

use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_discovery::PolicyTable;
use ringrpc_discovery::breaker::{Breaker, BreakerOptions, BreakerSnapshot, BreakerState, Outcome};
use rustc_hash::FxHashMap as HashMap;

use super::ClientReply;
use crate::error::ConfigError;
use crate::{Error, Result};

/// A method's breaker and its key.
#[derive(Debug)]
struct Entry {
    key: Utf8Bytes,
    breaker: Breaker,
}

/// One core's service-level breakers, by method. See the module docs.
#[derive(Debug)]
pub(crate) struct ServiceBreakers {
    options: PolicyTable<Option<BreakerOptions>>,
    /// `caller/callee/`.
    prefix: String,
    /// `None`: the method has no breaker (seen once, so the table is not
    /// read again).
    by_method: HashMap<String, Option<Entry>>,
}

impl ServiceBreakers {
    /// The breakers for `options` (per method), or `None` when no method
    /// has one. Checks every method's options.
    pub(crate) fn new(
        options: &PolicyTable<Option<BreakerOptions>>,
        caller: &str,
        callee: &str,
    ) -> Result<Option<Self>> {
        let mut any = false;
        for o in options.values().flatten() {
            o.validate().map_err(|source| ConfigError::Invalid {
                what: "service breaker options",
                source,
            })?;
            any = true;
        }
        Ok(any.then(|| ServiceBreakers {
            options: options.clone(),
            prefix: format!("{caller}/{callee}/"),
            by_method: HashMap::default(),
        }))
    }

    fn entry(&mut self, method: &str, now: Instant) -> Option<&mut Entry> {
        if !self.by_method.contains_key(method) {
            let entry = (*self.options.get(method)).map(|o| Entry {
                key: Utf8Bytes::from(format!("{}{method}", self.prefix)),
                breaker: Breaker::new(o, now),
            });
            self.by_method.insert(method.to_owned(), entry);
        }
        self.by_method.get_mut(method)?.as_mut()
    }

    /// Asks `method`'s breaker to let an attempt through at `now`
    /// (`Err(CircuitBreak)` if it is open).
    pub(crate) fn allow(&mut self, method: &str, now: Instant) -> Result<()> {
        match self.entry(method, now) {
            Some(e) => match e.breaker.allow(now) {
                true => Ok(()),
                false => Err(Error::CircuitBreak { key: e.key.clone() }),
            },
            None => Ok(()),
        }
    }

    /// Records how an attempt of `method` ended; whether that opened its
    /// breaker.
    pub(crate) fn record(&mut self, method: &str, now: Instant, r: &Result<ClientReply>) -> bool {
        if let Some(outcome) = outcome(r)
            && let Some(e) = self.entry(method, now)
        {
            let was = e.breaker.state();
            e.breaker.record(now, outcome);
            return was != BreakerState::Open && e.breaker.state() == BreakerState::Open;
        }
        false
    }

    /// Every method's breaker: its key and snapshot at `now`.
    pub(crate) fn snapshot(&mut self, now: Instant) -> Vec<(Utf8Bytes, BreakerSnapshot)> {
        self.by_method
            .values_mut()
            .flatten()
            .map(|e| (e.key.clone(), e.breaker.snapshot(now)))
            .collect()
    }

    /// The snapshot of `method`'s breaker, if it has one and was used.
    pub(crate) fn get(&mut self, method: &str, now: Instant) -> Option<BreakerSnapshot> {
        self.by_method
            .get_mut(method)?
            .as_mut()
            .map(|e| e.breaker.snapshot(now))
    }
}

/// How an attempt ended, for a service breaker (Kitex's
/// `ErrorTypeOnServiceLevel`); `None`: not counted.
fn outcome(r: &Result<ClientReply>) -> Option<Outcome> {
    match r {
        Ok(reply) if reply.is_application_exception() => Some(Outcome::Failure),
        Ok(_) => Some(Outcome::Success),
        Err(Error::Timeout(_)) => Some(Outcome::Timeout),
        Err(
            Error::NoInstance { .. }
            | Error::Discovery(_)
            | Error::CircuitBreak { .. }
            | Error::Config(_)
            | Error::Shutdown,
        ) => None,
        Err(_) => Some(Outcome::Failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    fn refused() -> Result<ClientReply> {
        Err(Error::Connect {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        })
    }

    #[test]
    fn each_method_has_its_own_breaker_under_kitex_s_key() {
        let options = BreakerOptions {
            min_samples: 2,
            ..BreakerOptions::default()
        };
        let table = PolicyTable::new(None)
            .with_method("get", Some(options))
            .with_method("put", Some(options));
        let mut b = ServiceBreakers::new(&table, "shop", "item")
            .unwrap()
            .expect("on");
        let t0 = Instant::now();
        for _ in 0..2 {
            b.allow("get", t0).unwrap();
            b.record("get", t0, &refused());
        }
        match b.allow("get", t0) {
            Err(Error::CircuitBreak { key }) => assert_eq!(key, "shop/item/get"),
            other => panic!("{other:?}"),
        }
        // Another method, and a method without a breaker, go on.
        assert!(b.allow("put", t0).is_ok());
        for _ in 0..10 {
            b.allow("list", t0).unwrap();
            b.record("list", t0, &refused());
        }
        assert!(b.allow("list", t0).is_ok());
        assert!(b.get("list", t0).is_none());
        let s = b.get("get", t0).expect("used");
        assert_eq!(
            (s.state, s.failures, s.rejected),
            (BreakerState::Open, 2, 1)
        );
        assert_eq!(b.snapshot(t0).len(), 2, "get and put");
        // Discovery failures are not the service's fault.
        let none = Err(Error::NoInstance {
            service: "item".into(),
            reason: crate::error::NoInstanceReason::NoneResolved,
        });
        b.record("put", t0, &none);
        assert_eq!(b.get("put", t0).expect("used").failures, 0);
        b.record("put", t0, &Err(Error::Timeout(Duration::from_millis(1))));
        assert_eq!(b.get("put", t0).expect("used").timeouts, 1);
    }

    #[test]
    fn none_configured_means_none_built_and_bad_options_are_refused() {
        assert!(
            ServiceBreakers::new(&PolicyTable::new(None), "a", "b")
                .unwrap()
                .is_none()
        );
        let bad = PolicyTable::new(None).with_method(
            "get",
            Some(BreakerOptions {
                error_rate: 3.0,
                ..BreakerOptions::default()
            }),
        );
        assert!(matches!(
            ServiceBreakers::new(&bad, "a", "b"),
            Err(Error::Config(ConfigError::Invalid { .. }))
        ));
    }
}
