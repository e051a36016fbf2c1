//! The simulator's shared state: settings, the seeded RNG, scripted faults, counters, the
//! recent-request log and the duplicate-id window. Everything on the request path is an
//! atomic or a short mutex section, because load tests push tens of thousands of requests a
//! second through it.

use super::config::{FaultMode, FaultSpec, SimConfig};
use super::graph::Graph;
use crate::domain::ProviderKind;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// SplitMix64 over an atomic counter: lock-free, and one seed gives one sequence.
pub(crate) struct Rng(AtomicU64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(AtomicU64::new(seed))
    }

    fn reseed(&self, seed: u64) {
        self.0.store(seed, Relaxed);
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    // `hex` and `digits` write each chunk straight into the result (no temporary `String` per
    // chunk): they run for every accepted message.
    pub(crate) fn hex(&self, len: usize) -> String {
        let mut s = String::with_capacity(len.next_multiple_of(16));
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(len);
        s
    }

    /// `len` decimal digits, the first non-zero.
    pub(crate) fn digits(&self, len: usize) -> String {
        let mut s = String::with_capacity(1 + len.next_multiple_of(18));
        let _ = write!(s, "{}", 1 + self.below(9));
        while s.len() < len {
            let _ = write!(s, "{:018}", self.next_u64() % 1_000_000_000_000_000_000);
        }
        s.truncate(len);
        s
    }
}

/// Why a request was not accepted, as counted in `/_sim/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    InvalidNumber,
    Auth,
    BadRequest,
    Throttled,
    ServerError,
    Duplicate,
}

const REASONS: [(Reason, &str); 6] = [
    (Reason::InvalidNumber, "invalid_number"),
    (Reason::Auth, "auth"),
    (Reason::BadRequest, "bad_request"),
    (Reason::Throttled, "throttled"),
    (Reason::ServerError, "server_error"),
    (Reason::Duplicate, "duplicate"),
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Accepted,
    Rejected(Reason),
    /// The request started hanging (a timeout fault); counted when the hang starts because the
    /// client usually disconnects before an answer exists.
    Hung,
}

/// Identities beyond this many per provider are counted under `(other)`, so a load test with
/// random credentials cannot grow the map without bound.
const MAX_IDENTITIES: usize = 10_000;

#[derive(Default, Clone)]
struct Counts {
    received: u64,
    accepted: u64,
    hung: u64,
    rejected: [u64; 6],
}

impl Counts {
    fn add(&mut self, outcome: Option<Outcome>) {
        match outcome {
            None => self.received += 1,
            Some(Outcome::Accepted) => self.accepted += 1,
            Some(Outcome::Hung) => self.hung += 1,
            Some(Outcome::Rejected(r)) => self.rejected[r as usize] += 1,
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.received += o.received;
        self.accepted += o.accepted;
        self.hung += o.hung;
        for (a, b) in self.rejected.iter_mut().zip(o.rejected) {
            *a += b;
        }
    }

    fn to_json(&self) -> Value {
        let rejected: Map<String, Value> = REASONS.iter().map(|(r, name)| ((*name).to_owned(), json!(self.rejected[*r as usize]))).collect();
        json!({
            "received": self.received,
            "accepted": self.accepted,
            "hung": self.hung,
            "rejected_total": self.rejected.iter().sum::<u64>(),
            "rejected": rejected,
        })
    }
}

/// Per provider: atomics for the totals, a mutex'd map for the per-identity counts.
#[derive(Default)]
struct ProviderStats {
    received: AtomicU64,
    accepted: AtomicU64,
    hung: AtomicU64,
    rejected: [AtomicU64; 6],
    identities: Mutex<HashMap<String, Counts>>,
    /// SMS segments of accepted requests (what the provider would bill).
    segments: AtomicU64,
    /// Messages (recipients / list entries) carried by the requests received, and the most
    /// one request carried: with `received`, what tests check batching against.
    items: AtomicU64,
    max_items: AtomicU64,
}

impl ProviderStats {
    fn count(&self, identity: &str, outcome: Option<Outcome>) {
        match outcome {
            None => &self.received,
            Some(Outcome::Accepted) => &self.accepted,
            Some(Outcome::Hung) => &self.hung,
            Some(Outcome::Rejected(r)) => &self.rejected[r as usize],
        }
        .fetch_add(1, Relaxed);
        let mut ids = self.identities.lock();
        if let Some(c) = ids.get_mut(identity) {
            c.add(outcome);
        } else {
            let key = if ids.len() < MAX_IDENTITIES { identity } else { "(other)" };
            ids.entry(key.to_owned()).or_default().add(outcome);
        }
    }

    fn totals(&self) -> Counts {
        Counts {
            received: self.received.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            hung: self.hung.load(Relaxed),
            rejected: std::array::from_fn(|i| self.rejected[i].load(Relaxed)),
        }
    }
}

/// One request as the simulator received it, for tests to check field by field.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// Query parameters (a repeated name becomes an array).
    pub query: Value,
    /// Every header, lower-case names.
    pub headers: Map<String, Value>,
    /// The body as parsed: form → object, JSON → as sent, otherwise `null`.
    pub body: Value,
    /// The raw body (lossy UTF-8, at most 8 KiB).
    pub raw_body: String,
}

