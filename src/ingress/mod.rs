//! Ingress: turns an authenticated send request into a durable message handed to dispatch.
//!
//! Validate and normalise (E.164, country, channel, lengths), assign a time-ordered id,
//! write the message durably (the store group-commits many requests into one fsync), hand it
//! to dispatch, and only then acknowledge. Admission is bounded: when dispatch holds
//! `dispatch.max_in_memory` messages or the store's write queue is full, the answer is 503
//! with `Retry-After`, so memory stays bounded whatever the load.
//!
//! Concurrency comes from the HTTP server's tasks rather than a separate actor pool: a pool
//! would add a hop without adding batching, which the group committer already does.

pub mod channel;
pub mod email;
pub mod fallback;
pub mod json;
pub mod multichannel;
pub mod signed;
pub mod validity;
pub mod sms_rules;
pub mod whatsapp;
pub mod whatsapp_bulk;

pub use signed::SignedIngress;

use crate::dispatch::{DispatchError, Dispatcher};
use crate::domain::{now_ms, IdGenerator};
pub use email::recipient_for;
use crate::store::{MessageRecord, MessageStatus, SharedStore, StoreError};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// A field is missing or wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Signature(#[from] crate::auth::webhook::SignatureError),
    #[error("Inactive association")]
    Inactive,
    /// The association's `allowedIps` do not include the client address.
    #[error("IP not allowed")]
    IpNotAllowed,
    /// The recipient is on the association's opt-out list (422).
    #[error("{0}")]
    OptedOut(String),
    #[error("engine saturated: {0}")]
    Saturated(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One validated message to accept.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub association_id: i64,
    pub recipient: String,
    pub body: String,
    pub channel: String,
    pub priority: i32,
    pub credential_id: Option<i64>,
    /// Deliver at this time (Unix ms) instead of now.
    pub scheduled_at: Option<i64>,
    /// A WhatsApp template or media payload (`body` is then its summary).
    pub content: Option<crate::domain::WhatsAppContent>,
    /// Status callbacks of this message go here (else to the association's URL); checked
    /// by the caller against the callback target policy.
    pub callback_url: Option<String>,
    /// The send's own `validityPeriod` in seconds (else the association's, else the engine's).
    pub validity_secs: Option<u32>,
    /// Smart encoding, quiet hours and transactional marks asked for by the send.
    pub sms: sms_rules::SendOptions,
    /// An email's subject and HTML part (`channel: "email"` only; without it the subject is
    /// the text's first line).
    pub email: Option<crate::domain::EmailContent>,
    /// The channels to try next if this one fails for good (already validated by the caller).
    pub fallback: Vec<crate::domain::FallbackStep>,
    /// `shortenLinks`: replace each http(s) URL of the text by a tracked link under this base
    /// URL (`server.public_url`, or the request's host), stored with the message.
    pub shorten_links: Option<String>,
}

/// The acknowledgement of a durable message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: i64,
    pub status: MessageStatus,
    /// SMS only: how it travels and in how many parts.
    pub encoding: Option<crate::domain::sms::Encoding>,
    pub segments: u32,
    pub smart_encoding_applied: bool,
}

pub struct Ingress {
    store: SharedStore,
    dispatcher: Dispatcher,
    ids: Arc<IdGenerator>,
    max_message_chars: usize,
    /// Wakes the scheduler when a scheduled message is stored.
    schedule_changed: Arc<tokio::sync::Notify>,
    validity: validity::Validity,
}

impl Ingress {
    pub fn new(
        store: SharedStore,
        dispatcher: Dispatcher,
        ids: Arc<IdGenerator>,
        max_message_chars: usize,
        schedule_changed: Arc<tokio::sync::Notify>,
        validity: validity::Validity,
    ) -> Self {
        Self { store, dispatcher, ids, max_message_chars, schedule_changed, validity }
    }

    pub fn max_message_chars(&self) -> usize {
        self.max_message_chars
    }

    /// Validates, persists durably, hands to dispatch. Returns once the message is durable.
    pub async fn accept(&self, m: NewMessage) -> Result<Accepted, IngressError> {
        self.accept_watched(m, None).await
    }

