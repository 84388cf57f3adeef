//! Consistent hashing with weighted virtual nodes.
//!
//! Kitex's defaults (`pkg/loadbalance/consist.go`,
//! `NewConsistentHashOption`): 100 virtual nodes per instance
//! (`VirtualFactor`), multiplied by the instance's weight (`Weighted: true`).
//! A call's key goes to the first virtual node clockwise from its hash. When
//! an instance leaves, only its keys move (to their next node clockwise);
//! when one joins, it takes keys only from the nodes just after its points.
//!
//! Virtual node `i` of an instance sits at a fixed mix of
//! `stable_hash("<addr>")` and `i`, the same on every core and process. The key is mixed (splitmix64) first, so
//! sequential keys spread. Picks use a bucket index over the top bits of the
//! hash, so a lookup scans about one ring entry instead of a binary search
//! over all of them. Rebuilding sorts the virtual nodes: O(v log v) for
//! v = Σ weight × factor (100 instances of weight 10: 100 000 nodes).

use std::sync::Arc;

use super::{Balancer, PickRequest, weighted};
use crate::Instance;
use crate::rng::{mix64, stable_hash};

/// Options of [`ConsistentHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistentHashOptions {
    /// Virtual nodes per instance (per unit of weight if `weighted`).
    /// Default 100 (Kitex's `VirtualFactor`).
    pub virtual_factor: u32,
    /// Whether an instance gets `weight × virtual_factor` nodes (true, the
    /// default, as Kitex) or `virtual_factor` (weights ignored).
    pub weighted: bool,
}

impl Default for ConsistentHashOptions {
    fn default() -> Self {
        ConsistentHashOptions {
            virtual_factor: 100,
            weighted: true,
        }
    }
}

/// The ring: instances and their sorted virtual nodes. Immutable once
/// built and `Send + Sync`, so one ring per snapshot can be built once (off
/// the cores, e.g. on a plain thread) and shared by every core's
/// [`ConsistentHash`] through [`ConsistentHash::use_ring`].
#[derive(Debug, Default)]
pub struct Ring {
    instances: Vec<Arc<Instance>>,
    /// Ring points, sorted.
    hashes: Vec<u64>,
    /// Owner (index into `instances`) of each ring point.
    owners: Vec<u32>,
    /// `buckets[b]` = first ring position whose hash's top bits are >= b;
    /// one extra entry at the end.
    buckets: Vec<u32>,
    shift: u32,
}

impl Ring {
    /// Builds the ring of `instances` (weight-0 instances get no node).
    /// O(v log v) for v = Σ weight × factor.
    pub fn build(instances: &[Arc<Instance>], options: ConsistentHashOptions) -> Self {
        let instances = weighted(instances);
        let nodes_of = |inst: &Instance| -> u32 {
            if options.weighted {
                inst.weight().saturating_mul(options.virtual_factor)
            } else {
                options.virtual_factor
            }
        };
        let total: usize = instances.iter().map(|i| nodes_of(i) as usize).sum();
        let mut ring: Vec<(u64, u32)> = Vec::with_capacity(total);
        for (idx, inst) in instances.iter().enumerate() {
            let base = stable_hash(inst.addr().to_string().as_bytes());
            for v in 0..u64::from(nodes_of(inst)) {
                ring.push((vnode_hash(base, v), idx as u32));
            }
        }
        ring.sort_unstable();
        let hashes: Vec<u64> = ring.iter().map(|r| r.0).collect();
        let owners: Vec<u32> = ring.iter().map(|r| r.1).collect();
        // About one ring point per bucket.
        let bits = (usize::BITS - total.max(1).leading_zeros()).clamp(1, 24);
        let shift = 64 - bits;
        let nb = 1usize << bits;
        let mut buckets = Vec::with_capacity(nb + 1);
        let mut pos = 0usize;
        for b in 0..nb {
            while pos < total && ((hashes[pos] >> shift) as usize) < b {
                pos += 1;
            }
            buckets.push(pos as u32);
        }
        buckets.push(total as u32);
        Ring {
            instances,
            hashes,
            owners,
            buckets,
            shift,
        }
    }