struct ActiveFault {
    spec: FaultSpec,
    kind: Option<ProviderKind>,
    remaining: Option<u64>,
}

/// A bounded set of recently seen client ids (oldest evicted first).
#[derive(Default)]
struct Dedup {
    seen: HashSet<String>,
    order: VecDeque<String>,
}

pub(crate) struct SimState {
    config: RwLock<Arc<SimConfig>>,
    pub(crate) rng: Rng,
    faults: Mutex<Vec<ActiveFault>>,
    has_faults: AtomicBool,
    stats: [ProviderStats; ProviderKind::ALL.len()],
    requests: [Mutex<VecDeque<RecordedRequest>>; ProviderKind::ALL.len()],
    dedup: Mutex<Dedup>,
    /// The Graph API simulator's templates, clocks, messages and webhook queue.
    pub(crate) graph: Graph,
}

fn index(kind: ProviderKind) -> usize {
    (kind.id() - 1) as usize
}

impl SimState {
    pub(crate) fn new(config: SimConfig) -> Self {
        SimState {
            rng: Rng::new(config.seed),
            config: RwLock::new(Arc::new(config)),
            faults: Mutex::new(Vec::new()),
            has_faults: AtomicBool::new(false),
            stats: Default::default(),
            requests: Default::default(),
            dedup: Mutex::new(Dedup::default()),
            graph: Graph::new(),
        }
    }

    pub(crate) fn config(&self) -> Arc<SimConfig> {
        self.config.read().clone()
    }

    /// Replaces the settings (already validated); a new seed restarts the RNG sequence.
    pub(crate) fn set_config(&self, config: SimConfig) {
        let mut slot = self.config.write();
        if slot.seed != config.seed {
            self.rng.reseed(config.seed);
        }
        *slot = Arc::new(config);
    }

    pub(crate) fn add_fault(&self, spec: FaultSpec) -> Result<(), String> {
        let kind = spec.provider_kind()?;
        if spec.count == Some(0) {
            return Err("count must be at least 1 (omit it for 'until cleared')".into());
        }
        let mut faults = self.faults.lock();
        faults.push(ActiveFault { remaining: spec.count, spec, kind });
        self.has_faults.store(true, Relaxed);
        Ok(())
    }

    pub(crate) fn clear_faults(&self) {
        self.faults.lock().clear();
        self.has_faults.store(false, Relaxed);
    }

    /// The faults still armed, with their remaining counts.
    pub(crate) fn faults(&self) -> Vec<FaultSpec> {
        self.faults.lock().iter().map(|f| FaultSpec { count: f.remaining, ..f.spec.clone() }).collect()
    }

