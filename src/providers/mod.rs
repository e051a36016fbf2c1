//! Provider adapters: one per provider, behind one trait, with a payload per channel.
//!
//! An adapter is transport only: it builds the provider's real HTTP request from a message
//! and a credential, and classifies the answer. It never sleeps, retries or loops; the
//! credential actor (dispatch) owns that policy. Each adapter declares the channels it
//! serves ([`ProviderAdapter::channels`], from the catalogue in `domain::provider`); routing
//! hands it only messages of those channels, and [`send`] refuses any other payload rather
//! than deliver it as something else. Base URLs come from the credential's `apiUrl` override
//! or the configured default, so tests and load tests point adapters at the provider
//! simulator (`crate::sim`).

use crate::domain::{Channel, ProviderKind, WhatsAppContent};
use serde_json::{Map, Value};
use std::time::Duration;

/// One message to hand to a provider.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// The engine's message id (adapters may pass it as a client reference / idempotency key).
    pub message_id: i64,
    /// E.164, with the leading `+`.
    pub recipient: String,
    /// The credential's `senderName` (a sender id, a number, a Messaging Service SID).
    pub sender: String,
    pub payload: Payload,
    /// Where the provider should send this message's delivery reports, for providers whose
    /// API takes a per-message URL (Twilio `StatusCallback`, Infobip `notifyUrl`); `None`
    /// when no public URL is configured.
    pub status_callback_url: Option<String>,
    /// What is left of the message's validity period, in seconds, for providers whose API
    /// takes one (Twilio `ValidityPeriod`, Infobip `validityPeriod`); `None`: no limit set.
    pub validity_secs: Option<u64>,
}

/// What a message carries, per channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Sms { text: String },
    WhatsApp(WhatsAppContent),
    /// An email: `text` is the plain part; `html` the HTML part (`None`: made from `text`).
    Email { subject: String, text: String, html: Option<String> },
    /// A Slack message: `text` (the notification text), and Block Kit `blocks` when given.
    Slack { text: String, blocks: Option<Value> },
    /// A phone call that says `text` (`providers::twilio_voice` builds the TwiML).
    Voice { text: String },
}

impl Payload {
    pub fn channel(&self) -> Channel {
        match self {
            Payload::Sms { .. } => Channel::Sms,
            Payload::WhatsApp(_) => Channel::Whatsapp,
            Payload::Email { .. } => Channel::Email,
            Payload::Slack { .. } => Channel::Slack,
            Payload::Voice { .. } => Channel::Voice,
        }
    }
}

impl OutboundMessage {
    /// An SMS without a delivery-report URL (tests, benches).
    pub fn sms(message_id: i64, recipient: impl Into<String>, text: impl Into<String>, sender: impl Into<String>) -> Self {
        Self {
            message_id,
            recipient: recipient.into(),
            sender: sender.into(),
            payload: Payload::Sms { text: text.into() },
            status_callback_url: None,
            validity_secs: None,
        }
    }

    /// The SMS text, or a build error naming the channel: for adapters that serve SMS only
    /// (never reached through routing, which matches channels first).
    pub(crate) fn sms_text(&self, provider: ProviderKind) -> Result<&str, BuildError> {
        match &self.payload {
            Payload::Sms { text } => Ok(text),
            other => Err(BuildError::unsupported(provider, other.channel())),
        }
    }
}

/// The credential an adapter sends with: its unsealed `credentials` object and the base URL.
#[derive(Debug, Clone)]
pub struct ProviderCredential {
    pub credential_id: i64,
    pub fields: Map<String, Value>,
    /// Scheme + host (+ optional path prefix), without a trailing slash.
    pub base_url: String,
    /// The first endpoint URL built with this credential, parsed (see `wire::endpoint`).
    endpoint: std::sync::OnceLock<(String, reqwest::Url)>,
    /// The first Basic authorization built with this credential (see `wire::basic_auth`).
    basic_auth: std::sync::OnceLock<(String, String, reqwest::header::HeaderValue)>,
    /// SMTP credentials: the relay's pooled connections, made on first use.
    pub(crate) mailer: std::sync::OnceLock<smtp::Mailer>,
    /// Slack credentials: the DMs opened and the `conversations.open` budget.
    pub(crate) slack: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<slack::SlackState>>>,
}

impl ProviderCredential {
    pub fn new(credential_id: i64, fields: Map<String, Value>, base_url: String) -> Self {
        Self { credential_id, fields, base_url, endpoint: Default::default(), basic_auth: Default::default(), mailer: Default::default(), slack: Default::default() }
    }

    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(Value::as_str).unwrap_or("")
    }
}

/// How a provider answered, normalised (see `shared/providers/README.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The provider took the message. `provider_message_id` is empty when the provider's answer
    /// carries no id (Qyadat's format has none; a Unifonic 409 duplicate says only "already sent").
    Accepted { provider_message_id: String },
    /// Rate limited; `retry_after` when the provider said how long. Slows the credential.
    Throttled { retry_after: Option<Duration> },
    /// This message must wait (WhatsApp's per-recipient pair limit) while the credential goes
    /// on with the others at full pace.
    Deferred { retry_after: Duration, reason: String },
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

