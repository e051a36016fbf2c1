//! Simulator settings ([`SimConfig`]) and scripted faults ([`FaultSpec`]): plain serde data,
//! validated here so the control plane and `Simulator::start` reject the same mistakes.

use super::graph::WhatsAppSimConfig;
use crate::domain::ProviderKind;
use serde::{Deserialize, Serialize};

/// How the simulator behaves. Every field has a default; JSON given to `POST /_sim/config` is
/// merged field by field over the current settings (or replaces them with `?replace=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of the RNG behind ids, jitter and random faults: same seed, same sequence.
    pub seed: u64,
    /// Fixed delay before every answer.
    pub latency_ms: u64,
    /// Uniform extra delay in `0..=latency_jitter_ms`.
    pub latency_jitter_ms: u64,
    /// Fraction of send requests answered with a 5xx (500, 502 or 503).
    pub error_rate: f64,
    /// Fraction answered with the provider's 429.
    pub throttle_rate: f64,
    /// Whether 429 answers carry `Retry-After` (most real providers here don't document one,
    /// so the engine must be tested both ways).
    pub retry_after: bool,
    /// The `Retry-After` value, in seconds.
    pub retry_after_secs: u64,
    /// Fraction of requests that hang for `hang_ms` before being answered (accept-then-hang:
    /// if the client waits that long it gets the normal answer, and the message exists).
    pub timeout_rate: f64,
    /// How long a hanging request hangs; longer than any sane client timeout.
    pub hang_ms: u64,
    /// Numbers (digits) ending with this are invalid: each provider's invalid-number answer.
    /// Empty disables the rule.
    pub invalid_number_suffix: String,
    /// How many raw requests to keep per provider for `GET /_sim/requests` (0 = none, for load tests).
    pub record_requests: usize,
    /// How many client ids (Unifonic `CorrelationID`, Infobip `messageId`) to remember for
    /// duplicate detection, per simulator (oldest forgotten first; 0 = no duplicate detection).
    pub dedup_window: usize,
    /// The Graph API simulator (Meta's WhatsApp Cloud API): templates, limits, webhooks.
    pub whatsapp: WhatsAppSimConfig,
    /// Whether accepted Twilio and Infobip sends that name a callback URL get delivery
    /// reports (see `sim::dlr`).
    pub dlr_enabled: bool,
    /// Delay before a message's reports are sent.
    pub dlr_delay_ms: u64,
    /// Uniform extra delay in `0..=dlr_jitter_ms`.
    pub dlr_jitter_ms: u64,
    /// Fraction of messages reported `undelivered` instead of `delivered`.
    pub dlr_undelivered_rate: f64,
    /// Fraction of messages whose final report is sent twice.
    pub dlr_duplicate_rate: f64,
    /// Fraction of (Twilio) messages whose final report comes before `sent`.
    pub dlr_reorder_rate: f64,
    /// Fraction of messages that get no report at all.
    pub dlr_loss_rate: f64,
    /// Infobip: at most this many reports in one POST (`results[]`), as Infobip batches
    /// reports that fall due together. 1 (the default) posts each report on its own.
    pub dlr_batch_max: usize,
    /// Infobip, with `dlr_batch_max` > 1: how long the first report of a batch waits for
    /// others to the same URL before the batch is posted.
    pub dlr_batch_linger_ms: u64,
    /// Fraction of the messages in a multi-message request answered with the provider's
    /// per-message server error (Infobip `REJECTED_SYSTEM_ERROR`, mShastra `013`): partial
    /// failures of batches. Providers whose answer has no per-message status ignore it.
    pub item_error_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0x5EED_1D00D,
            latency_ms: 0,
            latency_jitter_ms: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            retry_after: true,
            retry_after_secs: 1,
            timeout_rate: 0.0,
            hang_ms: 30_000,
            invalid_number_suffix: "0000".into(),
            record_requests: 64,
            dedup_window: 100_000,
            whatsapp: WhatsAppSimConfig::default(),
            dlr_enabled: true,
            dlr_delay_ms: 50,
            dlr_jitter_ms: 50,
            dlr_undelivered_rate: 0.0,
            dlr_duplicate_rate: 0.0,
            dlr_reorder_rate: 0.0,
            dlr_loss_rate: 0.0,
            dlr_batch_max: 1,
            dlr_batch_linger_ms: 20,
            item_error_rate: 0.0,
        }
    }
}

