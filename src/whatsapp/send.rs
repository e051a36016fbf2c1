//! The WhatsApp sends of seed 000: an approved template with its parameters (any time), a
//! free-form text or a media item (inside the 24-hour customer-service window only). Each is
//! accepted durably through ingress on the WhatsApp channel, then the route waits (bounded)
//! for dispatch's outcome, because the documented answer carries Meta's message id.

use crate::ingress::whatsapp::template_content;
use super::{WaResult, WhatsApp, WhatsAppError, WINDOW_MS};
use crate::domain::{now_ms, phone, MediaItem, MediaKind, WhatsAppContent};
use crate::ingress::NewMessage;
use crate::store::{MessageRecord, MessageStatus};
use serde_json::{json, Map, Value};

pub struct TemplateSend {
    pub association_id: i64,
    pub template_id: i64,
    pub recipient: String,
    pub parameters: Map<String, Value>,
    pub credential_id: Option<i64>,
}

pub struct TextSend {
    pub association_id: i64,
    pub recipient: String,
    pub message: String,
}

pub struct MediaSend {
    pub association_id: i64,
    pub recipient: String,
    pub media_type: String,
    pub media_url: String,
    pub caption: Option<String>,
    pub filename: Option<String>,
}

/// How a send ended: sent (with the provider's id), or still queued when the wait ran out.
#[derive(Debug)]
pub struct SendOutcome {
    pub message_id: i64,
    pub status: MessageStatus,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub recipient: String,
}

impl SendOutcome {
    /// The documented `providerResponse`: Meta's send answer, rebuilt from what the engine kept.
    pub fn provider_response(&self) -> Value {
        match &self.provider_message_id {
            Some(id) => {
                let digits = self.recipient.trim_start_matches('+');
                json!({"messaging_product": "whatsapp", "contacts": [{"input": digits, "wa_id": digits}], "messages": [{"id": id}]})
            }
            None => Value::Null,
        }
    }
}

fn invalid(m: impl Into<String>) -> WhatsAppError {
    WhatsAppError::Invalid(m.into())
}

fn media_url(field: &str, v: &str) -> WaResult<String> {
    crate::ingress::whatsapp::media_url(field, v).map_err(WhatsAppError::Invalid)
}

impl WhatsApp {
    pub async fn send_template(&self, req: TemplateSend) -> WaResult<SendOutcome> {
        let t = self.template(Some(req.association_id), req.template_id).await?;
        if t.status != "APPROVED" {
            return Err(invalid(format!("template {} is {}; only APPROVED templates can be sent", t.id, t.status)));
        }
        if !t.is_active {
            return Err(invalid(format!("template {} is disabled (isActive false)", t.id)));
        }
        let (content, rendered) = template_content(&t, &req.parameters).map_err(WhatsAppError::Invalid)?;
        self.deliver(req.association_id, req.recipient, rendered, WhatsAppContent::Template(content), req.credential_id).await
    }

    pub async fn send_text(&self, req: TextSend) -> WaResult<SendOutcome> {
        if req.message.trim().is_empty() {
            return Err(invalid("message must not be empty"));
        }
        if req.message.chars().count() > 4096 {
            return Err(invalid("message has more than 4096 characters, WhatsApp's limit for a text"));
        }
        let e164 = self.within_window(req.association_id, &req.recipient).await?;
        let content = WhatsAppContent::Text { body: req.message.clone(), preview_url: false };
        self.deliver(req.association_id, e164, req.message, content, None).await
    }

