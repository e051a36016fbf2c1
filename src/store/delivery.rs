//! The delivery-tracking tables beside the message rows (`schema.cql`: `message_expiry`,
//! `parked_reports`) and the store contract for them, a supertrait of [`super::Store`] like
//! [`super::CallbackStore`].
//!
//! `message_expiry` holds, for every message a provider accepted (`sent`) that carries a
//! validity deadline, one row clustered by that deadline: the expiry sweeper reads the due
//! ones in order and never scans messages. The row is written by the backend in the same
//! commit as the message's first `sent`; it is removed by the sweeper once the message is
//! decided (expired, or already delivered/undelivered by a report).
//!
//! `parked_reports` holds delivery reports that arrived before the engine had recorded the
//! provider's message id (a provider may report within milliseconds of answering the send,
//! before the engine's own `sent` commit): parked durably, so the provider's retry-stopping
//! 200 promises nothing the engine could lose, and applied once the id is known; dropped
//! (and counted as unknown) after `delivery.early_report_ttl_ms`.

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One row of `message_expiry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiryEntry {
    /// Unix ms: the message's validity deadline (`MessageRecord::expires_at`).
    pub at: i64,
    pub message_id: i64,
}

/// One delivery report waiting for its message to be known (a row of `parked_reports`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedReport {
    /// The provider code (`twilio`, `infobip`, …).
    pub provider: String,
    pub provider_message_id: String,
    /// The credential whose callback URL received it.
    #[serde(default)]
    pub credential_id: Option<i64>,
    /// The normalised status (`sent`, `delivered`, …; see `status::ReportStatus`).
    pub status: String,
    #[serde(default)]
    pub raw_status: String,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_text: Option<String>,
    /// Unix ms: when the provider says it happened.
    pub at: i64,
    /// Unix ms: when it was parked (it is dropped a TTL after).
    pub parked_at: i64,
    /// Orders several reports of one message (sent, then delivered) as they came.
    #[serde(default)]
    pub seq: u32,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Expiry rows due at or before `until`, earliest first.
    async fn due_expiries(&self, until: i64, limit: usize) -> StoreResult<Vec<ExpiryEntry>>;
    /// Removes expiry rows (decided messages).
    async fn remove_expiries(&self, entries: &[ExpiryEntry]) -> StoreResult<()>;
    /// Parks reports durably; returns once durable. A report already parked under the same
    /// (provider, provider message id, seq) is replaced.
    async fn park_reports(&self, reports: &[ParkedReport]) -> StoreResult<()>;
    /// Parked reports in (provider, provider message id, seq) order, at most `limit`.
    async fn list_parked_reports(&self, limit: usize) -> StoreResult<Vec<ParkedReport>>;
    /// Removes parked reports (applied, or past their TTL).
    async fn remove_parked_reports(&self, reports: &[ParkedReport]) -> StoreResult<()>;
}
