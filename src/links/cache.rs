//! The redirect hot path's memory: code → (link id, `Location`) with the link's click
//! counters, in shards behind read-write locks. A hit takes one shard's read lock and bumps
//! two atomics; nothing is allocated and nothing is written to the store.
//!
//! Bounded by bytes (each shard its share of the budget, oldest-loaded evicted first) and by
//! age (the flusher drops entries older than the TTL, so a change made through another node
//! is seen within it). Counts of an entry that leaves the cache before they are flushed
//! (evicted, invalidated, expired) move, under the shard's write lock, into `evicted`, which
//! the flusher drains with the rest; no click is lost on the way. Lock order: shard, then
//! `evicted`. Depends on nothing but std, `http` and `parking_lot`.

use axum::http::HeaderValue;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Bookkeeping bytes charged per entry beside its code and target.
const ENTRY_OVERHEAD: usize = 128;

/// Clicks counted but not yet written to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unflushed {
    pub clicks: u64,
    /// Unix ms of the latest (0: none).
    pub last_clicked_at: i64,
}

impl Unflushed {
    pub fn merge(&mut self, other: Unflushed) {
        self.clicks += other.clicks;
        self.last_clicked_at = self.last_clicked_at.max(other.last_clicked_at);
    }
}

struct Entry {
    link_id: i64,
    location: HeaderValue,
    clicks: AtomicU64,
    last_clicked_at: AtomicI64,
    loaded: Instant,
    bytes: usize,
}

impl Entry {
    fn take(&self) -> Unflushed {
        Unflushed { clicks: self.clicks.swap(0, Ordering::AcqRel), last_clicked_at: self.last_clicked_at.load(Ordering::Acquire) }
    }

    fn peek(&self) -> Unflushed {
        Unflushed { clicks: self.clicks.load(Ordering::Acquire), last_clicked_at: self.last_clicked_at.load(Ordering::Acquire) }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Entry>,
    /// Insertion order for eviction; may hold codes already gone (skipped, and compacted).
    order: VecDeque<Box<str>>,
    bytes: usize,
    /// Bumped by every invalidation: a miss that read the store before it must not cache.
    generation: u64,
}

pub struct LinkCache {
    shards: Box<[RwLock<Shard>]>,
    shard_budget: usize,
    ttl: Duration,
    evicted: Mutex<HashMap<i64, Unflushed>>,
}

impl LinkCache {
    pub fn new(budget_bytes: usize, ttl: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            shard_budget: (budget_bytes / SHARDS).max(ENTRY_OVERHEAD * 4),
            ttl,
            evicted: Mutex::new(HashMap::new()),
        }
    }

    fn shard(&self, code: &str) -> &RwLock<Shard> {
        // Codes are random, so their last bytes spread evenly.
        let h = code.bytes().rev().take(4).fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        &self.shards[h % SHARDS]
    }

    /// The hot path: when `code` is cached, counts a click and returns where it goes.
    pub fn hit(&self, code: &str, now_ms: i64) -> Option<HeaderValue> {
        let shard = self.shard(code).read();
        let e = shard.map.get(code)?;
        e.clicks.fetch_add(1, Ordering::AcqRel);
        e.last_clicked_at.fetch_max(now_ms, Ordering::AcqRel);
        Some(e.location.clone())
    }

    /// The shard's generation, read before the store on a miss.
    pub fn generation(&self, code: &str) -> u64 {
        self.shard(code).read().generation
    }

    /// After a miss: caches the link (unless it was invalidated since `generation`) and counts
    /// the click, on the entry or, when not cached, straight into the unflushed counts.
    pub fn insert_counted(&self, code: &str, link_id: i64, location: HeaderValue, generation: u64, now_ms: i64) {
        let click = Unflushed { clicks: 1, last_clicked_at: now_ms };
        let mut shard = self.shard(code).write();
        if let Some(e) = shard.map.get(code) {
            e.clicks.fetch_add(1, Ordering::AcqRel);
            e.last_clicked_at.fetch_max(now_ms, Ordering::AcqRel);
            return;
        }
        let bytes = code.len() + location.len() + ENTRY_OVERHEAD;
        if shard.generation != generation || bytes > self.shard_budget {
            self.evicted.lock().entry(link_id).or_default().merge(click);
            return;
        }
        while shard.bytes + bytes > self.shard_budget {
            let Some(old) = shard.order.pop_front() else { break };
            if let Some(e) = shard.map.remove(&old) {
                shard.bytes -= e.bytes;
                self.retire(&e);
            }
        }
        let entry = Entry {
            link_id,
            location,
            clicks: AtomicU64::new(1),
            last_clicked_at: AtomicI64::new(now_ms),
            loaded: Instant::now(),
            bytes,
        };
        shard.bytes += bytes;
        shard.map.insert(code.into(), entry);
        shard.order.push_back(code.into());
        if shard.order.len() > 2 * shard.map.len() + 16 {
            let Shard { map, order, .. } = &mut *shard;
            order.retain(|c| map.contains_key(c));
        }
    }

