//! Whether Redis is usable right now. A failed call marks it down (logged once, not per
//! request, and shown by `jood_redis_up`); while down, calls go to the in-process backends
//! without touching Redis, and a background probe marks it up again once it answers.

use super::redis_backend::RedisBackend;
use super::CoordError;
use crate::telemetry::{REDIS_FALLBACKS_TOTAL, REDIS_UP};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Health {
    up: AtomicBool,
}

impl Health {
    pub fn new(up: bool) -> Self {
        metrics::gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
        Self { up: AtomicBool::new(up) }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A call failed: fall back. Only the transition is logged.
    pub fn failed(&self, op: &'static str, err: &CoordError) {
        if self.up.swap(false, Ordering::Relaxed) {
            metrics::gauge!(REDIS_UP).set(0.0);
            tracing::warn!(error = %err, op, "redis unreachable: using in-process rate limits, idempotency keys and replay protection until it answers again");
        }
        self.fell_back(op);
    }

    /// An operation served in-process because Redis is down.
    pub fn fell_back(&self, op: &'static str) {
        metrics::counter!(REDIS_FALLBACKS_TOTAL, "op" => op).increment(1);
    }

    pub fn recovered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            metrics::gauge!(REDIS_UP).set(1.0);
            tracing::info!("redis reachable again: cluster-wide limits, idempotency keys and replay protection restored");
        }
    }

    /// While down, pings every `interval` until stopped. (While up, failing calls notice.)
    pub fn spawn_probe(self: &Arc<Self>, backend: Arc<RedisBackend>, interval: Duration, stop: CancellationToken) {
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if !health.is_up() && backend.ping().await.is_ok() {
                    health.recovered();
                }
            }
        });
    }
}