    /// The first armed fault matching this request, consuming one of its count.
    /// A `partial_server_error` fault matches only requests carrying two or more messages.
    pub(crate) fn take_fault(&self, kind: ProviderKind, identity: &str, items: usize) -> Option<FaultMode> {
        if !self.has_faults.load(Relaxed) {
            return None;
        }
        let mut faults = self.faults.lock();
        let i = faults.iter().position(|f| {
            f.kind.is_none_or(|k| k == kind)
                && f.spec.credential.as_deref().is_none_or(|c| c == identity)
                && (f.spec.mode != FaultMode::PartialServerError || items >= 2)
        })?;
        let mode = faults[i].spec.mode;
        if let Some(n) = faults[i].remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                faults.remove(i);
            }
        }
        self.has_faults.store(!faults.is_empty(), Relaxed);
        Some(mode)
    }

    /// `received` when `outcome` is `None`.
    pub(crate) fn count(&self, kind: ProviderKind, identity: &str, outcome: Option<Outcome>) {
        self.stats[index(kind)].count(identity, outcome);
    }

    /// Counts the messages one received request carried.
    pub(crate) fn count_items(&self, kind: ProviderKind, n: usize) {
        let s = &self.stats[index(kind)];
        s.items.fetch_add(n as u64, Relaxed);
        s.max_items.fetch_max(n as u64, Relaxed);
    }

    /// Adds the billed segments of an accepted request.
    pub(crate) fn count_segments(&self, kind: ProviderKind, n: u64) {
        self.stats[index(kind)].segments.fetch_add(n, Relaxed);
    }

    pub(crate) fn record(&self, kind: ProviderKind, request: RecordedRequest, keep: usize) {
        if keep == 0 {
            return;
        }
        let mut log = self.requests[index(kind)].lock();
        while log.len() >= keep {
            log.pop_front();
        }
        log.push_back(request);
    }

    pub(crate) fn requests(&self, kind: ProviderKind) -> Vec<RecordedRequest> {
        self.requests[index(kind)].lock().iter().cloned().collect()
    }

    /// Whether this client id was seen before (and remembers it if not).
    pub(crate) fn seen_before(&self, key: String, window: usize) -> bool {
        if window == 0 {
            return false;
        }
        let mut d = self.dedup.lock();
        if d.seen.contains(&key) {
            return true;
        }
        while d.order.len() >= window {
            if let Some(old) = d.order.pop_front() {
                d.seen.remove(&old);
            }
        }
        d.seen.insert(key.clone());
        d.order.push_back(key);
        false
    }

    pub(crate) fn stats_json(&self) -> Value {
        let mut total = Counts::default();
        let mut providers = Map::new();
        for kind in ProviderKind::ALL {
            let s = &self.stats[index(kind)];
            let t = s.totals();
            total.merge(&t);
            let mut entry = t.to_json();
            let ids: Map<String, Value> = s.identities.lock().iter().map(|(k, c)| (k.clone(), c.to_json())).collect();
            entry["credentials"] = Value::Object(ids);
            entry["segments"] = json!(s.segments.load(Relaxed));
            entry["items"] = json!(s.items.load(Relaxed));
            entry["max_items"] = json!(s.max_items.load(Relaxed));
            providers.insert(kind.code().to_owned(), entry);
        }
        json!({ "total": total.to_json(), "providers": providers, "whatsapp": self.graph.stats_json() })
    }

    /// Clears counters, recorded requests, faults, the duplicate window and the Graph API
    /// state (templates, windows, clocks, messages, queued webhooks), and restarts the RNG from
    /// the current seed. Settings (webhook targets included) are kept.
    pub(crate) fn reset(&self) {
        for s in &self.stats {
            s.received.store(0, Relaxed);
            s.accepted.store(0, Relaxed);
            s.hung.store(0, Relaxed);
            s.rejected.iter().for_each(|r| r.store(0, Relaxed));
            s.identities.lock().clear();
            s.segments.store(0, Relaxed);
            s.items.store(0, Relaxed);
            s.max_items.store(0, Relaxed);
        }
        self.requests.iter().for_each(|r| r.lock().clear());
        self.clear_faults();
        *self.dedup.lock() = Dedup::default();
        self.graph.reset();
        self.rng.reseed(self.config().seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_formats_ids() {
        let (a, b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_eq!(a.hex(32).len(), 32);
        let d = a.digits(19);
        assert!(d.len() == 19 && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0'), "{d}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.unit())));
    }

    #[test]
    fn faults_match_and_count_down() {
        let s = SimState::new(SimConfig::default());
        let spec = |p: Option<&str>, c: Option<&str>, count| FaultSpec {
            provider: p.map(Into::into),
            credential: c.map(Into::into),
            mode: FaultMode::Throttle,
            count,
        };
        s.add_fault(spec(Some("twilio"), Some("AC1"), Some(2))).unwrap();
        assert_eq!(s.take_fault(ProviderKind::Infobip, "AC1", 1), None);
        assert_eq!(s.take_fault(ProviderKind::Twilio, "AC2", 1), None);
        assert_eq!(s.take_fault(ProviderKind::Twilio, "AC1", 1), Some(FaultMode::Throttle));
        assert_eq!(s.faults()[0].count, Some(1));
        assert_eq!(s.take_fault(ProviderKind::Twilio, "AC1", 1), Some(FaultMode::Throttle));
        assert_eq!(s.take_fault(ProviderKind::Twilio, "AC1", 1), None, "count exhausted");
        s.add_fault(spec(None, None, None)).unwrap();
        for _ in 0..10 {
            assert_eq!(s.take_fault(ProviderKind::Qyadat, "x", 1), Some(FaultMode::Throttle));
        }
        s.clear_faults();
        assert_eq!(s.take_fault(ProviderKind::Qyadat, "x", 1), None);
        assert!(s.add_fault(spec(Some("nope"), None, None)).is_err());
    }

    #[test]
    fn stats_count_per_provider_and_identity() {
        let s = SimState::new(SimConfig::default());
        s.count(ProviderKind::Twilio, "AC1", None);
        s.count(ProviderKind::Twilio, "AC1", Some(Outcome::Accepted));
        s.count(ProviderKind::Twilio, "AC2", None);
        s.count(ProviderKind::Twilio, "AC2", Some(Outcome::Rejected(Reason::InvalidNumber)));
        let v = s.stats_json();
        assert_eq!(v["total"]["received"], 2);
        assert_eq!(v["providers"]["twilio"]["accepted"], 1);
        assert_eq!(v["providers"]["twilio"]["rejected"]["invalid_number"], 1);
        assert_eq!(v["providers"]["twilio"]["credentials"]["AC2"]["rejected_total"], 1);
        assert_eq!(v["providers"]["infobip"]["received"], 0);
        s.reset();
        assert_eq!(s.stats_json()["total"]["received"], 0);
    }

    #[test]
    fn dedup_window_is_bounded() {
        let s = SimState::new(SimConfig::default());
        assert!(!s.seen_before("a".into(), 2));
        assert!(s.seen_before("a".into(), 2));
        assert!(!s.seen_before("b".into(), 2));
        assert!(!s.seen_before("c".into(), 2));
        assert!(!s.seen_before("a".into(), 2), "a was evicted");
    }
}
