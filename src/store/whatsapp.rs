//! The rows of the WhatsApp tables (`schema.cql`: `whatsapp_templates`, `whatsapp_windows`)
//! and the store contract for them, a supertrait of [`super::Store`] so every backend
//! provides it and callers reach it through the same `SharedStore`.

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A WhatsApp message template of an association (seed 000 "Create WhatsApp Template"), with
/// its state at Meta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaTemplateRecord {
    pub association_id: i64,
    pub id: i64,
    /// Meta's rule: lowercase letters, digits and underscores.
    pub name: String,
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: String,
    /// NONE, TEXT, IMAGE, VIDEO or DOCUMENT.
    pub header_type: String,
    #[serde(default)]
    pub header_content: Option<String>,
    /// The default media of an IMAGE/VIDEO/DOCUMENT header (sends may override it).
    #[serde(default)]
    pub header_media_url: Option<String>,
    /// With `{{1}}..{{n}}` placeholders.
    pub body_text: String,
    #[serde(default)]
    pub footer_text: Option<String>,
    #[serde(default)]
    pub buttons: Vec<WaButton>,
    /// Names of the body variables in placeholder order (`["name", "orderId"]` → `{{1}}`, `{{2}}`).
    #[serde(default)]
    pub variables: Vec<String>,
    /// Example values for Meta's review, by variable name or placeholder number.
    #[serde(default)]
    pub sample_values: BTreeMap<String, String>,
    /// DRAFT (never submitted), PENDING, APPROVED, REJECTED, PAUSED, DISABLED or DELETED.
    pub status: String,
    /// Meta's template id, once submitted.
    #[serde(default)]
    pub meta_template_id: Option<String>,
    /// Why Meta rejected it, or why the last submission failed.
    #[serde(default)]
    pub status_reason: Option<String>,
    pub is_active: bool,
    /// Twilio's Content API id of the same template, for sends through a Twilio credential.
    #[serde(default)]
    pub twilio_content_sid: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Compare-and-set version (management writes are linearizable): the version the row
    /// was read at; 0 for a template not yet stored.
    #[serde(default)]
    pub version: u64,
}

/// A template button, as Meta's `BUTTONS` component lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaButton {
    /// URL, QUICK_REPLY or PHONE_NUMBER.
    pub kind: String,
    pub text: String,
    /// For URL buttons: the URL, with `{{1}}` as a dynamic suffix.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
}

impl WaButton {
    pub fn is_dynamic_url(&self) -> bool {
        self.kind == "URL" && self.url.as_deref().is_some_and(|u| u.contains("{{1}}"))
    }
}

/// A message a customer sent to the association's WhatsApp number (Meta's inbound webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaInboundRecord {
    pub association_id: i64,
    /// Meta's id of the message (`wamid…`).
    pub wamid: String,
    /// E.164.
    pub from: String,
    /// `text`, `image`, `button`, …
    pub kind: String,
    /// The text (capped at 4,096 characters); empty for media.
    pub text: String,
    /// Unix ms, as Meta stamped it.
    pub at: i64,
}

/// Storage of WhatsApp templates and customer-service windows.
#[async_trait]
pub trait WhatsAppStore: Send + Sync {
    /// Writes a template (and its owner row, so it can be found by id alone), compare-and-set
    /// on `rec.version`: a new template (version 0) only if its id is free (`Conflict`), an
    /// existing one only if the stored row is still at `rec.version` (`VersionMismatch`
    /// otherwise, also when it was deleted meanwhile). The row written has version
    /// `rec.version + 1`. ScyllaDB: `INSERT … IF NOT EXISTS` / `UPDATE … IF version = ?`.
    async fn put_wa_template(&self, rec: &WaTemplateRecord) -> StoreResult<()>;
    /// A template by its id alone.
    async fn get_wa_template(&self, id: i64) -> StoreResult<Option<WaTemplateRecord>>;
    /// An association's templates in id order.
    async fn list_wa_templates(&self, association_id: i64) -> StoreResult<Vec<WaTemplateRecord>>;
    /// Returns whether a row was deleted (atomically with the check that it exists).
    async fn delete_wa_template(&self, association_id: i64, id: i64) -> StoreResult<bool>;
    /// Records an inbound message from `recipient` at `at` (Unix ms): it opens or refreshes
    /// the 24-hour customer-service window with that recipient.
    async fn touch_wa_window(&self, association_id: i64, recipient: &str, at: i64) -> StoreResult<()>;
    /// Keeps an inbound message (newest first per association; a repeat of one wamid replaces it).
    async fn put_wa_inbound(&self, rec: &WaInboundRecord) -> StoreResult<()>;
    /// An association's inbound messages, newest first, at most `limit`.
    async fn list_wa_inbound(&self, association_id: i64, limit: usize) -> StoreResult<Vec<WaInboundRecord>>;
    /// When `recipient` last wrote to the association, if ever.
    async fn wa_window(&self, association_id: i64, recipient: &str) -> StoreResult<Option<i64>>;
    /// A page of the association's WhatsApp messages (`whatsapp_messages.rs`: from its
    /// indexes and counters, never a scan of the messages).
    async fn list_wa_messages(&self, q: &super::whatsapp_messages::WaMessageQuery) -> StoreResult<super::whatsapp_messages::WaMessagePage>;
}
