//! Unifonic REST (`shared/providers/unifonic.md`): form-encoded `POST /rest/SMS/messages` with
//! `AppSid` as a form field, `Recipient` without `+`/`00`, `responseType=JSON`, and our message
//! id as `CorrelationID` (Unifonic rejects a repeat with 409, so a resend after an ambiguous
//! timeout cannot duplicate). Errors come either as a Unifonic-specific HTTP status or as
//! `200 {"success":false,"errorCode":…}`; both go through one code table.

use super::wire::{base_url, endpoint, http_level, id_string, intl_digits, json, required, retry_after, snippet, unrecognised};
use super::batch::{not_in_answer, same_text_and_sender, BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::Value;

pub struct Unifonic;

impl ProviderAdapter for Unifonic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Unifonic
    }

    fn default_base_url(&self) -> &'static str {
        "https://el.cloud.unifonic.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let text = sms.sms_text(self.kind())?;
        // Unifonic takes `Body` as UTF-8 and chooses GSM7 or UCS2 itself (no flag; `baseEncode` is for base64 bodies only).
        let app_sid = required(cred, "appSid")?;
        let mut form = vec![
            ("AppSid", app_sid.to_owned()),
            ("Recipient", intl_digits(&sms.recipient)),
            ("Body", text.to_string()),
            ("responseType", "JSON".to_owned()),
            ("CorrelationID", sms.message_id.to_string()),
        ];
        // SenderID is optional (the account default applies); an empty one would be rejected.
        if !sms.sender.is_empty() {
            form.insert(1, ("SenderID", sms.sender.clone()));
        }
        Ok(client
            .post(endpoint(cred, format!("{}/rest/SMS/messages", base_url(self, cred)))?)
            .header(ACCEPT, "application/json")
            .form(&form))
    }

    fn batch(&self) -> Option<&dyn BatchAdapter> {
        Some(self)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let v = json(body);
        let code = v.as_ref().and_then(|v| id_string(v.get("errorCode")));
        let message = v.as_ref().and_then(|v| v.get("message")?.as_str().map(str::to_owned)).unwrap_or_default();
        if status == StatusCode::OK {
            let Some(v) = v.as_ref() else { return unrecognised(status, body) };
            if is_true(v.get("success")) {
                return match id_string(v.pointer("/data/MessageID")) {
                    Some(id) => SendOutcome::Accepted { provider_message_id: id },
                    None => unrecognised(status, body),
                };
            }
            let code = code.unwrap_or_default();
            return by_code(&code, format!("unifonic {code}: {message}"), headers).unwrap_or_else(|| unrecognised(status, body));
        }
        // Unifonic's own HTTP codes (410, 482, 599, …) first: 599 is a retry, not generic 5xx.
        let reason = format!("unifonic HTTP {}: {}", status.as_u16(), if message.is_empty() { snippet(body) } else { message });
        by_code(&status.as_u16().to_string(), reason.clone(), headers)
            .or_else(|| code.as_deref().and_then(|c| by_code(c, reason.clone(), headers)))
            .or_else(|| http_level(status, headers))
            .unwrap_or(SendOutcome::PermanentContent { reason })
    }
}

/// `POST /rest/Messages/SendBulk`: one `Body` to a comma-separated `Recipient` list. The
/// per-request maximum is unconfirmed (error 450 "Too many destination numbers" exists: it
/// is a content error, so the actor resends the batch's messages singly). The bulk answer's
/// shape is unconfirmed too: per-recipient entries (`data.Messages[]` or `data` as a list,
/// each with `Recipient`, `MessageID`, `Status`) are mapped by number; a single id
/// (`MessageBulkID` / `MessageID`) is every message's provider id. Bulk sends carry no
/// `CorrelationID` (none is documented for them), so a resend after a timeout may duplicate,
/// as for the providers without idempotency keys.
impl BatchAdapter for Unifonic {
    fn max_messages(&self) -> usize {
        1000
    }

