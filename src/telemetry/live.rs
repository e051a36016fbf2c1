//! A tap on the metrics facade for the console's provider health: the installed recorder
//! forwards everything to Prometheus and, for two series, also keeps the values in memory
//! where the engine can read them back (the Prometheus handle can only render text, and the
//! console must not scrape `/metrics`):
//!
//! * `jood_provider_call_duration_seconds` (by provider and outcome): the last
//!   [`LATENCY_SAMPLES`] calls per provider with their time, for a p99 and an error rate
//!   over a recent window;
//! * `jood_credential_calls_in_flight` (by provider, and credential when labelled): the
//!   current value.
//!
//! Costs one short mutex section per provider call; every other series is untouched.

use metrics::{Counter, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// Recent provider calls kept per provider.
pub const LATENCY_SAMPLES: usize = 2_048;

/// One provider call: when it ended (ms since the tap started), seconds, and whether it failed.
#[derive(Clone, Copy)]
struct Call {
    at_ms: u64,
    secs: f64,
    ok: bool,
}

#[derive(Default)]
struct Taps {
    calls: Mutex<HashMap<String, VecDeque<Call>>>,
    /// (provider, credential or "") to the gauge's value (f64 bits).
    in_flight: Mutex<HashMap<(String, String), Arc<AtomicU64>>>,
}

static TAPS: LazyLock<Taps> = LazyLock::new(Taps::default);
static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    STARTED.elapsed().as_millis() as u64
}

/// Health of one provider's recent calls.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallHealth {
    pub calls: usize,
    /// Share of calls that were not accepted (throttled, transient, rejected…), 0 to 1.
    pub error_rate: f64,
    pub p99_ms: Option<f64>,
}

/// The provider calls that ended within the last `window_ms`.
pub fn call_health(provider: &str, window_ms: u64) -> CallHealth {
    let since = now_ms().saturating_sub(window_ms);
    let calls = TAPS.calls.lock();
    let Some(ring) = calls.get(provider) else { return CallHealth::default() };
    let recent: Vec<Call> = ring.iter().filter(|c| c.at_ms >= since).copied().collect();
    if recent.is_empty() {
        return CallHealth::default();
    }
    let mut secs: Vec<f64> = recent.iter().map(|c| c.secs).collect();
    secs.sort_by(f64::total_cmp);
    let idx = ((secs.len() as f64 * 0.99).ceil() as usize).clamp(1, secs.len()) - 1;
    let errors = recent.iter().filter(|c| !c.ok).count();
    CallHealth {
        calls: recent.len(),
        error_rate: (errors as f64 / recent.len() as f64 * 1000.0).round() / 1000.0,
        p99_ms: Some((secs[idx] * 1000.0 * 10.0).round() / 10.0),
    }
}

/// Provider calls in flight now: of one credential when the series carry credential ids
/// (`metrics.per_credential_labels`), else of the provider (then `per_credential` is false).
pub fn in_flight(provider: &str, credential_id: i64) -> (f64, bool) {
    let map = TAPS.in_flight.lock();
    if let Some(v) = map.get(&(provider.to_string(), credential_id.to_string())) {
        return (f64::from_bits(v.load(Ordering::Relaxed)), true);
    }
    let v = map.get(&(provider.to_string(), String::new())).map(|v| f64::from_bits(v.load(Ordering::Relaxed))).unwrap_or(0.0);
    (v, false)
}

fn label<'a>(key: &'a Key, name: &str) -> Option<&'a str> {
    key.labels().find(|l| l.key() == name).map(|l| l.value())
}

/// Forwards to the wrapped recorder; taps the two series above.
pub struct Tee<R> {
    pub inner: R,
}

struct TapHistogram {
    inner: Histogram,
    provider: String,
    ok: bool,
}

impl HistogramFn for TapHistogram {
    fn record(&self, value: f64) {
        self.inner.record(value);
        let mut calls = TAPS.calls.lock();
        let ring = calls.entry(self.provider.clone()).or_default();
        ring.push_back(Call { at_ms: now_ms(), secs: value, ok: self.ok });
        if ring.len() > LATENCY_SAMPLES {
            ring.pop_front();
        }
    }
}

struct TapGauge {
    inner: Gauge,
    value: Arc<AtomicU64>,
}

impl TapGauge {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self.value.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(f(f64::from_bits(b)).to_bits()));
    }
}

impl GaugeFn for TapGauge {
    fn increment(&self, value: f64) {
        self.inner.increment(value);
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.inner.decrement(value);
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.inner.set(value);
        self.value.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl<R: Recorder> Recorder for Tee<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let inner = self.inner.register_gauge(key, metadata);
        if key.name() != super::CREDENTIAL_IN_FLIGHT {
            return inner;
        }
        let id = (label(key, "provider").unwrap_or("none").to_string(), label(key, "credential").unwrap_or("").to_string());
        let value = TAPS.in_flight.lock().entry(id).or_default().clone();
        Gauge::from_arc(Arc::new(TapGauge { inner, value }))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let inner = self.inner.register_histogram(key, metadata);
        if key.name() != super::PROVIDER_CALL_SECONDS {
            return inner;
        }
        let provider = label(key, "provider").unwrap_or("none").to_string();
        // Dispatch labels a call the provider accepted `sent`.
        let ok = label(key, "outcome") == Some("sent");
        Histogram::from_arc(Arc::new(TapHistogram { inner, provider, ok }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_keeps_latency_errors_and_in_flight_while_forwarding() {
        let tee = Tee { inner: metrics::NoopRecorder };
        metrics::with_local_recorder(&tee, || {
            for i in 1..=100 {
                metrics::histogram!(super::super::PROVIDER_CALL_SECONDS, "provider" => "tap-test", "outcome" => "sent").record(i as f64 / 1000.0);
            }
            metrics::histogram!(super::super::PROVIDER_CALL_SECONDS, "provider" => "tap-test", "outcome" => "transient").record(0.5);
            let g = metrics::gauge!(super::super::CREDENTIAL_IN_FLIGHT, "provider" => "tap-test");
            g.increment(3.0);
            g.decrement(1.0);
        });
        let h = call_health("tap-test", 60_000);
        assert_eq!(h.calls, 101);
        assert_eq!(h.error_rate, 0.01);
        assert_eq!(h.p99_ms, Some(100.0));
        assert_eq!(in_flight("tap-test", 7), (2.0, false));
        assert_eq!(call_health("nobody", 60_000), CallHealth::default());
    }
}
