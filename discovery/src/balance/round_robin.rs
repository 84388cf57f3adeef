//! Interleaved weighted round robin, the default balancer.
//!
//! The shape is Kitex's interleaved WRR
//! (`pkg/loadbalance/interleaved_weighted_round_robin.go`): instances sit in
//! a "current" queue with a remainder equal to their weight; each pick takes
//! the head, subtracts the weights' gcd and re-queues it at the tail of
//! "current" while remainder is left, else at "next" with a full remainder;
//! when "current" empties the queues swap. A round gives each instance
//! exactly weight/gcd picks, interleaved (weights 3:1 → a b a a | a b a a),
//! like nginx's smooth WRR but O(1) per pick instead of O(n). Each core
//! starts at a random offset so cores do not hit the same instance together.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Balancer, PickRequest, scan_from, weighted};
use crate::Instance;
use crate::rng::FastRng;

#[derive(Debug, Clone, Copy)]
struct Slot {
    idx: u32,
    remainder: u32,
}

/// Interleaved weighted round robin. See the module docs.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    instances: Vec<Arc<Instance>>,
    current: VecDeque<Slot>,
    next: VecDeque<Slot>,
    gcd: u32,
    rng: FastRng,
}

impl Default for WeightedRoundRobin {
    fn default() -> Self {
        Self::new()
    }
}

impl WeightedRoundRobin {
    /// An empty balancer.
    pub fn new() -> Self {
        Self::with_rng(FastRng::new())
    }

    /// An empty balancer whose start offset comes from `rng` (tests).
    pub fn with_rng(rng: FastRng) -> Self {
        WeightedRoundRobin {
            instances: Vec::new(),
            current: VecDeque::new(),
            next: VecDeque::new(),
            gcd: 1,
            rng,
        }
    }

    #[inline]
    fn step(&mut self) -> usize {
        if self.current.is_empty() {
            std::mem::swap(&mut self.current, &mut self.next);
        }
        // Not empty: every slot is in exactly one of the queues.
        let mut slot = self.current.pop_front().expect("a slot");
        slot.remainder = slot.remainder.saturating_sub(self.gcd);
        if slot.remainder > 0 {
            self.current.push_back(slot);
        } else {
            slot.remainder = self.instances[slot.idx as usize].weight();
            self.next.push_back(slot);
        }
        slot.idx as usize
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Balancer for WeightedRoundRobin {
    fn rebuild(&mut self, instances: &[Arc<Instance>]) {
        self.instances = weighted(instances);
        self.current.clear();
        self.next.clear();
        let n = self.instances.len();
        if n == 0 {
            return;
        }
        let offset = self.rng.below(n);
        self.gcd = self.instances.iter().fold(0, |g, i| gcd(g, i.weight()));
        for k in 0..n {
            let idx = (k + offset) % n;
            self.current.push_back(Slot {
                idx: idx as u32,
                remainder: self.instances[idx].weight(),
            });
        }
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
        let first = self.step();
        if admit(&self.instances[first]) {
            return Some(&self.instances[first]);
        }
        // A rejected instance loses the rest of its turn this round (moved
        // to `next`), so within 2n steps every instance has been offered.
        for _ in 0..2 * n {
            let idx = self.step();
            if admit(&self.instances[idx]) {
                return Some(&self.instances[idx]);
            }
            if let Some(pos) = self.current.iter().position(|s| s.idx as usize == idx) {
                let mut slot = self.current.remove(pos).expect("slot at pos");
                slot.remainder = self.instances[idx].weight();
                self.next.push_back(slot);
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
    fn shares_follow_weights_exactly_per_round() {
        let weights = [10, 20, 30, 40, 0, 100];
        let insts = instances(&weights);
        let mut b = WeightedRoundRobin::with_rng(FastRng::with_seed(1));
        b.rebuild(&insts);
        assert_eq!(b.len(), 5);
        // 200 = weight sum / gcd(10) × 10 rounds: every round is exact.
        let counts = histogram(&mut b, &insts, 200 * 10, |_| 0);
        assert_eq!(counts, vec![100, 200, 300, 400, 0, 1000]);
    }

    #[test]
    fn picks_are_interleaved_not_bursty() {
        let insts = instances(&[30, 10]);
        let mut b = WeightedRoundRobin::with_rng(FastRng::with_seed(0));
        b.rebuild(&insts);
        let picks: Vec<_> = (0..400)
            .map(|_| b.pick(&PickRequest::default()).unwrap().addr())
            .collect();
        // Every round (4 picks) has the light instance exactly once.
        for round in picks.chunks(4) {
            let light = round.iter().filter(|a| **a == insts[1].addr()).count();
            assert_eq!(light, 1, "{round:?}");
        }
    }

    #[test]
    fn skips_rejected_instances() {
        let insts = instances(&[100, 1, 1]);
        let mut b = WeightedRoundRobin::with_rng(FastRng::with_seed(3));
        b.rebuild(&insts);
        let banned = insts[0].addr();
        for _ in 0..1000 {
            let got = b
                .pick_admitted(&PickRequest::default(), |i| i.addr() != banned)
                .unwrap();
            assert_ne!(got.addr(), banned);
        }
        assert!(
            b.pick_admitted(&PickRequest::default(), |_| false)
                .is_none()
        );
    }

    #[test]
    fn empty_gives_none() {
        let mut b = WeightedRoundRobin::new();
        assert!(b.pick(&PickRequest::default()).is_none());
        b.rebuild(&instances(&[0, 0]));
        assert!(b.pick(&PickRequest::default()).is_none());
    }
}
