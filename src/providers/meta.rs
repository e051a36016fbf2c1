//! Meta's WhatsApp Cloud API (`shared/providers/meta-whatsapp-cloud.md`): JSON
//! `POST /{version}/{phone-number-id}/messages` with `Authorization: Bearer <accessToken>`, one
//! recipient per request; `200` + `messages[0].id` (the *wamid*, also the id of later status
//! webhooks); errors `{"error":{code, message, error_data.details}}`, classified by `code`
//! alone, as Meta asks (its HTTP statuses for the same code vary).
//!
//! The base URL carries the Graph API version (`https://graph.facebook.com/v23.0`; an `apiUrl`
//! override such as the simulator's `http://127.0.0.1:PORT/v23.0` must too).

use super::wire::{base_url, endpoint, intl_digits, json, required, snippet, unrecognised};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::{MediaItem, MediaKind, ProviderKind, WhatsAppContent, WhatsAppTemplate};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

pub struct MetaWhatsapp;

/// About one message per 6 s to the same user (error 131056): retry that recipient later.
pub const PAIR_RATE_RETRY: Duration = Duration::from_secs(6);

impl ProviderAdapter for MetaWhatsapp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::MetaWhatsapp
    }

    fn default_base_url(&self) -> &'static str {
        "https://graph.facebook.com/v23.0"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        msg: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let phone_number_id = required(cred, "phoneNumberId")?;
        let token = required(cred, "accessToken")?;
        let content = match &msg.payload {
            Payload::WhatsApp(c) => c,
            other => return Err(BuildError::payload(format!("meta does not deliver the {} channel", other.channel().as_str()))),
        };
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": intl_digits(&msg.recipient),
            // Echoed in every status webhook of this message: the engine's id, for correlation.
            "biz_opaque_callback_data": msg.message_id.to_string(),
        });
        match content {
            WhatsAppContent::Text { body: text, preview_url } => {
                body["type"] = "text".into();
                body["text"] = json!({ "preview_url": preview_url, "body": text });
            }
            WhatsAppContent::Media(m) => {
                body["type"] = m.kind.as_str().into();
                body[m.kind.as_str()] = media_object(m);
            }
            WhatsAppContent::Template(t) => {
                body["type"] = "template".into();
                body["template"] = template_object(t);
            }
        }
        let url = format!("{}/{}/messages", base_url(self, cred), urlencoding::encode(phone_number_id));
        Ok(client.post(endpoint(cred, url)?).bearer_auth(token).header(ACCEPT, "application/json").json(&body))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let v = json(body);
        if status.is_success() {
            return match v.as_ref().and_then(|v| v.get("messages")?.get(0)?.get("id")?.as_str().map(str::to_owned)) {
                Some(id) if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id },
                _ => unrecognised(status, body),
            };
        }
        let error = v.as_ref().and_then(|v| v.get("error"));
        let code = error.and_then(|e| e.get("code")).and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
        let Some(code) = code else {
            return match super::wire::http_level(status, headers) {
                Some(o) => o,
                None if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => {
                    SendOutcome::PermanentConfig { reason: format!("HTTP {status}: {}", snippet(body)) }
                }
                None => SendOutcome::PermanentContent { reason: format!("HTTP {status}: {}", snippet(body)) },
            };
        };
        let text = |field: &str| error.and_then(|e| e.get(field)).and_then(Value::as_str).unwrap_or("");
        let details = error.and_then(|e| e.get("error_data")?.get("details")?.as_str()).unwrap_or("");
        let reason = format!("meta {code}: {}{}", text("message"), if details.is_empty() { String::new() } else { format!(" ({details})") });
        classify_code(code, reason, super::wire::retry_after(headers))
    }
}

/// Meta's error codes (synchronous answers and webhook `errors[].code` alike).
pub fn classify_code(code: i64, reason: String, retry_after: Option<Duration>) -> SendOutcome {
    match code {
        // The business number's throughput: slow the whole credential down.
        130429 | 4 | 80007 => SendOutcome::Throttled { retry_after },
        // Too fast to this one user: only this recipient waits.
        131056 => SendOutcome::Deferred { retry_after: retry_after.unwrap_or(PAIR_RATE_RETRY), reason },
        // Spam rate limit (quality): the number must cool down for a long while.
        131048 => SendOutcome::Throttled { retry_after: Some(retry_after.unwrap_or(Duration::from_secs(300))) },
        1 | 2 | 131000 | 131016 | 131057 => SendOutcome::Transient { reason },
        0 | 3 | 10 | 190 | 200..=299 | 368 | 131031 | 131042 | 133010 => SendOutcome::PermanentConfig { reason },
        131026 | 130472 => SendOutcome::PermanentRecipient { reason },
        // Bad parameters, the 24-hour window (131047), unsupported type, media errors,
        // template problems (132000 count, 132001 missing, 132015/132016 paused/disabled), the
        // per-user marketing limit (131049): this payload will not go through as it is.
        _ => SendOutcome::PermanentContent { reason },
    }
}

fn media_object(m: &MediaItem) -> Value {
    let mut o = json!({ "link": m.link });
    if let Some(caption) = m.caption.as_ref().filter(|c| !c.is_empty()) {
        // Meta takes no caption on audio.
        if m.kind != MediaKind::Audio {
            o["caption"] = caption.as_str().into();
        }
    }
    if let (MediaKind::Document, Some(name)) = (m.kind, m.filename.as_ref()) {
        o["filename"] = name.as_str().into();
    }
    o
}