    fn compatible(&self, first: &OutboundMessage, next: &OutboundMessage) -> bool {
        same_text_and_sender(first, next)
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        let first = &msgs[0];
        let text = first.sms_text(self.kind())?;
        let app_sid = required(cred, "appSid")?;
        let recipients: Vec<String> = msgs.iter().map(|m| intl_digits(&m.recipient)).collect();
        let mut form = vec![
            ("AppSid", app_sid.to_owned()),
            ("Recipient", recipients.join(",")),
            ("Body", text.to_string()),
            ("responseType", "JSON".to_owned()),
        ];
        if !first.sender.is_empty() {
            form.insert(1, ("SenderID", first.sender.clone()));
        }
        Ok(client
            .post(endpoint(cred, format!("{}/rest/Messages/SendBulk", base_url(self, cred)))?)
            .header(ACCEPT, "application/json")
            .form(&form))
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome {
        let v = match json(body) {
            Some(v) if status == StatusCode::OK && is_true(v.get("success")) => v,
            _ => return BatchOutcome::Request(self.classify(status, headers, body)),
        };
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        let entries = data.get("Messages").or_else(|| data.get("messages")).and_then(Value::as_array).or(data.as_array()).cloned();
        if let Some(entries) = entries {
            return BatchOutcome::PerMessage(
                msgs.iter()
                    .map(|m| {
                        let number = intl_digits(&m.recipient);
                        let entry = entries.iter().find(|e| id_string(e.get("Recipient")).is_some_and(|r| intl_digits(&r) == number));
                        match entry {
                            None => not_in_answer("unifonic"),
                            Some(e) => recipient_entry(e, headers),
                        }
                    })
                    .collect(),
            );
        }
        match ["MessageBulkID", "MessageBulkId", "BulkID", "MessageID"].iter().find_map(|k| id_string(data.get(*k))) {
            Some(id) => BatchOutcome::PerMessage(vec![SendOutcome::Accepted { provider_message_id: id }; msgs.len()]),
            None => BatchOutcome::Request(unrecognised(status, body)),
        }
    }
}

/// One recipient's entry of a bulk answer: `Status` Queued/Sent with a `MessageID`, or
/// Rejected/Failed with an `errorCode` (else a recipient problem).
fn recipient_entry(e: &Value, headers: &HeaderMap) -> SendOutcome {
    let status = e.get("Status").and_then(Value::as_str).unwrap_or("");
    let id = id_string(e.get("MessageID"));
    match (status.to_ascii_lowercase().as_str(), id) {
        ("queued" | "sent" | "delivered", Some(id)) => SendOutcome::Accepted { provider_message_id: id },
        ("rejected" | "failed", _) => {
            let code = id_string(e.get("errorCode")).unwrap_or_default();
            let reason = format!("unifonic {status} {code}");
            by_code(&code, reason.clone(), headers).unwrap_or(SendOutcome::PermanentRecipient { reason })
        }
        _ => SendOutcome::Ambiguous { reason: format!("unifonic: unrecognised bulk entry status {status:?}") },
    }
}

/// `success` is `"true"` in some answers and `true` in others.
fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s.eq_ignore_ascii_case("true"))
}

/// The documented codes: REST status codes (also used as `errorCode`) and `ER-xx`.
fn by_code(code: &str, reason: String, headers: &HeaderMap) -> Option<SendOutcome> {
    Some(match code {
        "ER-00" => return None,
        // Duplicate CorrelationID: an earlier attempt of this message was accepted.
        "409" | "ER-09" => SendOutcome::Accepted { provider_message_id: String::new() },
        "429" => SendOutcome::Throttled { retry_after: retry_after(headers) },
        "599" => SendOutcome::Transient { reason },
        "410" | "422" | "481" | "482" | "483" | "ER-02" | "ER-03" | "ER-04" | "ER-05" => SendOutcome::PermanentRecipient { reason },
        "401" | "402" | "403" | "404" | "440" | "480" | "499" | "546" | "548" | "ER-01" | "ER-08" => {
            SendOutcome::PermanentConfig { reason }
        }
        "406" | "412" | "417" | "419" | "421" | "449" | "450" | "456" | "459" | "460" | "ER-06" | "ER-07" => {
            SendOutcome::PermanentContent { reason }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Unifonic.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn success_with_string_or_bool_flag() {
        let ok = r#"{"success":"true","message":"","errorCode":"ER-00","data":{"MessageID":3287241804,"Status":"Queued","NumberOfUnits":1,"Cost":"0.10000","Balance":"0.29878","Recipient":"966500000000"}}"#;
        assert_eq!(classify(200, ok), SendOutcome::Accepted { provider_message_id: "3287241804".into() });
        let ok2 = r#"{"success":true,"message":"","errorCode":"ER-00","data":{"MessageID":"77"}}"#;
        assert_eq!(classify(200, ok2), SendOutcome::Accepted { provider_message_id: "77".into() });
    }

    #[test]
    fn errors_in_the_200_envelope() {
        let e = |code: &str| classify(200, &format!(r#"{{"success":false,"message":"m","errorCode":"{code}","data":null}}"#));
        assert!(matches!(e("482"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e("ER-02"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e("401"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("480"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("ER-01"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("421"), SendOutcome::PermanentContent { .. }));
        assert!(matches!(e("599"), SendOutcome::Transient { .. }));
        assert!(matches!(e("ZZ"), SendOutcome::Ambiguous { .. }));
    }

    #[test]
    fn errors_as_http_status() {
        let body = |code: u16| format!(r#"{{"success":false,"message":"m","errorCode":"{code}","data":null}}"#);
        assert!(matches!(classify(401, &body(401)), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(402, "Missing parameter AppSid"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(410, &body(410)), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify(482, &body(482)), SendOutcome::PermanentRecipient { .. }));
        assert_eq!(classify(429, &body(429)), SendOutcome::Throttled { retry_after: None });
        assert!(matches!(classify(599, &body(599)), SendOutcome::Transient { .. }));
        assert!(matches!(classify(503, "<html>"), SendOutcome::Transient { .. }));
        assert_eq!(classify(409, &body(409)), SendOutcome::Accepted { provider_message_id: String::new() });
    }
}
