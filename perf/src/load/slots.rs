//! The in-flight requests of one connection: a fixed table of `depth` slots,
//! each holding the seq id it was sent with and the time its latency counts
//! from. Seq ids encode their slot (`(seqid - SEQ_BASE) % depth`), so a
//! reply finds its slot in O(1) whether replies come in order (pipelining)
//! or out of order (TTHeader multiplexing). Nothing allocates after
//! construction.

use std::time::Instant;

use super::request::{SEQ_BASE, SEQ_SPAN};

/// A connection's in-flight table.
#[derive(Debug)]
pub struct Slots {
    depth: usize,
    /// The seq id each slot was last sent with.
    seq: Vec<i32>,
    /// When each slot's latency starts (send time, or intended send time in
    /// the open loop).
    since: Vec<Instant>,
    busy: Vec<bool>,
    /// How many times each slot was sent.
    round: Vec<u64>,
    free: Vec<usize>,
    /// The largest multiple of `depth` within the seq id range.
    span: u64,
}

impl Slots {
    /// A table of `depth` free slots.
    pub fn new(depth: usize) -> Self {
        let depth = depth.max(1);
        let now = Instant::now();
        Self {
            depth,
            seq: vec![0; depth],
            since: vec![now; depth],
            busy: vec![false; depth],
            round: vec![0; depth],
            free: (0..depth).rev().collect(),
            span: (SEQ_SPAN as u64 / depth as u64) * depth as u64,
        }
    }

    /// Whether a slot is free.
    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// How many requests are in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.depth - self.free.len()
    }

    /// Takes a free slot for a request whose latency counts from `since`;
    /// returns the seq id to send it with (`None` when all are busy).
    pub fn issue(&mut self, since: Instant) -> Option<i32> {
        let s = self.free.pop()?;
        self.round[s] += 1;
        let off = (self.round[s] * self.depth as u64 + s as u64) % self.span;
        let seq = SEQ_BASE + off as i32;
        self.seq[s] = seq;
        self.since[s] = since;
        self.busy[s] = true;
        Some(seq)
    }

    /// Completes the request sent with `seq`: frees its slot and returns when
    /// its latency started. `None` for a seq id that is not in flight.
    pub fn complete(&mut self, seq: i32) -> Option<Instant> {
        if !(SEQ_BASE..SEQ_BASE + SEQ_SPAN).contains(&seq) {
            return None;
        }
        let s = (seq - SEQ_BASE) as usize % self.depth;
        if !self.busy[s] || self.seq[s] != seq {
            return None;
        }
        self.busy[s] = false;
        self.free.push(s);
        Some(self.since[s])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_out_of_order_find_their_slots() {
        let t0 = Instant::now();
        let mut s = Slots::new(3);
        let a = s.issue(t0).unwrap();
        let b = s.issue(t0).unwrap();
        let c = s.issue(t0).unwrap();
        assert!(s.issue(t0).is_none(), "all busy");
        assert_eq!(s.in_flight(), 3);
        assert!(s.complete(b).is_some());
        assert!(s.complete(b).is_none(), "a duplicate is refused");
        let d = s.issue(t0).unwrap();
        assert_ne!(d, b, "a reissued slot gets a new seq id");
        assert!(s.complete(c).is_some());
        assert!(s.complete(a).is_some());
        assert!(s.complete(d).is_some());
        assert!(s.complete(12345).is_none(), "out of range");
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn seq_ids_stay_in_range_across_wraparound() {
        let mut s = Slots::new(7);
        s.round[0] = (SEQ_SPAN as u64 / 7) - 1;
        for _ in 0..10 {
            let q = s.issue(Instant::now()).unwrap();
            assert!((SEQ_BASE..SEQ_BASE + SEQ_SPAN).contains(&q));
            assert!(s.complete(q).is_some());
        }
    }
}
