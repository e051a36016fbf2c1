//! The Graph API simulator: Meta's WhatsApp Cloud API beyond the send endpoint's wire format
//! (`shared/providers/meta-whatsapp-cloud.md`). Templates per WABA with their review
//! (`templates`; their create-time rules in `rules`), the send-time rules — templates,
//! parameter counts, the 24-hour window, throughput, pair limit — and the remembered
//! messages (`send`), the signed webhooks and the
//! task delivering them (`webhooks`), and the HTTP handlers for template management and the
//! `/_sim/whatsapp/*` control plane (`http`). Settings live in `settings` (the `whatsapp`
//! section of `SimConfig`).
//!
//! State is in memory, keyed by WABA id / phone number id (any id is accepted and created on
//! first use), and bounded: templates per WABA (`max_templates`), WABAs, messages remembered
//! (`max_messages`), windows / pair clocks / buckets ([`MAX_KEYS`]), queued webhooks
//! (`webhook_queue_cap`). Depends on `sim::state` (RNG, settings, counters) and `sim::wire`.

pub(crate) mod http;
mod rules;
pub(crate) mod send;
mod settings;
pub(crate) mod templates;
pub(crate) mod webhooks;

pub use settings::{PhoneNumberSim, WhatsAppSimConfig};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Entries per map of per-recipient / per-number clocks before old ones are pruned.
pub(crate) const MAX_KEYS: usize = 100_000;

/// The Graph API state of one simulator.
pub(crate) struct Graph {
    pub(crate) templates: Mutex<templates::Store>,
    pub(crate) limits: Mutex<send::Limits>,
    pub(crate) messages: Mutex<send::Messages>,
    pub(crate) webhooks: webhooks::Queue,
    pub(crate) counters: send::Counters,
}

impl Graph {
    pub(crate) fn new() -> Self {
        Graph {
            templates: Mutex::new(templates::Store::default()),
            limits: Mutex::new(send::Limits::default()),
            messages: Mutex::new(send::Messages::default()),
            webhooks: webhooks::Queue::default(),
            counters: send::Counters::default(),
        }
    }

    /// Forgets templates, windows, clocks, messages and queued webhooks; zeroes the counters.
    pub(crate) fn reset(&self) {
        *self.templates.lock() = templates::Store::default();
        *self.limits.lock() = send::Limits::default();
        *self.messages.lock() = send::Messages::default();
        self.webhooks.clear();
        self.counters.reset();
    }

    /// The `whatsapp` part of `/_sim/stats`.
    pub(crate) fn stats_json(&self) -> Value {
        json!({
            "templates": self.templates.lock().len(),
            "messages_remembered": self.messages.lock().len(),
            "sends": self.counters.to_json(),
            "webhooks": self.webhooks.stats_json(),
        })
    }
}

/// A Graph API error object and the HTTP status it is sent with.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: u32,
    pub message: String,
    /// `error_data.details` (messaging errors).
    pub details: Option<String>,
    pub subcode: Option<u32>,
    /// `error_user_title` / `error_user_msg` (template management errors).
    pub user: Option<(String, String)>,
    pub kind: &'static str,
}

impl GraphError {
    /// A Cloud API messaging error: `(#code) title` with `error_data.details`.
    pub(crate) fn messaging(status: u16, code: u32, title: &str, details: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: format!("(#{code}) {title}"),
            details: Some(details.into()),
            subcode: None,
            user: None,
            kind: "OAuthException",
        }
    }

    /// Code 100 "Invalid parameter" with a user title and message (template management).
    pub(crate) fn param(subcode: Option<u32>, title: &str, msg: impl Into<String>) -> Self {
        GraphError {
            status: 400,
            code: 100,
            message: "Invalid parameter".into(),
            details: None,
            subcode,
            user: Some((title.into(), msg.into())),
            kind: "OAuthException",
        }
    }

    /// Unknown object id (Graph's "Unsupported get request", code 100 subcode 33).
    pub(crate) fn no_object(id: &str, method: &str) -> Self {
        GraphError {
            status: 400,
            code: 100,
            message: format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
            details: None,
            subcode: Some(33),
            user: None,
            kind: "GraphMethodException",
        }
    }

    pub(crate) fn token() -> Self {
        GraphError {
            status: 401,
            code: 190,
            message: "Invalid OAuth access token - Cannot parse access token".into(),
            details: None,
            subcode: None,
            user: None,
            kind: "OAuthException",
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut e = json!({"message": self.message, "type": self.kind, "code": self.code});
        if let Some(d) = &self.details {
            e["error_data"] = json!({"messaging_product": "whatsapp", "details": d});
        }
        if let Some(s) = self.subcode {
            e["error_subcode"] = s.into();
        }
        if let Some((title, msg)) = &self.user {
            e["is_transient"] = false.into();
            e["error_user_title"] = title.as_str().into();
            e["error_user_msg"] = msg.as_str().into();
        }
        e["fbtrace_id"] = "AsimFbTrace".into();
        json!({ "error": e })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.to_json())).into_response()
    }
}

/// Titles and details of the codes the simulator reports asynchronously (webhook `errors[]`).
pub(crate) fn error_text(code: u32) -> (&'static str, &'static str) {
    match code {
        131026 => ("Message undeliverable", "Message Undeliverable."),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131049 => ("This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
        131048 => ("Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number."),
        131053 => ("Media upload error", "Unable to upload the media used in the message."),
        130472 => ("User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment."),
        131000 => ("Something went wrong", "Message failed to send due to an unknown error."),
        _ => ("Message failed", "Message failed to send."),
    }
}
