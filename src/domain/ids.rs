//! Time-ordered numeric ids.
//!
//! Ids are 53-bit integers so that JavaScript clients, which parse JSON numbers as doubles,
//! read them exactly: 41 bits of milliseconds since 2025-01-01 (good until 2094), 3 bits of
//! node id (several engines writing one ScyllaDB cluster never collide) and 9 bits of sequence
//! (512 ids per millisecond per node). When a millisecond's sequence runs out the generator
//! borrows from the next millisecond, so ids stay unique and increasing under any burst and
//! catch up with the clock once the burst ends.

use std::sync::atomic::{AtomicU64, Ordering};

/// 2025-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: i64 = 1_735_689_600_000;
const SEQ_BITS: u32 = 9;
const NODE_BITS: u32 = 3;
/// Largest node id accepted by [`IdGenerator::new`].
pub const MAX_NODE_ID: u8 = (1 << NODE_BITS) - 1;

/// Lock-free generator of unique, increasing ids for one process.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    /// `ms << SEQ_BITS | seq` of the last id handed out.
    last: AtomicU64,
}

impl IdGenerator {
    /// A generator for node `node` (0..=7).
    pub fn new(node: u8) -> Self {
        assert!(node <= MAX_NODE_ID, "node id {node} out of range 0..={MAX_NODE_ID}");
        Self { node: u64::from(node), last: AtomicU64::new(0) }
    }

    /// The next id: larger than every id this generator returned before.
    pub fn next_id(&self) -> i64 {
        let now = ((crate::domain::now_ms() - EPOCH_MS).max(0) as u64) << SEQ_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return self.compose(next),
                Err(actual) => last = actual,
            }
        }
    }

    /// Reserves `n` consecutive ids with one atomic step (bulk ingest).
    pub fn next_block(&self, n: u64) -> Vec<i64> {
        let now = ((crate::domain::now_ms() - EPOCH_MS).max(0) as u64) << SEQ_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let first = now.max(last + 1);
            let end = first + n.saturating_sub(1);
            match self.last.compare_exchange_weak(last, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (first..=end).map(|c| self.compose(c)).collect(),
                Err(actual) => last = actual,
            }
        }
    }

    fn compose(&self, counter: u64) -> i64 {
        let ms = counter >> SEQ_BITS;
        let seq = counter & ((1 << SEQ_BITS) - 1);
        ((ms << (SEQ_BITS + NODE_BITS)) | (self.node << SEQ_BITS) | seq) as i64
    }
}

/// The node that generated id `id` (its node bits): the owner of the work it names.
pub fn node_of(id: i64) -> u8 {
    (((id as u64) >> SEQ_BITS) & u64::from(MAX_NODE_ID)) as u8
}

/// The Unix millisecond at which an id was generated (or borrowed).
pub fn id_timestamp_ms(id: i64) -> i64 {
    ((id as u64) >> (SEQ_BITS + NODE_BITS)) as i64 + EPOCH_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_increasing_and_fit_in_53_bits() {
        let g = IdGenerator::new(5);
        let mut prev = 0;
        for _ in 0..100_000 {
            let id = g.next_id();
            assert!(id > prev, "{id} <= {prev}");
            assert!(id < (1i64 << 53));
            assert_eq!((id >> SEQ_BITS) & 0b111, 5, "node bits");
            prev = id;
        }
    }

    #[test]
    fn ids_are_unique_across_threads_and_blocks() {
        let g = std::sync::Arc::new(IdGenerator::new(0));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut v = Vec::new();
                    for _ in 0..10_000 {
                        if i % 2 == 0 { v.push(g.next_id()) } else { v.extend(g.next_block(3)) }
                    }
                    v
                })
            })
            .collect();
        let all: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let set: HashSet<_> = all.iter().collect();
        assert_eq!(set.len(), all.len());
    }

    #[test]
    fn timestamp_round_trips() {
        let g = IdGenerator::new(1);
        let before = crate::domain::now_ms();
        let id = g.next_id();
        let ts = id_timestamp_ms(id);
        assert!(ts >= before && ts <= crate::domain::now_ms() + 1, "{ts} vs {before}");
    }
}