    pub async fn send_media(&self, req: MediaSend) -> WaResult<SendOutcome> {
        let kind = MediaKind::parse(req.media_type.trim())
            .ok_or_else(|| invalid(format!("mediaType `{}` must be one of image, document, video, audio", req.media_type.chars().take(32).collect::<String>())))?;
        let link = media_url("mediaUrl", req.media_url.trim())?;
        let caption = req.caption.filter(|c| !c.trim().is_empty());
        if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
            return Err(invalid("caption has more than 1024 characters"));
        }
        if caption.is_some() && kind == MediaKind::Audio {
            return Err(invalid("caption is not allowed on audio"));
        }
        let filename = req.filename.filter(|f| !f.trim().is_empty());
        if filename.as_ref().is_some_and(|f| f.chars().count() > 240 || f.chars().any(char::is_control)) {
            return Err(invalid("filename must be at most 240 characters, without control characters"));
        }
        let e164 = self.within_window(req.association_id, &req.recipient).await?;
        let item = MediaItem { kind, link, caption, filename: if kind == MediaKind::Document { filename } else { None } };
        let content = WhatsAppContent::Media(item);
        self.deliver(req.association_id, e164, content.summary(), content, None).await
    }

    /// The recipient in E.164, if it wrote to the association within the last 24 hours.
    async fn within_window(&self, association_id: i64, recipient: &str) -> WaResult<String> {
        let r = phone::normalise(recipient).map_err(|why| invalid(format!("recipient `{recipient}` {why}")))?;
        let last = self.store.wa_window(association_id, &r.e164).await?;
        match last {
            Some(at) if now_ms() - at < WINDOW_MS => Ok(r.e164),
            _ => Err(WhatsAppError::WindowClosed(format!(
                "the 24-hour customer service window with {} is closed: the customer has not written in the last 24 hours; \
                 send an approved template (POST /api/v1/whatsapp-send/template) instead",
                r.e164
            ))),
        }
    }

    /// Stores the message (durable before anything else), then waits for dispatch's answer.
    pub(super) async fn deliver(&self, association_id: i64, recipient: String, body: String, content: WhatsAppContent, credential_id: Option<i64>) -> WaResult<SendOutcome> {
        let m = NewMessage {
            association_id,
            recipient,
            body,
            channel: "whatsapp".into(),
            priority: 0,
            credential_id,
            scheduled_at: None,
            content: Some(content),
            callback_url: None,
                validity_secs: None,
            sms: Default::default(),
            email: None,
            fallback: Vec::new(),
            shorten_links: None,
        };
        let mut outcome = None;
        let accepted = self.ingress.accept_watched(m, Some(&mut outcome)).await?;
        let finished: Option<MessageRecord> = match outcome {
            Some(rx) => match tokio::time::timeout(self.send_wait, rx).await {
                Ok(Ok(rec)) => Some(rec),
                _ => {
                    self.dispatcher.forget(accepted.id);
                    None
                }
            },
            None => None,
        };
        match finished {
            Some(rec) if rec.status == MessageStatus::Failed => Err(WhatsAppError::Rejected(format!(
                "message {} failed: {}",
                rec.id,
                rec.error.unwrap_or_else(|| "the provider refused it".into())
            ))),
            Some(rec) => Ok(SendOutcome {
                message_id: rec.id,
                status: rec.status,
                provider: rec.provider,
                provider_message_id: rec.provider_message_id,
                recipient: rec.recipient,
            }),
            None => {
                let rec = self.store.get_message(accepted.id).await?;
                Ok(SendOutcome {
                    message_id: accepted.id,
                    status: rec.as_ref().map(|r| r.status).unwrap_or(accepted.status),
                    provider: None,
                    provider_message_id: None,
                    recipient: rec.map(|r| r.recipient).unwrap_or_default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{WaButton, WaTemplateRecord};

    fn template() -> WaTemplateRecord {
        WaTemplateRecord {
            association_id: 1,
            id: 9,
            name: "receipt".into(),
            language: "ar".into(),
            category: "UTILITY".into(),
            header_type: "IMAGE".into(),
            header_content: None,
            header_media_url: Some("https://x.test/default.png".into()),
            body_text: "شكراً {{1}} على {{2}}".into(),
            footer_text: None,
            buttons: vec![WaButton { kind: "URL".into(), text: "r".into(), url: Some("https://x.test/r/{{1}}".into()), phone_number: None }],
            variables: vec!["name".into()],
            sample_values: Default::default(),
            status: "APPROVED".into(),
            meta_template_id: Some("5944".into()),
            status_reason: None,
            is_active: true,
            twilio_content_sid: None,
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    #[test]
    fn parameters_map_onto_the_template() {
        let t = template();
        let params = serde_json::json!({"name": "أحمد", "var2": 150, "button_url": "abc"});
        let (c, rendered) = template_content(&t, params.as_object().unwrap()).unwrap();
        assert_eq!(c.body_params, ["أحمد", "150"]);
        assert_eq!(rendered, "شكراً أحمد على 150");
        assert_eq!(c.header.unwrap().link, "https://x.test/default.png");
        assert_eq!(c.url_buttons, [(0, "abc".to_owned())]);
        let params = serde_json::json!({"name": "a", "2": "b", "button_url": "c", "header_image": "https://cdn.test/i.jpg"});
        let (c, _) = template_content(&t, params.as_object().unwrap()).unwrap();
        assert_eq!(c.header.unwrap().link, "https://cdn.test/i.jpg");

        let missing = serde_json::json!({"name": "a", "button_url": "c"});
        let err = template_content(&t, missing.as_object().unwrap()).unwrap_err().to_string();
        assert!(err.contains("parameters.var2 is required"), "{err}");
        let no_button = serde_json::json!({"name": "a", "var2": "b"});
        assert!(template_content(&t, no_button.as_object().unwrap()).unwrap_err().to_string().contains("button_url"));
        let bad_media = serde_json::json!({"name": "a", "var2": "b", "button_url": "c", "header_image": "ftp://x"});
        assert!(template_content(&t, bad_media.as_object().unwrap()).unwrap_err().to_string().contains("header_image"));
    }
}