/// The `template` object: header media, positional body parameters, one component per
/// dynamic URL button (`index` is the button's 0-based position in the template).
fn template_object(t: &WhatsAppTemplate) -> Value {
    let mut components = Vec::new();
    if let Some(h) = &t.header {
        let mut media = json!({ "link": h.link });
        if let (MediaKind::Document, Some(name)) = (h.kind, h.filename.as_ref()) {
            media["filename"] = name.as_str().into();
        }
        components.push(json!({ "type": "header", "parameters": [{ "type": h.kind.as_str(), (h.kind.as_str()): media }] }));
    }
    if !t.body_params.is_empty() {
        let params: Vec<Value> = t.body_params.iter().map(|p| json!({ "type": "text", "text": p })).collect();
        components.push(json!({ "type": "body", "parameters": params }));
    }
    for (index, suffix) in &t.url_buttons {
        components.push(json!({
            "type": "button", "sub_type": "url", "index": index.to_string(),
            "parameters": [{ "type": "text", "text": suffix }],
        }));
    }
    let mut o = json!({ "name": t.name, "language": { "code": t.language } });
    if !components.is_empty() {
        o["components"] = Value::Array(components);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        MetaWhatsapp.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    fn error(code: i64) -> String {
        format!(r#"{{"error":{{"message":"(#{code}) m","type":"OAuthException","code":{code},"error_data":{{"messaging_product":"whatsapp","details":"d"}},"fbtrace_id":"A"}}}}"#)
    }

    #[test]
    fn accepted_with_the_wamid() {
        let body = r#"{"messaging_product":"whatsapp","contacts":[{"input":"966500000000","wa_id":"966500000000"}],"messages":[{"id":"wamid.HBgL","message_status":"accepted"}]}"#;
        assert_eq!(classify(200, body), SendOutcome::Accepted { provider_message_id: "wamid.HBgL".into() });
        assert!(matches!(classify(200, "{}"), SendOutcome::Ambiguous { .. }));
    }

    #[test]
    fn documented_codes_decide_whatever_the_http_status() {
        assert_eq!(classify(400, &error(130429)), SendOutcome::Throttled { retry_after: None });
        assert!(matches!(classify(429, &error(131056)), SendOutcome::Deferred { retry_after, .. } if retry_after == PAIR_RATE_RETRY));
        assert!(matches!(classify(400, &error(131026)), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(classify(400, &error(131047)), SendOutcome::PermanentContent { reason } if reason.contains("131047") && reason.contains("(d)")));
        assert!(matches!(classify(400, &error(132000)), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(404, &error(132001)), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(401, &error(190)), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(400, &error(131049)), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(500, &error(131000)), SendOutcome::Transient { .. }));
        // Without a code, the HTTP status decides.
        assert!(matches!(classify(503, "<html>"), SendOutcome::Transient { .. }));
        assert!(matches!(classify(401, ""), SendOutcome::PermanentConfig { .. }));
    }

    #[test]
    fn template_payload_follows_the_graph_api_shape() {
        let t = WhatsAppTemplate {
            name: "donation_receipt".into(),
            language: "ar".into(),
            body_params: vec!["جمعية الوفاء".into(), "150".into()],
            header: Some(MediaItem { kind: MediaKind::Image, link: "https://example.test/r.png".into(), caption: None, filename: None }),
            url_buttons: vec![(0, "a1b2c3d4".into())],
            content_sid: None,
        };
        let v = template_object(&t);
        assert_eq!(
            v,
            json!({
                "name": "donation_receipt",
                "language": {"code": "ar"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.test/r.png"}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "جمعية الوفاء"}, {"type": "text", "text": "150"}]},
                    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "a1b2c3d4"}]}
                ]
            })
        );
        let doc = MediaItem { kind: MediaKind::Document, link: "https://x.test/r.pdf".into(), caption: Some("c".into()), filename: Some("r.pdf".into()) };
        assert_eq!(media_object(&doc), json!({"link": "https://x.test/r.pdf", "caption": "c", "filename": "r.pdf"}));
    }

    #[test]
    fn request_carries_token_number_and_correlation() {
        let cred = ProviderCredential::new(
            3,
            json!({"phoneNumberId": "1065", "accessToken": "EAAG"}).as_object().unwrap().clone(),
            "http://127.0.0.1:1/v23.0/".into(),
        );
        let msg = OutboundMessage {
            payload: Payload::WhatsApp(WhatsAppContent::Text { body: "hi".into(), preview_url: false }),
            ..OutboundMessage::sms(77, "+966500000001", "", "")
        };
        let req = MetaWhatsapp.build_request(&reqwest::Client::new(), &cred, &msg).unwrap().build().unwrap();
        assert_eq!(req.url().as_str(), "http://127.0.0.1:1/v23.0/1065/messages");
        assert_eq!(req.headers()["authorization"], "Bearer EAAG");
        let body: Value = serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body["to"], "966500000001");
        assert_eq!(body["text"]["body"], "hi");
        assert_eq!(body["biz_opaque_callback_data"], "77");
        // An SMS payload is refused as content.
        let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
        assert!(matches!(MetaWhatsapp.build_request(&reqwest::Client::new(), &cred, &sms), Err(BuildError::Payload(_))));
    }
}
