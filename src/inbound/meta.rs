//! Meta's WhatsApp Cloud API webhooks (`shared/providers/meta-whatsapp-cloud.md`, "Webhooks")
//! at `/api/v1/callbacks/meta/{credentialId}`:
//! * `GET` verification: `hub.mode=subscribe` and `hub.verify_token` equal to the credential's
//!   `webhookVerifyToken` (constant time) echo `hub.challenge`; anything else is 403.
//! * `POST` events, signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(appSecret, raw body)>`
//!   (constant time; no app secret or a bad signature is 403 and nothing is applied):
//!   `statuses` (sent, delivered, read, failed with `errors[]`) go to the one status path;
//!   inbound `messages` open or refresh that customer's 24-hour window and are kept;
//!   `message_template_status_update` sets the local template's status.

use super::{Callback, InboundError, Receipt, Receivers, MAX_REPORTS};
use crate::domain::{now_ms, phone, ProviderKind};
use crate::status::{ReportStatus, StatusEvent};
use crate::store::{CredentialRecord, WaInboundRecord};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Meta's status word, normalised.
fn map_status(s: &str) -> ReportStatus {
    match s {
        "sent" => ReportStatus::Sent,
        "delivered" => ReportStatus::Delivered,
        "read" => ReportStatus::Read,
        "failed" => ReportStatus::Failed,
        // "deleted", "warning", and anything new: acknowledged, no change.
        _ => ReportStatus::Pending,
    }
}

/// `X-Hub-Signature-256` of `body` under `secret`, checked in constant time.
pub fn signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(given) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    given.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&given))
}

/// The credential the callback URL names, with its association.
async fn credential(r: &Receivers, credential_id: i64) -> Result<CredentialRecord, InboundError> {
    let owner = r.store.credential_owner(credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
    let cred = match owner {
        Some(association_id) => r.store.get_credential(association_id, credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?,
        None => None,
    };
    cred.filter(|c| c.provider_id == ProviderKind::MetaWhatsapp.id()).ok_or(InboundError::Forbidden("no Meta credential has this id"))
}

/// `GET` verification: the challenge to echo, or why not.
pub async fn verify_subscription(r: &Receivers, credential_id: i64, mode: Option<&str>, token: Option<&str>, challenge: Option<&str>) -> Result<String, InboundError> {
    let cred = credential(r, credential_id).await?;
    let expected = r.credential_field(&cred, "webhookVerifyToken").ok_or(InboundError::Forbidden("the credential has no webhookVerifyToken"))?;
    let token_ok = token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())));
    if mode != Some("subscribe") || !token_ok {
        return Err(InboundError::Forbidden("hub.mode or hub.verify_token does not match"));
    }
    let challenge = challenge.filter(|c| !c.is_empty() && c.len() <= 256).ok_or_else(|| InboundError::Malformed("hub.challenge missing".into()))?;
    Ok(challenge.to_owned())
}

/// What one webhook carried, parsed before anything is applied.
#[derive(Default)]
struct Parsed {
    statuses: Vec<StatusEvent>,
    inbound: Vec<(String, String, String, String, i64)>,
    templates: Vec<(String, String, Option<String>)>,
}

fn parse(body: &[u8], credential_id: i64) -> Result<Parsed, InboundError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| InboundError::Malformed(format!("not JSON: {e}")))?;
    if v.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Err(InboundError::Malformed("object must be whatsapp_business_account".into()));
    }
    let mut p = Parsed::default();
    let changes = v.get("entry").and_then(Value::as_array).into_iter().flatten().flat_map(|e| e.get("changes").and_then(Value::as_array).into_iter().flatten());
    for change in changes {
        let value = change.get("value").unwrap_or(&Value::Null);
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match change.get("field").and_then(Value::as_str) {
            Some("messages") => {
                for st in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
                    let id = s(st, "id").filter(|i| !i.is_empty()).ok_or_else(|| InboundError::Malformed("statuses[].id missing".into()))?;
                    let raw = s(st, "status").unwrap_or_default();
                    let err = st.get("errors").and_then(|e| e.get(0));
                    let at = s(st, "timestamp").and_then(|t| t.parse::<i64>().ok()).map(|t| t.saturating_mul(1000)).unwrap_or_else(now_ms);
                    p.statuses.push(StatusEvent {
                        provider: ProviderKind::MetaWhatsapp,
                        credential_id: Some(credential_id),
                        provider_message_id: id,
                        status: map_status(&raw),
                        error_code: err.and_then(|e| e.get("code")).map(|c| c.to_string().trim_matches('"').to_owned()),
                        error_text: err.and_then(|e| {
                            let detail = e.get("error_data").and_then(|d| s(d, "details"));
                            s(e, "message").or_else(|| s(e, "title")).map(|m| match detail {
                                Some(d) if !d.is_empty() && d != m => format!("{m} ({d})"),
                                _ => m,
                            })
                        }),
                        raw_status: raw,
                        at,
                    });
                }
                for m in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
                    let from = s(m, "from").unwrap_or_default();
                    let id = s(m, "id").unwrap_or_default();
                    let kind = s(m, "type").unwrap_or_else(|| "text".into());
                    let text = m.get("text").and_then(|t| s(t, "body")).unwrap_or_default();
                    let at = s(m, "timestamp").and_then(|t| t.parse::<i64>().ok()).map(|t| t.saturating_mul(1000)).unwrap_or_else(now_ms);
                    p.inbound.push((from, id, kind, text.chars().take(4096).collect(), at));
                }
            }
            Some("message_template_status_update") => {
                let id = value.get("message_template_id").map(|i| i.to_string().trim_matches('"').to_owned()).unwrap_or_default();
                let event = s(value, "event").unwrap_or_default().to_ascii_uppercase();
                if !id.is_empty() && !event.is_empty() {
                    p.templates.push((id, event, s(value, "reason").filter(|r| !r.is_empty() && r != "NONE")));
                }
            }
            // Other fields (account updates, …) are acknowledged and ignored.
            _ => {}
        }
        if p.statuses.len() + p.inbound.len() + p.templates.len() > MAX_REPORTS {
            return Err(InboundError::Malformed(format!("more than {MAX_REPORTS} events in one webhook")));
        }
    }
    Ok(p)
}

