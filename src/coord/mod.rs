//! Coordination between engines: per-IP API rate limits, per-credential provider rate
//! limits, idempotency keys and webhook replay protection.
//!
//! With `redis.url` set these are cluster-wide, kept in Redis (`redis_backend.rs`, scripts in
//! `lua/`); without it they run in-process (`local.rs`, `auth::replay`). If Redis becomes
//! unreachable the engine keeps accepting and sending on the in-process backends (limits
//! then hold per engine rather than per cluster), logs the change once, shows it in
//! `jood_redis_up`, and returns to Redis when it answers (`health.rs`). No request waits on
//! Redis longer than `redis.timeout_ms`.
//!
//! Callers get decisions, never Redis errors: falling back is this module's job.
//! Depends on `config`, `auth::replay` and `telemetry`; knows nothing of HTTP or actors.

mod health;
pub mod lease;
pub mod local;
mod redis_backend;

use crate::auth::replay::ReplayGuard;
use crate::config::{IdempotencyConfig, RedisConfig};
use health::Health;
use local::{LocalIdempotency, SlidingWindow};
use redis_backend::RedisBackend;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why a Redis call failed (internal: the coordinator falls back instead of returning it).
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("unexpected redis answer: {0}")]
    Parse(#[from] redis::ParsingError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Protocol(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after_ms: u64 },
}

/// Permission for provider calls of one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permits {
    /// This many calls may start now.
    Granted(u32),
    /// None now; ask again after this long.
    Wait(Duration),
    /// No shared limiter (not configured or unreachable): use the in-process bucket.
    Local,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug)]
pub enum Claim<T> {
    /// This request owns the key: run it, then [`Coordinator::idempotency_finish`].
    Claimed(T),
    /// A request with this key already finished: its answer.
    Done(StoredAnswer),
    /// A request with this key is still running.
    InProgress,
}

/// The answer given to the first request with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    /// SHA-256 (hex) of the request, so a key reused for another request is noticed.
    pub fingerprint: String,
    /// The response body, byte for byte.
    pub body: String,
}

/// Proof of a claim, naming where it was made so it is finished there.
#[derive(Debug)]
pub struct ClaimToken {
    key: String,
    backend: ClaimBackend,
}

#[derive(Debug)]
enum ClaimBackend {
    Local(u64),
    Redis(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisStatus {
    NotConfigured,
    Up,
    Down,
}

impl RedisStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisStatus::NotConfigured => "not_configured",
            RedisStatus::Up => "up",
            RedisStatus::Down => "down",
        }
    }
}

const PENDING: &str = "p:";
const DONE: &str = "d:";

pub struct Coordinator {
    redis: Option<(Arc<RedisBackend>, Arc<Health>)>,
    limiter: SlidingWindow,
    idempotency: LocalIdempotency,
    idempotency_ttl: Duration,
    replay: ReplayGuard,
    replay_window_ms: i64,
    /// The in-process backends' clock.
    epoch: Instant,
    /// Makes pending markers unique across engines and requests.
    instance: u64,
    seq: AtomicU64,
}

impl Coordinator {
    /// In-process only (no Redis).
    pub fn in_process(idempotency: &IdempotencyConfig, replay_window_ms: i64) -> Self {
        let mut instance = [0u8; 8];
        getrandom::fill(&mut instance).expect("OS random source");
        Self {
            redis: None,
            limiter: SlidingWindow::default(),
            idempotency: LocalIdempotency::new(idempotency.local_max_entries),
            idempotency_ttl: Duration::from_secs(idempotency.ttl_seconds),
            replay: ReplayGuard::new(replay_window_ms),
            replay_window_ms,
            epoch: Instant::now(),
            instance: u64::from_le_bytes(instance),
            seq: AtomicU64::new(0),
        }
    }

    /// With Redis when `redis.url` is set. Starts even if Redis is unreachable (it is then
    /// probed every `redis.probe_interval_ms` until `stop`).
    pub async fn start(redis: &RedisConfig, idempotency: &IdempotencyConfig, replay_window_ms: i64, stop: CancellationToken) -> anyhow::Result<Self> {
        let mut this = Self::in_process(idempotency, replay_window_ms);
        let url = redis.url.trim();
        if url.is_empty() {
            return Ok(this);
        }
        let backend = Arc::new(
            RedisBackend::new(url, &redis.key_prefix, Duration::from_millis(redis.timeout_ms))
                .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?,
        );
        let up = match backend.ping().await {
            Ok(()) => {
                tracing::info!(redis = ?redis, "redis connected: rate limits, idempotency keys and replay protection are cluster-wide");
                true
            }
            Err(e) => {
                tracing::warn!(redis = ?redis, error = %e, "redis unreachable at start: using in-process backends until it answers");
                false
            }
        };
        let health = Arc::new(Health::new(up));
        health.spawn_probe(backend.clone(), Duration::from_millis(redis.probe_interval_ms), stop);
        this.redis = Some((backend, health));
        Ok(this)
    }

