//! The protection sections of the configuration: per-IP rate limits, Redis coordination
//! and idempotency keys (with `server.client_ip` / `server.trusted_proxies`, validated here
//! too). Kept apart from `config.rs` only for size; `Config` holds them like any section.

use super::Config;
use serde::{Deserialize, Serialize};

/// Per-IP limits on the send endpoints (documented: 100/min single, 10/min bulk). A request
/// is refused when the client already made `*_per_minute` accepted requests within the last
/// 60 seconds (a sliding window: no double bursts at minute edges).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// `POST /api/v1/webhook/notification`, requests per minute per client address.
    pub notification_per_minute: u32,
    /// `POST /api/v1/webhook/bulk`, requests per minute per client address.
    pub bulk_per_minute: u32,
    /// `POST /api/v1/dashboard/auth/login`, attempts per minute per client address.
    pub login_per_minute: u32,
    /// IPv6 clients are counted per network of this prefix length (a host usually owns a /64).
    pub ipv6_prefix_len: u8,
}

/// Redis coordination (cluster-wide limits, idempotency keys, replay protection). An empty
/// `url` means not configured: everything runs in-process.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; prefer `JOOD__REDIS__URL` when it holds a password.
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Longest wait for one Redis call (and for connecting) before falling back to local limits.
    pub timeout_ms: u64,
    /// While Redis is unreachable, how often to check whether it is back.
    pub probe_interval_ms: u64,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show only the part after the credentials.
        let url = match self.url.rsplit_once('@') {
            Some((scheme_and_auth, host)) => format!("{}://***@{host}", scheme_and_auth.split("://").next().unwrap_or("redis")),
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &url)
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("probe_interval_ms", &self.probe_interval_ms)
            .finish()
    }
}

/// Idempotency keys on the signed sends (`Idempotency-Key` header or `idempotencyKey` field).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// How long a key's first answer is kept and replayed (seconds).
    pub ttl_seconds: u64,
    /// Keys remembered in-process (no Redis, or Redis down); the oldest go first beyond it.
    pub local_max_entries: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { enabled: true, notification_per_minute: 100, bulk_per_minute: 10, login_per_minute: 10, ipv6_prefix_len: 64 }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { url: String::new(), key_prefix: "jood:".into(), timeout_ms: 250, probe_interval_ms: 1_000 }
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self { ttl_seconds: 86_400, local_max_entries: 100_000 }
    }
}

/// Problems of the protection settings, each naming its key.
pub(super) fn validate(c: &Config, problems: &mut Vec<String>) {
    if let Err(e) = crate::auth::ip::ClientIpSource::from_config(&c.server.client_ip, &c.server.trusted_proxies) {
        problems.push(e);
    }
    let r = &c.rate_limit;
    for (key, v) in [
        ("rate_limit.notification_per_minute", r.notification_per_minute),
        ("rate_limit.bulk_per_minute", r.bulk_per_minute),
        ("rate_limit.login_per_minute", r.login_per_minute),
    ] {
        // The sliding window keeps one timestamp per accepted request: bound it.
        if v == 0 || v > 100_000 {
            problems.push(format!("{key}: must be between 1 and 100000"));
        }
    }
    if r.ipv6_prefix_len == 0 || r.ipv6_prefix_len > 128 {
        problems.push("rate_limit.ipv6_prefix_len: must be between 1 and 128".into());
    }
    let redis = &c.redis;
    if !redis.url.trim().is_empty() {
        // The parser's message may quote the URL and its password: say what is expected instead.
        if redis::Client::open(redis.url.trim()).is_err() {
            problems.push("redis.url: not a Redis URL (redis://[:password@]host:port[/db])".into());
        }
    }
    if redis.timeout_ms == 0 {
        problems.push("redis.timeout_ms: must be greater than 0".into());
    }
    if redis.probe_interval_ms == 0 {
        problems.push("redis.probe_interval_ms: must be greater than 0".into());
    }
    if c.idempotency.ttl_seconds == 0 {
        problems.push("idempotency.ttl_seconds: must be greater than 0".into());
    }
    if c.idempotency.local_max_entries == 0 {
        problems.push("idempotency.local_max_entries: must be greater than 0".into());
    }
}
