//! Twilio Programmable Messaging (`shared/providers/twilio.md`): form-encoded
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic `AccountSid:AuthToken`,
//! `To` in E.164 with `+`, `201` + Message resource (`sid` = `SM…`), errors `{code, message}`.

use super::wire::{base_url, endpoint, e164_plus, http_level, json, required, snippet, top_level_id, unrecognised};
use super::{BuildError, OutboundSms, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;

pub struct Twilio;

impl ProviderAdapter for Twilio {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Twilio
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.twilio.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundSms,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let sid = required(cred, "accountSid")?;
        let token = required(cred, "authToken")?;
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", base_url(self, cred), urlencoding::encode(sid));
        // A Messaging Service SID (MG + 32 hex) goes in its own field; anything else is a
        // sender number or alphanumeric id for `From`.
        let sender_field = if is_messaging_service_sid(&sms.sender) { "MessagingServiceSid" } else { "From" };
        let form = [("To", e164_plus(&sms.recipient)), (sender_field, sms.sender.clone()), ("Body", sms.body.clone())];
        Ok(client.post(endpoint(cred, url)?).basic_auth(sid, Some(token)).header(ACCEPT, "application/json").form(&form))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        if status.is_success() {
            return match top_level_id(body, "sid") {
                Some(sid) => SendOutcome::Accepted { provider_message_id: sid },
                None => unrecognised(status, body),
            };
        }
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        let v = json(body);
        let code = v.as_ref().and_then(error_code);
        let message = v
            .as_ref()
            .and_then(|v| v.get("message").or_else(|| v.get("detail")).and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| snippet(body));
        let reason = match code {
            Some(c) => format!("twilio {c}: {message}"),
            None => format!("HTTP {status}: {message}"),
        };
        match code {
            Some(20429) => SendOutcome::Throttled { retry_after: super::wire::retry_after(headers) },
            Some(30001 | 30008) => SendOutcome::Transient { reason },
            Some(21211 | 21612 | 21614 | 21635 | 21610 | 30003 | 30005 | 30006) => SendOutcome::PermanentRecipient { reason },
            Some(20003 | 20404 | 21408 | 21603 | 21606 | 30002) => SendOutcome::PermanentConfig { reason },
            Some(21602 | 21617 | 30007 | 63016) => SendOutcome::PermanentContent { reason },
            _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND => {
                SendOutcome::PermanentConfig { reason }
            }
            // Any other 4xx: Twilio rejected what we sent; resending the same payload won't help.
            _ => SendOutcome::PermanentContent { reason },
        }
    }
}

fn is_messaging_service_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("MG") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The error code in any of Twilio's three error shapes: legacy `{code}`, RFC 9457 `{code}`,
/// or `{"errors":[{code}]}`.
fn error_code(v: &serde_json::Value) -> Option<u64> {
    let direct = v.get("code").and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())));
    direct.or_else(|| v.get("errors")?.get(0)?.get("code")?.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Twilio.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn created_message_is_accepted_with_its_sid() {
        let body = r#"{"sid":"SM1f0e8ae6ade43cb3c0ce4525424e404f","status":"queued","error_code":null}"#;
        assert_eq!(classify(201, body), SendOutcome::Accepted { provider_message_id: "SM1f0e8ae6ade43cb3c0ce4525424e404f".into() });
        assert!(matches!(classify(201, "<xml/>"), SendOutcome::Ambiguous { .. }));
    }

    #[test]
    fn documented_error_codes() {
        let e = |code: u32, status: u16| {
            classify(status, &format!(r#"{{"code":{code},"message":"m","more_info":"x","status":{status}}}"#))
        };
        assert!(matches!(e(21211, 400), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e(21610, 400), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e(21614, 400), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e(21408, 400), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e(21606, 400), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e(20003, 401), SendOutcome::PermanentConfig { reason } if reason.contains("20003")));
        assert!(matches!(e(63016, 400), SendOutcome::PermanentContent { .. }));
        assert!(matches!(e(20500, 500), SendOutcome::Transient { .. }));
        assert!(matches!(classify(401, "Unauthorized"), SendOutcome::PermanentConfig { .. }));
        // The newer `errors[]` shape.
        assert!(matches!(classify(400, r#"{"errors":[{"code":21211,"message":"bad To"}]}"#), SendOutcome::PermanentRecipient { .. }));
    }

    #[test]
    fn throttle_reads_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let body = br#"{"code":20429,"message":"Too Many Requests","status":429}"#;
        assert_eq!(
            Twilio.classify(StatusCode::TOO_MANY_REQUESTS, &h, body),
            SendOutcome::Throttled { retry_after: Some(Duration::from_secs(3)) }
        );
        assert_eq!(classify(429, "{}"), SendOutcome::Throttled { retry_after: None });
    }

    #[test]
    fn messaging_service_sids_are_recognised() {
        assert!(is_messaging_service_sid("MG0123456789abcdef0123456789abcdef"));
        assert!(!is_messaging_service_sid("+15017122661"));
        assert!(!is_messaging_service_sid("MyBrand"));
    }
}
