//! Infobip SMS v3 (`shared/providers/infobip.md`): JSON `POST /sms/3/messages`,
//! `Authorization: App <apiKey>`, `to` as international digits, our message id as the
//! destination's `messageId` (Infobip rejects a repeat as `REJECTED_DUPLICATE_MESSAGE_ID`, which
//! makes a resend after an ambiguous timeout safe). A 200 can still carry a per-destination
//! rejection, so the status of `messages[0]` decides.

use super::wire::{base_url, endpoint, http_level, id_string, intl_digits, json, required, snippet, unrecognised};
use super::batch::{not_in_answer, BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct Infobip;


/// Infobip's `validityPeriod` maximum (and default): 48 h, in minutes.
const INFOBIP_MAX_VALIDITY_MINUTES: u64 = 2_880;

impl ProviderAdapter for Infobip {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Infobip
    }

    /// Infobip gives each account its own `https://{x}.api.infobip.com`; set it as the
    /// credential's `apiUrl`. The generic host is only a fallback.
    fn default_base_url(&self) -> &'static str {
        "https://api.infobip.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let text = sms.sms_text(self.kind())?;
        let key = required(cred, "apiKey")?;
        let message = message_json(sms, text);
        post(self, client, cred, key, json!({ "messages": [message] }))
    }

    fn batch(&self) -> Option<&dyn BatchAdapter> {
        Some(self)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let v = json(body);
        if status.is_success() {
            return match v.as_ref().and_then(|v| v.get("messages")?.get(0).cloned()) {
                Some(m) => classify_message(&m),
                None => unrecognised(status, body),
            };
        }
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        // Current shape `{errorCode, description, violations}`, legacy shape
        // `{requestError:{serviceException:{messageId, text, validationErrors}}}`.
        let (code, text, to_violation) = match &v {
            Some(v) if v.get("errorCode").is_some() => (
                v["errorCode"].as_str().unwrap_or("").to_owned(),
                v["description"].as_str().unwrap_or("").to_owned(),
                v["violations"].as_array().is_some_and(|a| {
                    a.iter().any(|x| x["property"].as_str().is_some_and(|p| p.ends_with(".to")))
                }),
            ),
            Some(v) if v.pointer("/requestError/serviceException").is_some() => {
                let e = &v["requestError"]["serviceException"];
                let to = e["validationErrors"].as_object().is_some_and(|m| m.keys().any(|k| k.ends_with(".to")));
                (e["messageId"].as_str().unwrap_or("").to_owned(), e["text"].as_str().unwrap_or("").to_owned(), to)
            }
            _ => (String::new(), snippet(body), false),
        };
        let reason = format!("HTTP {status} {code}: {text}");
        match code.as_str() {
            "E429" | "TOO_MANY_REQUESTS" => SendOutcome::Throttled { retry_after: super::wire::retry_after(headers) },
            "E500" | "GENERAL_ERROR" => SendOutcome::Transient { reason },
            "E401" | "E403" | "UNAUTHORIZED" | "FORBIDDEN" => SendOutcome::PermanentConfig { reason },
            _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => SendOutcome::PermanentConfig { reason },
            _ if to_violation => SendOutcome::PermanentRecipient { reason },
            _ => SendOutcome::PermanentContent { reason },
        }
    }
}

/// One `messages[i]` entry of a 200 answer: `{messageId, status:{groupName, name, …}}`.
fn classify_message(m: &Value) -> SendOutcome {
    let id = id_string(m.get("messageId")).unwrap_or_default();
    let group = m.pointer("/status/groupName").and_then(Value::as_str).unwrap_or("");
    let name = m.pointer("/status/name").and_then(Value::as_str).unwrap_or("");
    let reason = format!("infobip {group}/{name}");
    match group {
        "PENDING" | "ACCEPTED" | "DELIVERED" if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id },
        "UNDELIVERABLE" => SendOutcome::PermanentRecipient { reason },
        "REJECTED" => match name {
            // Our messageId was already accepted: the earlier attempt went through.
            "REJECTED_DUPLICATE_MESSAGE_ID" if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id },
            "REJECTED_DESTINATION" | "REJECTED_PREFIX_MISSING" | "MISSING_TO" | "REJECTED_DND"
            | "REJECTED_DESTINATION_BLOCKLISTED" | "REJECTED_INVALID_DESTINATION_ADDRESS" => {
                SendOutcome::PermanentRecipient { reason }
            }
            "REJECTED_NOT_ENOUGH_CREDITS" | "REJECTED_SOURCE" | "REJECTED_SENDER" | "REJECTED_ROUTE_NOT_AVAILABLE"
            | "REJECTED_NETWORK" => SendOutcome::PermanentConfig { reason },
            // Both are "try again later": the system error soon, the per-recipient flooding
            // filter much later. Not Throttled: that would slow the whole credential for one number.
            "REJECTED_SYSTEM_ERROR" | "REJECTED_FLOODING_FILTER" => SendOutcome::Transient { reason },
            _ => SendOutcome::PermanentContent { reason },
        },
        _ => SendOutcome::Ambiguous { reason: format!("unrecognised status {reason}") },
    }
}

