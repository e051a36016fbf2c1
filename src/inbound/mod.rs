//! The return path's receivers: what providers send back to
//! `POST /api/v1/callbacks/{provider}/{credentialId}`. Each receiver verifies what its
//! provider signs, parses and normalises the body into [`StatusEvent`]s, and hands them to
//! the one status path ([`crate::status::StatusService`]). Nothing is changed unless the whole
//! callback is authentic; the answer is a 2xx only once every change is durable.
//!
//! Receivers exist for the providers whose notes (`shared/providers/*.md`) document a report
//! mechanism: Twilio (`twilio.rs`, signed; its call status callbacks in `twilio_voice.rs`), Infobip (`infobip.rs`, unsigned) and Meta's
//! WhatsApp Cloud API (`meta.rs`: signed statuses, inbound messages, template updates), Sidobe
//! (`sidobe.rs`: signed status webhooks; `sidobe_reconcile.rs` looks up the ones that never
//! came) and the WA-Web gateway (`waweb.rs`: events with an answer, at their own route). Yamamah,
//! Shastra, Qyadat, Unifonic and 4jawaly document none that can be implemented; their
//! callback URLs answer 404 and `sent` stays final for them.
//!
//! A report whose provider id the engine does not know yet is checked as far as it can be
//! (the URL's credential is this provider's; Twilio's signature) and parked durably until the
//! engine's `sent` write names the id (`early.rs`); one still unknown after
//! `delivery.early_report_ttl_ms` is dropped and counted, having changed nothing. Depends on `status`, `store`, `directory`, `auth` and `domain`; no
//! framework types (the HTTP handler in `api::http::callbacks` translates).

pub mod early;
mod infobip;
pub mod meta;
mod sms_keywords;
pub mod sidobe;
pub mod sidobe_reconcile;
mod twilio;
mod twilio_voice;
pub mod waweb;

use crate::directory::Directory;
use crate::domain::ProviderKind;
use crate::status::{Applied, StatusError, StatusEvent, StatusService};
use crate::store::{CredentialRecord, MessageRecord, SharedStore};
use std::sync::Arc;

/// Largest callback body accepted (Infobip may batch several reports in one POST).
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;
/// Most reports taken from one callback.
pub const MAX_REPORTS: usize = 1_000;

