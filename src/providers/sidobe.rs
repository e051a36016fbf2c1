//! Sidobe's WhatsApp API v1 (`shared/providers/sidobe.md`, seed 002): JSON with
//! `X-Secret-Key`, one phone per request, three sends chosen from the payload: a text
//! (`/send-message`), an image with caption (`/send-message-image`) or a document
//! (`/send-message-doc`, with `document_name`). `is_async` is on unless the credential sets
//! `isAsync` to `"false"`: the answer is then a quick `PENDING` and the final status comes by
//! the signed `SEND_MESSAGE_STATUS` webhook (`inbound::sidobe`).
//!
//! Besides sends: the message detail (`GET /whatsapp-messages/:id`, used to reconcile a
//! message whose webhook never came) and the check-number utility, as request builders and
//! answer parsers the reconciler and the check-number route call. Transport only.

use super::wire::{base_url, endpoint, e164_plus, http_level, json, required, snippet, unrecognised};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::{MediaKind, ProviderKind, WhatsAppContent};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct Sidobe;

impl ProviderAdapter for Sidobe {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sidobe
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.sidobe.com/wa/v1"
    }

    fn build_request(&self, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage) -> Result<reqwest::RequestBuilder, BuildError> {
        let secret = required(cred, "secretKey")?;
        let content = match &msg.payload {
            Payload::WhatsApp(c) => c,
            other => return Err(BuildError::payload(format!("sidobe does not deliver the {} channel", other.channel().as_str()))),
        };
        let is_async = cred.field("isAsync") != "false";
        let phone = e164_plus(&msg.recipient);
        let (path, body) = match content {
            WhatsAppContent::Text { body, .. } => ("send-message", json!({"phone": phone, "message": body, "is_async": is_async})),
            WhatsAppContent::Media(m) => {
                let caption = m.caption.clone().unwrap_or_default();
                match m.kind {
                    MediaKind::Image => ("send-message-image", json!({"phone": phone, "image_url": m.link, "message": caption, "is_async": is_async})),
                    MediaKind::Document => {
                        let name = document_name(m.filename.as_deref(), &m.link);
                        ("send-message-doc", json!({"phone": phone, "document_url": m.link, "document_name": name, "message": caption, "is_async": is_async}))
                    }
                    other => return Err(BuildError::payload(format!("sidobe sends text, images and documents only, not {}", other.as_str()))),
                }
            }
            WhatsAppContent::Template(t) => {
                return Err(BuildError::payload(format!("sidobe has no message templates (template {}/{}); send a text instead", t.name, t.language)))
            }
        };
        let url = format!("{}/{path}", base_url(self, cred));
        Ok(client.post(endpoint(cred, url)?).header("X-Secret-Key", secret).header(ACCEPT, "application/json").json(&body))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let v = json(body);
        if status.is_success() {
            let data = v.as_ref().filter(|v| v.get("is_success").and_then(Value::as_bool) == Some(true)).and_then(|v| v.get("data"));
            let Some(id) = data.and_then(|d| super::wire::id_string(d.get("id"))) else {
                return unrecognised(status, body);
            };
            return match data.and_then(|d| d.get("status")).and_then(Value::as_str) {
                // A synchronous send that WhatsApp refused: Sidobe gives no reason (usually a
                // number without WhatsApp; check-number tells).
                Some("FAILED") => SendOutcome::PermanentRecipient { reason: format!("sidobe: message {id} FAILED at WhatsApp") },
                _ => SendOutcome::Accepted { provider_message_id: id },
            };
        }
        let code = v.as_ref().and_then(|v| v.get("error_code")).and_then(Value::as_str).unwrap_or("");
        let text = v.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).unwrap_or("");
        let reason = format!("sidobe {}: {}", if code.is_empty() { status.as_str() } else { code }, if text.is_empty() { snippet(body) } else { text.to_owned() });
        classify_error(status, headers, code, reason)
    }
}

/// Sidobe's `error_code`s first, then what the HTTP status alone means.
fn classify_error(status: StatusCode, headers: &HeaderMap, code: &str, reason: String) -> SendOutcome {
    match code {
        "API_VALIDATION_ERROR" => SendOutcome::PermanentContent { reason },
        // "You can retry"; the credential's attempt limit bounds it.
        "INVALID_REQUEST" => SendOutcome::Transient { reason },
        // The WhatsApp device is logged out or banned, or the key is wrong: broken until updated.
        "INVALID_DEVICE_WHATSAPP" | "INVALID_API_KEY" => SendOutcome::PermanentConfig { reason },
        _ => match http_level(status, headers) {
            Some(o) => o,
            None if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => SendOutcome::PermanentConfig { reason },
            None => SendOutcome::PermanentContent { reason },
        },
    }
}