    /// Drops `code` (its link changed or was deleted through this node), keeping its counts.
    pub fn invalidate(&self, code: &str) {
        let mut shard = self.shard(code).write();
        shard.generation += 1;
        if let Some(e) = shard.map.remove(code) {
            shard.bytes -= e.bytes;
            self.retire(&e);
        }
    }

    fn retire(&self, e: &Entry) {
        let counts = e.take();
        if counts.clicks > 0 {
            self.evicted.lock().entry(e.link_id).or_default().merge(counts);
        }
    }

    /// Clicks of link `link_id` (code `code`) counted here and not yet handed to the flusher.
    pub fn unflushed(&self, code: &str, link_id: i64) -> Unflushed {
        let shard = self.shard(code).read();
        let mut u = shard.map.get(code).filter(|e| e.link_id == link_id).map(Entry::peek).unwrap_or_default();
        if let Some(ev) = self.evicted.lock().get(&link_id) {
            u.merge(*ev);
        }
        u
    }

    /// The flusher's sweep: moves every count into `out` and drops entries older than the TTL.
    pub fn drain_into(&self, out: &mut HashMap<i64, Unflushed>) {
        for lock in self.shards.iter() {
            let mut shard = lock.write();
            let ttl = self.ttl;
            let mut freed = 0;
            shard.map.retain(|_, e| {
                let counts = e.take();
                if counts.clicks > 0 {
                    out.entry(e.link_id).or_default().merge(counts);
                }
                let keep = e.loaded.elapsed() < ttl;
                if !keep {
                    freed += e.bytes;
                }
                keep
            });
            shard.bytes -= freed;
        }
        for (id, counts) in self.evicted.lock().drain() {
            out.entry(id).or_default().merge(counts);
        }
    }

    /// Entries cached (for tests and gauges).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn hits_count_and_drains_move_the_counts_out_once() {
        let c = LinkCache::new(1 << 20, Duration::from_secs(60));
        assert!(c.hit("abc", 5).is_none());
        c.insert_counted("abc", 7, loc("https://a.example/"), c.generation("abc"), 5);
        assert_eq!(c.hit("abc", 9).unwrap(), "https://a.example/");
        c.hit("abc", 8);
        assert_eq!(c.unflushed("abc", 7), Unflushed { clicks: 3, last_clicked_at: 9 });
        let mut out = HashMap::new();
        c.drain_into(&mut out);
        assert_eq!(out[&7].clicks, 3);
        assert_eq!(out[&7].last_clicked_at, 9);
        let mut again = HashMap::new();
        c.drain_into(&mut again);
        assert!(again.is_empty());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn invalidation_keeps_counts_and_stops_a_racing_miss_from_caching() {
        let c = LinkCache::new(1 << 20, Duration::from_secs(60));
        let g = c.generation("abc");
        c.insert_counted("abc", 7, loc("https://a.example/"), g, 5);
        c.invalidate("abc");
        assert!(c.hit("abc", 6).is_none());
        // A miss that read the store before the invalidation counts but does not cache.
        c.insert_counted("abc", 7, loc("https://stale.example/"), g, 6);
        assert!(c.hit("abc", 7).is_none());
        let mut out = HashMap::new();
        c.drain_into(&mut out);
        assert_eq!(out[&7], Unflushed { clicks: 2, last_clicked_at: 6 });
    }

    #[test]
    fn the_byte_budget_evicts_oldest_first_without_losing_clicks() {
        let c = LinkCache::new(SHARDS * 4 * (ENTRY_OVERHEAD + 40), Duration::from_secs(60));
        for i in 0..1000i64 {
            let code = format!("c{i:05}");
            c.insert_counted(&code, i, loc("https://a.example/x"), c.generation(&code), 1);
        }
        assert!(c.len() <= SHARDS * 4, "{}", c.len());
        let mut out = HashMap::new();
        c.drain_into(&mut out);
        assert_eq!(out.len(), 1000);
        assert!(out.values().all(|u| u.clicks == 1));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = LinkCache::new(1 << 20, Duration::ZERO);
        c.insert_counted("abc", 7, loc("https://a.example/"), 0, 1);
        let mut out = HashMap::new();
        c.drain_into(&mut out);
        assert!(c.is_empty());
        assert_eq!(out[&7].clicks, 1);
    }
}
