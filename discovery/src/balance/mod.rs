//! Load balancers: which instance serves the next call.
//!
//! # Why per core
//!
//! A balancer is per-core state (`&mut self`, not `Sync`): a pick touches
//! only memory the core owns, so there is no contended atomic and no lock on
//! the call path (Kitex's interleaved WRR takes a mutex per pick; we do not
//! need one). Every core builds its own balancer from the shared snapshot
//! with [`Balancer::rebuild`] when its [`LocalView`](crate::LocalView)
//! reports a change; rebuilding is O(instances) (consistent hashing:
//! O(v log v) in its virtual nodes).
//!
//! A pick returns a borrow of the `Arc<Instance>` the balancer holds, so it
//! does not touch the shared refcount either; copy out the address (or clone
//! the `Arc`, knowing what that costs).
//!
//! # Skipping instances
//!
//! [`Balancer::pick_admitted`] takes an `admit` predicate: the engine passes
//! "this instance's breaker allows a call, and the retry has not tried it
//! yet". A rejected instance is skipped and the balancer tries others, in a
//! bounded number of steps; `None` means no admitted instance was found.
//! Instances of weight 0 are never picked.
//!
//! | balancer | pick | source of the shape |
//! |---|---|---|
//! | [`WeightedRoundRobin`] (default) | O(1), interleaved | Kitex `interleaved_weighted_round_robin.go` |
//! | [`WeightedRandom`] | O(1), alias method | Kitex `weighted_random_with_alias_method.go` |
//! | [`ConsistentHash`] | O(1) average (bucketed ring) | Kitex `consist.go` (factor 100, weighted) |
//! | [`PowerOfTwoChoices`] | O(1), EWMA latency × in-flight | ours (Kitex has none) |

mod consistent_hash;
mod p2c;
mod random;
mod round_robin;

pub use consistent_hash::{ConsistentHash, ConsistentHashOptions, Ring};
pub use p2c::{P2cOptions, PowerOfTwoChoices};
pub use random::WeightedRandom;
pub use round_robin::WeightedRoundRobin;

use std::sync::Arc;
use std::time::Duration;

use crate::Instance;

/// What a pick may depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PickRequest {
    /// The call's key for consistent hashing (e.g. a hash of a user id);
    /// ignored by the other balancers.
    pub key: u64,
}

impl PickRequest {
    /// A request carrying `key`.
    pub fn with_key(key: u64) -> Self {
        PickRequest { key }
    }
}

/// A per-core load balancer. See the module docs.
pub trait Balancer {
    /// Replaces the instance set (weight-0 instances are dropped). Feedback
    /// state of instances that remain (by address) is kept.
    fn rebuild(&mut self, instances: &[Arc<Instance>]);

    /// Picks an instance for which `admit` returns true, or `None`.
    fn pick_admitted<F>(&mut self, req: &PickRequest, admit: F) -> Option<&Arc<Instance>>
    where
        F: FnMut(&Instance) -> bool;

    /// Picks any instance, or `None` if there is none.
    #[inline]
    fn pick(&mut self, req: &PickRequest) -> Option<&Arc<Instance>> {
        self.pick_admitted(req, |_| true)
    }

    /// How many instances can be picked (weight > 0).
    fn len(&self) -> usize;

    /// Whether no instance can be picked.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A call to `inst` starts (feedback; only P2C uses it).
    fn on_start(&mut self, inst: &Instance) {
        let _ = inst;
    }

    /// A call to `inst` finished after `latency` (feedback; only P2C uses
    /// it). `ok` is false for a failure the caller counts against the
    /// instance.
    fn on_finish(&mut self, inst: &Instance, latency: Duration, ok: bool) {
        let _ = (inst, latency, ok);
    }
}

/// Which balancer to build; the default is weighted round robin (Kitex's
/// default balancer is weighted round robin too, `pkg/loadbalance`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum BalancerKind {
    /// [`WeightedRoundRobin`].
    #[default]
    WeightedRoundRobin,
    /// [`WeightedRandom`].
    WeightedRandom,
    /// [`ConsistentHash`].
    ConsistentHash(ConsistentHashOptions),
    /// [`PowerOfTwoChoices`].
    PowerOfTwoChoices(P2cOptions),
}