    /// The ring position a key hash lands on (`hashes` not empty).
    #[inline]
    fn position(&self, h: u64) -> usize {
        let b = (h >> self.shift) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let mut pos = lo + self.hashes[lo..hi].partition_point(|&x| x < h);
        if pos == self.hashes.len() {
            pos = 0;
        }
        pos
    }

    /// The number of virtual nodes.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the ring has no node.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Consistent hashing. See the module docs.
#[derive(Debug)]
pub struct ConsistentHash {
    options: ConsistentHashOptions,
    ring: Arc<Ring>,
    /// Per-pick scratch: instances already rejected in this pick.
    rejected: Vec<u32>,
    pick_epoch: u32,
}

impl ConsistentHash {
    /// An empty balancer with `options`.
    pub fn new(options: ConsistentHashOptions) -> Self {
        ConsistentHash {
            options,
            ring: Arc::new(Ring::default()),
            rejected: Vec::new(),
            pick_epoch: 0,
        }
    }

    /// Switches to a ring built elsewhere (see [`Ring`]); O(instances).
    pub fn use_ring(&mut self, ring: Arc<Ring>) {
        self.rejected = vec![0; ring.instances.len()];
        self.pick_epoch = 0;
        self.ring = ring;
    }

    /// The ring in use.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// The number of virtual nodes on the ring.
    pub fn ring_len(&self) -> usize {
        self.ring.len()
    }
}

/// Where virtual node `v` of an instance whose address hashes to `base`
/// sits: a fixed mix, the same on every core and in every process.
#[inline]
fn vnode_hash(base: u64, v: u64) -> u64 {
    mix64(base ^ (v + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Balancer for ConsistentHash {
    fn rebuild(&mut self, instances: &[Arc<Instance>]) {
        self.use_ring(Arc::new(Ring::build(instances, self.options)));
    }

    #[inline]
    fn pick_admitted<F>(&mut self, req: &PickRequest, mut admit: F) -> Option<&Arc<Instance>>
    where
        F: FnMut(&Instance) -> bool,
    {
        let ring = &*self.ring;
        if ring.hashes.is_empty() {
            return None;
        }
        let pos = ring.position(mix64(req.key));
        let owner = ring.owners[pos] as usize;
        if admit(&ring.instances[owner]) {
            return Some(&ring.instances[owner]);
        }
        // Walk clockwise to the next admitted instance, asking `admit` once
        // per instance.
        self.pick_epoch = self.pick_epoch.wrapping_add(1);
        if self.pick_epoch == 0 {
            self.rejected.fill(0);
            self.pick_epoch = 1;
        }
        let epoch = self.pick_epoch;
        self.rejected[owner] = epoch;
        let mut remaining = ring.instances.len() - 1;
        let len = ring.hashes.len();
        let mut p = pos;
        while remaining > 0 {
            p = if p + 1 == len { 0 } else { p + 1 };
            if p == pos {
                break;
            }
            let o = ring.owners[p] as usize;
            if self.rejected[o] == epoch {
                continue;
            }
            if admit(&ring.instances[o]) {
                return Some(&ring.instances[o]);
            }
            self.rejected[o] = epoch;
            remaining -= 1;
        }
        None
    }

    fn len(&self) -> usize {
        self.ring.instances.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::test_util::*;
    use super::*;

    fn owner_of(b: &mut ConsistentHash, key: u64) -> SocketAddr {
        b.pick(&PickRequest::with_key(key)).unwrap().addr()
    }

    #[test]
    fn same_key_same_instance_and_weighted_ring() {
        let insts = instances(&[10, 10, 20, 0]);
        let mut b = ConsistentHash::new(ConsistentHashOptions::default());
        b.rebuild(&insts);
        assert_eq!(b.ring_len(), (10 + 10 + 20) * 100);
        for k in 0..1000 {
            assert_eq!(owner_of(&mut b, k), owner_of(&mut b, k));
        }
        // Another core (another balancer) agrees.
        let mut other = ConsistentHash::new(ConsistentHashOptions::default());
        other.rebuild(&insts);
        for k in 0..1000 {
            assert_eq!(owner_of(&mut b, k), owner_of(&mut other, k));
        }
    }

    #[test]
    fn load_follows_weights_within_10_percent() {
        // 1000 virtual nodes per unit weight group keep the arc-length error
        // small; 10% is the stated tolerance for 100 vnodes × weight 10.
        let weights = [10, 10, 20, 10, 30, 20];
        let insts = instances(&weights);
        let mut b = ConsistentHash::new(ConsistentHashOptions::default());
        b.rebuild(&insts);
        let counts = histogram(&mut b, &insts, 200_000, |i| i as u64);
        assert_shares(&counts, &weights, 0.10);
    }

    #[test]
    fn keys_stay_put_when_unrelated_instances_come_and_go() {
        let all = instances(&[10; 11]);
        let base = &all[..10];
        let mut before = ConsistentHash::new(ConsistentHashOptions::default());
        before.rebuild(base);
        let keys = 100_000u64;
        let owners: Vec<_> = (0..keys).map(|k| owner_of(&mut before, k)).collect();

        // Remove instance 3: only its keys move (expected 1/10).
        let mut without: Vec<_> = base.to_vec();
        let gone = without.remove(3).addr();
        let mut after = ConsistentHash::new(ConsistentHashOptions::default());
        after.rebuild(&without);
        let mut moved = 0;
        for k in 0..keys {
            let now = owner_of(&mut after, k);
            if owners[k as usize] == gone {
                moved += 1;
            } else {
                assert_eq!(now, owners[k as usize], "key {k} moved between survivors");
            }
        }
        let frac = moved as f64 / keys as f64;
        eprintln!(
            "removing 1 of 10 instances moved {:.2}% of keys",
            frac * 100.0
        );
        assert!((0.07..0.13).contains(&frac), "removed instance held {frac}");

        // Add an 11th: keys move only to it, about 1/11 of them.
        let mut grown = ConsistentHash::new(ConsistentHashOptions::default());
        grown.rebuild(&all);
        let newcomer = all[10].addr();
        let mut moved = 0;
        for k in 0..keys {
            let now = owner_of(&mut grown, k);
            if now != owners[k as usize] {
                assert_eq!(now, newcomer, "key {k} moved between old instances");
                moved += 1;
            }
        }
        let frac = moved as f64 / keys as f64;
        eprintln!("adding an 11th instance moved {:.2}% of keys", frac * 100.0);
        assert!((0.06..0.12).contains(&frac), "newcomer took {frac}");
    }

    #[test]
    fn a_shared_ring_picks_like_a_private_one() {
        let insts = instances(&[10, 20, 30]);
        let ring = Arc::new(Ring::build(&insts, ConsistentHashOptions::default()));
        let mut own = ConsistentHash::new(ConsistentHashOptions::default());
        own.rebuild(&insts);
        let mut shared = ConsistentHash::new(ConsistentHashOptions::default());
        shared.use_ring(ring);
        for k in 0..1000 {
            assert_eq!(owner_of(&mut own, k), owner_of(&mut shared, k));
        }
    }

    #[test]
    fn rejected_owner_falls_to_next_clockwise_instance() {
        let insts = instances(&[10, 10, 10]);
        let mut b = ConsistentHash::new(ConsistentHashOptions::default());
        b.rebuild(&insts);
        for k in 0..1000 {
            let home = owner_of(&mut b, k);
            let alt = b
                .pick_admitted(&PickRequest::with_key(k), |i| i.addr() != home)
                .unwrap()
                .addr();
            assert_ne!(alt, home);
            // Deterministic: the same fallback every time.
            let again = b
                .pick_admitted(&PickRequest::with_key(k), |i| i.addr() != home)
                .unwrap()
                .addr();
            assert_eq!(alt, again);
        }
        assert!(
            b.pick_admitted(&PickRequest::with_key(1), |_| false)
                .is_none()
        );
    }
}
