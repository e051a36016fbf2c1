//! Qyadat `sendsms.php` (`shared/providers/qyadat.md`), a white-label of the legacy 4jawaly.net
//! gateway: `GET /sms/api/sendsms.php` with `username`, `password`, `numbers` (international
//! digits), `sender`, `message`, `unicode` (`e` for plain text, `u` otherwise), `return=json`,
//! `Rmduplicated=1`. The answer format is unconfirmed: by analogy with the legacy platform,
//! `{"Code":100,"MessageIs":"…"}` (or a bare `100` for `return=string`) is success; failures are
//! classified on their message text, and anything unrecognised is Ambiguous.

use super::wire::{base_url, endpoint, classify_text, http_level, id_string, intl_digits, json, required, snippet, unrecognised};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::Value;

pub struct Qyadat;

/// The legacy platform's success code.
const SUCCESS: &str = "100";

impl ProviderAdapter for Qyadat {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Qyadat
    }

    fn default_base_url(&self) -> &'static str {
        "https://www.qyadat.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let text = sms.sms_text(self.kind())?;
        let username = required(cred, "username")?;
        let password = required(cred, "password")?;
        // `unicode=u` for anything outside GSM-7 (the legacy platform sends `e` texts as 7-bit).
        let unicode = if crate::domain::sms::is_gsm7(text) { "e" } else { "u" };
        let recipient = intl_digits(&sms.recipient);
        // The password travels in the query string: callers must never log this URL.
        let query = [
            ("username", username),
            ("password", password),
            ("numbers", recipient.as_str()),
            ("sender", sms.sender.as_str()),
            ("message", text),
            ("unicode", unicode),
            ("return", "json"),
            ("Rmduplicated", "1"),
        ];
        Ok(client
            .get(endpoint(cred, format!("{}/sms/api/sendsms.php", base_url(self, cred)))?)
            .header(ACCEPT, "application/json")
            .query(&query))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return SendOutcome::PermanentConfig { reason: format!("qyadat HTTP {status}: {}", snippet(body)) };
        }
        let (code, text, id) = match json(body) {
            Some(Value::Object(o)) => {
                let get = |keys: &[&str]| keys.iter().find_map(|k| id_string(o.get(*k)));
                (
                    get(&["Code", "code"]),
                    get(&["MessageIs", "message", "Message"]).unwrap_or_default(),
                    get(&["MessageID", "MessageId", "messageId", "SMSID"]),
                )
            }
            // `return=string`: a bare code, possibly followed by text.
            Some(Value::Number(n)) => (Some(n.to_string()), String::new(), None),
            _ => {
                let s = String::from_utf8_lossy(body).trim().to_owned();
                let code = s.split(|c: char| !c.is_ascii_digit()).next().filter(|c| !c.is_empty()).map(str::to_owned);
                (code, s, None)
            }
        };
        if status.is_success() && code.as_deref() == Some(SUCCESS) {
            return SendOutcome::Accepted { provider_message_id: id.unwrap_or_default() };
        }
        classify_text("qyadat", &text).unwrap_or_else(|| unrecognised(status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Qyadat.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn code_100_is_success() {
        assert_eq!(
            classify(200, r#"{"Code":100,"MessageIs":"تم استلام الارقام بنجاح"}"#),
            SendOutcome::Accepted { provider_message_id: String::new() }
        );
        assert_eq!(classify(200, "100"), SendOutcome::Accepted { provider_message_id: String::new() });
        assert_eq!(
            classify(200, r#"{"Code":"100","MessageIs":"ok","MessageID":"991"}"#),
            SendOutcome::Accepted { provider_message_id: "991".into() }
        );
    }

    #[test]
    fn failures_by_text_else_ambiguous() {
        let e = |code: u32, t: &str| classify(200, &format!(r#"{{"Code":{code},"MessageIs":"{t}"}}"#));
        assert!(matches!(e(103, "اسم المستخدم أو كلمة المرور غير صحيحة"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e(104, "رصيدك غير كافي"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e(108, "الرقم غير صحيح"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e(999, "؟"), SendOutcome::Ambiguous { .. }));
        assert!(matches!(classify(200, "<code>7</code>"), SendOutcome::Ambiguous { .. }));
        assert!(matches!(classify(503, ""), SendOutcome::Transient { .. }));
    }
}
