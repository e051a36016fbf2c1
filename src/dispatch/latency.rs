//! Each credential actor's own record of its recent provider calls (time, duration, whether
//! accepted), kept where the console can read it without a message to the actor: the actor
//! writes its own ring (an uncontended lock per call), readers take a snapshot. The ring is
//! per credential, so the console's p99 and error rate are the credential's, not its
//! provider's.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Calls kept per credential.
pub const CALLS_KEPT: usize = 1_024;

#[derive(Clone, Copy)]
struct Call {
    at: Instant,
    ms: f64,
    ok: bool,
}

/// One credential's ring (shared by its actor, which writes, and the registry, which reads).
#[derive(Default)]
pub struct CallRing(Mutex<VecDeque<Call>>);

impl CallRing {
    pub fn record(&self, ms: f64, ok: bool) {
        let mut r = self.0.lock();
        if r.len() == CALLS_KEPT {
            r.pop_front();
        }
        r.push_back(Call { at: Instant::now(), ms, ok });
    }
}

/// Health of one credential's calls within a window.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialCalls {
    pub calls: usize,
    /// Share of calls not accepted (throttled, transient, rejected…), 0 to 1.
    pub error_rate: f64,
    pub p99_ms: Option<f64>,
}

/// The rings by credential id; an actor (re)started for a credential replaces its entry.
#[derive(Default)]
pub struct LatencyRegistry(Mutex<HashMap<i64, Arc<CallRing>>>);

impl LatencyRegistry {
    /// A fresh ring for a starting credential actor, keeping what a predecessor recorded.
    pub fn ring(&self, credential_id: i64) -> Arc<CallRing> {
        self.0.lock().entry(credential_id).or_default().clone()
    }

    /// The credential's calls that ended within the last `window_ms`.
    pub fn health(&self, credential_id: i64, window_ms: u64) -> CredentialCalls {
        let Some(ring) = self.0.lock().get(&credential_id).cloned() else { return CredentialCalls::default() };
        let now = Instant::now();
        let window = std::time::Duration::from_millis(window_ms);
        let recent: Vec<Call> = ring.0.lock().iter().filter(|c| now.duration_since(c.at) <= window).copied().collect();
        summarise(&recent)
    }
}

fn summarise(recent: &[Call]) -> CredentialCalls {
    if recent.is_empty() {
        return CredentialCalls::default();
    }
    let mut ms: Vec<f64> = recent.iter().map(|c| c.ms).collect();
    ms.sort_by(f64::total_cmp);
    // Nearest rank: the smallest value with at least 99% of the calls at or below it.
    let idx = ((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len()) - 1;
    let errors = recent.iter().filter(|c| !c.ok).count();
    CredentialCalls {
        calls: recent.len(),
        error_rate: (errors as f64 / recent.len() as f64 * 1000.0).round() / 1000.0,
        p99_ms: Some((ms[idx] * 10.0).round() / 10.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank_and_the_ring_is_bounded() {
        let reg = LatencyRegistry::default();
        let ring = reg.ring(7);
        for i in 1..=100 {
            ring.record(i as f64, i % 10 != 0);
        }
        let h = reg.health(7, 60_000);
        assert_eq!((h.calls, h.error_rate, h.p99_ms), (100, 0.1, Some(99.0)));
        assert_eq!(reg.health(8, 60_000), CredentialCalls::default());
        for _ in 0..CALLS_KEPT + 10 {
            ring.record(1.0, true);
        }
        assert_eq!(reg.health(7, 60_000).calls, CALLS_KEPT);
        // The same credential's next actor keeps the ring.
        assert!(Arc::ptr_eq(&ring, &reg.ring(7)));
    }
}
