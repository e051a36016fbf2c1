//! Twilio Programmable Messaging (`shared/providers/twilio.md`): form-encoded
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic `AccountSid:AuthToken`,
//! `To` in E.164 with `+`, `201` + Message resource (`sid` = `SM…`), errors `{code, message}`.
//! WhatsApp through the same endpoint: `whatsapp:+…` addresses on both ends, a session text
//! as `Body`, media as `MediaUrl`, an approved template as `ContentSid` + `ContentVariables`
//! (a JSON string of the positional parameters, `{"1":"Ahmed","2":"42"}`).

use super::wire::{base_url, basic_auth, endpoint, e164_plus, http_level, json, required, snippet, top_level_id, unrecognised};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::WhatsAppContent;
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;

pub struct Twilio;


/// Twilio's `ValidityPeriod` maximum (and default), in seconds.
const TWILIO_MAX_VALIDITY_SECS: u64 = 36_000;

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
        msg: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let sid = required(cred, "accountSid")?;
        let token = required(cred, "authToken")?;
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", base_url(self, cred), urlencoding::encode(sid));
        let mut form: Vec<(&str, String)> = Vec::with_capacity(5);
        match &msg.payload {
            Payload::Sms { text } => {
                form.push(("To", e164_plus(&msg.recipient)));
                form.push(sender_field(&msg.sender, false));
                // Twilio encodes UTF-8 `Body` as GSM-7 or UCS-2 itself; the engine does its own
                // smart encoding, so Twilio's `SmartEncoded` is left off.
                form.push(("Body", text.clone()));
            }
            Payload::WhatsApp(content) => {
                form.push(("To", format!("whatsapp:{}", e164_plus(&msg.recipient))));
                form.push(sender_field(&msg.sender, true));
                whatsapp_fields(content, &mut form)?;
            }
            // Never reached: routing hands Twilio only the channels it serves.
            other => return Err(BuildError::payload(format!("twilio does not deliver the {} channel", other.channel().as_str()))),
        }
        if let Some(callback) = &msg.status_callback_url {
            form.push(("StatusCallback", callback.clone()));
        }
        // Twilio keeps a message queued up to 36,000 s (its default and maximum): a shorter
        // validity is passed on; a longer one would only shorten it to Twilio's maximum.
        if let Some(secs) = msg.validity_secs.filter(|s| *s < TWILIO_MAX_VALIDITY_SECS) {
            form.push(("ValidityPeriod", secs.max(1).to_string()));
        }
        Ok(client.post(endpoint(cred, url)?).header(AUTHORIZATION, basic_auth(cred, sid, token)).header(ACCEPT, "application/json").form(&form))
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

/// A Messaging Service SID (MG + 32 hex) goes in its own field; anything else is a sender
/// number or alphanumeric id for `From` (`whatsapp:`-prefixed on WhatsApp).
fn sender_field(sender: &str, whatsapp: bool) -> (&'static str, String) {
    if is_messaging_service_sid(sender) {
        ("MessagingServiceSid", sender.to_owned())
    } else if whatsapp && !sender.starts_with("whatsapp:") {
        ("From", format!("whatsapp:{sender}"))
    } else {
        ("From", sender.to_owned())
    }
}

