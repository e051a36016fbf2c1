//! Yamamah `SendSMS` (`shared/providers/yamamah.md`): JSON `POST /SendSMS` with `Username` /
//! `Password` in the body, `Tagname` (sender), `RecepientNumber` (sic) as international digits.
//! The answer format is only partly known (`StatusCode` / `StatusDescription`): `StatusCode` 1
//! or a "Success" description is success; failures are classified on the description text, and
//! anything unrecognised is Ambiguous rather than guessed.

use super::wire::{base_url, endpoint, classify_text, http_level, id_string, intl_digits, json, required, snippet, unrecognised};
use super::batch::{same_text_and_sender, BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct Yamamah;

impl ProviderAdapter for Yamamah {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Yamamah
    }

    /// Plain HTTP is what every known client uses; HTTPS on this host is unconfirmed (set
    /// `apiUrl` to an https URL once it is).
    fn default_base_url(&self) -> &'static str {
        "http://api.yamamah.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        request(self, client, cred, std::slice::from_ref(sms))
    }

    fn batch(&self) -> Option<&dyn BatchAdapter> {
        Some(self)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return SendOutcome::PermanentConfig { reason: format!("yamamah HTTP {status}: {}", snippet(body)) };
        }
        let Some(v) = json(body) else { return unrecognised(status, body) };
        // Some .NET services wrap the result in `{"SendSMSResult": {...}}`.
        let v = v.get("SendSMSResult").cloned().unwrap_or(v);
        let code = id_string(v.get("StatusCode"));
        let description = v.get("StatusDescription").and_then(Value::as_str).unwrap_or("");
        if status.is_success() && (code.as_deref() == Some("1") || description.eq_ignore_ascii_case("success")) {
            let id = ["MessageID", "MessageId", "messageId", "SentMessageID"].iter().find_map(|k| id_string(v.get(*k)));
            return SendOutcome::Accepted { provider_message_id: id.unwrap_or_default() };
        }
        classify_text("yamamah", description).unwrap_or_else(|| unrecognised(status, body))
    }
}

/// `/SendSMS` for one text to `RecepientNumber`, one number or a comma-separated list.
fn request(adapter: &Yamamah, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
    let first = &msgs[0];
    let text = first.sms_text(adapter.kind())?;
    // Yamamah takes UTF-8 text (Arabic works in every known client): no encoding flag is documented.
    let username = required(cred, "username")?;
    let password = required(cred, "password")?;
    let numbers: Vec<String> = msgs.iter().map(|m| intl_digits(&m.recipient)).collect();
    let body = json!({
        "Username": username,
        "Password": password,
        "Tagname": first.sender,
        "RecepientNumber": numbers.join(","),
        "VariableList": "",
        "ReplacementList": "",
        "Message": text,
        "SendDateTime": 0,
        "EnableDR": false,
    });
    Ok(client.post(endpoint(cred, format!("{}/SendSMS", base_url(adapter, cred)))?).header(ACCEPT, "application/json").json(&body))
}

/// The comma list: one text and sender for every number (max per request unconfirmed). The
/// answer has no per-number part, so its outcome is every message's (a shared `MessageID`); a
/// number-related refusal of the list is resent number by number by the actor.
impl BatchAdapter for Yamamah {
    fn max_messages(&self) -> usize {
        1000
    }

    fn compatible(&self, first: &OutboundMessage, next: &OutboundMessage) -> bool {
        same_text_and_sender(first, next)
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        request(self, client, cred, msgs)
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], _msgs: &[OutboundMessage]) -> BatchOutcome {
        BatchOutcome::Request(self.classify(status, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Yamamah.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn success_with_and_without_an_id() {
        assert_eq!(
            classify(200, r#"{"StatusCode":1,"StatusDescription":"Success","MessageID":"4821907731"}"#),
            SendOutcome::Accepted { provider_message_id: "4821907731".into() }
        );
        assert_eq!(
            classify(200, r#"{"StatusCode":"1","StatusDescription":"Success"}"#),
            SendOutcome::Accepted { provider_message_id: String::new() }
        );
    }

    #[test]
    fn failures_by_description() {
        let e = |d: &str| classify(200, &format!(r#"{{"StatusCode":3,"StatusDescription":"{d}"}}"#));
        assert!(matches!(e("Invalid username or password"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("Insufficient credit"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("Invalid Tagname"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("Invalid recipient number"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e("Unknown"), SendOutcome::Ambiguous { .. }));
        assert!(matches!(classify(200, "OK"), SendOutcome::Ambiguous { .. }));
        assert!(matches!(classify(500, ""), SendOutcome::Transient { .. }));
        assert_eq!(classify(429, ""), SendOutcome::Throttled { retry_after: None });
    }
}
