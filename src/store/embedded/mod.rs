//! The embedded backend: fjall (a pure-Rust LSM tree with a write-ahead journal), one
//! keyspace per table of `schema.cql`, every write through the group committer.
//!
//! Reads go straight to fjall from the caller's thread (point reads and bounded prefix scans
//! take microseconds); writes are queued to `committer` and return once fsync'd.

mod callbacks;
mod codec;
mod committer;
mod decoded;
mod delivery;
mod keys;
mod management;
mod opt_outs;
mod space;
mod status;
mod store_impl;
mod links;
mod views;
mod wa_messages;
mod whatsapp;

use super::*;
use codec::{decode, encode, pair_key};
use keys::*;
pub use committer::CommitStats;
use committer::{CommitterHandle, CommitterOptions, Mutation};
use fjall::config::FilterPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use std::path::Path;
use std::sync::Arc;

/// Tables, named as in `schema.cql`.
struct Tables {
    associations: Keyspace,
    association_keys: Keyspace,
    credentials: Keyspace,
    allocations: Keyspace,
    templates: Keyspace,
    campaigns: Keyspace,
    campaigns_by_association: Keyspace,
    active_campaigns: Keyspace,
    campaign_messages: Keyspace,
    schedule: Keyspace,
    allocation_owner: Keyspace,
    messages_by_association: Keyspace,
    stats: Keyspace,
    operators: Keyspace,
    sessions: Keyspace,
    messages: Keyspace,
    attempts: Keyspace,
    unfinished_messages: Keyspace,
    meta: Keyspace,
    whatsapp: whatsapp::WaTables,
    credential_owner: Keyspace,
    provider_index: Keyspace,
    message_events: Keyspace,
    callback_outbox: Keyspace,
    links: links::LinkTables,
    callbacks: callbacks::CallbackTables,
    delivery: delivery::DeliveryTables,
    opt_outs: opt_outs::OptOutTables,
}

pub struct EmbeddedOptions {
    pub cache_mib: u64,
    pub memtable_mib: u64,
    /// fjall's worker threads (flushes, compactions); 0 = one ([`background_workers`]).
    pub background_workers: usize,
    pub max_batch: usize,
    pub queue: usize,
    pub fsync: bool,
    /// New messages are refused below this many free bytes (see `space`); 0 = no check.
    pub min_free_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self { cache_mib: 32, memtable_mib: 8, background_workers: 0, max_batch: 8192, queue: 65_536, fsync: true, min_free_bytes: 0 }
    }
}

pub struct EmbeddedStore {
    /// `None` once closed: dropping the tables (and the committer's handle) releases the
    /// database and its directory lock even while other parts still hold the store.
    tables: parking_lot::RwLock<Option<Arc<Tables>>>,
    committer: CommitterHandle,
    /// Asked on every status change (the customer-callback outbox hook).
    observer: parking_lot::RwLock<Option<Arc<dyn StatusObserver>>>,
    /// Turns new messages away before the disk is full.
    space: space::SpaceGuard,
    /// Associations as last decoded (see `decoded.rs`).
    associations: decoded::DecodedRows<AssociationRecord>,
}

/// Messages are spread over this many partitions of the unfinished index (as in ScyllaDB,
/// where one partition per shard keeps recovery scans parallel and partitions small).
pub const UNFINISHED_SHARDS: i64 = 16;