    /// [`Self::accept`], and with `outcome` set, registers for the message's dispatch outcome
    /// before handing it over (the synchronous WhatsApp sends answer with the provider's id).
    pub async fn accept_watched(
        &self,
        m: NewMessage,
        outcome: Option<&mut Option<tokio::sync::oneshot::Receiver<MessageRecord>>>,
    ) -> Result<Accepted, IngressError> {
        // The one activity check every sending path makes (webhook, dashboard, gRPC, WhatsApp).
        let association = crate::directory::require_active(self.store.as_ref(), m.association_id).await.map_err(|e| match e {
            crate::directory::DirectoryError::Inactive => IngressError::Inactive,
            crate::directory::DirectoryError::NotFound(m) => IngressError::NotFound(m),
            crate::directory::DirectoryError::Store(s) => IngressError::Store(s),
            other => IngressError::Invalid(other.to_string()),
        })?;
        let recipient = if m.channel == "whatsapp" && crate::providers::waweb::is_group_id(m.recipient.trim()) {
            group_recipient(&self.store, m.association_id, m.recipient.trim()).await?
        } else {
            recipient_for(&m.channel, &m.recipient)?
        };
        if m.body.trim().is_empty() {
            return Err(IngressError::Invalid("message must not be empty".into()));
        }
        // Before encoding and segment counting: the text sent is the shortened one.
        let mut m = m;
        let id = self.ids.next_id();
        let tracked = match m.shorten_links.take() {
            Some(base) => {
                let (text, links) = crate::links::shorten::shorten(&m.body, &base).map_err(|e| IngressError::Invalid(format!("could not draw a link code: {e}")))?;
                m.body = text;
                Some((base, links))
            }
            None => None,
        };
        let chars = m.body.chars().count();
        if chars > self.max_message_chars {
            return Err(IngressError::Invalid(format!("message has {chars} characters; the limit is {}", self.max_message_chars)));
        }
        let channel = channel::deliverable(&self.store, m.association_id, &m.channel).await.map_err(|e| match e {
            channel::ChannelError::Refused(why) => IngressError::Invalid(why),
            channel::ChannelError::Store(e) => IngressError::Store(e),
        })?;
        let email = email::content_for(channel, m.email, &m.body)?;
        if channel == crate::domain::Channel::Slack {
            crate::domain::slack::check_body(&m.body).map_err(IngressError::Invalid)?;
        }
        let shaped = sms_rules::shape(&association.sms, channel, m.body, &m.sms).map_err(IngressError::Invalid)?;
        sms_rules::check_opt_out(self.store.as_ref(), &association.sms, m.association_id, &recipient.e164, channel.as_str(), &m.sms).await?;
        let now = now_ms();
        let scheduled = crate::domain::time::schedule_at(m.scheduled_at, now).map_err(IngressError::Invalid)?;
        if scheduled.is_none() {
            self.dispatcher.admit().map_err(|e| IngressError::Saturated(e.to_string()))?;
        }
        if m.content.is_some() && channel != crate::domain::Channel::Whatsapp {
            return Err(IngressError::Invalid(format!("a WhatsApp template or media payload cannot be sent on the {} channel", channel.as_str())));
        }
        let expires_at = self.validity.deadline(m.validity_secs, &association, scheduled.unwrap_or(now)).map_err(IngressError::Invalid)?;
        let mut record = MessageRecord {
            expires_at: Some(expires_at),
            email,
            fallback: m.fallback,
            priority: m.priority,
            credential_id: m.credential_id,
            content: m.content,
            callback_url: m.callback_url,
            encoding: shaped.encoding,
            segments: shaped.segments,
            ..MessageRecord::accepted(id, m.association_id, recipient, shaped.body, m.channel.clone(), scheduled, now)
        };
        match tracked {
            Some((base, links)) if !links.is_empty() => record = self.insert_with_links(record, &base, links, now).await?,
            _ => self.store.insert_messages(std::slice::from_ref(&record)).await?,
        }
        metrics::counter!(crate::telemetry::INGRESS_ACCEPTED_TOTAL, "channel" => channel.as_str())
            .increment(1);
        let accepted = |status| Accepted {
            id,
            status,
            encoding: shaped.encoding,
            segments: shaped.segments,
            smart_encoding_applied: shaped.smart_encoding_applied,
        };
        if scheduled.is_some() {
            self.schedule_changed.notify_one();
            return Ok(accepted(MessageStatus::Scheduled));
        }
        if let Some(slot) = outcome {
            *slot = Some(self.dispatcher.watch(id));
        }
        match self.dispatcher.submit(record) {
            Ok(()) | Err(DispatchError::Saturated(_)) => {}
            // Durable already: recovery dispatches it on the next start.
            Err(DispatchError::Stopped) => tracing::warn!(id, "dispatch stopped; message kept for recovery"),
        }
        Ok(accepted(MessageStatus::Queued))
    }
}

impl Ingress {
    /// Stores a message with its tracked links in one write; a code found taken (odds about
    /// 2^-59 each) is drawn again, the text rewritten, and the write repeated.
    async fn insert_with_links(&self, mut record: MessageRecord, base: &str, mut links: Vec<crate::links::shorten::TrackedLink>, now: i64) -> Result<MessageRecord, IngressError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rows = crate::links::tracked_records(&self.ids, record.association_id, record.id, record.campaign_id, links.clone(), now);
            match self.store.insert_messages_with_links(std::slice::from_ref(&record), &rows).await {
                Err(StoreError::Conflict(what)) if attempt < 4 => {
                    tracing::warn!(%what, "tracked link code taken; drawing new codes");
                    for l in &mut links {
                        crate::links::shorten::redraw(&mut record.body, base, l).map_err(|e| IngressError::Invalid(format!("could not draw a link code: {e}")))?;
                    }
                }
                other => return other.map(|()| record).map_err(IngressError::from),
            }
        }
    }
}

/// A WhatsApp group id (`…@g.us`) as a recipient: only the WA-Web gateway sends to groups
/// (dispatch routes such a message to its credentials alone), so the association needs one.
async fn group_recipient(store: &crate::store::SharedStore, association_id: i64, group: &str) -> Result<crate::domain::phone::Recipient, IngressError> {
    let creds = store.list_credentials(association_id).await?;
    if !creds.iter().any(|c| c.provider_id == crate::domain::ProviderKind::WaWebGateway.id()) {
        return Err(IngressError::Invalid(format!(
            "recipient `{group}` is a WhatsApp group id: only a WA-Web gateway credential (providerId 10) sends to groups, and association {association_id} has none"
        )));
    }
    Ok(crate::domain::phone::Recipient { e164: group.to_owned(), country: None })
}
