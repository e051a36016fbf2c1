//! The WA-Web multi-client gateway of seed 001 (`shared/providers/wa-web-gateway.md`): a
//! self-hosted whatsapp-web.js-style server, so the base URL is the credential's `apiUrl`
//! (there is no public default). JSON with the account `x-api-key` and the credential's
//! `clientId`: `POST /api/send-message` (`number` as digits, `message` or `mediaUrl`) for a
//! person, `POST /api/send-group-message` (`groupId`, `mediaType`) for a `…@g.us` group id.
//! The answer's `message.id._serialized` is the provider id; the gateway never reports
//! delivery, only `message_sent` (see `inbound::waweb`).
//!
//! Also the client list (`GET /api/clients`), polled into the credential's health: a client
//! that is not `Authenticated` (a QR code to scan, logged out) cannot send. Transport only.

use super::wire::{base_url, endpoint, http_level, intl_digits, json, required, snippet, unrecognised};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::{ProviderKind, WhatsAppContent};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct WaWebGateway;

/// No public deployment exists: a credential without `apiUrl` is refused before any call.
const NO_DEFAULT: &str = "https://wa-web-gateway.invalid";

/// Whether a recipient is a WhatsApp group id (`1203…@g.us`) rather than a number.
pub fn is_group_id(recipient: &str) -> bool {
    recipient
        .strip_suffix("@g.us")
        .is_some_and(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

impl ProviderAdapter for WaWebGateway {
    fn kind(&self) -> ProviderKind {
        ProviderKind::WaWebGateway
    }

    fn default_base_url(&self) -> &'static str {
        NO_DEFAULT
    }

    fn build_request(&self, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage) -> Result<reqwest::RequestBuilder, BuildError> {
        let key = required(cred, "apiKey")?;
        let client_id = required(cred, "clientId")?;
        let base = base_url(self, cred);
        if base == NO_DEFAULT {
            return Err(BuildError::credential(format!("credential {} has no apiUrl: the gateway's base URL is per deployment", cred.credential_id)));
        }
        let content = match &msg.payload {
            Payload::WhatsApp(c) => c,
            other => return Err(BuildError::payload(format!("wawebgw does not deliver the {} channel", other.channel().as_str()))),
        };
        let (text, media) = match content {
            WhatsAppContent::Text { body, .. } => (Some(body.clone()), None),
            WhatsAppContent::Media(m) => (m.caption.clone().filter(|c| !c.is_empty()), Some(m)),
            WhatsAppContent::Template(t) => {
                return Err(BuildError::payload(format!("wawebgw has no message templates (template {}/{}); send a text instead", t.name, t.language)))
            }
        };
        let mut body = json!({ "clientId": client_id });
        if let Some(t) = text {
            body["message"] = t.into();
        }
        let path = if is_group_id(&msg.recipient) {
            body["groupId"] = msg.recipient.clone().into();
            if let Some(m) = media {
                body["mediaUrl"] = m.link.clone().into();
                body["mediaType"] = m.kind.as_str().into();
            }
            "api/send-group-message"
        } else {
            body["number"] = intl_digits(&msg.recipient).into();
            if let Some(m) = media {
                body["mediaUrl"] = m.link.clone().into();
            }
            "api/send-message"
        };
        Ok(client.post(endpoint(cred, format!("{base}/{path}"))?).header("x-api-key", key).header(ACCEPT, "application/json").json(&body))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let v = json(body);
        if status.is_success() {
            let ok = v.as_ref().and_then(|v| v.get("success")).and_then(Value::as_bool);
            if ok == Some(false) {
                return classify_error(status, headers, v.as_ref(), body);
            }
            let id = v.as_ref().and_then(|v| {
                let m = v.get("message")?;
                m.get("id").and_then(|id| id.get("_serialized").or(Some(id))).and_then(Value::as_str).map(str::to_owned)
            });
            return match (ok, id) {
                (_, Some(id)) if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id },
                // The send answer is undocumented: `success: true` without an id is taken.
                (Some(true), _) => SendOutcome::Accepted { provider_message_id: String::new() },
                _ => unrecognised(status, body),
            };
        }
        classify_error(status, headers, v.as_ref(), body)
    }
}

