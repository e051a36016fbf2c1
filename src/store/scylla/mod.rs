//! The ScyllaDB backend: [`ScyllaStore`] implements the [`Store`] trait on the tables of
//! `schema.cql` with the `scylla` driver, for engines that outgrow one machine (several
//! nodes share one cluster). Files: `session.rs` (session, prepared statements, batches),
//! `migrate.rs` (versioned schema), `management.rs` (compare-and-set rows, LWT),
//! `messages.rs` (messages, status precedence, indexes), `stats.rs` (per-node totals instead
//! of counters), `campaigns.rs` (campaigns, schedule, meta, sessions), `links.rs`,
//! `callbacks.rs`, `whatsapp.rs`, `wa_messages.rs` (the WhatsApp message history). This
//! file only wires the trait to them.
//!
//! Every write is acknowledged at the configured consistency (LOCAL_QUORUM by default), so a
//! returned `Ok` is durable on a quorum of replicas. Depends on the store's model only.

mod callbacks;
mod campaigns;
mod delivery;
mod links;
mod management;
mod messages;
pub mod migrate;
mod session;
mod stats;
mod wa_messages;
mod whatsapp;

pub use messages::{bucket_of, owner_of};
pub use migrate::{migrate, MigrationReport, MIGRATIONS};
pub use session::ScyllaOptions;

/// Validation of the consistency names (for `Config::validate`).
pub mod session_parse {
    pub fn consistency(s: &str) -> Option<()> {
        super::session::parse_consistency(s).map(|_| ())
    }
    pub fn serial(s: &str) -> Option<()> {
        super::session::parse_serial(s).map(|_| ())
    }
}

use crate::store::*;
use async_trait::async_trait;
use management::{big, text, ASSOCIATIONS, CREDENTIALS, OPERATORS, TEMPLATES};
use session::{encode, Db, Stripes};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct ScyllaStore {
    db: Arc<Db>,
    observer: parking_lot::RwLock<Option<Arc<dyn StatusObserver>>>,
    /// Read-decide-write of one message at a time in this process.
    msg_locks: Stripes,
    /// Compare-and-set checks without LWT (and a few insert-if-absent paths).
    row_locks: Stripes,
    totals: Arc<tokio::sync::Mutex<stats::NodeTotals>>,
    /// Bucket-list rows this process has written (see `messages::known_bucket`).
    buckets_written: parking_lot::Mutex<HashSet<(usize, i64, i64)>>,
    closed: AtomicBool,
}

