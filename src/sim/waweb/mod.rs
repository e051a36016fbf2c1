//! The WA-Web multi-client gateway simulator (`shared/providers/wa-web-gateway.md`, seed
//! 001): `POST /api/send-message`, `POST /api/send-group-message`, `GET /api/clients`,
//! `POST /api/update-webhook`, `GET /api/sent-messages`, with the account `x-api-key`, the
//! documented 100 requests per 15 minutes per key (429 beyond), and clients whose
//! authentication state is settable (a client that is not `Authenticated` cannot send).
//!
//! Events go to each client's webhook URL with `X-Api-Key: <client api key>`: `message_sent`
//! after every API send, and on request (`POST /_sim/waweb/events`) `message_received` and
//! `call_rejected`, whose answers are read back as the gateway reads them (the `response`
//! auto-reply is sent back to the sender, `rejectionMessage` to the caller) within the
//! documented 5 s (3 s for calls). `GET /_sim/waweb/webhooks` lists every event with the
//! engine's answer; `GET|POST /_sim/waweb/config` reads or merges [`WawebSimConfig`].

mod http;

use super::state::SimState;
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimClient {
    /// `Authenticated`, `Pending Authentication`, `Disconnected`, …
    pub status: String,
    /// The client's own API key: sent as `X-Api-Key` on its webhooks.
    pub api_key: String,
    pub webhook_url: Option<String>,
    /// The client's WhatsApp number (digits).
    pub phone_number: String,
}

impl Default for SimClient {
    fn default() -> Self {
        Self { status: "Authenticated".into(), api_key: "client-api-key".into(), webhook_url: None, phone_number: "966920000001".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WawebSimConfig {
    /// Account API keys accepted in `x-api-key` (a client's own key is accepted too).
    pub account_keys: Vec<String>,
    /// The clients, by clientId.
    pub clients: BTreeMap<String, SimClient>,
    /// Requests allowed per key per 15 minutes (the documented global limiter); 0: no limit.
    pub requests_per_15_min: u32,
    /// The anti-spam delay before a group send (the real gateway waits 2–5 s at random).
    pub group_delay_ms: u64,
    /// Groups that are read-only for the client (announcement groups): 403 READ_ONLY_CHAT.
    pub read_only_groups: Vec<String>,
    /// Delay before `message_sent` is posted (ms).
    pub event_delay_ms: u64,
    /// `message_sent` carries the sent message object (`message.id._serialized`, the id the
    /// send answered with) instead of the seed's example, where `message` repeats the text.
    pub event_message_ids: bool,
}

impl Default for WawebSimConfig {
    fn default() -> Self {
        let mut clients = BTreeMap::new();
        clients.insert("client-1".to_owned(), SimClient::default());
        Self {
            account_keys: vec!["account-api-key".into()],
            clients,
            requests_per_15_min: 100,
            group_delay_ms: 2_000,
            read_only_groups: Vec::new(),
            event_delay_ms: 20,
            event_message_ids: false,
        }
    }
}

/// One event posted to a webhook, and the engine's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SentEvent {
    pub event: String,
    pub client_id: String,
    pub payload: serde_json::Value,
    /// The engine's HTTP status; 0 when the POST failed or took longer than allowed.
    pub answer_status: u16,
    pub answer: serde_json::Value,
    /// What the gateway sent back because of the answer (the auto-reply, the rejection text).
    pub reply_sent: Option<String>,
    pub error: Option<String>,
}

pub(crate) struct WawebSim {
    config: Mutex<WawebSimConfig>,
    /// Request times per key, for the 15-minute limiter.
    hits: Mutex<HashMap<String, VecDeque<std::time::Instant>>>,
    events: Mutex<Vec<SentEvent>>,
    /// The last 100 sends (`GET /api/sent-messages`).
    sent: Mutex<VecDeque<serde_json::Value>>,
    seq: AtomicU64,
    client: reqwest::Client,
    state: Arc<SimState>,
    shutdown: CancellationToken,
}

const MAX_EVENTS: usize = 10_000;

pub(crate) fn routes(state: Arc<SimState>, shutdown: CancellationToken) -> Router {
    let sim = Arc::new(WawebSim {
        config: Mutex::new(WawebSimConfig::default()),
        hits: Mutex::new(HashMap::new()),
        events: Mutex::new(Vec::new()),
        sent: Mutex::new(VecDeque::new()),
        seq: AtomicU64::new(0),
        client: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default(),
        state,
        shutdown,
    });
    Router::new()
        .route("/api/send-message", post(http::send_message))
        .route("/api/send-group-message", post(http::send_group_message))
        .route("/api/clients", get(http::clients))
        .route("/api/update-webhook", post(http::update_webhook))
        .route("/api/sent-messages", get(http::sent_messages))
        .route("/_sim/waweb/config", get(http::get_config).post(http::set_config))
        .route("/_sim/waweb/events", post(http::post_event))
        .route("/_sim/waweb/webhooks", get(http::list_events))
        .with_state(sim)
}