impl BalancerKind {
    /// A new, empty balancer of this kind (call `rebuild` with instances).
    pub fn build(&self) -> AnyBalancer {
        match *self {
            BalancerKind::WeightedRoundRobin => {
                AnyBalancer::WeightedRoundRobin(WeightedRoundRobin::new())
            }
            BalancerKind::WeightedRandom => AnyBalancer::WeightedRandom(WeightedRandom::new()),
            BalancerKind::ConsistentHash(o) => AnyBalancer::ConsistentHash(ConsistentHash::new(o)),
            BalancerKind::PowerOfTwoChoices(o) => {
                AnyBalancer::PowerOfTwoChoices(PowerOfTwoChoices::new(o))
            }
        }
    }
}

/// Any of the balancers, chosen at run time (static dispatch by `match`).
#[derive(Debug)]
pub enum AnyBalancer {
    /// See [`WeightedRoundRobin`].
    WeightedRoundRobin(WeightedRoundRobin),
    /// See [`WeightedRandom`].
    WeightedRandom(WeightedRandom),
    /// See [`ConsistentHash`].
    ConsistentHash(ConsistentHash),
    /// See [`PowerOfTwoChoices`].
    PowerOfTwoChoices(PowerOfTwoChoices),
}

macro_rules! each {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            AnyBalancer::WeightedRoundRobin($b) => $e,
            AnyBalancer::WeightedRandom($b) => $e,
            AnyBalancer::ConsistentHash($b) => $e,
            AnyBalancer::PowerOfTwoChoices($b) => $e,
        }
    };
}

impl Balancer for AnyBalancer {
    fn rebuild(&mut self, instances: &[Arc<Instance>]) {
        each!(self, b => b.rebuild(instances))
    }

    #[inline]
    fn pick_admitted<F>(&mut self, req: &PickRequest, admit: F) -> Option<&Arc<Instance>>
    where
        F: FnMut(&Instance) -> bool,
    {
        each!(self, b => b.pick_admitted(req, admit))
    }

    fn len(&self) -> usize {
        each!(self, b => b.len())
    }

    fn on_start(&mut self, inst: &Instance) {
        each!(self, b => b.on_start(inst))
    }

    fn on_finish(&mut self, inst: &Instance, latency: Duration, ok: bool) {
        each!(self, b => b.on_finish(inst, latency, ok))
    }
}

/// The instances of weight > 0, in order.
fn weighted(instances: &[Arc<Instance>]) -> Vec<Arc<Instance>> {
    instances
        .iter()
        .filter(|i| i.weight() > 0)
        .cloned()
        .collect()
}

/// Linear fallback: the first admitted instance from a start index.
fn scan_from<F>(items: &[Arc<Instance>], start: usize, mut admit: F) -> Option<usize>
where
    F: FnMut(&Instance) -> bool,
{
    let n = items.len();
    (0..n).map(|k| (start + k) % n).find(|&i| admit(&items[i]))
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub fn instances(weights: &[u32]) -> Vec<Arc<Instance>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                Arc::new(
                    Instance::new(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 8000).into())
                        .with_weight(w),
                )
            })
            .collect()
    }

    /// Counts picks per instance index over `n` picks with key `k(i)`.
    pub fn histogram<B: Balancer>(
        b: &mut B,
        insts: &[Arc<Instance>],
        n: usize,
        key: impl Fn(usize) -> u64,
    ) -> Vec<usize> {
        let mut counts = vec![0; insts.len()];
        for i in 0..n {
            let got = b.pick(&PickRequest::with_key(key(i))).expect("an instance");
            let idx = insts.iter().position(|x| x.addr() == got.addr()).unwrap();
            counts[idx] += 1;
        }
        counts
    }

    /// Asserts each count is within `tol` (relative) of its weight's share.
    pub fn assert_shares(counts: &[usize], weights: &[u32], tol: f64) {
        let total: usize = counts.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
            let want = total as f64 * f64::from(w) / f64::from(wsum);
            let got = c as f64;
            assert!(
                (got - want).abs() <= want * tol + 1.0,
                "instance {i}: got {got}, want {want} ± {:.0}% ({counts:?})",
                tol * 100.0
            );
        }
    }
}