/// The WhatsApp payload's fields. Templates go out through the Content API, which names them
/// by `ContentSid` (`HX…`), not by their Meta name: a template without one cannot be sent here.
fn whatsapp_fields(content: &WhatsAppContent, form: &mut Vec<(&'static str, String)>) -> Result<(), BuildError> {
    match content {
        WhatsAppContent::Text { body, .. } => form.push(("Body", body.clone())),
        WhatsAppContent::Media(m) => {
            form.push(("MediaUrl", m.link.clone()));
            if let Some(caption) = m.caption.as_ref().filter(|c| !c.is_empty()) {
                form.push(("Body", caption.clone()));
            }
        }
        WhatsAppContent::Template(t) => {
            let content_sid = t.content_sid.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
                BuildError::payload(format!("template `{}` has no Twilio contentSid, which Twilio needs to send a WhatsApp template", t.name))
            })?;
            form.push(("ContentSid", content_sid.to_owned()));
            if !t.body_params.is_empty() {
                let vars: serde_json::Map<String, serde_json::Value> =
                    t.body_params.iter().enumerate().map(|(i, v)| ((i + 1).to_string(), v.clone().into())).collect();
                form.push(("ContentVariables", serde_json::Value::Object(vars).to_string()));
            }
        }
    }
    Ok(())
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

    fn form_of(msg: &OutboundMessage) -> Vec<(String, String)> {
        let cred = ProviderCredential::new(
            1,
            serde_json::json!({"accountSid": "AC1", "authToken": "t"}).as_object().unwrap().clone(),
            "http://127.0.0.1:1".into(),
        );
        let req = Twilio.build_request(&reqwest::Client::new(), &cred, msg).unwrap().build().unwrap();
        let body = req.body().and_then(|b| b.as_bytes()).unwrap();
        let decode = |s: &str| urlencoding::decode(&s.replace('+', " ")).unwrap().into_owned();
        std::str::from_utf8(body).unwrap().split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
    }

    /// HTTP Basic `AccountSid:AuthToken`, built once per credential and the same on every call;
    /// a credential with another token gets its own header, not the kept one.
    #[test]
    fn basic_auth_is_the_account_and_token_and_follows_the_credential() {
        let auth_of = |cred: &ProviderCredential| {
            let req = Twilio.build_request(&reqwest::Client::new(), cred, &OutboundMessage::sms(1, "+966500000001", "hi", "S")).unwrap().build().unwrap();
            let value = req.headers().get(AUTHORIZATION).unwrap().clone();
            assert!(value.is_sensitive());
            value.to_str().unwrap().to_owned()
        };
        let fields = |token: &str| serde_json::json!({"accountSid": "AC1", "authToken": token}).as_object().unwrap().clone();
        let cred = ProviderCredential::new(1, fields("secret"), "http://127.0.0.1:1".into());
        // base64("AC1:secret")
        assert_eq!(auth_of(&cred), "Basic QUMxOnNlY3JldA==");
        assert_eq!(auth_of(&cred), "Basic QUMxOnNlY3JldA==");
        let mut changed = cred.clone();
        changed.fields = fields("other");
        assert_eq!(auth_of(&changed), "Basic QUMxOm90aGVy");
    }

    #[test]
    fn whatsapp_goes_to_whatsapp_addresses_never_as_a_plain_sms() {
        let mut msg = OutboundMessage::sms(1, "+966500000001", "unused", "+14155238886");
        msg.payload = Payload::WhatsApp(WhatsAppContent::Text { body: "مرحبا".into(), preview_url: false });
        msg.status_callback_url = Some("https://jood.test/api/v1/callbacks/twilio/1".into());
        let form = form_of(&msg);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("To"), Some("whatsapp:+966500000001"));
        assert_eq!(get("From"), Some("whatsapp:+14155238886"));
        assert_eq!(get("Body"), Some("مرحبا"));
        assert_eq!(get("StatusCallback"), Some("https://jood.test/api/v1/callbacks/twilio/1"));

        // An approved template goes by ContentSid with its positional variables.
        msg.payload = Payload::WhatsApp(WhatsAppContent::Template(crate::domain::WhatsAppTemplate {
            name: "receipt".into(),
            language: "ar".into(),
            body_params: vec!["Ahmed".into(), "42".into()],
            header: None,
            url_buttons: vec![],
            content_sid: Some("HX0123".into()),
        }));
        let form = form_of(&msg);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ContentSid"), Some("HX0123"));
        assert_eq!(get("ContentVariables"), Some(r#"{"1":"Ahmed","2":"42"}"#));
        assert_eq!(get("Body"), None);

        // The same template without a ContentSid is refused as content, not as a broken credential.
        if let Payload::WhatsApp(WhatsAppContent::Template(t)) = &mut msg.payload {
            t.content_sid = None;
        }
        let cred = ProviderCredential::new(1, serde_json::json!({"accountSid": "AC1", "authToken": "t"}).as_object().unwrap().clone(), String::new());
        assert!(matches!(Twilio.build_request(&reqwest::Client::new(), &cred, &msg), Err(BuildError::Payload(m)) if m.contains("contentSid")));

        // SMS stays plain E.164 without a callback when none is configured.
        let form = form_of(&OutboundMessage::sms(1, "+966500000001", "hi", "Brand"));
        assert!(form.contains(&("To".into(), "+966500000001".into())) && form.contains(&("From".into(), "Brand".into())));
        assert!(!form.iter().any(|(k, _)| k == "StatusCallback"));
    }

    #[test]
    fn messaging_service_sids_are_recognised() {
        assert!(is_messaging_service_sid("MG0123456789abcdef0123456789abcdef"));
        assert!(!is_messaging_service_sid("+15017122661"));
        assert!(!is_messaging_service_sid("MyBrand"));
    }
}
