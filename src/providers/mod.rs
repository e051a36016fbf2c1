//! Provider adapters: one per SMS provider, behind one trait.
//!
//! An adapter is transport only: it builds the provider's real HTTP request from a message
//! and a credential, and classifies the answer. It never sleeps, retries or loops; the
//! credential actor (dispatch) owns that policy. Base URLs come from the credential's
//! `apiUrl` override or the configured default, so tests and load tests point adapters at the
//! provider simulator (`crate::sim`).

use crate::domain::ProviderKind;
use serde_json::{Map, Value};
use std::time::Duration;

/// One SMS to hand to a provider.
#[derive(Debug, Clone)]
pub struct OutboundSms {
    /// The engine's message id (adapters may pass it as a client reference / idempotency key).
    pub message_id: i64,
    /// E.164, with the leading `+`.
    pub recipient: String,
    pub body: String,
    /// The credential's `senderName`.
    pub sender: String,
}

/// The credential an adapter sends with: its unsealed `credentials` object and the base URL.
#[derive(Debug, Clone)]
pub struct ProviderCredential {
    pub credential_id: i64,
    pub fields: Map<String, Value>,
    /// Scheme + host (+ optional path prefix), without a trailing slash.
    pub base_url: String,
}

impl ProviderCredential {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(Value::as_str).unwrap_or("")
    }
}

/// How a provider answered, normalised (see `shared/providers/README.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The provider took the message.
    Accepted { provider_message_id: String },
    /// Rate limited; `retry_after` when the provider said how long.
    Throttled { retry_after: Option<Duration> },
    /// 5xx, connection refused/reset before sending, provider "server error" codes.
    Transient { reason: String },
    /// Timeout or drop after the request was sent: the message may exist.
    Ambiguous { reason: String },
    /// Invalid / unreachable / opted-out number: no retry.
    PermanentRecipient { reason: String },
    /// Empty / too long / filtered content: no retry of this payload.
    PermanentContent { reason: String },
    /// Authentication, sender not approved, no credit: the credential is broken.
    PermanentConfig { reason: String },
}

/// Why a request could not even be built (a credential missing a field, a bad base URL).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// One provider's wire format.
pub trait ProviderAdapter: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;

    /// The provider's production base URL (used when no `apiUrl` override is set).
    fn default_base_url(&self) -> &'static str;

    /// The provider's real HTTP request for one message.
    fn build_request(
        &self,
        client: &reqwest::Client,
        credential: &ProviderCredential,
        sms: &OutboundSms,
    ) -> Result<reqwest::RequestBuilder, BuildError>;

    /// Classifies a complete HTTP answer (status, headers, body). Must parse the body:
    /// several providers answer 200 with an error inside.
    fn classify(&self, status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8]) -> SendOutcome;
}
