//! The Graph API simulator's settings: the `whatsapp` section of [`crate::sim::SimConfig`]
//! (plain serde data, merged field by field through `POST /_sim/config`) and its validation.
//! Depends on nothing else in the simulator.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One business phone number, keyed by its phone number id in [`WhatsAppSimConfig::phone_numbers`].
/// Every field is optional: an unknown phone number id is accepted with the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneNumberSim {
    /// The WABA owning this number (its templates); default: the phone number id itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// `metadata.display_phone_number` in webhooks; default: the phone number id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// Where this number's webhooks go; none = no webhooks (counted as `no_target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The Meta app secret signing `X-Hub-Signature-256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// Overrides [`WhatsAppSimConfig::throughput_per_second`] for this number (0 = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_per_second: Option<u32>,
}

/// How the simulated Graph API behaves. `Default` is permissive (no template, window,
/// throughput or pair checks; invalid numbers refused synchronously) so generic provider tests
/// and load tests see a plain accepting provider; [`WhatsAppSimConfig::meta`] is Meta's
/// behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsAppSimConfig {
    /// Template sends must name a template of the number's WABA (132001), APPROVED (132001,
    /// PAUSED 132015, DISABLED 132016), with the right parameter count (132000).
    pub enforce_templates: bool,
    /// Free-form messages (text, media) only within `window_ms` of the recipient's last
    /// inbound message (131047).
    pub enforce_window: bool,
    /// How a closed window is reported: `"webhook"` (HTTP 200, then a `failed` status with
    /// 131047, as Meta does) or `"sync"` (HTTP 400 with 131047).
    pub window_error: String,
    /// The customer-service window.
    pub window_ms: u64,
    /// Messages per second per business number (token bucket, 1 s burst); 0 = unlimited (130429).
    pub throughput_per_second: u32,
    /// Minimum interval between accepted sends from one number to one recipient; 0 = off (131056).
    pub pair_interval_ms: u64,
    /// HTTP status of 130429 / 131056 answers (400 or 429; the code is what counts).
    pub rate_limit_status: u16,
    /// Invalid numbers (`invalid_number_suffix`) answered 200 then a `failed` webhook with
    /// 131026 (Meta), instead of a synchronous 400 131026.
    pub invalid_number_webhook: bool,
    /// Accepted Bearer tokens; empty = any non-empty token (190 otherwise).
    pub access_tokens: Vec<String>,
    /// Per phone number id: WABA, display number, webhook target and secret, throughput.
    pub phone_numbers: BTreeMap<String, PhoneNumberSim>,

    /// How long a created or edited template stays PENDING.
    pub template_review_ms: u64,
    /// Fraction of reviewed templates REJECTED (drawn from the seeded RNG at submission).
    pub template_reject_rate: f64,
    /// A template whose name contains this is always REJECTED (empty = off).
    pub template_reject_marker: String,
    /// Templates per WABA.
    pub max_templates: usize,

    /// Delay from acceptance to the `sent` webhook, then to `delivered`, then to `read`.
    pub sent_delay_ms: u64,
    pub delivered_delay_ms: u64,
    pub read_delay_ms: u64,
    /// Uniform extra delay `0..=status_jitter_ms` on each of them.
    pub status_jitter_ms: u64,
    /// Fraction of delivered messages that are also read.
    pub read_rate: f64,
    /// Fraction of accepted messages that fail (one `failed` status with `failed_code`).
    pub failed_rate: f64,
    /// The error code of random failures (131026 undeliverable by default).
    pub failed_code: u32,
    /// Fraction of messages with one status webhook sent twice.
    pub duplicate_rate: f64,
    /// Fraction of messages with two adjacent statuses swapped (e.g. delivered before sent).
    pub reorder_rate: f64,

    /// Webhooks waiting (scheduled or retrying); more are dropped and counted.
    pub webhook_queue_cap: usize,
    /// Attempts per webhook (first included) on non-2xx / connection errors.
    pub webhook_max_attempts: u32,
    /// First retry delay, doubled per attempt (capped at 30 s).
    pub webhook_retry_ms: u64,
    /// Per-attempt timeout.
    pub webhook_timeout_ms: u64,
    /// Webhook POSTs in flight at once.
    pub webhook_concurrency: usize,
    /// Outbound messages remembered (for mark-as-read and `/_sim/whatsapp/messages`).
    pub max_messages: usize,
}

