//! Power of two choices over EWMA latency and in-flight calls.
//!
//! Kitex has no such balancer; the shape follows the "peak EWMA" balancers of
//! Finagle and Linkerd: draw two instances (by weight, from an alias table)
//! and send to the one with the lower cost `ewma_latency × (in_flight + 1)`.
//! A slow or overloaded instance loses most comparisons but not all, so it
//! still gets probed and can recover.
//!
//! Feedback is per core and needs no clock on the pick path:
//! [`on_start`](super::Balancer::on_start) counts a call in flight,
//! [`on_finish`](super::Balancer::on_finish) folds its latency into the
//! EWMA (weight 1/8 per sample; a failure counts as at least
//! `failure_penalty`). An instance not chosen for `probe_after` picks is
//! treated as cost 0 once, so an instance that was slow long ago gets one
//! fresh sample instead of being shunned forever.
//!
//! State of an instance survives a rebuild if its address does; a new
//! instance starts at the mean EWMA of the others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::random::AliasTable;
use super::{Balancer, PickRequest, scan_from, weighted};
use crate::Instance;
use crate::rng::FastRng;

/// Options of [`PowerOfTwoChoices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P2cOptions {
    /// The latency a failed call counts as, at least. Default 1 s.
    pub failure_penalty: Duration,
    /// Picks (of this balancer) after which an instance not chosen is probed
    /// once. Default 1000.
    pub probe_after: u64,
}

