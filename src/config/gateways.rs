//! The `[gateways]` section: the WhatsApp gateways of seeds 001 (the WA-Web multi-client
//! gateway) and 002 (Sidobe): Sidobe's lost-webhook reconciliation and check-number cache,
//! and the WA-Web gateway's client-status polling. Kept apart from `config.rs` for size.

use super::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaysConfig {
    /// A Sidobe message without a final status webhook this long after it was sent is looked
    /// up with `GET /whatsapp-messages/:id` (milliseconds).
    pub sidobe_reconcile_after_ms: u64,
    /// How often the reconciler looks for such messages (milliseconds).
    pub sidobe_reconcile_interval_ms: u64,
    /// Sidobe messages followed at once; beyond it the oldest are dropped (memory stays bounded).
    pub sidobe_reconcile_max: usize,
    /// How long a check-number answer is reused for the same association and number (milliseconds).
    pub check_number_cache_ms: u64,
    /// How often each WA-Web gateway credential's client status is polled (milliseconds).
    pub waweb_client_poll_ms: u64,
}

impl Default for GatewaysConfig {
    fn default() -> Self {
        Self {
            sidobe_reconcile_after_ms: 300_000,
            sidobe_reconcile_interval_ms: 30_000,
            sidobe_reconcile_max: 100_000,
            check_number_cache_ms: 3_600_000,
            waweb_client_poll_ms: 30_000,
        }
    }
}

pub(super) fn validate(c: &Config, problems: &mut Vec<String>) {
    let g = &c.gateways;
    for (key, v) in [
        ("gateways.sidobe_reconcile_after_ms", g.sidobe_reconcile_after_ms),
        ("gateways.sidobe_reconcile_interval_ms", g.sidobe_reconcile_interval_ms),
        ("gateways.waweb_client_poll_ms", g.waweb_client_poll_ms),
    ] {
        if v == 0 {
            problems.push(format!("{key}: must be greater than 0"));
        }
    }
    if g.sidobe_reconcile_max == 0 {
        problems.push("gateways.sidobe_reconcile_max: must be greater than 0".into());
    }
}
