//! The in-process coordination backends: a sliding-window rate limiter and a bounded
//! idempotency map with expiry. They serve a single engine without Redis, and every engine
//! while Redis is unreachable. Time is passed in (milliseconds on any monotonic scale) so
//! they are tested without clocks. (In-process replay protection is `auth::replay`.)

use super::{Claim, RateDecision, StoredAnswer};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

const SHARDS: usize = 16;

/// At most `limit` accepted requests per key in any `window_ms`: the times of the accepted
/// requests within the window are kept, so the limit is exact (a fixed bucket lets twice the
/// limit through around a bucket edge; GCRA with a burst of `limit` lets nearly twice through
/// in its first window). Memory is one `u64` per request accepted in the last window.
pub struct SlidingWindow {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    keys: HashMap<String, VecDeque<u64>>,
    next_sweep_ms: u64,
}

impl Default for SlidingWindow {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect() }
    }
}

impl SlidingWindow {
    pub fn check(&self, key: &str, limit: u32, window_ms: u64, now_ms: u64) -> RateDecision {
        let shard = &self.shards[shard_of(key)];
        let mut shard = shard.lock();
        // Keys whose requests all left the window are dropped once per window, so memory
        // follows the clients of the last window only.
        if now_ms >= shard.next_sweep_ms {
            shard.keys.retain(|_, times| times.back().is_some_and(|&t| t + window_ms > now_ms));
            shard.next_sweep_ms = now_ms + window_ms;
        }
        let times = shard.keys.entry(key.to_string()).or_default();
        while times.front().is_some_and(|&t| t + window_ms <= now_ms) {
            times.pop_front();
        }
        if times.len() < limit as usize {
            times.push_back(now_ms);
            return RateDecision::Allowed;
        }
        // A lowered limit may leave more than `limit` in the window: the request is allowed
        // again once all but `limit - 1` of them have left it.
        let freeing = times[times.len() - limit as usize];
        RateDecision::Limited { retry_after_ms: (freeing + window_ms).saturating_sub(now_ms).max(1) }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().keys.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn shard_of(key: &str) -> usize {
    use std::hash::BuildHasher;
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    (STATE.get_or_init(Default::default).hash_one(key) as usize) % SHARDS
}

enum Entry {
    Pending { token: u64, until_ms: u64 },
    Done { answer: StoredAnswer, until_ms: u64 },
}

impl Entry {
    fn until_ms(&self) -> u64 {
        match self {
            Entry::Pending { until_ms, .. } | Entry::Done { until_ms, .. } => *until_ms,
        }
    }
}

/// Idempotency keys in memory: at most `max_entries`, each until its expiry; beyond the
/// bound the oldest claims are forgotten first.
pub struct LocalIdempotency {
    max_entries: usize,
    inner: Mutex<IdemInner>,
}

#[derive(Default)]
struct IdemInner {
    /// key → (claim sequence number, entry)
    map: HashMap<String, (u64, Entry)>,
    /// Claims in order, for eviction; items whose sequence number no longer matches the map
    /// (released or re-claimed keys) are skipped.
    order: VecDeque<(u64, String)>,
    next: u64,
}

impl LocalIdempotency {
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries: max_entries.max(1), inner: Mutex::new(IdemInner::default()) }
    }

    /// Claims `key` until `pending_until_ms`, or reports the entry already there.
    pub fn claim(&self, key: &str, now_ms: u64, pending_until_ms: u64) -> Claim<u64> {
        let mut g = self.inner.lock();
        let inner = &mut *g;
        if let Some((_, entry)) = inner.map.get(key) {
            if entry.until_ms() > now_ms {
                return match entry {
                    Entry::Pending { .. } => Claim::InProgress,
                    Entry::Done { answer, .. } => Claim::Done(answer.clone()),
                };
            }
        }
        inner.evict(now_ms, self.max_entries);
        inner.next += 1;
        let seq = inner.next;
        inner.map.insert(key.to_string(), (seq, Entry::Pending { token: seq, until_ms: pending_until_ms }));
        inner.order.push_back((seq, key.to_string()));
        Claim::Claimed(seq)
    }