/// The documented codes (of `send-group-message`, likely shared), then the HTTP status.
fn classify_error(status: StatusCode, headers: &HeaderMap, v: Option<&Value>, body: &[u8]) -> SendOutcome {
    let s = |k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).unwrap_or("").to_owned();
    let code = [s("code"), s("error_code"), s("errorCode")].into_iter().find(|c| !c.is_empty()).unwrap_or_default();
    let text = [s("message"), s("error")].into_iter().find(|c| !c.is_empty()).unwrap_or_else(|| snippet(body));
    let reason = format!("wawebgw {}: {text}", if code.is_empty() { status.as_str().to_owned() } else { code.clone() });
    let lower = text.to_lowercase();
    match code.as_str() {
        "AUTH_ERROR" | "ACCESS_DENIED" | "PLAN_LIMIT_EXCEEDED" | "CLIENT_NOT_FOUND" => SendOutcome::PermanentConfig { reason },
        // A read-only group (announcements) or a bad chat type: this message never goes.
        "READ_ONLY_CHAT" | "INVALID_CHAT_TYPE" | "MEDIA_ERROR" | "GROUP_NOT_FOUND" => SendOutcome::PermanentContent { reason },
        // The client is not connected (QR pending): another credential may send meanwhile.
        "CLIENT_NOT_READY" | "CLIENT_NOT_AUTHENTICATED" => SendOutcome::Transient { reason },
        _ if lower.contains("not authenticated") || lower.contains("not connected") || lower.contains("not ready") => SendOutcome::Transient { reason },
        _ => match http_level(status, headers) {
            Some(o) => o,
            None if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND => SendOutcome::PermanentConfig { reason },
            None => SendOutcome::PermanentContent { reason },
        },
    }
}

/// `GET /api/clients` with the account key.
pub fn clients_request(client: &reqwest::Client, cred: &ProviderCredential) -> Result<reqwest::RequestBuilder, BuildError> {
    let key = required(cred, "apiKey")?;
    let base = base_url(&WaWebGateway, cred);
    if base == NO_DEFAULT {
        return Err(BuildError::credential(format!("credential {} has no apiUrl", cred.credential_id)));
    }
    let url = reqwest::Url::parse(&format!("{base}/api/clients")).map_err(|e| BuildError::credential(format!("credential {}: bad apiUrl: {e}", cred.credential_id)))?;
    Ok(client.get(url).header("x-api-key", key).header(ACCEPT, "application/json"))
}

/// What the client list says of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHealth {
    Authenticated,
    /// Listed, in another state (`Pending Authentication`, `Disconnected`, …).
    NotAuthenticated(String),
    /// Not in the list at all.
    Missing,
}