impl Default for WhatsAppSimConfig {
    fn default() -> Self {
        WhatsAppSimConfig {
            enforce_templates: false,
            enforce_window: false,
            window_error: "webhook".into(),
            window_ms: 24 * 3600 * 1000,
            throughput_per_second: 0,
            pair_interval_ms: 0,
            rate_limit_status: 400,
            invalid_number_webhook: false,
            access_tokens: Vec::new(),
            phone_numbers: BTreeMap::new(),
            template_review_ms: 2_000,
            template_reject_rate: 0.0,
            template_reject_marker: "reject".into(),
            max_templates: 1_000,
            sent_delay_ms: 500,
            delivered_delay_ms: 1_500,
            read_delay_ms: 3_000,
            status_jitter_ms: 500,
            read_rate: 1.0,
            failed_rate: 0.0,
            failed_code: 131026,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            webhook_queue_cap: 10_000,
            webhook_max_attempts: 5,
            webhook_retry_ms: 500,
            webhook_timeout_ms: 5_000,
            webhook_concurrency: 16,
            max_messages: 100_000,
        }
    }
}

impl WhatsAppSimConfig {
    /// Meta's behaviour: templates, the 24-hour window, 80 msg/s, one message per 6 s per
    /// recipient, invalid numbers failing by webhook.
    pub fn meta() -> Self {
        WhatsAppSimConfig {
            enforce_templates: true,
            enforce_window: true,
            throughput_per_second: 80,
            pair_interval_ms: 6_000,
            invalid_number_webhook: true,
            ..WhatsAppSimConfig::default()
        }
    }

    /// The WABA of a phone number id (configured, else the id itself).
    pub fn waba_of(&self, phone_number_id: &str) -> String {
        self.phone_numbers.get(phone_number_id).and_then(|p| p.waba_id.clone()).unwrap_or_else(|| phone_number_id.to_owned())
    }

    pub fn display_number(&self, phone_number_id: &str) -> String {
        self.phone_numbers.get(phone_number_id).and_then(|p| p.display_phone_number.clone()).unwrap_or_else(|| phone_number_id.to_owned())
    }

    /// `(url, app secret)` of a number's webhooks, when it has a URL.
    pub fn target(&self, phone_number_id: &str) -> Option<(String, String)> {
        let p = self.phone_numbers.get(phone_number_id)?;
        Some((p.webhook_url.clone()?, p.app_secret.clone().unwrap_or_default()))
    }

    /// Distinct webhook targets of the numbers owned by a WABA (template status updates).
    pub fn waba_targets(&self, waba_id: &str) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = Vec::new();
        for id in self.phone_numbers.keys() {
            if self.waba_of(id) == waba_id {
                if let Some((url, secret)) = self.target(id) {
                    if !out.iter().any(|(u, _, _)| *u == url) {
                        out.push((url, secret, id.clone()));
                    }
                }
            }
        }
        out
    }

    pub fn throughput_of(&self, phone_number_id: &str) -> u32 {
        self.phone_numbers.get(phone_number_id).and_then(|p| p.throughput_per_second).unwrap_or(self.throughput_per_second)
    }

    pub fn token_ok(&self, token: &str) -> bool {
        !token.trim().is_empty() && (self.access_tokens.is_empty() || self.access_tokens.iter().any(|t| t == token))
    }

    pub(crate) fn problems(&self, out: &mut Vec<String>) {
        for (name, rate) in [
            ("template_reject_rate", self.template_reject_rate),
            ("read_rate", self.read_rate),
            ("failed_rate", self.failed_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("reorder_rate", self.reorder_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                out.push(format!("whatsapp.{name} must be between 0 and 1 (got {rate})"));
            }
        }
        if !["webhook", "sync"].contains(&self.window_error.as_str()) {
            out.push(format!("whatsapp.window_error must be \"webhook\" or \"sync\" (got {:?})", self.window_error));
        }
        if ![400, 429].contains(&self.rate_limit_status) {
            out.push("whatsapp.rate_limit_status must be 400 or 429".into());
        }
        for (name, v, max) in [
            ("max_templates", self.max_templates, 100_000),
            ("webhook_queue_cap", self.webhook_queue_cap, 1_000_000),
            ("max_messages", self.max_messages, 10_000_000),
            ("webhook_concurrency", self.webhook_concurrency, 1_024),
        ] {
            if v == 0 || v > max {
                out.push(format!("whatsapp.{name} must be between 1 and {max}"));
            }
        }
        if self.webhook_max_attempts == 0 {
            out.push("whatsapp.webhook_max_attempts must be at least 1".into());
        }
        if self.phone_numbers.len() > 10_000 {
            out.push("whatsapp.phone_numbers holds at most 10000 numbers".into());
        }
        for (id, p) in &self.phone_numbers {
            if let Some(url) = &p.webhook_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    out.push(format!("whatsapp.phone_numbers.{id}.webhook_url must be an http(s) URL"));
                }
            }
        }
    }
}
