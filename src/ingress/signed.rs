//! The HMAC-signed webhook path: signature headers, association lookup, verification
//! against the raw body and its compatible re-serialisations, the association's IP
//! allow-list and activity, replay protection, then the typed request. Order matters: cheap
//! header checks first, the association's secret only for a fresh signature, and no detail
//! about an association before its signature holds.
//!
//! A bulk body can be tens of megabytes: only `associationId` (and `idempotencyKey`) are read
//! before the signature is checked, and a parsed tree is built only if the raw bytes did not
//! verify. Verification and the replay check are separate steps so the HTTP layer can answer
//! a retried request carrying an idempotency key (possibly the very same signed bytes) with
//! its first answer between the two.

use super::{Accepted, Ingress, IngressError, NewMessage};
use super::json::{parse as parse_json, parse_borrowed as parse_json_borrowed};
use crate::auth::webhook::{self, SignatureError, SignedRequest};
use crate::campaigns::{BulkAccepted, BulkRequest, BulkSettings, CampaignError, CampaignService};
use crate::coord::Coordinator;
use crate::directory::{Directory, DirectoryError};
use crate::domain::{now_ms, template, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

pub struct SignedIngress {
    pub ingress: Arc<Ingress>,
    directory: Arc<Directory>,
    campaigns: Arc<CampaignService>,
    /// Replay protection (in Redis when configured) when `webhook.reject_replays`.
    replay: Option<Arc<Coordinator>>,
    max_skew_ms: i64,
    /// Checks a send's `callbackUrl` (without it, the strict default policy does).
    callbacks: Option<Arc<crate::callbacks::Callbacks>>,
}

/// A request whose signature, association, allow-list and activity checked out.
pub struct Verified {
    pub association_id: i64,
    /// The body's `idempotencyKey` field, as sent.
    pub idempotency_field: Option<Value>,
    /// Where `shortenLinks` points its short URLs (`server.public_url`, else the request's
    /// host); set by the HTTP edge, empty when the send cannot shorten.
    pub link_base: String,
    signature: [u8; 32],
    timestamp_ms: i64,
}

/// `POST /api/v1/webhook/notification`, as documented.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRequest {
    pub association_id: i64,
    pub recipient: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub template_code: Option<String>,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    #[serde(default)]
    pub scheduled_at: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Beyond the document: status callbacks of this message go here.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Beyond the document: seconds the message may take to be delivered.
    #[serde(default)]
    pub validity_period: Option<u32>,
    /// Beyond the document: replace look-alike characters so the text fits GSM-7.
    #[serde(default)]
    pub smart_encoding: Option<bool>,
    /// Beyond the document: inside the association's quiet hours, wait for their end.
    #[serde(default)]
    pub respect_quiet_hours: Option<bool>,
    /// Beyond the document: a transactional send (see `optOutBypassTransactional`).
    #[serde(default)]
    pub transactional: Option<bool>,
    /// Beyond the document: the email's subject (`channel: "email"`; default: the first line).
    #[serde(default)]
    pub subject: Option<String>,
    /// Beyond the document: the email's HTML part (default: made from the text).
    #[serde(default)]
    pub html: Option<String>,
    /// Beyond the document: channels to try in order when the message fails for good on its
    /// own, to the same recipient (`["sms"]` after a WhatsApp message).
    #[serde(default)]
    pub fallback_channels: Option<Vec<String>>,
    /// Beyond the document: replace each http(s) URL of the text by a tracked short link.
    #[serde(default)]
    pub shorten_links: Option<bool>,
}

/// `POST /api/v1/webhook/bulk`, as documented (plus `templateCode`, `sendRate`, `priority`).
/// Recipients stay raw slices of the body: a million of them are not materialised at once.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkBody<'a> {
    pub association_id: i64,
    #[serde(borrow)]
    pub recipients: Vec<&'a RawValue>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub template_code: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub scheduled_at: Option<String>,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    #[serde(default)]
    pub send_rate: Option<f64>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Beyond the document: status callbacks of the campaign's messages go here.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Beyond the document: seconds each message may take to be delivered.
    #[serde(default)]
    pub validity_period: Option<u32>,
    /// Beyond the document: smart encoding for this campaign's messages.
    #[serde(default)]
    pub smart_encoding: Option<bool>,
    /// Beyond the document: the subject of an email campaign (personalised like the message).
    #[serde(default)]
    pub subject: Option<String>,
    /// Beyond the document: a tracked short link per recipient for each http(s) URL.
    #[serde(default)]
    pub shorten_links: Option<bool>,
}

/// The fields read before the signature is checked (the rest is skipped, not built).
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "associationId")]
    association_id: Option<Value>,
    #[serde(rename = "idempotencyKey")]
    idempotency_key: Option<Value>,
}

