//! The Sidobe simulator (`shared/providers/sidobe.md`) under `/wa/v1`: the three sends
//! (`/send-message`, `/send-message-image`, `/send-message-doc`), the message detail
//! (`GET /whatsapp-messages/:id`), check-number, and the signed `SEND_MESSAGE_STATUS`
//! webhooks a real Sidobe posts to the account's configured URL: `X-Webhook-Signature` =
//! hex SHA-256 of `secretKey + "|" + event id`.
//!
//! Behaviour is settable (`GET|POST /_sim/sidobe/config`, [`SidobeSimConfig`]): the webhook
//! URL, its delay, lost webhooks (the message still gets its final status, readable through
//! the detail endpoint: what reconciliation needs), numbers that end FAILED, numbers not on
//! WhatsApp, and a sticky failure mode (`invalid_api_key`, `invalid_device`, `rate_limit`,
//! `maintenance`). `GET /_sim/sidobe/webhooks` lists the webhooks sent with the engine's
//! answers; `GET /_sim/sidobe/messages` the messages. Requests are recorded under the
//! `sidobe` provider of `GET /_sim/requests`.

mod http;

use super::state::SimState;
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SidobeSimConfig {
    /// Where `SEND_MESSAGE_STATUS` webhooks go (Sidobe's console setting); none: not sent.
    pub webhook_url: Option<String>,
    /// Delay between an async send and its final webhook (ms).
    pub webhook_delay_ms: u64,
    /// Latency of a synchronous (`is_async: false`) send: the device and WhatsApp (ms).
    pub sync_latency_ms: u64,
    /// Final webhooks never sent (the status still changes: the detail endpoint shows it).
    pub drop_webhooks: bool,
    /// Numbers (digits) ending with this end FAILED; empty: none.
    pub failed_suffix: String,
    /// Numbers ending with this are not on WhatsApp (check-number) and end FAILED; empty: none.
    pub unregistered_suffix: String,
    /// A sticky failure of every API call: `invalid_api_key`, `invalid_device`, `rate_limit`,
    /// `maintenance`; none: normal service.
    pub failure: Option<String>,
    /// Secret keys refused with INVALID_API_KEY.
    pub invalid_keys: Vec<String>,
}

impl Default for SidobeSimConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_delay_ms: 50,
            sync_latency_ms: 200,
            drop_webhooks: false,
            failed_suffix: "0009".into(),
            unregistered_suffix: "0000".into(),
            failure: None,
            invalid_keys: Vec::new(),
        }
    }
}

impl SidobeSimConfig {
    fn check(&self) -> Result<(), String> {
        match self.failure.as_deref() {
            None | Some("invalid_api_key" | "invalid_device" | "rate_limit" | "maintenance") => Ok(()),
            Some(other) => Err(format!("failure `{other}` must be one of invalid_api_key, invalid_device, rate_limit, maintenance")),
        }
    }
}

/// A message as Sidobe keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct SimMessage {
    pub id: String,
    pub phone: String,
    pub message_type: &'static str,
    pub status: &'static str,
    pub is_async: bool,
    #[serde(skip)]
    pub secret: String,
}

/// One webhook sent, and what the engine answered.
#[derive(Debug, Clone, Serialize)]
pub struct SentWebhook {
    pub event_id: String,
    pub whatsapp_message_id: String,
    pub status: String,
    /// The engine's HTTP status; 0 when the POST failed.
    pub answer_status: u16,
    pub answer: String,
}

pub(crate) struct SidobeSim {
    config: Mutex<SidobeSimConfig>,
    messages: Mutex<HashMap<String, SimMessage>>,
    webhooks: Mutex<Vec<SentWebhook>>,
    seq: AtomicU64,
    seed: u64,
    client: reqwest::Client,
    state: Arc<SimState>,
    shutdown: CancellationToken,
}

/// Kept at most (the oldest forgotten first).
const MAX_KEPT: usize = 10_000;

impl SidobeSim {
    /// A uuid-shaped id (Sidobe's detail endpoint shows UUIDs), unique per simulator.
    fn next_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mix = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", (mix >> 32) as u32, (mix >> 16) as u16, (mix >> 4) & 0xfff, n & 0xfff, n)
    }

    fn remember_webhook(&self, w: SentWebhook) {
        let mut log = self.webhooks.lock();
        if log.len() >= MAX_KEPT {
            log.remove(0);
        }
        log.push(w);
    }
}

/// `hex(SHA-256(secret + "|" + event id))`: Sidobe's webhook signature.
pub fn signature(secret: &str, event_id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("{secret}|{event_id}").as_bytes()))
}

/// The Sidobe routes and their control plane, with their own state.
pub(crate) fn routes(state: Arc<SimState>, shutdown: CancellationToken) -> Router {
    let seed = state.config().seed;
    let sim = Arc::new(SidobeSim {
        config: Mutex::new(SidobeSimConfig::default()),
        messages: Mutex::new(HashMap::new()),
        webhooks: Mutex::new(Vec::new()),
        seq: AtomicU64::new(0),
        seed,
        client: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default(),
        state,
        shutdown,
    });
    Router::new()
        .route("/wa/v1/send-message", post(http::send_text))
        .route("/wa/v1/send-message-image", post(http::send_image))
        .route("/wa/v1/send-message-doc", post(http::send_doc))
        .route("/wa/v1/whatsapp-messages/{id}", get(http::detail))
        .route("/wa/v1/utilities/check-number", post(http::check_number))
        .route("/_sim/sidobe/config", get(http::get_config).post(http::set_config))
        .route("/_sim/sidobe/webhooks", get(http::list_webhooks))
        .route("/_sim/sidobe/messages", get(http::list_messages))
        .with_state(sim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_the_documented_vector() {
        assert_eq!(
            super::signature("YOUR_SECRET_KEY", "816332ca-b91a-469d-b4f6-9a17f440c05e"),
            "52c0388db67f5dc88a91b86bf1537bd694cf6d6a17e50fb6b5870c0facb676bf"
        );
    }
}