pub(super) async fn receive(r: &Receivers, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
    let cred = credential(r, cb.credential_id).await?;
    let secret = r.credential_field(&cred, "appSecret").ok_or(InboundError::Forbidden("the credential has no appSecret to check signatures with"))?;
    if !signature_ok(&secret, cb.body, cb.hub_signature) {
        return Err(InboundError::Forbidden("X-Hub-Signature-256 does not verify"));
    }
    let p = parse(cb.body, cb.credential_id)?;
    let association_id = cred.association_id;

    // Inbound messages first: a reply that opens the window is durable before the 200.
    for (from, id, kind, text, at) in &p.inbound {
        let Ok(number) = phone::normalise(&format!("+{}", from.trim_start_matches('+'))) else { continue };
        let rec = WaInboundRecord { association_id, wamid: id.clone(), from: number.e164.clone(), kind: kind.clone(), text: text.clone(), at: *at };
        r.store.put_wa_inbound(&rec).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        r.store.touch_wa_window(association_id, &number.e164, *at).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        metrics::counter!(crate::telemetry::WHATSAPP_INBOUND_TOTAL).increment(1);
        // STOP / START (and their Arabic equivalents) change the opt-out list.
        if kind == "text" {
            super::sms_keywords::apply(r, association_id, &number.e164, crate::domain::Channel::Whatsapp, text, "meta").await?;
        }
    }
    for (meta_id, event, reason) in &p.templates {
        let templates = r.store.list_wa_templates(association_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        if let Some(mut t) = templates.into_iter().find(|t| t.meta_template_id.as_deref() == Some(meta_id.as_str())) {
            t.status = event.clone();
            t.status_reason = reason.clone();
            t.updated_at = now_ms().max(t.updated_at + 1);
            r.store.put_wa_template(&t).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
        }
    }

    let located = r.locate_all(ProviderKind::MetaWhatsapp, cb.credential_id, &p.statuses).await?;
    let mut early = Vec::new();
    let mut found = Vec::new();
    for (l, ev) in located.into_iter().zip(p.statuses) {
        match l {
            Some(l) if l.message.association_id == association_id => found.push((l, ev)),
            Some(_) => return Err(InboundError::Forbidden("the credential does not own this message")),
            None => early.push(ev),
        }
    }
    // Signed, so kept until the send's own write names the wamid.
    let n = early.len();
    let parked = if early.is_empty() { 0 } else { r.early.park(r, ProviderKind::MetaWhatsapp, early).await? };
    let mut receipt = r.apply_all(found, n - parked).await?;
    receipt.parked = parked;
    receipt.changed += p.inbound.len() + p.templates.len();
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok("app-secret", body, Some(&good)));
        assert!(!signature_ok("other", body, Some(&good)));
        assert!(!signature_ok("app-secret", b"{}", Some(&good)));
        assert!(!signature_ok("app-secret", body, Some("sha256=zz")));
        assert!(!signature_ok("app-secret", body, None));
    }

    #[test]
    fn statuses_inbound_and_template_updates_are_parsed() {
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "755", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
                "statuses": [{"id": "wamid.A", "status": "failed", "timestamp": "1700000000", "recipient_id": "9665",
                              "errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message Undeliverable.", "error_data": {"details": "not a WhatsApp user"}}]},
                             {"id": "wamid.B", "status": "read", "timestamp": "1700000001"}],
                "messages": [{"from": "966501234567", "id": "wamid.IN", "timestamp": "1700000002", "type": "text", "text": {"body": "hi"}}]}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 5944, "message_template_name": "x", "reason": "NONE"}}
        ]}]});
        let p = parse(body.to_string().as_bytes(), 9).unwrap();
        assert_eq!(p.statuses.len(), 2);
        assert_eq!((p.statuses[0].status, p.statuses[0].error_code.as_deref()), (ReportStatus::Failed, Some("131026")));
        assert_eq!(p.statuses[0].error_text.as_deref(), Some("Message Undeliverable. (not a WhatsApp user)"));
        assert_eq!((p.statuses[1].status, p.statuses[1].at), (ReportStatus::Read, 1_700_000_001_000));
        assert_eq!(p.inbound[0].0, "966501234567");
        assert_eq!(p.templates, vec![("5944".to_owned(), "APPROVED".to_owned(), None)]);
        assert!(parse(b"{\"object\":\"page\"}", 9).is_err());
        assert!(parse(b"[", 9).is_err());
    }
}