impl SimConfig {
    /// Reports every problem at once.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("timeout_rate", self.timeout_rate),
            ("dlr_undelivered_rate", self.dlr_undelivered_rate),
            ("dlr_duplicate_rate", self.dlr_duplicate_rate),
            ("dlr_reorder_rate", self.dlr_reorder_rate),
            ("dlr_loss_rate", self.dlr_loss_rate),
            ("item_error_rate", self.item_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                problems.push(format!("{name} must be between 0 and 1 (got {rate})"));
            }
        }
        let sum = self.error_rate + self.throttle_rate + self.timeout_rate;
        if sum > 1.0 + 1e-9 {
            problems.push(format!("error_rate + throttle_rate + timeout_rate must not exceed 1 (got {sum})"));
        }
        if !self.invalid_number_suffix.bytes().all(|b| b.is_ascii_digit()) {
            problems.push("invalid_number_suffix must be digits".into());
        }
        if !(1..=1000).contains(&self.dlr_batch_max) {
            problems.push(format!("dlr_batch_max must be between 1 and 1000 (got {})", self.dlr_batch_max));
        }
        if self.dlr_batch_linger_ms > 10_000 {
            problems.push(format!("dlr_batch_linger_ms must be at most 10000 (got {})", self.dlr_batch_linger_ms));
        }
        self.whatsapp.problems(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Overlays the fields present in `patch` (a JSON object) on these settings. Nested
    /// objects (`whatsapp`, its `phone_numbers`) merge field by field too; `null` resets a
    /// field to its default (and removes a phone number).
    pub fn merged(&self, patch: &serde_json::Value) -> Result<SimConfig, String> {
        if !patch.is_object() {
            return Err("settings must be a JSON object".into());
        }
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        deep_merge(&mut current, patch);
        let merged: SimConfig = serde_json::from_value(current).map_err(|e| e.to_string())?;
        merged.validate()?;
        Ok(merged)
    }

    /// Meta's WhatsApp behaviour (see [`WhatsAppSimConfig::meta`]) over the other defaults.
    pub fn meta_whatsapp() -> Self {
        SimConfig { whatsapp: WhatsAppSimConfig::meta(), ..SimConfig::default() }
    }
}

fn deep_merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match (t.get_mut(k), v) {
                    (_, serde_json::Value::Null) => {
                        t.remove(k);
                    }
                    (Some(existing @ serde_json::Value::Object(_)), serde_json::Value::Object(_)) => deep_merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// What a scripted fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// HTTP 500 with the provider's server-error body.
    Error500,
    /// The provider's 429 (with `Retry-After` when `retry_after` is on).
    Throttle,
    /// Hang for `hang_ms`, then answer normally (the client should have timed out).
    Timeout,
    /// The provider's authentication-failure answer.
    AuthError,
    /// The provider's body-level server error where it has one (mShastra `013`, Unifonic 599,
    /// Infobip `REJECTED_SYSTEM_ERROR`), else HTTP 500.
    ServerError,
    /// A request carrying several messages (and only such a request) is answered with the
    /// provider's per-message server error for every second message (the 2nd, 4th, …), the
    /// others accepted: Infobip `REJECTED_SYSTEM_ERROR`, mShastra `013`. Providers whose
    /// answer has no per-message status accept the request.
    PartialServerError,
}

/// A scripted fault: applies to requests of `provider` (a provider code, e.g. `twilio`) and/or
/// `credential` (the credential identity: username, apiKey, accountSid, appSid or appKey);
/// an omitted filter matches everything. `count` omitted = until cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    pub mode: FaultMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl FaultSpec {
    pub(crate) fn provider_kind(&self) -> Result<Option<ProviderKind>, String> {
        match &self.provider {
            None => Ok(None),
            Some(code) => ProviderKind::from_code(code).map(Some).ok_or_else(|| {
                let known: Vec<_> = ProviderKind::ALL.iter().map(|p| p.code()).collect();
                format!("unknown provider {code:?} (known: {})", known.join(", "))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_overlays_and_validates() {
        let base = SimConfig::default();
        let merged = base.merged(&json!({"latency_ms": 25, "retry_after": false})).unwrap();
        assert_eq!(merged.latency_ms, 25);
        assert!(!merged.retry_after);
        assert_eq!(merged.invalid_number_suffix, "0000", "untouched fields keep their value");
        assert!(base.merged(&json!({"error_rate": 1.5})).unwrap_err().contains("error_rate"));
        assert!(base.merged(&json!({"error_rate": 0.6, "throttle_rate": 0.6})).unwrap_err().contains("exceed"));
        assert!(base.merged(&json!({"latncy_ms": 1})).is_err(), "typos are rejected");
    }

    #[test]
    fn fault_specs_parse_like_the_control_plane_documents() {
        let f: FaultSpec = serde_json::from_value(json!({"provider":"twilio","credential":"AC1","mode":"error500","count":2})).unwrap();
        assert_eq!(f.mode, FaultMode::Error500);
        assert_eq!(f.provider_kind().unwrap(), Some(ProviderKind::Twilio));
        let f: FaultSpec = serde_json::from_value(json!({"mode":"auth_error"})).unwrap();
        assert_eq!((f.mode, f.count, f.provider_kind().unwrap()), (FaultMode::AuthError, None, None));
        let f: FaultSpec = serde_json::from_value(json!({"provider":"nope","mode":"throttle"})).unwrap();
        assert!(f.provider_kind().is_err());
    }
}