    /// Stores the answer of a claim (kept until `until_ms`), or releases the key (`None`).
    /// Does nothing if the claim expired and the key was claimed again meanwhile.
    pub fn finish(&self, key: &str, token: u64, answer: Option<StoredAnswer>, until_ms: u64) {
        let mut g = self.inner.lock();
        let ours = matches!(g.map.get(key), Some((_, Entry::Pending { token: t, .. })) if *t == token);
        if !ours {
            return;
        }
        match answer {
            Some(answer) => {
                if let Some((_, e)) = g.map.get_mut(key) {
                    *e = Entry::Done { answer, until_ms };
                }
            }
            None => {
                g.map.remove(key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IdemInner {
    /// Makes room for one entry: drops expired entries at the front of the claim order, and
    /// the oldest live ones while the map is at its bound.
    fn evict(&mut self, now_ms: u64, max_entries: usize) {
        // Released and re-claimed keys leave stale items behind: compact now and then so the
        // queue stays within twice the bound (amortised O(1) per claim).
        if self.order.len() > 2 * max_entries {
            let map = &self.map;
            self.order.retain(|(seq, key)| matches!(map.get(key), Some((s, _)) if s == seq));
        }
        while let Some((seq, key)) = self.order.front() {
            let current = matches!(self.map.get(key), Some((s, _)) if s == seq);
            let expired = current && self.map.get(key).is_some_and(|(_, e)| e.until_ms() <= now_ms);
            if current && !expired && self.map.len() < max_entries {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            if current {
                self.map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_is_exact_and_says_when_to_retry() {
        let w = SlidingWindow::default();
        let min = 60_000;
        // 3 per minute: requests at 0, 10s, 20s pass; the 4th waits for the first to leave.
        assert_eq!(w.check("a", 3, min, 0), RateDecision::Allowed);
        assert_eq!(w.check("a", 3, min, 10_000), RateDecision::Allowed);
        assert_eq!(w.check("a", 3, min, 20_000), RateDecision::Allowed);
        assert_eq!(w.check("a", 3, min, 30_000), RateDecision::Limited { retry_after_ms: 30_000 });
        assert_eq!(w.check("a", 3, min, 59_999), RateDecision::Limited { retry_after_ms: 1 });
        // Other keys have their own budget.
        assert_eq!(w.check("b", 3, min, 59_999), RateDecision::Allowed);
        // At exactly 60 s the first request has left the window; the refused ones never counted.
        assert_eq!(w.check("a", 3, min, 60_000), RateDecision::Allowed);
        assert_eq!(w.check("a", 3, min, 60_001), RateDecision::Limited { retry_after_ms: 9_999 });
        // No edge burst: across any 60 s span at most 3 pass, whatever the timing.
        let w = SlidingWindow::default();
        let accepted: Vec<u64> = (0..240).map(|i| i * 500).filter(|&t| w.check("c", 3, min, t) == RateDecision::Allowed).collect();
        for (i, t) in accepted.iter().enumerate() {
            let in_window = accepted[i..].iter().take_while(|&&u| u < t + min).count();
            assert!(in_window <= 3, "{in_window} within a minute from {t}");
        }
        assert_eq!(accepted.len(), 6, "{accepted:?}");
    }

    #[test]
    fn idle_keys_are_swept() {
        let w = SlidingWindow::default();
        for i in 0..100 {
            w.check(&format!("ip{i}"), 5, 1_000, 0);
        }
        assert_eq!(w.len(), 100);
        // A window later every shard sweeps on its next use.
        for i in 0..200 {
            w.check(&format!("new{i}"), 5, 1_000, 2_000);
        }
        assert_eq!(w.len(), 200);
    }

    fn answer(n: u16) -> StoredAnswer {
        StoredAnswer { status: n, fingerprint: "f".into(), body: format!("{{\"n\":{n}}}") }
    }

    #[test]
    fn idempotency_claim_finish_and_expiry() {
        let m = LocalIdempotency::new(100);
        let Claim::Claimed(t) = m.claim("k", 0, 1_000) else { panic!("first claim") };
        assert!(matches!(m.claim("k", 10, 1_010), Claim::InProgress));
        m.finish("k", t, Some(answer(200)), 50_000);
        assert!(matches!(m.claim("k", 20, 1_020), Claim::Done(a) if a == answer(200)));
        // Expired answers are forgotten.
        assert!(matches!(m.claim("k", 50_000, 51_000), Claim::Claimed(_)));
        // A released claim can be claimed again at once.
        let Claim::Claimed(t) = m.claim("r", 0, 1_000) else { panic!() };
        m.finish("r", t, None, 0);
        assert!(matches!(m.claim("r", 1, 1_001), Claim::Claimed(_)));
        // A pending claim that outlived its deadline can be claimed by a retry; the first
        // request finishing late then changes nothing.
        let Claim::Claimed(old) = m.claim("p", 0, 100) else { panic!() };
        let Claim::Claimed(new) = m.claim("p", 200, 300) else { panic!("expired pending is claimable") };
        m.finish("p", old, Some(answer(500)), 10_000);
        m.finish("p", new, Some(answer(200)), 10_000);
        assert!(matches!(m.claim("p", 250, 350), Claim::Done(a) if a.status == 200));
    }

    #[test]
    fn idempotency_map_is_bounded() {
        let m = LocalIdempotency::new(10);
        for i in 0..1_000u64 {
            if let Claim::Claimed(t) = m.claim(&format!("k{i}"), i, i + 1_000_000) {
                m.finish(&format!("k{i}"), t, Some(answer(200)), i + 1_000_000);
            }
        }
        assert!(m.len() <= 10, "{}", m.len());
        assert!(m.inner.lock().order.len() <= 21);
        // The newest keys are kept.
        assert!(matches!(m.claim("k999", 1_000, 2_000), Claim::Done(_)));
    }
}