    pub fn redis_status(&self) -> RedisStatus {
        match &self.redis {
            None => RedisStatus::NotConfigured,
            Some((_, h)) if h.is_up() => RedisStatus::Up,
            Some(_) => RedisStatus::Down,
        }
    }

    /// Asks Redis now (a PING bounded by `redis.timeout_ms`), for readiness checks. An answer
    /// also ends a fallback at once rather than at the next probe.
    pub async fn probe_redis(&self) -> RedisStatus {
        match &self.redis {
            None => RedisStatus::NotConfigured,
            Some((backend, health)) => match backend.ping().await {
                Ok(()) => {
                    health.recovered();
                    RedisStatus::Up
                }
                Err(_) => RedisStatus::Down,
            },
        }
    }

    /// Redis when configured and up; otherwise counts a fallback (when configured).
    fn usable(&self, op: &'static str) -> Option<(&RedisBackend, &Health)> {
        let (backend, health) = self.redis.as_ref()?;
        if health.is_up() {
            Some((backend, health))
        } else {
            health.fell_back(op);
            None
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// One request against `limit` per `window` for `key` (e.g. a route class and an IP).
    pub async fn rate_limit(&self, key: &str, limit: u32, window: Duration) -> RateDecision {
        let window_ms = window.as_millis() as u64;
        if let Some((r, health)) = self.usable("rate_limit") {
            match r.rate_limit(&format!("rl:{key}"), limit, window_ms).await {
                Ok(d) => return d,
                Err(e) => health.failed("rate_limit", &e),
            }
        }
        self.limiter.check(key, limit, window_ms, self.now_ms())
    }

    /// Whether provider rate limits are shared through Redis right now; when false the
    /// credential actor uses its in-process token bucket.
    pub fn shares_credential_limits(&self) -> bool {
        self.redis.as_ref().is_some_and(|(_, h)| h.is_up())
    }

    /// Up to `want` call permits of a credential limited to `rate_per_second` (with one
    /// second of burst, as the in-process bucket), shared by every engine.
    pub async fn acquire_credential(&self, credential_id: i64, rate_per_second: f64, want: u32) -> Permits {
        let Some((r, health)) = self.usable("credential_limit") else { return Permits::Local };
        match r.acquire(&format!("cred:{credential_id}"), rate_per_second, rate_per_second.max(1.0), want).await {
            Ok(p) => p,
            Err(e) => {
                health.failed("credential_limit", &e);
                Permits::Local
            }
        }
    }

    /// Claims an idempotency key (already scoped by the caller, e.g. by association). A
    /// claim not finished within `pending` (the request died) lapses so a retry can run.
    pub async fn idempotency_claim(&self, key: &str, pending: Duration) -> Claim<ClaimToken> {
        let key = format!("idem:{key}");
        if let Some((r, health)) = self.usable("idempotency") {
            let marker = format!("{PENDING}{:x}-{:x}", self.instance, self.seq.fetch_add(1, Ordering::Relaxed));
            match r.claim(&key, &marker, pending.as_millis() as u64).await.and_then(|v| parse_entry(v.as_deref())) {
                Ok(None) => return Claim::Claimed(ClaimToken { key, backend: ClaimBackend::Redis(marker) }),
                Ok(Some(Some(answer))) => return Claim::Done(answer),
                Ok(Some(None)) => return Claim::InProgress,
                Err(e) => health.failed("idempotency", &e),
            }
        }
        let now = self.now_ms();
        match self.idempotency.claim(&key, now, now + pending.as_millis() as u64) {
            Claim::Claimed(t) => Claim::Claimed(ClaimToken { key, backend: ClaimBackend::Local(t) }),
            Claim::Done(a) => Claim::Done(a),
            Claim::InProgress => Claim::InProgress,
        }
    }

    /// Keeps `answer` for the key's time to live, or releases the key (`None`) so a retry
    /// runs again (for answers a retry may change, such as 5xx).
    pub async fn idempotency_finish(&self, token: ClaimToken, answer: Option<StoredAnswer>) {
        let ttl_ms = self.idempotency_ttl.as_millis() as u64;
        match token.backend {
            ClaimBackend::Local(t) => self.idempotency.finish(&token.key, t, answer, self.now_ms() + ttl_ms),
            ClaimBackend::Redis(marker) => {
                let value = match &answer {
                    Some(a) => format!("{DONE}{}", serde_json::to_string(a).expect("answer serialises")),
                    None => String::new(),
                };
                let Some((r, health)) = self.redis.as_ref() else { return };
                if let Err(e) = r.finish(&token.key, &marker, &value, ttl_ms).await {
                    health.failed("idempotency", &e);
                    // Keep the answer here at least, so retries reaching this engine get it.
                    if let Some(answer) = answer {
                        let now = self.now_ms();
                        if let Claim::Claimed(t) = self.idempotency.claim(&token.key, now, now + 1) {
                            self.idempotency.finish(&token.key, t, Some(answer), now + ttl_ms);
                        }
                    }
                }
            }
        }
    }

    /// Records a verified webhook signature; false when it was seen before (a replay).
    /// Always recorded in-process too, so a replay to this engine is caught even while
    /// Redis is down.
    pub async fn first_use_signature(&self, signature: &[u8; 32], timestamp_ms: i64, now_ms: i64) -> bool {
        let local_first = self.replay.first_use(signature, timestamp_ms, now_ms);
        if let Some((r, health)) = self.usable("replay") {
            // The signature can be presented until its timestamp leaves the window.
            let ttl = (timestamp_ms + self.replay_window_ms - now_ms).max(0) as u64 + 1_000;
            match r.set_once(&format!("replay:{}", hex::encode(signature)), ttl).await {
                Ok(first) => return first && local_first,
                Err(e) => health.failed("replay", &e),
            }
        }
        local_first
    }
}

/// A stored idempotency entry: `None` when absent, `Some(None)` pending, `Some(Some(a))` done.
fn parse_entry(value: Option<&str>) -> Result<Option<Option<StoredAnswer>>, CoordError> {
    let Some(v) = value else { return Ok(None) };
    if v.starts_with(PENDING) {
        return Ok(Some(None));
    }
    let json = v.strip_prefix(DONE).ok_or_else(|| CoordError::Protocol("unknown idempotency entry".into()))?;
    serde_json::from_str(json).map(|a| Some(Some(a))).map_err(|e| CoordError::Protocol(format!("idempotency entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coord() -> Coordinator {
        Coordinator::in_process(&IdempotencyConfig::default(), 300_000)
    }

    #[tokio::test]
    async fn in_process_backends_answer() {
        let c = coord();
        assert_eq!(c.redis_status(), RedisStatus::NotConfigured);
        assert!(!c.shares_credential_limits());
        assert_eq!(c.acquire_credential(1, 10.0, 5).await, Permits::Local);
        let w = Duration::from_secs(60);
        assert_eq!(c.rate_limit("x", 1, w).await, RateDecision::Allowed);
        assert!(matches!(c.rate_limit("x", 1, w).await, RateDecision::Limited { retry_after_ms } if retry_after_ms > 59_000));

        let Claim::Claimed(token) = c.idempotency_claim("1:k", Duration::from_secs(5)).await else { panic!("claim") };
        assert!(matches!(c.idempotency_claim("1:k", Duration::from_secs(5)).await, Claim::InProgress));
        let answer = StoredAnswer { status: 200, fingerprint: "ab".into(), body: "{}".into() };
        c.idempotency_finish(token, Some(answer.clone())).await;
        assert!(matches!(c.idempotency_claim("1:k", Duration::from_secs(5)).await, Claim::Done(a) if a == answer));

        let now = crate::domain::now_ms();
        assert!(c.first_use_signature(&[7; 32], now, now).await);
        assert!(!c.first_use_signature(&[7; 32], now, now).await);
    }

    #[test]
    fn stored_entries_parse() {
        assert!(matches!(parse_entry(None), Ok(None)));
        assert!(matches!(parse_entry(Some("p:abc")), Ok(Some(None))));
        let a = StoredAnswer { status: 400, fingerprint: "f".into(), body: "{\"success\":false}".into() };
        let v = format!("{DONE}{}", serde_json::to_string(&a).unwrap());
        assert!(matches!(parse_entry(Some(&v)), Ok(Some(Some(b))) if b == a));
        assert!(parse_entry(Some("zzz")).is_err());
    }
}