impl ScyllaStore {
    /// Connects; with `auto_migrate`, creates the keyspace and applies missing migrations.
    pub async fn connect(opts: ScyllaOptions, auto_migrate: bool) -> StoreResult<Self> {
        let db = Db::connect(opts).await?;
        if auto_migrate {
            migrate::migrate(&db).await?;
        }
        Ok(Self {
            db: Arc::new(db),
            observer: parking_lot::RwLock::new(None),
            msg_locks: Stripes::new(4096),
            row_locks: Stripes::new(1024),
            totals: Arc::new(tokio::sync::Mutex::new(Default::default())),
            buckets_written: parking_lot::Mutex::new(HashSet::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Applies the missing migrations (what `jood migrate` runs).
    pub async fn migrate(&self) -> StoreResult<MigrationReport> {
        migrate::migrate(&self.db).await
    }

    /// Applies the missing migrations up to version `target` only (a keyspace as an older
    /// engine left it; the upgrade test starts from one).
    pub async fn migrate_to(&self, target: i32) -> StoreResult<MigrationReport> {
        migrate::migrate_to(&self.db, target).await
    }

    fn open(&self) -> StoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("store closed".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for ScyllaStore {
    async fn create_association(&self, rec: &AssociationRecord, keys: &[KeyIndexEntry]) -> StoreResult<()> {
        self.open()?;
        self.create_association_rows(rec, keys).await
    }
    async fn get_association(&self, id: i64) -> StoreResult<Option<AssociationRecord>> {
        self.versioned_get(&ASSOCIATIONS, &management::association_key(id)).await
    }
    async fn list_associations(&self, after: Option<i64>, limit: usize) -> StoreResult<Vec<AssociationRecord>> {
        let rows: Vec<(Option<Vec<u8>>,)> = match after {
            Some(a) => self.db.many("SELECT data FROM {ks}.associations WHERE bucket = ? AND id > ?", (0i32, a), limit).await?,
            None => self.db.many("SELECT data FROM {ks}.associations WHERE bucket = ?", (0i32,), limit).await?,
        };
        rows.into_iter().map(|(d,)| session::decode("associations", &d.unwrap_or_default())).collect()
    }
    async fn update_association(&self, rec: &AssociationRecord, expected_version: u64) -> StoreResult<()> {
        self.open()?;
        self.update_association_rows(rec, expected_version).await
    }
    async fn lookup_key(&self, key_hash: &[u8]) -> StoreResult<Option<KeyIndexEntry>> {
        self.lookup_key_row(key_hash).await
    }

    async fn put_credentials(&self, recs: &[(CredentialRecord, Expect)]) -> StoreResult<()> {
        self.open()?;
        self.put_credential_rows(recs).await
    }
    async fn get_credential(&self, association_id: i64, id: i64) -> StoreResult<Option<CredentialRecord>> {
        self.versioned_get(&CREDENTIALS, &[big(association_id), big(id)]).await
    }
    async fn list_credentials(&self, association_id: i64) -> StoreResult<Vec<CredentialRecord>> {
        self.partition_rows("credentials", "SELECT data FROM {ks}.credentials WHERE association_id = ?", association_id).await
    }
    async fn credential_owner(&self, id: i64) -> StoreResult<Option<i64>> {
        let row: Option<(Option<i64>,)> = self.db.one("SELECT association_id FROM {ks}.credential_owner WHERE credential_id = ?", (id,)).await?;
        Ok(row.and_then(|(a,)| a))
    }
    async fn delete_credential(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool> {
        self.open()?;
        self.delete_credential_row(association_id, id, expected_version).await
    }

    async fn put_allocation(&self, rec: &AllocationRecord, expect: Expect) -> StoreResult<()> {
        self.open()?;
        self.put_allocation_row(rec, expect).await
    }
    async fn get_allocation(&self, id: i64) -> StoreResult<Option<AllocationRecord>> {
        self.get_allocation_row(id).await
    }
    async fn list_allocations(&self, association_id: i64) -> StoreResult<Vec<AllocationRecord>> {
        self.partition_rows("allocations", "SELECT data FROM {ks}.allocations WHERE association_id = ?", association_id).await
    }
    async fn delete_allocation(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool> {
        self.open()?;
        self.delete_allocation_row(association_id, id, expected_version).await
    }

    async fn put_template(&self, rec: &TemplateRecord, expect: Expect) -> StoreResult<()> {
        self.open()?;
        let rec = TemplateRecord { version: expect.next_version(), ..rec.clone() };
        let label = format!("template `{}`", rec.code);
        self.cas_put(&TEMPLATES, &[big(rec.association_id), text(&rec.code)], expect, rec.version, encode(&rec), &label).await
    }
    async fn get_template(&self, association_id: i64, code: &str) -> StoreResult<Option<TemplateRecord>> {
        self.versioned_get(&TEMPLATES, &[big(association_id), text(code)]).await
    }
    async fn list_templates(&self, association_id: i64) -> StoreResult<Vec<TemplateRecord>> {
        self.partition_rows("templates", "SELECT data FROM {ks}.templates WHERE association_id = ?", association_id).await
    }
    async fn delete_template(&self, association_id: i64, code: &str, expected_version: u64) -> StoreResult<bool> {
        self.open()?;
        self.cas_delete(&TEMPLATES, &[big(association_id), text(code)], expected_version, &format!("template `{code}`")).await
    }

    async fn put_campaign(&self, rec: &CampaignRecord) -> StoreResult<()> {
        self.open()?;
        self.put_campaign_rows(rec).await
    }
    async fn get_campaign(&self, id: i64) -> StoreResult<Option<CampaignRecord>> {
        self.get_campaign_row(id).await
    }
    async fn list_campaigns(&self, association_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<CampaignRecord>> {
        self.list_campaign_rows(association_id, before, limit).await
    }
    async fn list_active_campaigns(&self) -> StoreResult<Vec<CampaignRecord>> {
        self.list_active_campaign_rows().await
    }
    async fn list_campaign_messages(&self, campaign_id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        self.list_campaign_message_rows(campaign_id, after, limit).await
    }

    async fn due_schedule(&self, until: i64, limit: usize) -> StoreResult<Vec<ScheduleEntry>> {
        self.scan_schedule(Some(until), limit).await
    }
    async fn next_scheduled(&self) -> StoreResult<Option<i64>> {
        Ok(self.scan_schedule(None, 1).await?.first().map(|e| e.at))
    }
    async fn remove_schedule(&self, entry: ScheduleEntry) -> StoreResult<()> {
        self.open()?;
        self.remove_schedule_row(entry).await
    }

    async fn insert_messages(&self, msgs: &[MessageRecord]) -> StoreResult<()> {
        self.open()?;
        // The WhatsApp history rows first: one whose message never lands is skipped on read.
        self.wa_history_insert(msgs).await?;
        self.insert_message_rows(msgs).await
    }
    async fn get_message(&self, id: i64) -> StoreResult<Option<MessageRecord>> {
        Ok(self.message_row(id).await?.map(|(_, m)| m))
    }
    async fn update_messages(&self, updates: &[MessageUpdate]) -> StoreResult<()> {
        self.open()?;
        self.update_message_rows(updates).await
    }
    async fn transition_message(&self, msg: &MessageRecord, from: MessageStatus) -> StoreResult<bool> {
        self.open()?;
        self.transition_row(msg, from).await
    }
    async fn apply_status(&self, events: &[MessageEvent]) -> StoreResult<Vec<StatusOutcome>> {
        self.open()?;
        self.apply_status_rows(events).await
    }
    async fn find_by_provider_id(&self, provider: &str, provider_message_id: &str) -> StoreResult<Option<i64>> {
        self.find_by_provider_row(provider, provider_message_id).await
    }
    async fn list_events(&self, message_id: i64) -> StoreResult<Vec<MessageEvent>> {
        self.list_events_rows(message_id).await
    }
    fn set_status_observer(&self, observer: Arc<dyn StatusObserver>) {
        *self.observer.write() = Some(observer);
    }
    async fn list_attempts(&self, message_id: i64) -> StoreResult<Vec<AttemptRecord>> {
        self.list_attempt_rows(message_id).await
    }
    async fn list_unfinished(&self, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        self.list_unfinished_rows(after, limit).await
    }
    async fn list_unfinished_of(&self, node: u8, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        self.list_unfinished_of_owner(i32::from(node), after, limit).await
    }
    async fn list_messages(&self, association_id: Option<i64>, before: Option<i64>, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        self.list_message_rows(association_id, before, limit).await
    }
    async fn list_queue(&self, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        self.list_queue_rows(limit).await
    }

    async fn add_counters(&self, deltas: &[CounterDelta]) -> StoreResult<()> {
        self.open()?;
        self.add_counter_rows(deltas).await
    }
    async fn get_counters(&self, scope: CounterScope) -> StoreResult<std::collections::BTreeMap<String, i64>> {
        self.get_counter_rows(scope).await
    }

    async fn put_operator(&self, rec: &OperatorRecord, expect: Expect) -> StoreResult<()> {
        self.open()?;
        let rec = OperatorRecord { version: expect.next_version(), ..rec.clone() };
        let label = format!("operator `{}`", rec.username);
        self.cas_put(&OPERATORS, &[text(&rec.username)], expect, rec.version, encode(&rec), &label).await
    }
    async fn delete_operator(&self, username: &str, expected_version: u64) -> StoreResult<bool> {
        self.open()?;
        self.cas_delete(&OPERATORS, &[text(username)], expected_version, &format!("operator `{username}`")).await
    }
    async fn get_operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>> {
        self.versioned_get(&OPERATORS, &[text(username)]).await
    }
    async fn put_session(&self, rec: &SessionRecord) -> StoreResult<()> {
        self.open()?;
        self.put_session_row(rec).await
    }
    async fn get_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        self.get_session_row(token_hash).await
    }
    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        self.open()?;
        self.delete_session_row(token_hash).await
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get_meta_row(key).await
    }
    async fn put_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.open()?;
        self.put_meta_row(key, value).await
    }

    async fn close(&self) -> StoreResult<()> {
        // Every acknowledged write is already on the replicas: nothing to flush.
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    async fn create_link(&self, rec: &LinkRecord) -> StoreResult<()> {
        self.open()?;
        self.create_link_rows(rec).await
    }
    async fn get_link(&self, id: i64) -> StoreResult<Option<LinkRecord>> {
        self.get_link_row(id).await
    }
    async fn get_link_by_code(&self, code: &str) -> StoreResult<Option<LinkRecord>> {
        self.get_link_by_code_row(code).await
    }
    async fn list_links(&self, association_id: i64, offset: usize, limit: usize) -> StoreResult<LinkPage> {
        self.list_link_rows(association_id, offset, limit).await
    }
    async fn update_link(&self, rec: &LinkRecord) -> StoreResult<()> {
        self.open()?;
        self.update_link_rows(rec).await
    }
    async fn delete_link(&self, id: i64) -> StoreResult<bool> {
        self.open()?;
        self.delete_link_rows(id).await
    }
    async fn add_link_clicks(&self, clicks: &[LinkClicks]) -> StoreResult<()> {
        self.open()?;
        self.add_campaign_click_rows(clicks).await?;
        self.add_click_rows(clicks).await
    }
    async fn insert_messages_with_links(&self, msgs: &[MessageRecord], links: &[LinkRecord]) -> StoreResult<()> {
        self.open()?;
        self.insert_messages_with_link_rows(msgs, links).await
    }
    async fn list_message_links(&self, message_id: i64) -> StoreResult<Vec<LinkRecord>> {
        self.message_link_rows(message_id).await
    }
    async fn campaign_clicks(&self, campaign_id: i64) -> StoreResult<CampaignClicks> {
        self.campaign_click_rows(campaign_id).await
    }
}
