//! Storage: one trait, the records it stores, and its backends.
//!
//! The trait is shaped by ScyllaDB's data model (see `schema.cql`): every method reads or
//! writes rows of one query-first table by its partition key, in clustering order, with a
//! bounded page. The embedded backend (`embedded/`, the default) stores the same tables
//! with the same key order, so one conformance suite (`tests/store_conformance.rs`) holds
//! both to one behaviour. Depends on `domain` only.

pub mod callbacks;
pub mod delivery;
pub mod embedded;
pub mod scylla;
mod links;
mod model;
pub mod opt_outs;
pub mod stats;
pub mod status_rules;
pub mod whatsapp;
pub mod whatsapp_messages;

pub use links::{CampaignClicks, LinkClicks, LinkPage, LinkRecord};
pub use model::*;
pub use callbacks::{CallbackAttempt, CallbackOutcome, CallbackStore, OutboxEntry};
pub use delivery::{DeliveryStore, ExpiryEntry, ParkedReport};
pub use whatsapp::{WaButton, WaInboundRecord, WaTemplateRecord, WhatsAppStore};
pub use opt_outs::{OptOutRecord, OptOutStore};

use async_trait::async_trait;
use std::sync::Arc;

/// What can go wrong in storage, as the layers above need to tell apart.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// An insert-if-absent found the row already there.
    #[error("{0} already exists")]
    Conflict(String),
    /// A compare-and-set write found the row at another version than expected (or gone):
    /// someone else wrote it since it was read. Nothing was written; re-read and retry.
    #[error("{0} was changed concurrently")]
    VersionMismatch(String),
    /// The write queue is full: the caller should answer 503 with Retry-After.
    #[error("store overloaded: write queue full")]
    Overloaded,
    /// The store cannot take writes any more (fsync failed, shutting down).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be decoded.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("storage I/O error: {0}")]
    Io(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage contract every backend fulfils. Writes return only once durable.
#[async_trait]
pub trait Store: WhatsAppStore + CallbackStore + DeliveryStore + OptOutStore + Send + Sync + 'static {
    // ---- associations -------------------------------------------------------------
    /// Inserts an association and its key-index rows; `Conflict` if the id is taken.
    async fn create_association(&self, rec: &AssociationRecord, keys: &[KeyIndexEntry]) -> StoreResult<()>;
    async fn get_association(&self, id: i64) -> StoreResult<Option<AssociationRecord>>;
    /// Associations in id order, starting after `after`.
    async fn list_associations(&self, after: Option<i64>, limit: usize) -> StoreResult<Vec<AssociationRecord>>;
    /// Replaces an association row if it is still at `expected_version` (compare-and-set;
    /// `VersionMismatch` otherwise, also when it is gone); the row written gets version
    /// `expected_version + 1`. In the same commit the key index follows the row actually
    /// replaced: a key hash that changed loses its index row and the new one gains one, so
    /// the index holds exactly the current keys (rotation: the old keys stop working in the
    /// commit the new ones start). ScyllaDB: `UPDATE … IF version = ?`, then the index rows.
    async fn update_association(&self, rec: &AssociationRecord, expected_version: u64) -> StoreResult<()>;
    /// The association a key hash belongs to.
    async fn lookup_key(&self, key_hash: &[u8]) -> StoreResult<Option<KeyIndexEntry>>;

    // ---- provider credentials ----------------------------------------------------------
    /// Writes credentials of one association (several at once when the default moves), each
    /// compare-and-set on what it expects (written with [`Expect::next_version`]); all or
    /// nothing: one failed expectation fails the batch (one partition: one LWT batch).
    async fn put_credentials(&self, recs: &[(CredentialRecord, Expect)]) -> StoreResult<()>;
    async fn get_credential(&self, association_id: i64, id: i64) -> StoreResult<Option<CredentialRecord>>;
    async fn list_credentials(&self, association_id: i64) -> StoreResult<Vec<CredentialRecord>>;
    /// The association a credential id belongs to (credentials written by this version on).
    async fn credential_owner(&self, id: i64) -> StoreResult<Option<i64>>;
    /// Deletes if still at `expected_version`: `Ok(false)` when absent, `VersionMismatch`
    /// when changed since read.
    async fn delete_credential(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool>;

    // ---- country routing allocations ---------------------------------------------------------
    /// Compare-and-set write (and records which association owns the id).
    async fn put_allocation(&self, rec: &AllocationRecord, expect: Expect) -> StoreResult<()>;
    /// An allocation by id alone (the dashboard's `/allocations/:id`).
    async fn get_allocation(&self, id: i64) -> StoreResult<Option<AllocationRecord>>;
    /// An association's allocations in id order.
    async fn list_allocations(&self, association_id: i64) -> StoreResult<Vec<AllocationRecord>>;
    /// Deletes if still at `expected_version` (as `delete_credential`).
    async fn delete_allocation(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool>;

    // ---- templates ------------------------------------------------------------------------
    /// Compare-and-set write; `Expect::Absent` fails with `Conflict` when the code is taken.
    async fn put_template(&self, rec: &TemplateRecord, expect: Expect) -> StoreResult<()>;
    async fn get_template(&self, association_id: i64, code: &str) -> StoreResult<Option<TemplateRecord>>;
    /// An association's templates in code order.
    async fn list_templates(&self, association_id: i64) -> StoreResult<Vec<TemplateRecord>>;
    /// Deletes if still at `expected_version` (as `delete_credential`).
    async fn delete_template(&self, association_id: i64, code: &str, expected_version: u64) -> StoreResult<bool>;

    // ---- campaigns --------------------------------------------------------------------------
    /// Inserts or replaces a campaign (and its by-association row; its schedule row while
    /// it is scheduled).
    async fn put_campaign(&self, rec: &CampaignRecord) -> StoreResult<()>;
    async fn get_campaign(&self, id: i64) -> StoreResult<Option<CampaignRecord>>;
    /// An association's campaigns, newest first, starting after `before` (an id), at most `limit`.
    async fn list_campaigns(&self, association_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<CampaignRecord>>;
    /// Campaigns not yet completed or cancelled (restart resumes them).
    async fn list_active_campaigns(&self) -> StoreResult<Vec<CampaignRecord>>;
    /// Ids of a campaign's messages in id order, after `after`.
    async fn list_campaign_messages(&self, campaign_id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>>;

    // ---- schedule ------------------------------------------------------------------------------
    /// Entries due at or before `until` (Unix ms), earliest first.
    async fn due_schedule(&self, until: i64, limit: usize) -> StoreResult<Vec<ScheduleEntry>>;
    /// The earliest entry's time, if any.
    async fn next_scheduled(&self) -> StoreResult<Option<i64>>;
    async fn remove_schedule(&self, entry: ScheduleEntry) -> StoreResult<()>;

    // ---- messages ------------------------------------------------------------------------
    /// Inserts new messages durably, group-committed, with their index rows: campaign
    /// messages in `campaign_messages`, scheduled ones in the schedule, the others in the
    /// unfinished index.
    async fn insert_messages(&self, msgs: &[MessageRecord]) -> StoreResult<()>;
    async fn get_message(&self, id: i64) -> StoreResult<Option<MessageRecord>>;
    /// Replaces a message row unless it holds a higher status (see `apply_status`); keeps
    /// the unfinished index (messages outside campaigns) and the schedule in step with its
    /// status, and appends `attempt` and, when the row carries a provider message id, its
    /// `provider_index` row in the same commit.
    async fn update_message(&self, msg: &MessageRecord, attempt: Option<&AttemptRecord>) -> StoreResult<()> {
        self.update_messages(&[MessageUpdate { message: msg.clone(), attempt: attempt.cloned() }]).await
    }
    /// Many `update_message`s in one durable commit, applied in order.
    async fn update_messages(&self, updates: &[MessageUpdate]) -> StoreResult<()>;
    /// Compare-and-set on status: writes `msg` (as `update_message` does) only if the stored
    /// row is still in status `from`; tells whether it did. Two writers that both start from
    /// `scheduled` (the scheduler firing, a cancel) cannot both win. The embedded backend
    /// decides it on the committer thread; a ScyllaDB backend must override this default
    /// (read, then write: not atomic) with an LWT `UPDATE … IF status = ?`.
    async fn transition_message(&self, msg: &MessageRecord, from: MessageStatus) -> StoreResult<bool> {
        match self.get_message(msg.id).await? {
            Some(m) if m.status == from => self.update_message(msg, None).await.map(|_| true),
            _ => Ok(false),
        }
    }
    /// Status events (delivery reports and the like), each decided against the message as
    /// it is when the event is written: applied only when it moves the message to a higher
    /// rank ([`MessageStatus::report_supersedes`]), then written with the event, the
    /// counters and the observer's outbox row in one durable commit. Dispatch's own writes
    /// (`update_messages`) are decided the same way ([`MessageStatus::engine_supersedes`]),
    /// so neither can undo the other whatever order they reach the store in.
    async fn apply_status(&self, events: &[MessageEvent]) -> StoreResult<Vec<StatusOutcome>>;
    /// The message a provider's message id belongs to (`provider_index`, written with the
    /// update that first carried the id).
    async fn find_by_provider_id(&self, provider: &str, provider_message_id: &str) -> StoreResult<Option<i64>>;
    /// A message's history in order (at most 1,000 events).
    async fn list_events(&self, message_id: i64) -> StoreResult<Vec<MessageEvent>>;
    /// Installs the hook asked on every status change (see [`StatusObserver`]).
    fn set_status_observer(&self, observer: Arc<dyn StatusObserver>);
    /// A message's delivery attempts in attempt order.
    async fn list_attempts(&self, message_id: i64) -> StoreResult<Vec<AttemptRecord>>;
    /// Ids of messages not yet in a terminal state, in id order, after `after` (recovery).
    async fn list_unfinished(&self, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>>;
    /// As `list_unfinished`, of the messages node `node` generated (its partition, the node
    /// bits of the id): what a node taking over a dead node's work recovers. ScyllaDB reads
    /// the owner's own partitions; this default filters `list_unfinished`.
    async fn list_unfinished_of(&self, node: u8, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        let (mut out, mut cursor) = (Vec::new(), after);
        while out.len() < limit {
            let page = self.list_unfinished(cursor, 1000).await?;
            let Some(last) = page.last().copied() else { break };
            cursor = Some(last);
            out.extend(page.into_iter().filter(|id| crate::domain::ids::node_of(*id) == node));
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Messages newest first: of one association (its `messages_by_association` partition) or
    /// of all (`None`), starting before `before` (an id), at most `limit`.
    async fn list_messages(&self, association_id: Option<i64>, before: Option<i64>, limit: usize) -> StoreResult<Vec<MessageRecord>>;
    /// Messages not yet final outside campaigns, then scheduled ones, oldest first, after
    /// `after` (the dashboard's queue view), at most `limit`.
    async fn list_queue(&self, limit: usize) -> StoreResult<Vec<MessageRecord>>;

    // ---- statistics counters -------------------------------------------------------------------
    /// Adds the deltas atomically (one commit).
    async fn add_counters(&self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Every counter of a scope, by name.
    async fn get_counters(&self, scope: CounterScope) -> StoreResult<std::collections::BTreeMap<String, i64>>;

    // ---- dashboard operators and sessions ----------------------------------------------------------
    /// Compare-and-set write of an operator.
    async fn put_operator(&self, rec: &OperatorRecord, expect: Expect) -> StoreResult<()>;
    /// Deletes if still at `expected_version` (as `delete_credential`).
    async fn delete_operator(&self, username: &str, expected_version: u64) -> StoreResult<bool>;
    async fn get_operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>>;
    async fn put_session(&self, rec: &SessionRecord) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()>;

    // ---- engine metadata -------------------------------------------------------------------
    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn put_meta(&self, key: &str, value: &[u8]) -> StoreResult<()>;

    /// Flushes and stops accepting writes (staged shutdown).
    async fn close(&self) -> StoreResult<()>;

    // ---- redirect links ------------------------------------------------------------------
    /// Inserts a link with its code-index and by-association rows; `Conflict` if the code
    /// (or the id) is taken, and then nothing is written.
    async fn create_link(&self, rec: &LinkRecord) -> StoreResult<()>;
    /// A link by id, with its flushed click count.
    async fn get_link(&self, id: i64) -> StoreResult<Option<LinkRecord>>;
    /// A link by code, with its flushed click count (the redirect's cache miss).
    async fn get_link_by_code(&self, code: &str) -> StoreResult<Option<LinkRecord>>;
    /// An association's links newest first, skipping `offset`, at most `limit`, and the total.
    async fn list_links(&self, association_id: i64, offset: usize, limit: usize) -> StoreResult<LinkPage>;
    /// Rewrites a link's row and its index rows in one commit (its code never changes).
    async fn update_link(&self, rec: &LinkRecord) -> StoreResult<()>;
    /// Deletes a link, its index rows and its clicks; whether it existed.
    async fn delete_link(&self, id: i64) -> StoreResult<bool>;
    /// Adds batched click counts (one commit); counts for links that no longer exist are dropped.
    async fn add_link_clicks(&self, clicks: &[LinkClicks]) -> StoreResult<()>;
    /// Inserts messages and the tracked links their texts carry (`shortenLinks`) in one
    /// durable write: each link with its code-index and by-message rows. `Conflict` if a code
    /// is taken, and then nothing is written.
    async fn insert_messages_with_links(&self, msgs: &[MessageRecord], links: &[LinkRecord]) -> StoreResult<()>;
    /// The tracked links of a message, with their flushed clicks.
    async fn list_message_links(&self, message_id: i64) -> StoreResult<Vec<LinkRecord>>;
    /// The flushed clicks on a campaign's tracked links.
    async fn campaign_clicks(&self, campaign_id: i64) -> StoreResult<CampaignClicks>;
}

pub type SharedStore = Arc<dyn Store>;