/// Sidobe wants the name without its extension; a filename, else the URL's last segment.
pub fn document_name(filename: Option<&str>, link: &str) -> String {
    let from_url = reqwest::Url::parse(link).ok().and_then(|u| u.path_segments()?.next_back().map(str::to_owned)).filter(|s| !s.is_empty());
    let raw = filename.map(str::to_owned).filter(|f| !f.trim().is_empty()).or(from_url).unwrap_or_else(|| "document".into());
    let raw = urlencoding::decode(&raw).map(|c| c.into_owned()).unwrap_or(raw);
    let stem = match raw.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem.to_owned(),
        _ => raw,
    };
    stem.trim().chars().take(200).collect()
}

/// A message's status at Sidobe, as the detail endpoint or a webhook says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidobeStatus {
    Pending,
    Success,
    Failed,
}

impl SidobeStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "SUCCESS" => Some(Self::Success),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }
}

fn base(cred: &ProviderCredential) -> String {
    base_url(&Sidobe, cred)
}

/// `GET /whatsapp-messages/:id`.
pub fn detail_request(client: &reqwest::Client, cred: &ProviderCredential, id: &str) -> Result<reqwest::RequestBuilder, BuildError> {
    let secret = required(cred, "secretKey")?;
    let url = format!("{}/whatsapp-messages/{}", base(cred), urlencoding::encode(id));
    let url = reqwest::Url::parse(&url).map_err(|e| BuildError::credential(format!("credential {}: bad base URL: {e}", cred.credential_id)))?;
    Ok(client.get(url).header("X-Secret-Key", secret).header(ACCEPT, "application/json"))
}

/// The detail answer: the status, `Ok(None)` for a 404 (Sidobe does not know the id), or why
/// it could not be read (try again later).
pub fn parse_detail(status: StatusCode, body: &[u8]) -> Result<Option<SidobeStatus>, String> {
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", snippet(body)));
    }
    let v = json(body).ok_or_else(|| format!("not JSON: {}", snippet(body)))?;
    let s = v.get("data").and_then(|d| d.get("status")).and_then(Value::as_str).unwrap_or("");
    SidobeStatus::parse(s).map(Some).ok_or_else(|| format!("unknown status `{}`", s.chars().take(32).collect::<String>()))
}

/// `POST /utilities/check-number`.
pub fn check_number_request(client: &reqwest::Client, cred: &ProviderCredential, e164: &str) -> Result<reqwest::RequestBuilder, BuildError> {
    let secret = required(cred, "secretKey")?;
    let url = format!("{}/utilities/check-number", base(cred));
    let url = reqwest::Url::parse(&url).map_err(|e| BuildError::credential(format!("credential {}: bad base URL: {e}", cred.credential_id)))?;
    Ok(client.post(url).header("X-Secret-Key", secret).header(ACCEPT, "application/json").json(&json!({"phone": e164_plus(e164)})))
}

/// Why a utility call failed, as the caller must tell apart.
#[derive(Debug, Clone, PartialEq)]
pub enum UtilityError {
    /// Sidobe refused the request as invalid (400 API_VALIDATION_ERROR).
    Invalid(String),
    /// The credential is not accepted (INVALID_API_KEY, INVALID_DEVICE_WHATSAPP).
    Credential(String),
    /// Throttled, 5xx, or an answer that could not be read: try later.
    Unavailable(String),
}

