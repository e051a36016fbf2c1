//! The Redis coordination backend: cluster-wide rate limits, idempotency entries and
//! replay markers, shared by every engine pointing at one Redis.
//!
//! Each multi-step operation is one Lua script from `lua/`, so it is atomic on the server;
//! scripts run by SHA (`EVALSHA`) and are loaded again when Redis answers `NOSCRIPT` (after
//! a restart or `SCRIPT FLUSH`), which `redis::Script` does. Every call is bounded by
//! `redis.timeout_ms`: a slow or dead Redis costs a request at most that long, then the
//! coordinator falls back to its in-process backends.

use super::{CoordError, Permits, RateDecision};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct RedisBackend {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    sliding_window: Script,
    gcra: Script,
    idem_claim: Script,
    idem_finish: Script,
    /// Makes sliding-window members unique across engines and requests.
    instance: u64,
    seq: AtomicU64,
}

impl RedisBackend {
    /// Prepares a lazily connecting client: nothing is sent until the first call, so an
    /// engine starts even while Redis is down.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CoordError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // One connection attempt per use: the coordinator's prober decides when to try
            // again, rather than commands queueing behind a backoff loop.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let mut instance = [0u8; 8];
        getrandom::fill(&mut instance).map_err(|e| CoordError::Protocol(format!("no random source: {e}")))?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            timeout,
            sliding_window: Script::new(include_str!("lua/sliding_window.lua")),
            gcra: Script::new(include_str!("lua/gcra.lua")),
            idem_claim: Script::new(include_str!("lua/idempotency_claim.lua")),
            idem_finish: Script::new(include_str!("lua/idempotency_finish.lua")),
            instance: u64::from_le_bytes(instance),
            seq: AtomicU64::new(0),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// Runs one call with the timeout.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, CoordError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(CoordError::from),
            Err(_) => Err(CoordError::Timeout(self.timeout)),
        }
    }

    pub async fn ping(&self) -> Result<(), CoordError> {
        let mut conn = self.conn.clone();
        let pong: String = self.bounded(redis::cmd("PING").query_async(&mut conn)).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CoordError::Protocol(format!("PING answered {pong:?}")))
        }
    }

    pub async fn rate_limit(&self, key: &str, limit: u32, window_ms: u64) -> Result<RateDecision, CoordError> {
        let member = format!("{:x}-{:x}", self.instance, self.seq.fetch_add(1, Ordering::Relaxed));
        let mut conn = self.conn.clone();
        let (allowed, wait_ms): (i64, i64) = self
            .bounded(self.sliding_window.key(self.key(key)).arg(limit).arg(window_ms).arg(member).invoke_async(&mut conn))
            .await?;
        Ok(if allowed == 1 { RateDecision::Allowed } else { RateDecision::Limited { retry_after_ms: wait_ms.max(1) as u64 } })
    }

    /// Up to `want` permits of a GCRA limiter at `rate_per_second` with `burst`.
    pub async fn acquire(&self, key: &str, rate_per_second: f64, burst: f64, want: u32) -> Result<Permits, CoordError> {
        let interval_us = (1_000_000.0 / rate_per_second.max(0.001)).round().max(1.0) as u64;
        let mut conn = self.conn.clone();
        let (granted, wait_ms): (i64, i64) = self
            .bounded(self.gcra.key(self.key(key)).arg(interval_us).arg(burst.max(1.0)).arg(want.max(1)).invoke_async(&mut conn))
            .await?;
        Ok(if granted > 0 { Permits::Granted(granted as u32) } else { Permits::Wait(Duration::from_millis(wait_ms.max(1) as u64)) })
    }

    /// Claims `key` with `marker`; `None` when claimed, else the value already there.
    pub async fn claim(&self, key: &str, marker: &str, pending_ms: u64) -> Result<Option<String>, CoordError> {
        let mut conn = self.conn.clone();
        let reply: Vec<redis::Value> = self
            .bounded(self.idem_claim.key(self.key(key)).arg(marker).arg(pending_ms.max(1)).invoke_async(&mut conn))
            .await?;
        match reply.as_slice() {
            [redis::Value::Int(0)] => Ok(None),
            [redis::Value::Int(1), value] => Ok(Some(redis::from_redis_value_ref(value)?)),
            other => Err(CoordError::Protocol(format!("idempotency claim answered {other:?}"))),
        }
    }

    /// Replaces our `marker` by `value` (kept `ttl_ms`), or deletes it when `value` is empty.
    pub async fn finish(&self, key: &str, marker: &str, value: &str, ttl_ms: u64) -> Result<(), CoordError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .bounded(self.idem_finish.key(self.key(key)).arg(marker).arg(value).arg(ttl_ms.max(1)).invoke_async(&mut conn))
            .await?;
        Ok(())
    }

    /// `SET key 1 NX PX ttl`: true when the key was not there (first use).
    pub async fn set_once(&self, key: &str, ttl_ms: u64) -> Result<bool, CoordError> {
        let mut conn = self.conn.clone();
        let reply: Option<String> = self
            .bounded(redis::cmd("SET").arg(self.key(key)).arg(1).arg("NX").arg("PX").arg(ttl_ms.max(1)).query_async(&mut conn))
            .await?;
        Ok(reply.is_some())
    }
}