/// Why a request could not even be built: the credential is unusable (a missing field, a bad
/// base URL: the credential is broken until updated), or this message cannot go through this
/// provider (a channel or payload it does not take: the message fails, the credential is fine).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Credential(String),
    #[error("{0}")]
    Payload(String),
}

impl BuildError {
    pub fn credential(reason: impl Into<String>) -> Self {
        BuildError::Credential(reason.into())
    }

    pub fn payload(reason: impl Into<String>) -> Self {
        BuildError::Payload(reason.into())
    }

    fn unsupported(provider: ProviderKind, channel: Channel) -> Self {
        BuildError::Payload(format!("{} does not deliver the {} channel", provider.code(), channel.as_str()))
    }
}

/// How an adapter's messages travel. Most providers are HTTP APIs (`build_request` +
/// `classify`); an SMTP relay is not, so its adapter builds and classifies mail instead and
/// [`send`] makes the SMTP call. Either way the adapter is transport only and the credential
/// actor owns the policy.
pub enum Transport<'a> {
    Http,
    Smtp(&'a Smtp),
    /// Slack: a user's DM is opened (`conversations.open`) before the post.
    Slack(&'a Slack),
}

/// One provider's wire format.
pub trait ProviderAdapter: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;

    /// The channels this adapter delivers (the catalogue's, so routing and the adapter agree).
    fn channels(&self) -> &'static [Channel] {
        self.kind().channels()
    }

    /// The provider's production base URL (used when no `apiUrl` override is set).
    fn default_base_url(&self) -> &'static str;

    /// HTTP unless the adapter says otherwise.
    fn transport(&self) -> Transport<'_> {
        Transport::Http
    }

    /// The provider's real HTTP request for one message (of a channel in [`Self::channels`]).
    fn build_request(
        &self,
        client: &reqwest::Client,
        credential: &ProviderCredential,
        msg: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError>;

    /// Classifies a complete HTTP answer (status, headers, body). Must parse the body:
    /// several providers answer 200 with an error inside.
    fn classify(&self, status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8]) -> SendOutcome;

    /// The provider's multi-message format, for APIs that take several messages in one
    /// request (see [`batch`]). `None`, the default: not supported, one message per request.
    fn batch(&self) -> Option<&dyn BatchAdapter> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// The adapters, the catalogue lookup and the one function that performs a call.

pub mod awaiting;
pub mod batch;
mod fourjawaly;
mod infobip;
mod meta;
pub mod meta_graph;
mod qyadat;
mod shastra;
pub mod sidobe;
pub mod slack;
pub mod smtp;
mod twilio;
pub mod twilio_voice;
mod unifonic;
pub mod waweb;
mod wire;
mod yamamah;

pub use batch::{send_batch, BatchAdapter, BatchOutcome};
pub use fourjawaly::FourJawaly;
pub use infobip::Infobip;
pub use meta::MetaWhatsapp;
pub use qyadat::Qyadat;
pub use shastra::Shastra;
pub use sidobe::Sidobe;
pub use slack::Slack;
pub use smtp::Smtp;
pub use twilio::Twilio;
pub use twilio_voice::TwilioVoice;
pub use unifonic::Unifonic;
pub use waweb::WaWebGateway;
pub use yamamah::Yamamah;

use crate::net::{CallError, ClientOptions, HttpClient};
use std::time::Instant;

/// The adapter for a provider. Adapters are stateless, so one static instance each suffices.
pub fn adapter(kind: ProviderKind) -> &'static dyn ProviderAdapter {
    match kind {
        ProviderKind::Yamamah => &Yamamah,
        ProviderKind::Shastra => &Shastra,
        ProviderKind::Qyadat => &Qyadat,
        ProviderKind::Unifonic => &Unifonic,
        ProviderKind::FourJawaly => &FourJawaly,
        ProviderKind::Infobip => &Infobip,
        ProviderKind::Twilio => &Twilio,
        ProviderKind::MetaWhatsapp => &MetaWhatsapp,
        ProviderKind::Sidobe => &Sidobe,
        ProviderKind::WaWebGateway => &WaWebGateway,
        ProviderKind::Smtp => &Smtp,
        ProviderKind::Slack => &Slack,
        ProviderKind::TwilioVoice => &TwilioVoice,
    }
}

