//! The rows of the customer-callback tables (`schema.cql`: `callback_outbox`,
//! `callback_attempts`) and the store contract for them, a supertrait of [`super::Store`]
//! like [`super::WhatsAppStore`].
//!
//! `callback_outbox` is partitioned by association and clustered by due time, so the sender
//! reads each association's due rows on their own (one slow endpoint's backlog never hides
//! another association's rows). An outbox row is written by the store's [`StatusObserver`]
//! hook in the same commit as the status change it reports; it leaves the outbox in the
//! commit that records its last attempt. `callback_attempts` keeps the recent attempts, newest first,
//! in one partition per (association, outcome) and one for all outcomes.
//!
//! [`StatusObserver`]: super::StatusObserver

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One customer callback waiting to be delivered (a row of `callback_outbox`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Stable event id, the `id` of the payload: the same on every attempt.
    pub event_id: String,
    pub association_id: i64,
    pub message_id: i64,
    /// Where it goes (the send's `callbackUrl`, else the association's `statusCallbackUrl`).
    pub url: String,
    /// The exact JSON body posted (signed as it is). Stored as one byte string: without
    /// `serde_bytes` msgpack writes a byte vector as an array of integers, a call per byte
    /// to encode and decode (rows written that way still decode).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Attempts made so far.
    pub attempt: u32,
    /// Unix ms when the next attempt is due (the clustering column).
    pub next_at: i64,
    /// Unix ms when the status change happened (retries stop `callbacks.max_age_ms` after it).
    pub created_at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackOutcome {
    /// A 2xx answer: the callback left the outbox.
    Delivered,
    /// Not delivered; another attempt is scheduled.
    Pending,
    /// Not delivered and given up (410, too old, refused target).
    Failed,
}

impl CallbackOutcome {
    /// Every outcome: the partitions the listing of all attempts merges.
    pub const ALL: [Self; 3] = [Self::Delivered, Self::Pending, Self::Failed];

    /// The outcomes a listing for `outcome` reads (`None`: all of them).
    pub fn listed(outcome: Option<Self>) -> &'static [Self] {
        match outcome {
            Some(Self::Delivered) => &Self::ALL[0..1],
            Some(Self::Pending) => &Self::ALL[1..2],
            Some(Self::Failed) => &Self::ALL[2..3],
            None => &Self::ALL,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delivered" => Some(Self::Delivered),
            "pending" => Some(Self::Pending),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One delivery attempt (a row of `callback_attempts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackAttempt {
    pub event_id: String,
    pub association_id: i64,
    pub message_id: i64,
    pub url: String,
    /// 1-based.
    pub attempt: u32,
    /// Unix ms when it was made.
    pub at: i64,
    /// The HTTP status answered; `None` when no answer came (timeout, refused connection).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub outcome: CallbackOutcome,
    /// Unix ms of the next attempt (outcome `pending`).
    pub next_at: Option<i64>,
    /// Why it did not deliver (never the endpoint's body).
    pub error: Option<String>,
}

#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// Associations with rows in the outbox (one seek per association).
    async fn outbox_associations(&self) -> StoreResult<Vec<i64>>;
    /// Rows of one association due at or before `until`, earliest first, at most `limit`;
    /// with `after` (a row's `next_at` and `event_id`), only the rows that sort after it. A
    /// sender that reads on from where it stopped skips what it has settled: an outbox is a
    /// queue, and deleted rows at its front are tombstones every read from the start steps over.
    async fn due_callbacks(&self, association_id: i64, after: Option<(i64, &str)>, until: i64, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
    /// Records an attempt of `entry` in one commit: the row leaves the outbox, `next` (the
    /// same event, rescheduled) takes its place when given, and the attempt joins the history.
    async fn settle_callback(&self, entry: &OutboxEntry, attempt: &CallbackAttempt, next: Option<&OutboxEntry>) -> StoreResult<()>;
    /// Attempts of an association, newest first, of one outcome or all, at most `limit`.
    async fn list_callback_attempts(&self, association_id: i64, outcome: Option<CallbackOutcome>, limit: usize) -> StoreResult<Vec<CallbackAttempt>>;
    /// Deletes at most `limit` of the association's attempt rows recorded before `before_ms`
    /// (oldest first, every outcome partition); answers how many went. The history is a
    /// window (`callbacks.attempts_retention_ms`), not an archive: without this it grows by
    /// two rows per attempt for good.
    async fn prune_callback_attempts(&self, association_id: i64, before_ms: i64, limit: usize) -> StoreResult<usize>;
    /// Rows in the outbox (approximate on large tables).
    async fn outbox_len(&self) -> StoreResult<u64>;
}
