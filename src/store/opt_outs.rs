//! The opt-out (suppression) list: per association, recipients who asked not to be sent to,
//! on one channel or on all (table `opt_outs` in `schema.cql`, partition = association,
//! clustered by recipient then channel). Written by the API (`/api/v1/opt-outs`) and by
//! inbound keywords (STOP / START and their Arabic equivalents); read by ingress and by the
//! campaign pump. Plain data and the storage contract; no I/O here.

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The channel name that stands for every channel.
pub const ALL_CHANNELS: &str = "all";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutRecord {
    pub association_id: i64,
    /// E.164.
    pub recipient: String,
    /// `sms`, `whatsapp`, … or [`ALL_CHANNELS`].
    pub channel: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// `api`, or `keyword:<provider>` for one filled from an inbound message.
    pub source: String,
    pub created_at: i64,
}

impl OptOutRecord {
    /// Whether it blocks sends on `channel`.
    pub fn covers(&self, channel: &str) -> bool {
        self.channel == ALL_CHANNELS || self.channel == channel
    }
}

#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Inserts or replaces the row of (association, recipient, channel).
    async fn put_opt_out(&self, rec: &OptOutRecord) -> StoreResult<()>;
    /// Every row of one recipient (one per channel it opted out of).
    async fn opt_outs_of(&self, association_id: i64, recipient: &str) -> StoreResult<Vec<OptOutRecord>>;
    /// Deletes the recipient's row for `channel`, or all of its rows with `None`; how many.
    async fn delete_opt_outs(&self, association_id: i64, recipient: &str, channel: Option<&str>) -> StoreResult<usize>;
    /// An association's rows in (recipient, channel) order, after the row `after` names.
    async fn list_opt_outs(&self, association_id: i64, after: Option<(&str, &str)>, limit: usize) -> StoreResult<Vec<OptOutRecord>>;
}