/// The client of provider calls (`net`): a connect timeout shorter than any request timeout,
/// so a peer that never accepts the connection surfaces as a connect error (Transient:
/// nothing was sent) rather than as the request timeout (Ambiguous).
///
/// `extra_roots`: trust anchors beside the Mozilla roots (`dispatch.provider_ca_file`).
pub fn http_client_trusting(connect_timeout: Duration, extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> anyhow::Result<HttpClient> {
    HttpClient::new(ClientOptions { connect_timeout, user_agent: concat!("jood/", env!("CARGO_PKG_VERSION")), resolver: None, extra_roots, env_proxy: true })
}

/// [`http_client_trusting`] the Mozilla roots only (tests, tools).
pub fn http_client(connect_timeout: Duration) -> anyhow::Result<HttpClient> {
    http_client_trusting(connect_timeout, Vec::new())
}

/// The most of a provider's answer that is read: every documented answer is a few hundred
/// bytes (a batch's, a few per message); a larger one is not a provider's.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Performs one provider call and classifies it. Returns the outcome and the latency (from
/// just before sending to the end of the body, or to the failure).
///
/// Transport failures are classified here, not by the adapter: a failure to connect (refused,
/// DNS, TLS handshake) means the provider never saw the request (Transient); a timeout or a
/// dropped connection once the request may have been written means it may exist (Ambiguous).
pub async fn send(
    adapter: &dyn ProviderAdapter,
    client: &HttpClient,
    cred: &ProviderCredential,
    msg: &OutboundMessage,
    timeout: Duration,
) -> (SendOutcome, Duration) {
    let started = Instant::now();
    let channel = msg.payload.channel();
    if !adapter.channels().contains(&channel) {
        // Never deliver a message as another channel (a WhatsApp message as an SMS).
        let reason = BuildError::unsupported(adapter.kind(), channel).to_string();
        return (SendOutcome::PermanentContent { reason }, started.elapsed());
    }
    if let Transport::Smtp(smtp) = adapter.transport() {
        return (smtp::deliver(smtp, cred, msg, timeout).await, started.elapsed());
    }
    if let Transport::Slack(slack) = adapter.transport() {
        return (slack::deliver(slack, client.reqwest(), cred, msg, timeout).await, started.elapsed());
    }
    let answer = match adapter.build_request(client.reqwest(), cred, msg).map_err(BuildError::into_outcome).and_then(http_request) {
        Ok(request) => client.call(request, timeout, MAX_ANSWER_BYTES).await,
        Err(outcome) => return (outcome, started.elapsed()),
    };
    let outcome = match answer {
        Ok(answer) => adapter.classify(answer.status, &answer_headers(&answer), &answer.body),
        Err(e) => call_outcome(e),
    };
    (outcome, started.elapsed())
}

impl BuildError {
    /// What a request that cannot be built means for the message: a broken credential, or a
    /// payload this provider does not take.
    pub(crate) fn into_outcome(self) -> SendOutcome {
        match self {
            BuildError::Credential(reason) => SendOutcome::PermanentConfig { reason },
            BuildError::Payload(reason) => SendOutcome::PermanentContent { reason },
        }
    }
}

/// An adapter's request as the client sends it. The adapters' builders hold the URL parsed
/// once per credential (`wire::endpoint`); only its text is read again here, into a `Uri`.
pub(crate) fn http_request(builder: reqwest::RequestBuilder) -> Result<http::Request<bytes::Bytes>, SendOutcome> {
    let invalid = |reason: String| SendOutcome::PermanentConfig { reason: format!("invalid request: {reason}") };
    let mut built = builder.build().map_err(|e| invalid(error_chain(&e)))?;
    let uri: http::Uri = built.url().as_str().parse().map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
    let body = match built.body_mut().take() {
        None => bytes::Bytes::new(),
        Some(body) => match body.as_bytes() {
            Some(b) => bytes::Bytes::copy_from_slice(b),
            None => return Err(invalid("a streamed body".into())),
        },
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = built.method().clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = std::mem::take(built.headers_mut());
    Ok(request)
}

/// The headers adapters read of an answer: `Retry-After` only.
pub(crate) fn answer_headers(answer: &crate::net::Answer) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(v) = &answer.retry_after {
        headers.insert(reqwest::header::RETRY_AFTER, v.clone());
    }
    headers
}

/// A call without an answer, as an outcome: never sent (Transient), or perhaps sent (Ambiguous).
pub(crate) fn call_outcome(e: CallError) -> SendOutcome {
    match e {
        CallError::Invalid(reason) => SendOutcome::PermanentConfig { reason: format!("invalid request: {reason}") },
        CallError::Connect(reason) => SendOutcome::Transient { reason: format!("connect failed: {reason}") },
        CallError::Timeout(d) => SendOutcome::Ambiguous { reason: format!("timed out after sending: no complete answer within {d:?}") },
        CallError::Failed(reason) => SendOutcome::Ambiguous { reason: format!("connection failed after sending: {reason}") },
        CallError::TooLarge { limit, status } => SendOutcome::Ambiguous { reason: format!("HTTP {status}: the answer is larger than {limit} bytes, not read") },
    }
}

pub(crate) fn transport_outcome(e: &reqwest::Error) -> SendOutcome {
    let reason = error_chain(e);
    if e.is_builder() {
        SendOutcome::PermanentConfig { reason: format!("invalid request: {reason}") }
    } else if e.is_connect() {
        SendOutcome::Transient { reason: format!("connect failed: {reason}") }
    } else if e.is_timeout() {
        SendOutcome::Ambiguous { reason: format!("timed out after sending: {reason}") }
    } else {
        SendOutcome::Ambiguous { reason: format!("connection failed after sending: {reason}") }
    }
}

pub(crate) use crate::net::error_chain;

#[cfg(test)]
mod send_tests;
