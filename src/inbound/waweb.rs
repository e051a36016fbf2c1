//! The WA-Web gateway's events (`shared/providers/wa-web-gateway.md`, seed 001), posted to
//! `/api/v1/callbacks/wawebgw/{credentialId}` (the client's webhook URL) with the client's API
//! key in `X-Api-Key`, the only authenticity signal: compared in constant time with the
//! credential's `clientApiKey`; missing or wrong is 403 and nothing is recorded.
//! * `message_sent` confirms its message as `sent`, through the one status path. The
//!   gateway's own id is used where the event carries one: `data.message` as the message
//!   object its send answer documents (`message.id._serialized`, which the engine stored as
//!   the provider id), or `data.messageId` / `data.id`. The seed's example event carries none
//!   (`message` repeats the text); then, as a documented fallback, the message is the oldest
//!   of this credential to the same recipient with the same text still short of `sent` (so
//!   two identical texts are confirmed one each), else the newest already sent (a repeat).
//!   The answer names the engine message matched (`messageId`, null when none), for tracing;
//! * `message_received` is kept as an inbound WhatsApp message of the association, and the
//!   association's auto-reply, if configured, is returned in `response` (the gateway sends it
//!   back; the answer is due within 5 s, so nothing here calls a provider);
//! * `call_rejected` is kept the same way, answered with the configured `rejectionMessage` (3 s).
//!
//! The per-association settings ([`GatewaySettings`]) live in the store's metadata rows.

use super::{InboundError, Receivers};
use crate::domain::{now_ms, phone, ProviderKind, WhatsAppContent};
use crate::status::{ReportStatus, StatusEvent};
use crate::store::{CredentialRecord, MessageRecord, MessageStatus, SharedStore, StoreError, WaInboundRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// What an association answers its gateway's events with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewaySettings {
    /// Sent back to whoever writes to the association's gateway number; none: no auto-reply.
    pub auto_reply: Option<String>,
    /// Sent to a caller whose WhatsApp call the gateway rejected; none: nothing is sent.
    pub call_rejection_message: Option<String>,
}

fn settings_key(association_id: i64) -> String {
    format!("whatsapp.gateway_settings.{association_id}")
}

pub async fn load_settings(store: &SharedStore, association_id: i64) -> Result<GatewaySettings, StoreError> {
    match store.get_meta(&settings_key(association_id)).await? {
        Some(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        None => Ok(GatewaySettings::default()),
    }
}

pub async fn save_settings(store: &SharedStore, association_id: i64, s: &GatewaySettings) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(s).map_err(|e| StoreError::Io(e.to_string()))?;
    store.put_meta(&settings_key(association_id), &bytes).await
}

/// The documented answer without an action.
pub fn received_answer() -> Value {
    json!({"status": "success", "message": "Webhook received successfully."})
}

/// The text a gateway send carried: a text's body, a media item's caption.
fn sent_text(m: &MessageRecord) -> String {
    match &m.content {
        Some(WhatsAppContent::Text { body, .. }) => body.clone(),
        Some(WhatsAppContent::Media(item)) => item.caption.clone().unwrap_or_default(),
        _ => m.body.clone(),
    }
}

/// `9665…@c.us` → `9665…`; a group id stays whole.
fn chat_id(raw: &str) -> String {
    if raw.ends_with("@g.us") {
        raw.to_owned()
    } else {
        raw.split('@').next().unwrap_or("").trim_start_matches('+').to_owned()
    }
}

/// Messages looked at, newest first, to match a `message_sent` (it comes seconds after the send).
const MATCH_WINDOW: usize = 200;