/// The check-number answer: whether the number is on WhatsApp.
pub fn parse_check_number(status: StatusCode, body: &[u8]) -> Result<bool, UtilityError> {
    let v = json(body);
    if status.is_success() {
        return v
            .as_ref()
            .and_then(|v| v.get("data")?.get("is_registered")?.as_bool())
            .ok_or_else(|| UtilityError::Unavailable(format!("unrecognised answer: {}", snippet(body))));
    }
    let code = v.as_ref().and_then(|v| v.get("error_code")).and_then(Value::as_str).unwrap_or("");
    let text = v.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).unwrap_or("").to_owned();
    match classify_error(status, &HeaderMap::new(), code, format!("sidobe {code}: {text}")) {
        SendOutcome::PermanentConfig { reason } => Err(UtilityError::Credential(reason)),
        SendOutcome::PermanentContent { reason } => Err(UtilityError::Invalid(reason)),
        other => Err(UtilityError::Unavailable(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        Sidobe.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn answers_are_classified_as_the_notes_say() {
        let ok = r#"{"is_success":true,"data":{"id":"4da0cb47","message_type":"TEXT","status":"PENDING","is_async":true}}"#;
        assert_eq!(classify(200, ok), SendOutcome::Accepted { provider_message_id: "4da0cb47".into() });
        assert_eq!(classify(201, r#"{"is_success":true,"data":{"id":1,"status":"SUCCESS"}}"#), SendOutcome::Accepted { provider_message_id: "1".into() });
        assert!(matches!(classify(200, r#"{"is_success":true,"data":{"id":"x","status":"FAILED"}}"#), SendOutcome::PermanentRecipient { .. }));
        let err = |code: &str| format!(r#"{{"is_success":false,"message":"m","error_code":"{code}"}}"#);
        assert!(matches!(classify(400, &err("API_VALIDATION_ERROR")), SendOutcome::PermanentContent { .. }));
        assert!(matches!(classify(400, &err("INVALID_REQUEST")), SendOutcome::Transient { .. }));
        assert!(matches!(classify(400, &err("INVALID_DEVICE_WHATSAPP")), SendOutcome::PermanentConfig { reason } if reason.contains("INVALID_DEVICE_WHATSAPP")));
        assert!(matches!(classify(401, &err("INVALID_API_KEY")), SendOutcome::PermanentConfig { .. }));
        assert_eq!(classify(429, r#"{"message":"rate limit exceeded"}"#), SendOutcome::Throttled { retry_after: None });
        assert!(matches!(classify(503, "maintenance"), SendOutcome::Transient { .. }));
        assert!(matches!(classify(200, "{}"), SendOutcome::Ambiguous { .. }));
    }

    #[test]
    fn the_payload_picks_the_endpoint() {
        let cred = ProviderCredential::new(3, json!({"secretKey": "k"}).as_object().unwrap().clone(), "http://127.0.0.1:1/wa/v1".into());
        let client = reqwest::Client::new();
        let msg = |c: WhatsAppContent| OutboundMessage { payload: Payload::WhatsApp(c), ..OutboundMessage::sms(7, "+966500000001", "", "") };
        let req = Sidobe.build_request(&client, &cred, &msg(WhatsAppContent::Text { body: "hi".into(), preview_url: false })).unwrap().build().unwrap();
        assert_eq!(req.url().as_str(), "http://127.0.0.1:1/wa/v1/send-message");
        assert_eq!(req.headers()["x-secret-key"], "k");
        let body: Value = serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, json!({"phone": "+966500000001", "message": "hi", "is_async": true}));
        let doc = crate::domain::MediaItem { kind: MediaKind::Document, link: "https://x.test/files/Receipt%2042.pdf".into(), caption: None, filename: None };
        let req = Sidobe.build_request(&client, &cred, &msg(WhatsAppContent::Media(doc))).unwrap().build().unwrap();
        assert_eq!(req.url().path(), "/wa/v1/send-message-doc");
        let body: Value = serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body["document_name"], "Receipt 42");
        let video = crate::domain::MediaItem { kind: MediaKind::Video, link: "https://x.test/v.mp4".into(), caption: None, filename: None };
        assert!(matches!(Sidobe.build_request(&client, &cred, &msg(WhatsAppContent::Media(video))), Err(BuildError::Payload(_))));
        assert_eq!(document_name(Some("report.final.docx"), "https://x.test/a"), "report.final");
    }

    #[test]
    fn detail_and_check_number_answers() {
        assert_eq!(parse_detail(StatusCode::OK, br#"{"is_success":true,"data":{"id":"a","status":"FAILED"}}"#), Ok(Some(SidobeStatus::Failed)));
        assert_eq!(parse_detail(StatusCode::NOT_FOUND, b"{}"), Ok(None));
        assert!(parse_detail(StatusCode::SERVICE_UNAVAILABLE, b"").is_err());
        assert_eq!(parse_check_number(StatusCode::OK, br#"{"is_success":true,"data":{"is_registered":false}}"#), Ok(false));
        assert!(matches!(parse_check_number(StatusCode::UNAUTHORIZED, br#"{"is_success":false,"error_code":"INVALID_API_KEY"}"#), Err(UtilityError::Credential(_))));
    }
}
