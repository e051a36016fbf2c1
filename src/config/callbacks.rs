//! The `[callbacks]` section: customer status callbacks (the outbox sender in
//! `src/callbacks/`). Kept apart from `config.rs` only for size.

use super::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Deliver the outbox. Off: status changes still queue their callbacks durably, and they
    /// go out once it is turned on again.
    pub enabled: bool,
    /// Allow callback URLs whose host is (or resolves to) a loopback, private, link-local or
    /// unspecified address. Off in production (no SSRF); tests turn it on.
    pub allow_private_targets: bool,
    /// Timeout of one callback POST, connect included (milliseconds).
    pub timeout_ms: u64,
    /// How long a callback is retried after its status change before it is given up (milliseconds).
    pub max_age_ms: u64,
    /// First retry delay; doubles per attempt, with jitter (milliseconds).
    pub backoff_base_ms: u64,
    /// Longest retry delay, `Retry-After` included (milliseconds).
    pub backoff_max_ms: u64,
    /// Callbacks of one association in flight at once: a slow endpoint delays only its own.
    pub per_association_concurrency: usize,
    /// Due rows read per association per scan.
    pub batch: usize,
    /// How long delivery attempts stay listed (`GET /api/v1/associations/:id/callbacks`);
    /// older rows are pruned once a minute (milliseconds).
    pub attempts_retention_ms: u64,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_targets: false,
            timeout_ms: 10_000,
            max_age_ms: 86_400_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 3_600_000,
            per_association_concurrency: 16,
            batch: 64,
            attempts_retention_ms: 604_800_000,
        }
    }
}

pub(super) fn validate(c: &Config, problems: &mut Vec<String>) {
    let cb = &c.callbacks;
    if cb.timeout_ms == 0 {
        problems.push("callbacks.timeout_ms: must be greater than 0".into());
    }
    if cb.backoff_base_ms == 0 || cb.backoff_max_ms < cb.backoff_base_ms {
        problems.push("callbacks.backoff_base_ms and callbacks.backoff_max_ms: need 0 < base <= max".into());
    }
    if cb.per_association_concurrency == 0 || cb.per_association_concurrency > 1024 {
        problems.push("callbacks.per_association_concurrency: must be between 1 and 1024".into());
    }
    if cb.attempts_retention_ms < 60_000 {
        problems.push("callbacks.attempts_retention_ms: must be at least 60000 (one minute)".into());
    }
    if cb.batch == 0 || cb.batch > 10_000 {
        problems.push("callbacks.batch: must be between 1 and 10000".into());
    }
}
