//! The `[delivery]` section: validity periods and the expiry sweeper, and the parking of
//! delivery reports that come before the engine knows their message (`src/status/`).

use super::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Validity period of a message whose send and association name none (seconds). Not sent
    /// within it, a message is not sent at all; sent and not delivered within it, it ends
    /// `expired`. Counted from its scheduled time when it has one.
    pub default_validity_secs: u64,
    /// Longest `validityPeriod` a send or an association may ask for (seconds).
    pub max_validity_secs: u64,
    /// How often due validity deadlines are checked (milliseconds).
    pub expiry_sweep_ms: u64,
    /// How long after its deadline a sent message waits for a late report before it is
    /// marked `expired` (milliseconds): the provider's own expiry report usually comes then.
    pub expiry_grace_ms: u64,
    /// How long a report for a provider id the engine does not know yet is kept, waiting for
    /// the engine's `sent` commit that names the id (milliseconds); then dropped and counted
    /// as unknown.
    pub early_report_ttl_ms: u64,
    /// At most this many such reports are kept; past it, new ones count as unknown at once.
    pub early_report_max: usize,
    /// How often kept reports are matched against newly recorded provider ids (milliseconds).
    pub early_report_scan_ms: u64,
    /// A message with fallback channels left whose delivery report says `undelivered` or
    /// `failed` within this long of its acceptance goes on to its next channel (an OTP's SMS
    /// becoming a call); later reports just end it (milliseconds; 0 = never on a report).
    pub report_fallback_within_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            default_validity_secs: 172_800,
            max_validity_secs: 604_800,
            expiry_sweep_ms: 1_000,
            expiry_grace_ms: 60_000,
            early_report_ttl_ms: 600_000,
            early_report_max: 100_000,
            early_report_scan_ms: 250,
            report_fallback_within_ms: 300_000,
        }
    }
}

pub(super) fn validate(c: &Config, problems: &mut Vec<String>) {
    let d = &c.delivery;
    if d.default_validity_secs == 0 || d.default_validity_secs > d.max_validity_secs {
        problems.push("delivery.default_validity_secs: must be between 1 and delivery.max_validity_secs".into());
    }
    if d.max_validity_secs > u64::from(u32::MAX) {
        problems.push(format!("delivery.max_validity_secs: must be at most {}", u32::MAX));
    }
    if d.expiry_sweep_ms == 0 || d.early_report_scan_ms == 0 {
        problems.push("delivery.expiry_sweep_ms and delivery.early_report_scan_ms: must be greater than 0".into());
    }
    if d.early_report_max > 10_000_000 {
        problems.push("delivery.early_report_max: must be at most 10000000".into());
    }
}