impl EmbeddedStore {
    pub fn open(dir: &Path, opts: EmbeddedOptions) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(format!("create {}: {e}", dir.display())))?;
        let db = Database::builder(dir)
            .cache_size(opts.cache_mib * 1024 * 1024)
            // The committer decides when the journal is fsync'd.
            .manual_journal_persist(true)
            .worker_threads(background_workers(opts.background_workers))
            .open()
            .map_err(|e| StoreError::Io(format!("open store at {}: {e}", dir.display())))?;
        let options = || KeyspaceCreateOptions::default().max_memtable_size(opts.memtable_mib * 1024 * 1024);
        let ks = |name: &str| db.keyspace(name, options).map_err(|e| StoreError::Io(format!("open table {name}: {e}")));
        // Index tables only ever scanned by prefix: bloom filters would never be consulted, and
        // building them is a good part of flushing a million-row campaign.
        let scanned = |name: &str| {
            db.keyspace(name, || options().filter_policy(FilterPolicy::disabled()))
                .map_err(|e| StoreError::Io(format!("open table {name}: {e}")))
        };
        let t = Tables {
            associations: ks("associations")?,
            association_keys: ks("association_keys")?,
            credentials: ks("credentials")?,
            allocations: ks("allocations")?,
            templates: ks("templates")?,
            campaigns: ks("campaigns")?,
            campaigns_by_association: ks("campaigns_by_association")?,
            active_campaigns: ks("active_campaigns")?,
            campaign_messages: scanned("campaign_messages")?,
            schedule: ks("schedule")?,
            allocation_owner: ks("allocation_owner")?,
            messages_by_association: scanned("messages_by_association")?,
            stats: ks("stats")?,
            operators: ks("operators")?,
            sessions: ks("sessions")?,
            messages: ks("messages")?,
            attempts: ks("attempts")?,
            unfinished_messages: ks("unfinished_messages")?,
            meta: ks("meta")?,
            whatsapp: whatsapp::WaTables::open(&db, opts.memtable_mib * 1024 * 1024)?,
            credential_owner: ks("credential_owner")?,
            provider_index: ks("provider_index")?,
            message_events: scanned("message_events")?,
            callback_outbox: ks("callback_outbox")?,
            links: links::LinkTables::open(&ks)?,
            callbacks: callbacks::CallbackTables::open(&db, opts.memtable_mib * 1024 * 1024)?,
            delivery: delivery::DeliveryTables::open(&db, opts.memtable_mib * 1024 * 1024)?,
            opt_outs: opt_outs::OptOutTables::open(&db, opts.memtable_mib * 1024 * 1024)?,
        };
        let committer = CommitterHandle::spawn(
            db,
            CommitterOptions { max_batch: opts.max_batch, queue: opts.queue, fsync: opts.fsync },
        );
        let space = space::SpaceGuard::new(dir.to_path_buf(), opts.min_free_bytes);
        Ok(Self { tables: parking_lot::RwLock::new(Some(Arc::new(t))), committer, observer: parking_lot::RwLock::new(None), space, associations: Default::default() })
    }

    fn t(&self) -> StoreResult<Arc<Tables>> {
        self.tables.read().clone().ok_or_else(|| StoreError::Unavailable("store is closed".into()))
    }

    /// How many fsync groups and write requests the committer has done.
    pub fn commit_stats(&self) -> CommitStats {
        self.committer.stats()
    }

    /// Writes queued and not yet committed.
    pub fn queued_writes(&self) -> usize {
        self.committer.queued()
    }

    fn put<T: serde::Serialize>(ks: &Keyspace, key: impl Into<Vec<u8>>, v: &T) -> Mutation {
        Mutation::Put { ks: ks.clone(), key: key.into(), value: encode(v) }
    }



    fn empty(ks: &Keyspace, key: impl Into<Vec<u8>>) -> Mutation {
        Mutation::Put { ks: ks.clone(), key: key.into(), value: Vec::new() }
    }

    /// Index rows of a message: which index it belongs in follows from its state.
    fn message_index_mutations(t: &Tables, m: &MessageRecord, muts: &mut Vec<Mutation>) {
        if let Some(c) = m.campaign_id {
            muts.push(Self::empty(&t.campaign_messages, pair_key(c, m.id)));
            return;
        }
        let idx_key = unfinished_key(m.id).to_vec();
        if m.status.is_terminal() || m.status == MessageStatus::Scheduled {
            muts.push(Mutation::Delete { ks: t.unfinished_messages.clone(), key: idx_key });
        } else {
            muts.push(Self::empty(&t.unfinished_messages, idx_key));
        }
        if let Some(at) = m.scheduled_at {
            let key = schedule_key(ScheduleEntry { at, kind: ScheduledKind::Message, id: m.id });
            if m.status == MessageStatus::Scheduled {
                muts.push(Self::empty(&t.schedule, key));
            } else {
                muts.push(Mutation::Delete { ks: t.schedule.clone(), key });
            }
        }
    }



    /// One `Add` per counter: a batch of a thousand messages of one association bumps the
    /// same eight counters a thousand times, summed here rather than in the committer.
    /// One `Add` per delta: the committer sums every `Add` of its group per key before it
    /// reads and writes the counter once, so summing here too would only cost a map.
    fn counter_mutations(t: &Tables, deltas: &[CounterDelta], muts: &mut Vec<Mutation>) {
        muts.extend(deltas.iter().filter(|d| d.delta != 0).map(|d| Mutation::Add { ks: t.stats.clone(), key: counter_key(d.scope, &d.name), delta: d.delta }));
    }


    fn get_row<T: serde::de::DeserializeOwned>(ks: &Keyspace, table: &'static str, key: &[u8]) -> StoreResult<Option<T>> {
        match ks.get(key).map_err(io)? {
            Some(bytes) => decode(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: serde::de::DeserializeOwned>(
        ks: &Keyspace,
        table: &'static str,
        from: Vec<u8>,
        prefix: &[u8],
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        for guard in ks.range(from..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = guard.into_inner().map_err(io)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push(decode(table, &v)?);
        }
        Ok(out)
    }
}

/// fjall's worker threads for `store.background_workers` (0 = the default: one).
///
/// One, not fjall's one per core: with two or more, fjall 3.1's first worker keeps itself free
/// for flushes by putting every compaction request it receives back on the queue, and takes it
/// straight off again while the others are busy compacting, a busy loop that was 9% of the
/// engine's CPU samples under the return-path load (`perf`, `load-tests/reports.sh`). One
/// worker flushes and compacts in turn and never spins.
fn background_workers(configured: usize) -> usize {
    configured.max(1)
}

fn io(e: fjall::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// The key one past every key starting with `prefix` (for exclusive-start scans).
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}