/// Finds `client_id` in the list (`[{clientId, status, …}]`, or the same under `clients` /
/// `data`), and reads its status; `Err` when the answer cannot be read (no verdict).
pub fn parse_clients(status: StatusCode, body: &[u8], client_id: &str) -> Result<ClientHealth, String> {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Ok(ClientHealth::NotAuthenticated(format!("the gateway refused the account key (HTTP {status})")));
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", snippet(body)));
    }
    let v = json(body).ok_or_else(|| format!("not JSON: {}", snippet(body)))?;
    let list = v.as_array().or_else(|| v.get("clients").and_then(Value::as_array)).or_else(|| v.get("data").and_then(Value::as_array));
    let Some(list) = list else { return Err(format!("no client list in {}", snippet(body))) };
    let found = list.iter().find(|c| ["clientId", "id", "client_id"].iter().any(|k| c.get(*k).and_then(Value::as_str) == Some(client_id)));
    let Some(c) = found else { return Ok(ClientHealth::Missing) };
    let state = c.get("status").and_then(Value::as_str).unwrap_or("");
    if state.eq_ignore_ascii_case("authenticated") || state.eq_ignore_ascii_case("connected") || state.eq_ignore_ascii_case("ready") {
        Ok(ClientHealth::Authenticated)
    } else {
        Ok(ClientHealth::NotAuthenticated(if state.is_empty() { "no status".into() } else { state.chars().take(64).collect() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        WaWebGateway.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn answers_and_documented_errors() {
        let ok = r#"{"success":true,"message":{"id":{"_serialized":"3EB0C767F26AFC1F8B"},"body":"hi","timestamp":1699123456,"type":"chat"}}"#;
        assert_eq!(classify(200, ok), SendOutcome::Accepted { provider_message_id: "3EB0C767F26AFC1F8B".into() });
        assert_eq!(classify(200, r#"{"success":true}"#), SendOutcome::Accepted { provider_message_id: String::new() });
        assert!(matches!(classify(403, r#"{"success":false,"code":"READ_ONLY_CHAT","message":"read only"}"#), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(401, r#"{"code":"AUTH_ERROR","message":"bad key"}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(403, r#"{"code":"PLAN_LIMIT_EXCEEDED"}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(400, r#"{"code":"MEDIA_ERROR"}"#), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(503, r#"{"error":"Client not authenticated"}"#), SendOutcome::Transient { .. }));
        assert_eq!(classify(429, r#"{"message":"Too many requests"}"#), SendOutcome::Throttled { retry_after: None });
    }

    #[test]
    fn numbers_and_groups_take_their_endpoints() {
        let fields = json!({"apiKey": "acct", "clientId": "c1", "clientApiKey": "ck"});
        let cred = ProviderCredential::new(4, fields.as_object().unwrap().clone(), "http://127.0.0.1:1".into());
        let client = reqwest::Client::new();
        let text = Payload::WhatsApp(WhatsAppContent::Text { body: "hi".into(), preview_url: false });
        let msg = OutboundMessage { payload: text.clone(), ..OutboundMessage::sms(7, "+966500000001", "", "") };
        let req = WaWebGateway.build_request(&client, &cred, &msg).unwrap().build().unwrap();
        assert_eq!((req.url().path(), req.headers()["x-api-key"].to_str().unwrap()), ("/api/send-message", "acct"));
        let body: Value = serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, json!({"clientId": "c1", "number": "966500000001", "message": "hi"}));
        let group = OutboundMessage { recipient: "120363025246125486@g.us".into(), ..msg.clone() };
        let req = WaWebGateway.build_request(&client, &cred, &group).unwrap().build().unwrap();
        assert_eq!(req.url().path(), "/api/send-group-message");
        assert!(is_group_id("120363025246125486@g.us") && !is_group_id("+9665@g.us") && !is_group_id("966500000001"));
        let no_url = ProviderCredential::new(4, cred.fields.clone(), String::new());
        assert!(matches!(WaWebGateway.build_request(&client, &no_url, &msg), Err(BuildError::Credential(_))));
    }

    #[test]
    fn client_list_states() {
        let list = br#"[{"clientId":"c1","status":"Authenticated"},{"clientId":"c2","status":"Pending Authentication"}]"#;
        assert_eq!(parse_clients(StatusCode::OK, list, "c1"), Ok(ClientHealth::Authenticated));
        assert_eq!(parse_clients(StatusCode::OK, list, "c2"), Ok(ClientHealth::NotAuthenticated("Pending Authentication".into())));
        assert_eq!(parse_clients(StatusCode::OK, list, "c3"), Ok(ClientHealth::Missing));
        assert!(parse_clients(StatusCode::BAD_GATEWAY, b"", "c1").is_err());
    }
}