impl Default for P2cOptions {
    fn default() -> Self {
        P2cOptions {
            failure_penalty: Duration::from_secs(1),
            probe_after: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    /// EWMA of latency, nanoseconds.
    ewma_ns: u64,
    in_flight: u32,
    /// Pick sequence number when last chosen.
    chosen_at: u64,
}

/// Power of two choices. See the module docs.
#[derive(Debug)]
pub struct PowerOfTwoChoices {
    options: P2cOptions,
    instances: Vec<Arc<Instance>>,
    stats: Vec<Stats>,
    index: HashMap<SocketAddr, u32>,
    table: AliasTable,
    rng: FastRng,
    seq: u64,
}

impl PowerOfTwoChoices {
    /// An empty balancer with `options`.
    pub fn new(options: P2cOptions) -> Self {
        Self::with_rng(options, FastRng::new())
    }

    /// An empty balancer drawing from `rng` (tests, benchmarks).
    pub fn with_rng(options: P2cOptions, rng: FastRng) -> Self {
        PowerOfTwoChoices {
            options,
            instances: Vec::new(),
            stats: Vec::new(),
            index: HashMap::new(),
            table: AliasTable::default(),
            rng,
            seq: 0,
        }
    }

    #[inline]
    fn cost(&self, i: usize) -> u64 {
        let s = &self.stats[i];
        if self.seq.wrapping_sub(s.chosen_at) > self.options.probe_after {
            return 0;
        }
        s.ewma_ns.max(1).saturating_mul(u64::from(s.in_flight) + 1)
    }

    #[inline]
    fn choose(&mut self, i: usize) -> &Arc<Instance> {
        self.stats[i].chosen_at = self.seq;
        &self.instances[i]
    }

    fn stats_mut(&mut self, inst: &Instance) -> Option<&mut Stats> {
        let i = *self.index.get(&inst.addr())? as usize;
        self.stats.get_mut(i)
    }

    /// The EWMA latency this core has for `inst`, if it knows it.
    pub fn ewma(&self, inst: &Instance) -> Option<Duration> {
        let i = *self.index.get(&inst.addr())? as usize;
        Some(Duration::from_nanos(self.stats[i].ewma_ns))
    }

    /// Calls in flight to `inst` from this core.
    pub fn in_flight(&self, inst: &Instance) -> Option<u32> {
        let i = *self.index.get(&inst.addr())? as usize;
        Some(self.stats[i].in_flight)
    }
}

impl Balancer for PowerOfTwoChoices {
    fn rebuild(&mut self, instances: &[Arc<Instance>]) {
        let next = weighted(instances);
        let known: Vec<u64> = self.stats.iter().map(|s| s.ewma_ns).collect();
        let mean = if known.is_empty() {
            0
        } else {
            known.iter().sum::<u64>() / known.len() as u64
        };
        let mut stats = Vec::with_capacity(next.len());
        let mut index = HashMap::with_capacity(next.len());
        for (i, inst) in next.iter().enumerate() {
            let s = match self.index.get(&inst.addr()) {
                Some(&old) => self.stats[old as usize],
                None => Stats {
                    ewma_ns: mean,
                    in_flight: 0,
                    chosen_at: self.seq,
                },
            };
            stats.push(s);
            index.insert(inst.addr(), i as u32);
        }
        self.table = AliasTable::build(next.iter().map(|i| i.weight()));
        self.instances = next;
        self.stats = stats;
        self.index = index;
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
        self.seq = self.seq.wrapping_add(1);
        if n == 1 {
            return if admit(&self.instances[0]) {
                Some(self.choose(0))
            } else {
                None
            };
        }
        let mut a = self.table.sample(&mut self.rng);
        let mut b = self.table.sample(&mut self.rng);
        if a == b {
            b = self.table.sample(&mut self.rng);
            if a == b {
                b = (a + 1 + self.rng.below(n - 1)) % n;
            }
        }
        let (mut ok_a, mut ok_b) = (admit(&self.instances[a]), admit(&self.instances[b]));
        // Replace rejected candidates with a few more draws.
        for _ in 0..4 {
            if ok_a && ok_b {
                break;
            }
            let c = self.table.sample(&mut self.rng);
            if !ok_a {
                a = c;
                ok_a = admit(&self.instances[a]);
            } else if c != a {
                b = c;
                ok_b = admit(&self.instances[b]);
            }
        }
        let i = match (ok_a, ok_b) {
            (true, true) => {
                if self.cost(b) < self.cost(a) {
                    b
                } else {
                    a
                }
            }
            (true, false) => a,
            (false, true) => b,
            (false, false) => {
                let start = self.rng.below(n);
                scan_from(&self.instances, start, admit)?
            }
        };
        Some(self.choose(i))
    }

    fn len(&self) -> usize {
        self.instances.len()
    }

    fn on_start(&mut self, inst: &Instance) {
        if let Some(s) = self.stats_mut(inst) {
            s.in_flight = s.in_flight.saturating_add(1);
        }
    }

    fn on_finish(&mut self, inst: &Instance, latency: Duration, ok: bool) {
        let penalty = self.options.failure_penalty;
        if let Some(s) = self.stats_mut(inst) {
            s.in_flight = s.in_flight.saturating_sub(1);
            let sample = if ok { latency } else { latency.max(penalty) };
            let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
            s.ewma_ns = if s.ewma_ns == 0 {
                sample
            } else {
                s.ewma_ns - s.ewma_ns / 8 + sample / 8
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn feed(
        b: &mut PowerOfTwoChoices,
        insts: &[Arc<Instance>],
        lat_ms: &[u64],
        n: usize,
    ) -> Vec<usize> {
        let mut counts = vec![0; insts.len()];
        for _ in 0..n {
            let got = b.pick(&PickRequest::default()).unwrap().clone();
            let i = insts.iter().position(|x| x.addr() == got.addr()).unwrap();
            counts[i] += 1;
            b.on_start(&got);
            b.on_finish(&got, Duration::from_millis(lat_ms[i]), true);
        }
        counts
    }

    #[test]
    fn prefers_the_fast_instance_but_still_probes_the_slow_one() {
        let insts = instances(&[10, 10, 10]);
        let mut b = PowerOfTwoChoices::with_rng(P2cOptions::default(), FastRng::with_seed(11));
        b.rebuild(&insts);
        let counts = feed(&mut b, &insts, &[1, 1, 50], 30_000);
        // The slow instance wins only when drawn twice (impossible: two
        // distinct candidates) or when probed: well under 5% of picks, but
        // not zero.
        assert!(counts[2] > 0, "{counts:?}");
        assert!(counts[2] < 30_000 / 20, "{counts:?}");
        let fast = (counts[0] + counts[1]) as f64;
        assert!((counts[0] as f64 / fast - 0.5).abs() < 0.1, "{counts:?}");
        assert!(b.ewma(&insts[2]).unwrap() > Duration::from_millis(10));
    }

    #[test]
    fn in_flight_spreads_load_among_equals() {
        let insts = instances(&[10, 10]);
        let mut b = PowerOfTwoChoices::with_rng(P2cOptions::default(), FastRng::with_seed(2));
        b.rebuild(&insts);
        for inst in &insts {
            b.on_start(inst);
            b.on_finish(inst, Duration::from_millis(1), true);
        }
        // Start 100 calls without finishing any: the in-flight factor keeps
        // the two within a few calls of each other.
        for _ in 0..100 {
            let got = b.pick(&PickRequest::default()).unwrap().clone();
            b.on_start(&got);
        }
        let (a, c) = (
            b.in_flight(&insts[0]).unwrap(),
            b.in_flight(&insts[1]).unwrap(),
        );
        assert_eq!(a + c, 100);
        assert!(a.abs_diff(c) <= 2, "{a} vs {c}");
    }

    #[test]
    fn failures_count_as_penalty_and_state_survives_rebuild() {
        let insts = instances(&[10, 10]);
        let mut b = PowerOfTwoChoices::with_rng(P2cOptions::default(), FastRng::with_seed(4));
        b.rebuild(&insts);
        b.on_start(&insts[0]);
        b.on_finish(&insts[0], Duration::from_micros(10), false);
        assert_eq!(b.ewma(&insts[0]), Some(Duration::from_secs(1)));
        let more = instances(&[10, 10, 10]);
        b.rebuild(&more);
        assert_eq!(b.ewma(&more[0]), Some(Duration::from_secs(1)));
        // The newcomer starts at the mean of the known EWMAs.
        assert_eq!(b.ewma(&more[2]), Some(Duration::from_millis(500)));
    }

    #[test]
    fn skips_rejected_instances() {
        let insts = instances(&[10, 10, 10]);
        let mut b = PowerOfTwoChoices::with_rng(P2cOptions::default(), FastRng::with_seed(8));
        b.rebuild(&insts);
        for _ in 0..500 {
            let got = b
                .pick_admitted(&PickRequest::default(), |i| i.addr() == insts[2].addr())
                .unwrap();
            assert_eq!(got.addr(), insts[2].addr());
        }
        assert!(
            b.pick_admitted(&PickRequest::default(), |_| false)
                .is_none()
        );
    }
}