impl Receivers {
    async fn waweb_credential(&self, credential_id: i64) -> Result<CredentialRecord, InboundError> {
        let owner = self.store.credential_owner(credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        let cred = match owner {
            Some(a) => self.store.get_credential(a, credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?,
            None => None,
        };
        cred.filter(|c| c.provider_id == ProviderKind::WaWebGateway.id()).ok_or(InboundError::Forbidden("no WA-Web gateway credential has this id"))
    }

    /// One gateway event; the JSON to answer with.
    pub async fn receive_waweb(&self, credential_id: i64, api_key: Option<&str>, body: &[u8]) -> Result<Value, InboundError> {
        let result = self.receive_waweb_inner(credential_id, api_key, body).await;
        if let Err(e) = &result {
            let reason = match e {
                InboundError::NoReceiver(_) => "no_receiver",
                InboundError::Malformed(_) => "malformed",
                InboundError::Forbidden(_) => "forbidden",
                InboundError::Unavailable(_) => "unavailable",
            };
            metrics::counter!(crate::telemetry::DELIVERY_REPORTS_REJECTED_TOTAL, "provider" => ProviderKind::WaWebGateway.code(), "reason" => reason).increment(1);
        }
        result
    }

    async fn receive_waweb_inner(&self, credential_id: i64, api_key: Option<&str>, body: &[u8]) -> Result<Value, InboundError> {
        if body.len() > super::BODY_LIMIT_BYTES {
            return Err(InboundError::Malformed("body too large".into()));
        }
        let cred = self.waweb_credential(credential_id).await?;
        let expected = self.credential_field(&cred, "clientApiKey").filter(|k| !k.is_empty()).ok_or(InboundError::Forbidden("the credential has no clientApiKey"))?;
        let given = api_key.unwrap_or("");
        if !(given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))) {
            return Err(InboundError::Forbidden("X-Api-Key is not the client's API key"));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| InboundError::Malformed(format!("not JSON: {e}")))?;
        let data = v.get("data").filter(|d| d.is_object()).ok_or_else(|| InboundError::Malformed("data missing".into()))?;
        let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let at = data.get("timestamp").and_then(Value::as_i64).filter(|t| *t > 0).unwrap_or_else(now_ms);
        let store_err = |e: StoreError| InboundError::Unavailable(e.to_string());
        match v.get("event").and_then(Value::as_str) {
            Some("message_sent") => {
                let matched = match gateway_message_id(data) {
                    Some(pid) => self.confirm_sent_by_id(&cred, &pid, at).await?,
                    None => None,
                };
                let matched = match matched {
                    Some(id) => Some(id),
                    None => self.confirm_sent(&cred, &chat_id(&s("to")), &s("body"), at).await?,
                };
                let mut answer = received_answer();
                answer["messageId"] = json!(matched);
                Ok(answer)
            }
            Some(event @ ("message_received" | "call_rejected")) => {
                let from_raw = s("from");
                let chat = chat_id(&from_raw);
                if chat.is_empty() {
                    return Err(InboundError::Malformed("data.from missing".into()));
                }
                let from = if chat.ends_with("@g.us") { chat.clone() } else { phone::normalise(&format!("+{chat}")).map(|r| r.e164).unwrap_or_else(|_| chat.clone()) };
                let (kind, text) = if event == "call_rejected" {
                    let video = data.get("isVideo").and_then(Value::as_bool).unwrap_or(false);
                    ("call_rejected".to_owned(), if video { "rejected video call" } else { "rejected voice call" }.to_owned())
                } else {
                    let t = s("type");
                    (if t.is_empty() || t == "received_message" { "text".to_owned() } else { t.chars().take(32).collect() }, s("body").chars().take(4096).collect())
                };
                let rec = WaInboundRecord { association_id: cred.association_id, wamid: format!("wawebgw:{}:{at}:{chat}:{kind}", cred.id), from, kind, text, at };
                self.store.put_wa_inbound(&rec).await.map_err(store_err)?;
                metrics::counter!(crate::telemetry::WHATSAPP_INBOUND_TOTAL).increment(1);
                let settings = load_settings(&self.store, cred.association_id).await.map_err(store_err)?;
                let (field, action) = if event == "call_rejected" { ("rejectionMessage", settings.call_rejection_message) } else { ("response", settings.auto_reply) };
                Ok(match action.filter(|a| !a.trim().is_empty()) {
                    Some(text) => json!({"status": "success", field: text}),
                    None => received_answer(),
                })
            }
            // Unknown events: acknowledged (the gateway would retry an error), nothing recorded.
            _ => Ok(received_answer()),
        }
    }