/// One `messages[]` entry: its own sender, text, report URL and validity, one destination
/// whose `messageId` is the engine's id (what maps a batch answer back, and what makes a
/// resend detectable as `REJECTED_DUPLICATE_MESSAGE_ID`).
fn message_json(sms: &OutboundMessage, text: &str) -> Value {
    // Infobip picks GSM-7 or UCS-2 from the UTF-8 text itself (no flag in the v3 API).
    let mut message = json!({
        "sender": sms.sender,
        "destinations": [{ "to": intl_digits(&sms.recipient), "messageId": sms.message_id.to_string() }],
        "content": { "text": text },
    });
    // Delivery reports for this message go to the engine's receiver (v3's per-message
    // `webhooks.delivery.url`; v2 called it `notifyUrl`).
    if let Some(url) = &sms.status_callback_url {
        message["webhooks"] = json!({ "delivery": { "url": url, "intermediateReport": false }, "contentType": "application/json" });
    }
    // Infobip's default validity is its maximum, 48 h: only a shorter one is passed on.
    if let Some(minutes) = sms.validity_secs.map(|s| s.div_ceil(60).max(1)).filter(|m| *m < INFOBIP_MAX_VALIDITY_MINUTES) {
        message["options"] = json!({ "validityPeriod": { "amount": minutes, "timeUnit": "MINUTES" } });
    }
    message
}

fn post(adapter: &Infobip, client: &reqwest::Client, cred: &ProviderCredential, key: &str, body: Value) -> Result<reqwest::RequestBuilder, BuildError> {
    Ok(client
        .post(endpoint(cred, format!("{}/sms/3/messages", base_url(adapter, cred)))?)
        .header(AUTHORIZATION, format!("App {key}"))
        .header(ACCEPT, "application/json")
        .json(&body))
}

/// `messages[]` × `destinations[]` in one request (the max per request is unconfirmed; the
/// configured batch size, 100 by default, stays well under this cap). The answer lists one
/// entry per destination, found by the `messageId` we gave it.
impl BatchAdapter for Infobip {
    fn max_messages(&self) -> usize {
        1000
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        let key = required(cred, "apiKey")?;
        let messages = msgs.iter().map(|m| Ok(message_json(m, m.sms_text(self.kind())?))).collect::<Result<Vec<_>, BuildError>>()?;
        post(self, client, cred, key, json!({ "messages": messages }))
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome {
        if !status.is_success() {
            return BatchOutcome::Request(self.classify(status, headers, body));
        }
        let Some(entries) = json(body).and_then(|v| v.get("messages")?.as_array().cloned()) else {
            return BatchOutcome::Request(unrecognised(status, body));
        };
        let by_id: HashMap<String, &Value> = entries.iter().filter_map(|e| Some((id_string(e.get("messageId"))?, e))).collect();
        BatchOutcome::PerMessage(
            msgs.iter()
                .enumerate()
                .map(|(i, m)| {
                    // By our id; by position only when the answer carries no ids we gave.
                    let entry = by_id.get(&m.message_id.to_string()).copied().or_else(|| (by_id.is_empty()).then(|| entries.get(i)).flatten());
                    entry.map(classify_message).unwrap_or_else(|| not_in_answer("infobip"))
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Infobip.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    fn with_status(group_id: u8, group: &str, id: u16, name: &str) -> String {
        format!(
            r#"{{"bulkId":"2034072219640523072","messages":[{{"messageId":"2250be2d4219-3af1-78856-aabe-1362af1edfd2",
            "status":{{"groupId":{group_id},"groupName":"{group}","id":{id},"name":"{name}","description":"d"}},
            "destination":"966500000000","details":{{"messageCount":1}}}}]}}"#
        )
    }

    #[test]
    fn pending_accepted_is_accepted() {
        assert_eq!(
            classify(200, &with_status(1, "PENDING", 26, "PENDING_ACCEPTED")),
            SendOutcome::Accepted { provider_message_id: "2250be2d4219-3af1-78856-aabe-1362af1edfd2".into() }
        );
        // v2 shape differs only in per-message keys.
        let v2 = r#"{"messages":[{"to":"966500000000","status":{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED"},"messageId":"m-1"}]}"#;
        assert_eq!(classify(200, v2), SendOutcome::Accepted { provider_message_id: "m-1".into() });
    }

    #[test]
    fn inline_rejections_are_classified() {
        assert!(matches!(classify(200, &with_status(5, "REJECTED", 52, "REJECTED_DESTINATION")), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify(200, &with_status(5, "REJECTED", 10, "REJECTED_DND")), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify(200, &with_status(5, "REJECTED", 12, "REJECTED_NOT_ENOUGH_CREDITS")), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(200, &with_status(5, "REJECTED", 13, "REJECTED_SENDER")), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(200, &with_status(5, "REJECTED", 21, "REJECTED_SYSTEM_ERROR")), SendOutcome::Transient { .. }));
        assert!(matches!(
            classify(200, &with_status(5, "REJECTED", 23, "REJECTED_DUPLICATE_MESSAGE_ID")),
            SendOutcome::Accepted { .. }
        ));
    }

    #[test]
    fn error_bodies_in_both_shapes() {
        let v3 = |code: &str| format!(r#"{{"errorCode":"{code}","description":"d","action":"a","violations":[],"resources":[]}}"#);
        assert!(matches!(classify(401, &v3("E401")), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(403, &v3("E403")), SendOutcome::PermanentConfig { .. }));
        assert_eq!(classify(429, &v3("E429")), SendOutcome::Throttled { retry_after: None });
        assert!(matches!(classify(500, &v3("E500")), SendOutcome::Transient { .. }));
        assert!(matches!(classify(400, &v3("E400")), SendOutcome::PermanentContent { .. }));
        let bad_to = r#"{"errorCode":"E400","description":"d","violations":[{"property":"messages[0].destinations[0].to","violation":"invalid"}]}"#;
        assert!(matches!(classify(400, bad_to), SendOutcome::PermanentRecipient { .. }));
        let legacy = r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#;
        assert!(matches!(classify(401, legacy), SendOutcome::PermanentConfig { reason } if reason.contains("Invalid login")));
        let legacy_to = r#"{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"messages[0].destinations[0].to":["invalid"]}}}}"#;
        assert!(matches!(classify(400, legacy_to), SendOutcome::PermanentRecipient { .. }));
    }
}
