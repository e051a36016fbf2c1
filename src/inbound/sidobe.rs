//! Sidobe's `SEND_MESSAGE_STATUS` webhooks (`shared/providers/sidobe.md`) at
//! `/api/v1/callbacks/sidobe/{credentialId}`. Signed `X-Webhook-Signature` =
//! hex SHA-256 of `secretKey + "|" + event id` (a plain hash of the secret and the event id,
//! not an HMAC of the body), compared in constant time; a bad or missing one is 403 and
//! nothing is applied. Because the signature does not cover `data`, each event id is applied
//! once: a repeat (Sidobe's retry, or a replay with other data) is acknowledged and ignored.
//!
//! Statuses: `PENDING` changes nothing, `SUCCESS` means the device sent it to WhatsApp (the
//! engine's `sent`; Sidobe reports no delivery or read), `FAILED` fails the message. Both
//! final ones end the reconciler's follow-up of the message.

use super::{Callback, InboundError, Receipt, Receivers};
use crate::domain::{now_ms, ProviderKind};
use crate::providers::awaiting::Awaiting;
use crate::providers::sidobe::SidobeStatus;
use crate::status::{ReportStatus, StatusEvent, StatusService};
use crate::store::CredentialRecord;
use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Event ids remembered for de-duplication (the oldest forgotten first).
const SEEN_MAX: usize = 100_000;

#[derive(Default)]
pub(crate) struct GatewayState {
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    pub(crate) awaiting: Option<Arc<Awaiting>>,
}

impl GatewayState {
    /// Whether this event id is new (and remembers it).
    fn first_time(&self, id: &str) -> bool {
        let mut g = self.seen.lock();
        if g.0.contains(id) {
            return false;
        }
        if g.1.len() >= SEEN_MAX {
            if let Some(old) = g.1.pop_front() {
                g.0.remove(&old);
            }
        }
        g.0.insert(id.to_owned());
        g.1.push_back(id.to_owned());
        true
    }

    /// Forgets an id whose event could not be applied (the retry must be taken).
    fn forget(&self, id: &str) {
        self.seen.lock().0.remove(id);
    }
}

/// Sidobe's webhook signature of `event_id` under `secret`.
pub fn signature(secret: &str, event_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{secret}|{event_id}").as_bytes()))
}

/// The signature header checked in constant time (hex, either case).
pub fn signature_ok(secret: &str, event_id: &str, header: Option<&str>) -> bool {
    let Some(given) = header.map(|h| h.trim().to_ascii_lowercase()) else { return false };
    let expected = signature(secret, event_id);
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The Sidobe credential the callback URL names.
pub(crate) async fn credential(r: &Receivers, credential_id: i64) -> Result<CredentialRecord, InboundError> {
    let owner = r.store.credential_owner(credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
    let cred = match owner {
        Some(a) => r.store.get_credential(a, credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?,
        None => None,
    };
    cred.filter(|c| c.provider_id == ProviderKind::Sidobe.id()).ok_or(InboundError::Forbidden("no Sidobe credential has this id"))
}

fn status_of(s: SidobeStatus) -> ReportStatus {
    match s {
        SidobeStatus::Pending => ReportStatus::Pending,
        SidobeStatus::Success => ReportStatus::Sent,
        SidobeStatus::Failed => ReportStatus::Failed,
    }
}

/// A Sidobe status as the one status path takes it (webhooks and reconciliation alike).
pub(crate) fn event(credential_id: i64, provider_message_id: &str, s: SidobeStatus, at: i64) -> StatusEvent {
    StatusEvent {
        provider: ProviderKind::Sidobe,
        credential_id: Some(credential_id),
        provider_message_id: provider_message_id.to_owned(),
        status: status_of(s),
        raw_status: s.as_str().to_owned(),
        error_code: (s == SidobeStatus::Failed).then(|| "FAILED".to_owned()),
        error_text: (s == SidobeStatus::Failed).then(|| "Sidobe reported the send FAILED (no reason given; the number may not be on WhatsApp)".to_owned()),
        at,
    }
}

pub(super) async fn receive(r: &Receivers, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
    let cred = credential(r, cb.credential_id).await?;
    let v: Value = serde_json::from_slice(cb.body).map_err(|e| InboundError::Malformed(format!("not JSON: {e}")))?;
    let event_id = v.get("id").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 128).ok_or_else(|| InboundError::Malformed("id missing".into()))?;
    let secret = r.credential_field(&cred, "secretKey").ok_or(InboundError::Forbidden("the credential has no secretKey"))?;
    if !signature_ok(&secret, event_id, cb.webhook_signature) {
        return Err(InboundError::Forbidden("X-Webhook-Signature does not verify"));
    }
    if v.get("event").and_then(Value::as_str) != Some("SEND_MESSAGE_STATUS") {
        // Another event type: authentic, acknowledged, nothing to apply.
        return Ok(Receipt { unchanged: 1, ..Receipt::default() });
    }
    let data = v.get("data").unwrap_or(&Value::Null);
    let pid = data.get("whatsapp_message_id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| InboundError::Malformed("data.whatsapp_message_id missing".into()))?;
    let raw = data.get("status").and_then(Value::as_str).unwrap_or("");
    let status = SidobeStatus::parse(raw).ok_or_else(|| InboundError::Malformed(format!("data.status `{}` is not PENDING, SUCCESS or FAILED", raw.chars().take(32).collect::<String>())))?;
    if !r.gateways.first_time(event_id) {
        return Ok(Receipt { unchanged: 1, ..Receipt::default() });
    }
    let at = data
        .get("send_at")
        .or_else(|| v.get("created_at"))
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(now_ms);
    let ev = event(cb.credential_id, pid, status, at);
    let result = apply(r, &cred, ev).await;
    match &result {
        Ok(_) if status != SidobeStatus::Pending => {
            if let Some(a) = &r.gateways.awaiting {
                a.confirm(pid);
            }
        }
        Err(_) => r.gateways.forget(event_id),
        _ => {}
    }
    result
}

/// Locates the message (it must belong to the credential's association) and applies.
pub(crate) async fn apply(r: &Receivers, cred: &CredentialRecord, ev: StatusEvent) -> Result<Receipt, InboundError> {
    match r.locate(ProviderKind::Sidobe, cred.id, &ev).await? {
        Some(l) if l.message.association_id == cred.association_id => r.apply_all(vec![(l, ev)], 0).await,
        Some(_) => Err(InboundError::Forbidden("the credential does not own this message")),
        None => {
            StatusService::count_unknown(ProviderKind::Sidobe);
            Ok(Receipt { unknown: 1, ..Receipt::default() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_documented_hash() {
        let id = "816332ca-b91a-469d-b4f6-9a17f440c05e";
        let good = "52c0388db67f5dc88a91b86bf1537bd694cf6d6a17e50fb6b5870c0facb676bf";
        assert_eq!(signature("YOUR_SECRET_KEY", id), good);
        assert!(signature_ok("YOUR_SECRET_KEY", id, Some(good)));
        assert!(signature_ok("YOUR_SECRET_KEY", id, Some(&good.to_uppercase())));
        assert!(!signature_ok("OTHER", id, Some(good)));
        assert!(!signature_ok("YOUR_SECRET_KEY", "other-id", Some(good)));
        assert!(!signature_ok("YOUR_SECRET_KEY", id, None));
    }

    #[test]
    fn event_ids_are_taken_once() {
        let g = GatewayState::default();
        assert!(g.first_time("a") && !g.first_time("a"));
        g.forget("a");
        assert!(g.first_time("a"));
    }
}