/// What a provider callback looks like to a receiver.
#[derive(Debug, Clone)]
pub struct Callback<'a> {
    pub provider: &'a str,
    pub credential_id: i64,
    /// Path and query exactly as received (`/api/v1/callbacks/twilio/7?x=1`).
    pub path_and_query: &'a str,
    /// The Host header, to rebuild the URL when `server.public_url` is empty.
    pub host: Option<&'a str>,
    /// The `X-Twilio-Signature` header.
    pub twilio_signature: Option<&'a str>,
    /// Meta's `X-Hub-Signature-256` header.
    pub hub_signature: Option<&'a str>,
    /// Sidobe's `X-Webhook-Signature` header.
    pub webhook_signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a callback's reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub changed: usize,
    pub unchanged: usize,
    pub unknown: usize,
    /// Reports whose message is not known yet, kept until it is (`early`).
    pub parked: usize,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InboundError {
    /// No such provider, or one without a report mechanism (404).
    #[error("no delivery-report receiver for provider `{0}`")]
    NoReceiver(String),
    /// The body is not what the provider sends (400).
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The signature does not verify, or the credential does not own the message (403).
    #[error("callback not authentic: {0}")]
    Forbidden(&'static str),
    /// The change could not be made durable (503: the provider retries).
    #[error("callback not recorded: {0}")]
    Unavailable(String),
}

impl From<StatusError> for InboundError {
    fn from(e: StatusError) -> Self {
        InboundError::Unavailable(e.to_string())
    }
}

pub struct Receivers {
    store: SharedStore,
    directory: Arc<Directory>,
    status: StatusService,
    /// `server.public_url`.
    public_url: String,
    early: Arc<early::EarlyReports>,
    /// What the gateway receivers keep between calls (Sidobe event ids, followed sends).
    gateways: sidobe::GatewayState,
}

/// A report located to its message and credential, not yet applied.
pub(crate) struct Located {
    pub message: MessageRecord,
    pub credential: CredentialRecord,
}

impl Receivers {
    pub fn new(store: SharedStore, directory: Arc<Directory>, status: StatusService, public_url: String, early: Arc<early::EarlyReports>) -> Self {
        Self { store, directory, status, public_url, early, gateways: Default::default() }
    }

    /// The parked-report matcher ([`early::EarlyReports::run`] drives it).
    pub fn early_reports(&self) -> Arc<early::EarlyReports> {
        self.early.clone()
    }

    /// The Sidobe sends dispatch follows (so a webhook stops the reconciler's look-up).
    pub fn with_awaiting(mut self, awaiting: Arc<crate::providers::awaiting::Awaiting>) -> Self {
        self.gateways.awaiting = Some(awaiting);
        self
    }

    /// Meta's `GET` subscription check: the challenge to echo.
    pub async fn verify_subscription(&self, provider: &str, credential_id: i64, mode: Option<&str>, token: Option<&str>, challenge: Option<&str>) -> Result<String, InboundError> {
        match ProviderKind::from_code(provider) {
            Some(ProviderKind::MetaWhatsapp) => meta::verify_subscription(self, credential_id, mode, token, challenge).await,
            _ => Err(InboundError::NoReceiver(provider.into())),
        }
    }

    pub async fn receive(&self, cb: Callback<'_>) -> Result<Receipt, InboundError> {
        let result = self.receive_inner(&cb).await;
        if let Err(e) = &result {
            let reason = match e {
                InboundError::NoReceiver(_) => "no_receiver",
                InboundError::Malformed(_) => "malformed",
                InboundError::Forbidden(_) => "forbidden",
                InboundError::Unavailable(_) => "unavailable",
            };
            let provider = ProviderKind::from_code(cb.provider).map_or("unknown", |p| p.code());
            metrics::counter!(crate::telemetry::DELIVERY_REPORTS_REJECTED_TOTAL, "provider" => provider, "reason" => reason).increment(1);
        }
        result
    }

    async fn receive_inner(&self, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
        if cb.body.len() > BODY_LIMIT_BYTES {
            return Err(InboundError::Malformed("body too large".into()));
        }
        let kind = ProviderKind::from_code(cb.provider).ok_or_else(|| InboundError::NoReceiver(cb.provider.into()))?;
        match kind {
            ProviderKind::Twilio => twilio::receive(self, cb).await,
            ProviderKind::TwilioVoice => twilio_voice::receive(self, cb).await,
            ProviderKind::Infobip => infobip::receive(self, cb).await,
            ProviderKind::MetaWhatsapp => meta::receive(self, cb).await,
            ProviderKind::Sidobe => sidobe::receive(self, cb).await,
            _ => Err(InboundError::NoReceiver(cb.provider.into())),
        }
    }

    /// Finds a report's message and checks that the credential of the callback URL belongs
    /// to the message's association, serves this provider, and (when the message records one)
    /// is the credential that sent it. `Ok(None)`: unknown provider id.
    pub(crate) async fn locate(&self, kind: ProviderKind, credential_id: i64, ev: &StatusEvent) -> Result<Option<Located>, InboundError> {
        let message = self.status.locate(kind, &ev.provider_message_id).await?;
        self.check(kind, credential_id, message).await
    }

    /// [`Self::locate`] for a batch (one settling wait for all the misses).
    pub(crate) async fn locate_all(&self, kind: ProviderKind, credential_id: i64, evs: &[StatusEvent]) -> Result<Vec<Option<Located>>, InboundError> {
        let ids: Vec<&str> = evs.iter().map(|e| e.provider_message_id.as_str()).collect();
        let mut out = Vec::with_capacity(evs.len());
        // A batch names one credential, nearly always of one association: read it once.
        let mut known: Option<CredentialRecord> = None;
        for message in self.status.locate_many(kind, &ids).await? {
            let located = self.check_with(kind, credential_id, message, known.take()).await?;
            known = located.as_ref().map(|l| l.credential.clone());
            out.push(located);
        }
        Ok(out)
    }

    async fn check(&self, kind: ProviderKind, credential_id: i64, message: Option<MessageRecord>) -> Result<Option<Located>, InboundError> {
        self.check_with(kind, credential_id, message, None).await
    }

    /// [`Self::check`], reusing `known` when it is the credential of the message's association.
    async fn check_with(&self, kind: ProviderKind, credential_id: i64, message: Option<MessageRecord>, known: Option<CredentialRecord>) -> Result<Option<Located>, InboundError> {
        let Some(message) = message else {
            return Ok(None);
        };
        let known = known.filter(|c| c.id == credential_id && c.association_id == message.association_id);
        let credential = match known {
            Some(c) => c,
            None => match self.store.get_credential(message.association_id, credential_id).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(InboundError::Forbidden("the credential does not own this message")),
                Err(e) => return Err(InboundError::Unavailable(e.to_string())),
            },
        };
        if credential.provider_id != kind.id() || message.credential_id.is_some_and(|c| c != credential_id) {
            return Err(InboundError::Forbidden("the credential does not own this message"));
        }
        Ok(Some(Located { message, credential }))
    }

    /// A credential field, unsealed (Twilio's `authToken`).
    pub(crate) fn credential_field(&self, rec: &CredentialRecord, name: &str) -> Option<String> {
        let fields = self.directory.credentials_of(rec).ok()?;
        fields.get(name).and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// The URLs the provider may have called, for signature checks: `server.public_url` +
    /// path, or (without one) the Host header under https and http.
    pub(crate) fn callback_urls(&self, cb: &Callback<'_>) -> Vec<String> {
        let bases: Vec<String> = if !self.public_url.is_empty() {
            vec![self.public_url.trim_end_matches('/').to_owned()]
        } else {
            match cb.host {
                Some(h) => vec![format!("https://{h}"), format!("http://{h}")],
                None => Vec::new(),
            }
        };
        bases.iter().flat_map(|b| crate::auth::twilio::port_variants(&format!("{b}{}", cb.path_and_query))).collect()
    }

    /// Applies located reports in order, in one commit, and tallies them (unknown ones
    /// already counted by the caller).
    pub(crate) async fn apply_all(&self, located: Vec<(Located, StatusEvent)>, unknown: usize) -> Result<Receipt, InboundError> {
        let mut r = Receipt { unknown, ..Receipt::default() };
        let items = located.into_iter().map(|(l, ev)| (l.message.id, ev)).collect();
        for applied in self.status.apply_located(items).await? {
            match applied {
                Applied::Changed { .. } => r.changed += 1,
                Applied::Unchanged { .. } => r.unchanged += 1,
                Applied::Unknown => r.unknown += 1,
            }
        }
        Ok(r)
    }
}