impl SignedIngress {
    pub fn new(
        ingress: Arc<Ingress>,
        directory: Arc<Directory>,
        campaigns: Arc<CampaignService>,
        coord: Arc<Coordinator>,
        reject_replays: bool,
        max_skew_ms: i64,
    ) -> Self {
        Self { ingress, directory, campaigns, replay: reject_replays.then_some(coord), max_skew_ms, callbacks: None }
    }

    /// Sends' `callbackUrl`s are checked by `callbacks` (its `allow_private_targets`).
    pub fn with_callbacks(mut self, callbacks: Arc<crate::callbacks::Callbacks>) -> Self {
        self.callbacks = Some(callbacks);
        self
    }

    /// A send's `callbackUrl`, checked against the callback target policy.
    async fn callback_url(&self, url: Option<String>) -> Result<Option<String>, IngressError> {
        let Some(url) = url else { return Ok(None) };
        let checked = match &self.callbacks {
            Some(c) => c.check_url("callbackUrl", &url).await.map_err(|e| e.to_string()),
            None => crate::callbacks::TargetPolicy { allow_private: false }.check(&url).await.map_err(|e| format!("field `callbackUrl` {e}")),
        };
        checked.map(Some).map_err(|m| IngressError::Invalid(format!("Invalid request: {m}")))
    }

