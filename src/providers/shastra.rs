//! "Shastra", taken to be mShastra / MobiShastra (`shared/providers/shastra.md`; the
//! identification is unconfirmed): the JSON API `POST /sendsms_api_json.aspx`, a JSON array with
//! one element carrying `user` / `pwd` (the credential), `number` (international digits), `msg`,
//! `sender` and `language` (`English` or `Unicode`). The answer is an array of
//! `{msg_id, number, str_response}`; errors come as HTTP 200 with a text (or a 3-digit code from
//! the `ShowError=C` table), so the body decides.

use super::wire::{base_url, endpoint, classify_text, http_level, id_string, intl_digits, json, required, unrecognised};
use super::batch::{BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct Shastra;

impl ProviderAdapter for Shastra {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Shastra
    }

    fn default_base_url(&self) -> &'static str {
        "https://mshastra.com"
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
        // The JSON answer's first element; a plain-text body (what the URL API and, it seems,
        // some JSON-API failures return) is classified as text.
        let (text, msg_id) = match json(body) {
            Some(Value::Array(items)) if !items.is_empty() => {
                let first = &items[0];
                let text = first.get("str_response").or_else(|| first.get("response")).and_then(Value::as_str);
                (text.unwrap_or("").to_owned(), id_string(first.get("msg_id")))
            }
            Some(Value::Object(o)) => {
                let text = o.get("str_response").or_else(|| o.get("response")).and_then(Value::as_str);
                (text.unwrap_or("").to_owned(), id_string(o.get("msg_id")))
            }
            Some(_) => return unrecognised(status, body),
            None => (String::from_utf8_lossy(body).trim().to_owned(), None),
        };
        classify_item(status, &text, msg_id).unwrap_or_else(|| unrecognised(status, body))
    }
}

/// One answer element (or a plain-text answer): `None` when the text says nothing we know.
fn classify_item(status: StatusCode, text: &str, msg_id: Option<String>) -> Option<SendOutcome> {
        let code = text.get(..3).filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let lower = text.to_lowercase();
        let success = code == Some("000") || lower.starts_with("send successful") || lower == "message sent";
        if success && status.is_success() {
            return Some(SendOutcome::Accepted { provider_message_id: msg_id.unwrap_or_default() });
        }
        let reason = format!("mshastra: {text}");
        Some(match code {
            Some("001" | "006" | "007" | "008") => SendOutcome::PermanentRecipient { reason },
            Some("003") => SendOutcome::PermanentContent { reason },
            Some("005" | "009" | "010" | "011" | "012") => SendOutcome::PermanentConfig { reason },
            Some("013") => SendOutcome::Transient { reason },
            _ => return classify_text("mshastra", text),
        })
}

/// The JSON API's array, one element per message (each carrying the credential).
fn request(adapter: &Shastra, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
    let mut items = Vec::with_capacity(msgs.len());
    for sms in msgs {
        let text = sms.sms_text(adapter.kind())?;
        let user = required(cred, "username")?;
        let pwd = required(cred, "password")?;
        // mShastra needs `language=Unicode` for anything outside GSM-7 (Arabic, emoji), else
        // it sends the text as 7-bit and the handset shows garbage.
        let language = if crate::domain::sms::is_gsm7(text) { "English" } else { "Unicode" };
        items.push(json!({
            "user": user,
            "pwd": pwd,
            "number": intl_digits(&sms.recipient),
            "msg": text,
            "sender": sms.sender,
            "language": language,
        }));
    }
    Ok(client
        .post(endpoint(cred, format!("{}/sendsms_api_json.aspx", base_url(adapter, cred)))?)
        .header(ACCEPT, "application/json")
        .json(&Value::Array(items)))
}

/// The JSON array (max per request unconfirmed), answered element by element in order with
/// `{msg_id, number, str_response}`: per-message statuses, partial failures included. An
/// answer that is not such an array (a plain-text error) concerns the whole request.
impl BatchAdapter for Shastra {
    fn max_messages(&self) -> usize {
        1000
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        request(self, client, cred, msgs)
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome {
        if http_level(status, headers).is_some() {
            return BatchOutcome::Request(self.classify(status, headers, body));
        }
        match json(body) {
            Some(Value::Array(items)) if items.len() == msgs.len() => BatchOutcome::PerMessage(
                items
                    .iter()
                    .map(|item| {
                        let text = item.get("str_response").or_else(|| item.get("response")).and_then(Value::as_str).unwrap_or("");
                        classify_item(status, text, id_string(item.get("msg_id")))
                            .unwrap_or_else(|| SendOutcome::Ambiguous { reason: format!("mshastra: unrecognised item answer {text:?}") })
                    })
                    .collect(),
            ),
            _ => BatchOutcome::Request(self.classify(status, headers, body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(body: &str) -> SendOutcome {
        Shastra.classify(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn json_answer_with_msg_id() {
        assert_eq!(
            classify(r#"[{"msg_id":"3398265173","number":"966500000000","str_response":"Send Successful"}]"#),
            SendOutcome::Accepted { provider_message_id: "3398265173".into() }
        );
        assert_eq!(
            classify(r#"[{"msg_id":3398265173,"number":"966500000000","response":"Send Successful"}]"#),
            SendOutcome::Accepted { provider_message_id: "3398265173".into() }
        );
    }

    #[test]
    fn documented_codes_and_texts() {
        assert!(matches!(classify("001 - Invalid Receiver"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify("006"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify("005 - Authorization failed"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify("010"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify("003"), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify("013 - Server Error"), SendOutcome::Transient { .. }));
        assert!(matches!(classify("Invalid Password"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify("No more credits"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(
            classify(r#"[{"msg_id":"","number":"966500000000","str_response":"Invalid Receiver"}]"#),
            SendOutcome::PermanentRecipient { .. }
        ));
        assert!(matches!(
            classify(r#"[{"number":"1","str_response":"Authorization failed"}]"#),
            SendOutcome::PermanentConfig { .. }
        ));
        assert!(matches!(classify("000 - Send Successful"), SendOutcome::Accepted { .. }));
        assert!(matches!(classify("%%%"), SendOutcome::Ambiguous { .. }));
        assert!(!matches!(classify("Send Unsuccessful"), SendOutcome::Accepted { .. }));
        assert!(matches!(Shastra.classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b""), SendOutcome::Transient { .. }));
    }
}
