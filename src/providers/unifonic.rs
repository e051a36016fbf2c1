//! Unifonic REST (`shared/providers/unifonic.md`): form-encoded `POST /rest/SMS/messages` with
//! `AppSid` as a form field, `Recipient` without `+`/`00`, `responseType=JSON`, and our message
//! id as `CorrelationID` (Unifonic rejects a repeat with 409, so a resend after an ambiguous
//! timeout cannot duplicate). Errors come either as a Unifonic-specific HTTP status or as
//! `200 {"success":false,"errorCode":…}`; both go through one code table.

use super::wire::{base_url, endpoint, http_level, id_string, intl_digits, json, required, retry_after, snippet, unrecognised};
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