    /// Checks headers, signature, the IP allow-list and activity.
    pub async fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        client_ip: Option<IpAddr>,
    ) -> Result<Verified, IngressError> {
        let now = now_ms();
        let req = SignedRequest { signature, timestamp, body };
        let (ts_ms, sig) = webhook::check_headers(&req, now, self.max_skew_ms)?;
        let head: Head = parse_json(body).map_err(invalid_request)?;
        let association_id = match head.association_id {
            Some(v) => v.as_i64().ok_or_else(|| IngressError::Invalid("Invalid request: field `associationId`: expected an integer".into()))?,
            None => return Err(IngressError::Invalid("Invalid request: missing field `associationId`".into())),
        };
        // An unknown association cannot have signed this: same answer as a bad signature.
        let identity = match self.directory.signing_identity(association_id).await {
            Ok(a) => a,
            Err(DirectoryError::NotFound(_) | DirectoryError::Sealed(_)) => return Err(SignatureError::Invalid.into()),
            Err(DirectoryError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(IngressError::Invalid(e.to_string())),
        };
        let (assoc, secret) = (&identity.record, &identity.secret);
        let ts_text = timestamp.unwrap_or_default().trim();
        let verified = webhook::verify(&secret, ts_text, body, None, &sig) || {
            let parsed: Option<Value> = serde_json::from_slice(body).ok();
            webhook::verify(&secret, ts_text, body, parsed.as_ref(), &sig)
        };
        if !verified {
            return Err(SignatureError::Invalid.into());
        }
        if !crate::auth::ip::stored_list_allows(&assoc.ip_allowlist, client_ip) {
            metrics::counter!(crate::telemetry::AUTH_IP_DENIED_TOTAL, "scheme" => "webhook").increment(1);
            return Err(IngressError::IpNotAllowed);
        }
        if !assoc.is_active {
            return Err(IngressError::Inactive);
        }
        Ok(Verified { association_id, idempotency_field: head.idempotency_key, link_base: String::new(), signature: sig, timestamp_ms: ts_ms })
    }

    /// Accepts each signature once within its window.
    pub async fn check_replay(&self, v: &Verified) -> Result<(), IngressError> {
        if let Some(coord) = &self.replay {
            if !coord.first_use_signature(&v.signature, v.timestamp_ms, now_ms()).await {
                return Err(SignatureError::Replayed.into());
            }
        }
        Ok(())
    }

    /// `POST /api/v1/webhook/notification` after [`Self::verify`] and [`Self::check_replay`].
    pub async fn notification(&self, verified: &Verified, body: &[u8]) -> Result<Accepted, IngressError> {
        let req: NotificationRequest = parse_json(body).map_err(invalid_request)?;
        let shorten_links = shorten_base(req.shorten_links, verified)?;
        let mut scheduled_at = parse_scheduled(req.scheduled_at.as_deref())?;
        let sms = super::sms_rules::SendOptions {
            smart_encoding: req.smart_encoding,
            respect_quiet_hours: req.respect_quiet_hours.unwrap_or(false),
            transactional: req.transactional.unwrap_or(false),
        };
        if sms.respect_quiet_hours {
            scheduled_at = self.after_quiet_hours(req.association_id, scheduled_at).await?;
        }
        let callback_url = self.callback_url(req.callback_url).await?;
        let data = req.data.unwrap_or_default();
        // `channel: "whatsapp"` with a templateCode naming an approved WhatsApp template: `data`
        // holds its parameters, exactly as `parameters` on `/whatsapp-send/template`.
        if let (Some("whatsapp"), Some(code)) = (req.channel.as_deref(), req.template_code.as_deref().filter(|c| !c.is_empty())) {
            let templates = self.ingress.store.list_wa_templates(req.association_id).await?;
            if let Some(t) = super::whatsapp::resolve(&templates, code).map_err(IngressError::Invalid).map_err(prefix_invalid)? {
                let (content, rendered) = super::whatsapp::template_content(t, &data).map_err(IngressError::Invalid).map_err(prefix_invalid)?;
                let fallback = self.fallbacks(req.association_id, "whatsapp", &req.recipient, &rendered, req.fallback_channels.as_deref()).await?;
                let m = NewMessage {
                    association_id: req.association_id,
                    recipient: req.recipient,
                    body: rendered,
                    channel: "whatsapp".into(),
                    priority: req.priority.unwrap_or(0),
                    credential_id: None,
                    scheduled_at,
                    content: Some(crate::domain::WhatsAppContent::Template(content)),
                    callback_url,
                    validity_secs: req.validity_period,
                    sms,
                    email: None,
                    fallback,
                    shorten_links,
                };
                return self.ingress.accept(m).await.map_err(prefix_invalid);
            }
        }
        let (body, channel) = match req.template_code.as_deref().filter(|c| !c.is_empty()) {
            // As documented: with a template, `message` is ignored.
            Some(code) => {
                let t = self.template(req.association_id, code).await?;
                (template::render(&t.content, &[&data]), req.channel.unwrap_or(t.channel))
            }
            None => (
                req.message.ok_or_else(|| IngressError::Invalid("Invalid request: missing field `message` (or `templateCode`)".into()))?,
                req.channel.unwrap_or_else(|| "sms".into()),
            ),
        };
        let fallback = self.fallbacks(req.association_id, &channel, &req.recipient, &body, req.fallback_channels.as_deref()).await?;
        self.ingress
            .accept(NewMessage {
                association_id: req.association_id,
                recipient: req.recipient,
                body,
                channel,
                priority: req.priority.unwrap_or(0),
                credential_id: None,
                scheduled_at,
                content: None,
                callback_url,
                validity_secs: req.validity_period,
                sms,
                email: req.subject.map(|subject| crate::domain::EmailContent { subject, html: req.html }),
                fallback,
                shorten_links,
            })
            .await
            .map_err(prefix_invalid)
    }

    /// `respectQuietHours`: a send due inside the association's quiet hours (now, or at its
    /// `scheduledAt`) is scheduled for their end instead.
    async fn after_quiet_hours(&self, association_id: i64, scheduled_at: Option<i64>) -> Result<Option<i64>, IngressError> {
        let identity = self.directory.signing_identity(association_id).await.map_err(|e| match e {
            DirectoryError::Store(s) => IngressError::Store(s),
            other => IngressError::Invalid(other.to_string()),
        })?;
        let Some(q) = &identity.record.sms.quiet_hours else { return Ok(scheduled_at) };
        let due = scheduled_at.unwrap_or_else(|| self.campaigns.clock.now_ms());
        Ok(q.hold_until(due).map(Some).unwrap_or(scheduled_at))
    }

    /// The webhook's `fallbackChannels`: the same recipient on each channel, the same text.
    async fn fallbacks(
        &self,
        association_id: i64,
        primary: &str,
        recipient: &str,
        body: &str,
        channels: Option<&[String]>,
    ) -> Result<Vec<crate::domain::FallbackStep>, IngressError> {
        let Some(channels) = channels.filter(|c| !c.is_empty()) else { return Ok(Vec::new()) };
        let requests = channels
            .iter()
            .map(|c| super::fallback::FallbackRequest { channel: c.clone(), recipient: recipient.to_string(), body: None, email: None })
            .collect();
        super::fallback::steps(&self.ingress.store, association_id, primary, "fallbackChannels", body, requests).await.map_err(prefix_invalid)
    }

    /// `POST /api/v1/webhook/bulk` after [`Self::verify`] and [`Self::check_replay`].
    pub async fn bulk(&self, verified: &Verified, body: &[u8]) -> Result<BulkAccepted, IngressError> {
        let req: BulkBody = parse_json_borrowed(body).map_err(invalid_request)?;
        let shorten_links = shorten_base(req.shorten_links, verified)?;
        let scheduled_at = parse_scheduled(req.scheduled_at.as_deref())?;
        let callback_url = self.callback_url(req.callback_url).await?;
        // `channel: "whatsapp"` with a templateCode naming an approved WhatsApp template: each
        // recipient's parameters are `data` with its own `variables` over it.
        if let (Some("whatsapp"), Some(code)) = (req.channel.as_deref(), req.template_code.as_deref().filter(|c| !c.is_empty())) {
            let templates = self.ingress.store.list_wa_templates(req.association_id).await?;
            if let Some(t) = super::whatsapp::resolve(&templates, code).map_err(IngressError::Invalid).map_err(prefix_invalid)? {
                crate::directory::require_active(self.ingress.store.as_ref(), req.association_id).await.map_err(|e| match e {
                    DirectoryError::Inactive => IngressError::Inactive,
                    DirectoryError::NotFound(m) => IngressError::NotFound(m),
                    DirectoryError::Store(s) => IngressError::Store(s),
                    other => IngressError::Invalid(other.to_string()),
                })?;
                let options = crate::campaigns::PreparedOptions { scheduled_at, send_rate: req.send_rate, priority: req.priority.unwrap_or(0), callback_url };
                let bulk = super::whatsapp_bulk::WaBulk {
                    association_id: req.association_id,
                    template: t,
                    recipients: &req.recipients,
                    data: req.data.unwrap_or_default(),
                    name: req.campaign_name,
                    options,
                };
                let accepted = super::whatsapp_bulk::create(&self.campaigns, bulk).await?;
                if let Some(c) = &self.callbacks {
                    c.campaign_created(accepted.campaign.id, accepted.campaign.callback_url.clone());
                }
                return Ok(accepted);
            }
        }
        let (message, channel) = match req.template_code.as_deref().filter(|c| !c.is_empty()) {
            Some(code) => {
                let t = self.template(req.association_id, code).await?;
                (t.content, req.channel.unwrap_or(t.channel))
            }
            None => (
                req.message.ok_or_else(|| IngressError::Invalid("Invalid request: missing field `message` (or `templateCode`)".into()))?,
                req.channel.unwrap_or_else(|| "sms".into()),
            ),
        };
        self.campaigns
            .create_bulk(BulkRequest {
                settings: BulkSettings {
                    association_id: req.association_id,
                    message,
                    channel,
                    name: req.campaign_name,
                    scheduled_at,
                    data: req.data.unwrap_or_default(),
                    send_rate: req.send_rate,
                    priority: req.priority.unwrap_or(0),
                    credential_id: None,
                    callback_url,
                    validity_secs: req.validity_period,
                    smart_encoding: req.smart_encoding,
                    subject: req.subject,
                    shorten_links,
                },
                recipients: &req.recipients,
            })
            .await
            .inspect(|a| {
                if let Some(c) = &self.callbacks {
                    c.campaign_created(a.campaign.id, a.campaign.callback_url.clone());
                }
            })
            .map_err(|e| match e {
                CampaignError::Invalid(m) => IngressError::Invalid(format!("Invalid request: {m}")),
                CampaignError::NotFound(m) => IngressError::NotFound(m),
                CampaignError::Conflict(m) => IngressError::Invalid(m),
                CampaignError::Store(s) => IngressError::Store(s),
            })
    }

    async fn template(&self, association_id: i64, code: &str) -> Result<crate::store::TemplateRecord, IngressError> {
        self.directory.get_template(association_id, code).await.map_err(|e| match e {
            DirectoryError::NotFound(m) => IngressError::NotFound(m),
            DirectoryError::Store(s) => IngressError::Store(s),
            other => IngressError::Invalid(other.to_string()),
        })
    }
}

fn parse_scheduled(s: Option<&str>) -> Result<Option<i64>, IngressError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Timestamp::parse_scheduled_at(s).map(|t| Some(t.0)).map_err(|m| IngressError::Invalid(format!("Invalid request: {m}"))),
    }
}

/// `shortenLinks: true`: the base its short URLs get (refused when there is none to give).
fn shorten_base(asked: Option<bool>, v: &Verified) -> Result<Option<String>, IngressError> {
    match asked {
        Some(true) if v.link_base.is_empty() => {
            Err(IngressError::Invalid("Invalid request: shortenLinks needs server.public_url (or a Host header) for its short URLs".into()))
        }
        Some(true) => Ok(Some(v.link_base.clone())),
        _ => Ok(None),
    }
}

fn prefix_invalid(e: IngressError) -> IngressError {
    match e {
        IngressError::Invalid(m) if !m.starts_with("Invalid request") => IngressError::Invalid(format!("Invalid request: {m}")),
        other => other,
    }
}

/// A body that does not parse, in the words the HTTP edge uses for it.
fn invalid_request(detail: String) -> IngressError {
    IngressError::Invalid(format!("Invalid request: {detail}"))
}