    /// The message the gateway's id names, confirmed `sent` (None: no message of this
    /// credential has that id yet; the caller falls back to recipient and text).
    async fn confirm_sent_by_id(&self, cred: &CredentialRecord, pid: &str, at: i64) -> Result<Option<i64>, InboundError> {
        let found = self.status.locate(ProviderKind::WaWebGateway, pid).await?;
        let Some(m) = found.filter(|m| m.association_id == cred.association_id && m.credential_id.is_none_or(|c| c == cred.id)) else {
            return Ok(None);
        };
        self.status.apply_to(m.id, sent_event(cred, pid.to_owned(), at)).await?;
        Ok(Some(m.id))
    }

    /// The fallback without an id: the oldest message of this credential to `to` with this
    /// text still short of `sent`, else the newest already sent; confirmed `sent`.
    async fn confirm_sent(&self, cred: &CredentialRecord, to: &str, body: &str, at: i64) -> Result<Option<i64>, InboundError> {
        let recent = self.store.list_messages(Some(cred.association_id), None, MATCH_WINDOW).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        let code = ProviderKind::WaWebGateway.code();
        let candidates: Vec<&MessageRecord> = recent
            .iter()
            .filter(|m| {
                let recipient = if m.recipient.ends_with("@g.us") { m.recipient.clone() } else { m.recipient.trim_start_matches('+').to_owned() };
                m.channel == "whatsapp"
                    && recipient == to
                    && sent_text(m) == body
                    && m.status.rank() <= MessageStatus::Sent.rank()
                    && m.provider.as_deref().is_none_or(|p| p == code)
                    && m.credential_id.is_none_or(|c| c == cred.id)
            })
            .collect();
        // `recent` is newest first.
        let found = candidates.iter().rev().find(|m| m.status.rank() < MessageStatus::Sent.rank()).or(candidates.first());
        let Some(m) = found else {
            crate::status::StatusService::count_unknown(ProviderKind::WaWebGateway);
            return Ok(None);
        };
        self.status.apply_to(m.id, sent_event(cred, m.provider_message_id.clone().unwrap_or_default(), at)).await?;
        Ok(Some(m.id))
    }
}

fn sent_event(cred: &CredentialRecord, provider_message_id: String, at: i64) -> StatusEvent {
    StatusEvent {
        provider: ProviderKind::WaWebGateway,
        credential_id: Some(cred.id),
        provider_message_id,
        status: ReportStatus::Sent,
        raw_status: "message_sent".into(),
        error_code: None,
        error_text: None,
        at,
    }
}

/// The gateway's own id of the sent message, where the event carries one: `message` as the
/// message object of its send answer (`id._serialized`, or `id` as a string), or `messageId`
/// / `id` beside it. None for the seed's example event (`message` is the text).
fn gateway_message_id(data: &Value) -> Option<String> {
    let serialized = |v: &Value| v.get("_serialized").and_then(Value::as_str).or(v.as_str()).map(str::to_owned);
    let from_message = data.get("message").filter(|m| m.is_object()).and_then(|m| m.get("id")).and_then(serialized);
    from_message
        .or_else(|| data.get("messageId").and_then(serialized))
        .or_else(|| data.get("id").and_then(serialized))
        .filter(|id| !id.is_empty() && id.len() <= 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_are_normalised() {
        assert_eq!(chat_id("966500000001@c.us"), "966500000001");
        assert_eq!(chat_id("+966500000001"), "966500000001");
        assert_eq!(chat_id("120363@g.us"), "120363@g.us");
        let ev = json!({"to": "1", "message": {"id": {"_serialized": "3EB0AA", "fromMe": true}, "body": "x"}});
        assert_eq!(gateway_message_id(&ev).as_deref(), Some("3EB0AA"));
        assert_eq!(gateway_message_id(&json!({"message": "Hello from the API"})), None);
        assert_eq!(gateway_message_id(&json!({"messageId": "3EB0BB"})).as_deref(), Some("3EB0BB"));
        let s: GatewaySettings = serde_json::from_value(json!({"autoReply": "hi"})).unwrap();
        assert_eq!((s.auto_reply.as_deref(), s.call_rejection_message), (Some("hi"), None));
    }
}
