//! What a message carries beyond its text, per channel. An SMS is its text alone (the
//! message row's `body`); a WhatsApp message is a session text, an approved template with its
//! parameters, or a media item. Stored on the message row (`MessageRecord::content`) and turned
//! into each provider's wire format by its adapter (Meta's Graph API `template` object,
//! Twilio's `ContentSid` + `ContentVariables`, …).
//!
//! Pure data, no I/O. Externally tagged enums only: the embedded store writes message rows
//! as MessagePack arrays, where internally tagged enums do not round-trip.

use serde::{Deserialize, Serialize};

/// A WhatsApp payload. A WhatsApp message without one is a session text of its `body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WhatsAppContent {
    /// Free-form text: only inside the 24-hour customer-service window.
    Text { body: String, preview_url: bool },
    /// An approved template: allowed at any time.
    Template(WhatsAppTemplate),
    /// An image, video, audio or document: only inside the window.
    Media(MediaItem),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppTemplate {
    /// The template's name at Meta (lowercase letters, digits, underscores).
    pub name: String,
    /// BCP-47-ish language code the template was approved in (`en`, `ar`, `en_US`).
    pub language: String,
    /// Positional body parameters, `{{1}}..{{n}}` in order.
    pub body_params: Vec<String>,
    /// The header's media, for templates with an image, video or document header.
    pub header: Option<MediaItem>,
    /// Dynamic URL buttons: (0-based button index, the URL suffix replacing `{{1}}`).
    pub url_buttons: Vec<(u32, String)>,
    /// Twilio's Content API id (`HX…`) of the same template, when sent through Twilio.
    pub content_sid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        [MediaKind::Image, MediaKind::Video, MediaKind::Audio, MediaKind::Document].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    pub kind: MediaKind,
    /// An http(s) URL the provider fetches.
    pub link: String,
    pub caption: Option<String>,
    /// Shown for documents.
    pub filename: Option<String>,
}

impl WhatsAppContent {
    /// Whether Meta allows it outside the 24-hour customer-service window.
    pub fn needs_open_window(&self) -> bool {
        !matches!(self, WhatsAppContent::Template(_))
    }

    /// A short description for logs and the message's text column (`template donation_receipt/ar`).
    pub fn summary(&self) -> String {
        match self {
            WhatsAppContent::Text { body, .. } => body.clone(),
            WhatsAppContent::Template(t) => format!("template {}/{}", t.name, t.language),
            WhatsAppContent::Media(m) => format!("{} {}", m.kind.as_str(), m.link),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded store writes new rows compact (arrays) and rewritten rows named (maps):
    /// both must round-trip.
    #[test]
    fn round_trips_through_both_messagepack_forms() {
        let items = [
            WhatsAppContent::Text { body: "hi".into(), preview_url: false },
            WhatsAppContent::Template(WhatsAppTemplate {
                name: "receipt".into(),
                language: "ar".into(),
                body_params: vec!["جمعية".into(), "150".into()],
                header: Some(MediaItem { kind: MediaKind::Image, link: "https://x.test/a.png".into(), caption: None, filename: None }),
                url_buttons: vec![(0, "a1b2".into())],
                content_sid: None,
            }),
            WhatsAppContent::Media(MediaItem {
                kind: MediaKind::Document,
                link: "https://x.test/r.pdf".into(),
                caption: Some("receipt".into()),
                filename: Some("r.pdf".into()),
            }),
        ];
        for c in items {
            let named = rmp_serde::to_vec_named(&c).unwrap();
            let compact = rmp_serde::to_vec(&c).unwrap();
            assert_eq!(rmp_serde::from_slice::<WhatsAppContent>(&named).unwrap(), c);
            assert_eq!(rmp_serde::from_slice::<WhatsAppContent>(&compact).unwrap(), c);
        }
    }

    #[test]
    fn only_templates_open_a_conversation() {
        assert!(WhatsAppContent::Text { body: "x".into(), preview_url: false }.needs_open_window());
        let t = WhatsAppTemplate { name: "a".into(), language: "en".into(), body_params: vec![], header: None, url_buttons: vec![], content_sid: None };
        assert!(!WhatsAppContent::Template(t).needs_open_window());
        assert_eq!(MediaKind::parse("video"), Some(MediaKind::Video));
        assert_eq!(MediaKind::parse("sticker"), None);
    }
}
