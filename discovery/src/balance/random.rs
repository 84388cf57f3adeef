//! Weighted random by the alias method.
//!
//! Kitex picks weighted-random either by a linear scan of cumulative weights
//! or, as here, by Vose's alias method
//! (`pkg/loadbalance/weighted_random_with_alias_method.go`): an O(n) table
//! build, then O(1) per pick: one random number gives a column and a coin;
//! the coin keeps the column or takes its alias.

use std::sync::Arc;

use super::{Balancer, PickRequest, scan_from, weighted};
use crate::Instance;
use crate::rng::FastRng;

/// How many random draws a pick tries before scanning when instances are
/// rejected.
const DRAWS: usize = 8;

/// An alias table over weights (shared by the random and P2C balancers).
#[derive(Debug, Default, Clone)]
pub(crate) struct AliasTable {
    /// Keep-probability of each column, scaled to 2^32.
    prob: Vec<u32>,
    alias: Vec<u32>,
}

impl AliasTable {
    pub(crate) fn build(weights: impl ExactSizeIterator<Item = u32>) -> Self {
        let n = weights.len();
        let weights: Vec<f64> = weights.map(f64::from).collect();
        let total: f64 = weights.iter().sum();
        if n == 0 || total <= 0.0 {
            return AliasTable::default();
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = (scaled[s] * 4_294_967_296.0).min(u32::MAX as f64) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers (rounding) keep their own column.
        AliasTable { prob, alias }
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut FastRng) -> usize {
        let r = rng.next_u64();
        let col = (((r & 0xffff_ffff) * self.prob.len() as u64) >> 32) as usize;
        if ((r >> 32) as u32) < self.prob[col] {
            col
        } else {
            self.alias[col] as usize
        }
    }
}

/// Weighted random (alias method). See the module docs.
#[derive(Debug)]
pub struct WeightedRandom {
    instances: Vec<Arc<Instance>>,
    table: AliasTable,
    rng: FastRng,
}

impl Default for WeightedRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl WeightedRandom {
    /// An empty balancer.
    pub fn new() -> Self {
        Self::with_rng(FastRng::new())
    }

    /// An empty balancer drawing from `rng` (tests, benchmarks).
    pub fn with_rng(rng: FastRng) -> Self {
        WeightedRandom {
            instances: Vec::new(),
            table: AliasTable::default(),
            rng,
        }
    }
}

impl Balancer for WeightedRandom {
    fn rebuild(&mut self, instances: &[Arc<Instance>]) {
        self.instances = weighted(instances);
        self.table = AliasTable::build(self.instances.iter().map(|i| i.weight()));
    }

    #[inline]
    fn pick_admitted<F>(&mut self, _req: &PickRequest, mut admit: F) -> Option<&Arc<Instance>>
    where
        F: FnMut(&Instance) -> bool,
    {
        let n = self.instances.len();
        if n == 0 {
            return None;
        }
        for _ in 0..DRAWS {
            let i = self.table.sample(&mut self.rng);
            if admit(&self.instances[i]) {
                return Some(&self.instances[i]);
            }
        }
        let start = self.rng.below(n);
        scan_from(&self.instances, start, admit).map(|i| &self.instances[i])
    }

    fn len(&self) -> usize {
        self.instances.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn shares_follow_weights_within_3_percent() {
        let weights = [1, 5, 10, 10, 30, 44, 0];
        let insts = instances(&weights);
        let mut b = WeightedRandom::with_rng(FastRng::with_seed(42));
        b.rebuild(&insts);
        assert_eq!(b.len(), 6);
        // 1e6 draws: the smallest expected count is 10_000, whose standard
        // deviation is ~100 (1%); 3% (+1) is > 3 sigma for every instance.
        let counts = histogram(&mut b, &insts, 1_000_000, |_| 0);
        assert_shares(&counts, &weights, 0.03);
        assert_eq!(counts[6], 0);
    }

    #[test]
    fn equal_weights_are_uniform() {
        let weights = [10; 100];
        let insts = instances(&weights);
        let mut b = WeightedRandom::with_rng(FastRng::with_seed(9));
        b.rebuild(&insts);
        // 1e6 / 100 = 10_000 each; sigma ~ 100; tolerance 5%.
        let counts = histogram(&mut b, &insts, 1_000_000, |_| 0);
        assert_shares(&counts, &weights, 0.05);
    }

    #[test]
    fn skips_rejected_instances() {
        let insts = instances(&[1000, 1]);
        let mut b = WeightedRandom::with_rng(FastRng::with_seed(5));
        b.rebuild(&insts);
        for _ in 0..100 {
            let got = b
                .pick_admitted(&PickRequest::default(), |i| i.addr() == insts[1].addr())
                .unwrap();
            assert_eq!(got.addr(), insts[1].addr());
        }
        assert!(
            b.pick_admitted(&PickRequest::default(), |_| false)
                .is_none()
        );
    }
}
