//! The embedded backend: fjall (a pure-Rust LSM tree with a write-ahead journal), one
//! keyspace per table of `schema.cql`, every write through the group committer.
//!
//! Reads go straight to fjall from the caller's thread (point reads and bounded prefix scans
//! take microseconds); writes are queued to `committer` and return once fsync'd.

mod codec;
mod committer;

use super::*;
use codec::{decode, encode, i64_from_key, i64_key, pair_key};
pub use committer::CommitStats;
use committer::{CommitterHandle, CommitterOptions, Mutation};
use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use std::path::Path;

/// Tables, named as in `schema.cql`.
struct Tables {
    associations: Keyspace,
    association_keys: Keyspace,
    credentials: Keyspace,
    allocations: Keyspace,
    messages: Keyspace,
    attempts: Keyspace,
    unfinished_messages: Keyspace,
    meta: Keyspace,
}

pub struct EmbeddedOptions {
    pub cache_mib: u64,
    pub max_batch: usize,
    pub queue: usize,
    pub fsync: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self { cache_mib: 64, max_batch: 8192, queue: 65_536, fsync: true }
    }
}

pub struct EmbeddedStore {
    t: Tables,
    committer: CommitterHandle,
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
            .open()
            .map_err(|e| StoreError::Io(format!("open store at {}: {e}", dir.display())))?;
        let ks = |name: &str| {
            db.keyspace(name, KeyspaceCreateOptions::default)
                .map_err(|e| StoreError::Io(format!("open table {name}: {e}")))
        };
        let t = Tables {
            associations: ks("associations")?,
            association_keys: ks("association_keys")?,
            credentials: ks("credentials")?,
            allocations: ks("allocations")?,
            messages: ks("messages")?,
            attempts: ks("attempts")?,
            unfinished_messages: ks("unfinished_messages")?,
            meta: ks("meta")?,
        };
        let committer = CommitterHandle::spawn(
            db,
            CommitterOptions { max_batch: opts.max_batch, queue: opts.queue, fsync: opts.fsync },
        );
        Ok(Self { t, committer })
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

    fn unfinished_key(id: i64) -> [u8; 16] {
        pair_key(id.rem_euclid(UNFINISHED_SHARDS), id)
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

fn io(e: fjall::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// The key one past every key starting with `prefix` (for exclusive-start scans).
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_association(&self, rec: &AssociationRecord, keys: &[KeyIndexEntry]) -> StoreResult<()> {
        let key = i64_key(rec.id).to_vec();
        let mut muts = vec![Self::put(&self.t.associations, key.clone(), rec)];
        muts.extend(keys.iter().map(|k| Self::put(&self.t.association_keys, k.key_hash.clone(), k)));
        let absent = vec![(self.t.associations.clone(), key, format!("association {}", rec.id))];
        self.committer.write(muts, absent).await
    }

    async fn get_association(&self, id: i64) -> StoreResult<Option<AssociationRecord>> {
        Self::get_row(&self.t.associations, "associations", &i64_key(id))
    }

    async fn list_associations(&self, after_id: Option<i64>, limit: usize) -> StoreResult<Vec<AssociationRecord>> {
        let from = after_id.map(|a| after(&i64_key(a))).unwrap_or_default();
        Self::scan(&self.t.associations, "associations", from, &[], limit)
    }

    async fn update_association(
        &self,
        rec: &AssociationRecord,
        add_keys: &[KeyIndexEntry],
        remove_key_hashes: &[Vec<u8>],
    ) -> StoreResult<()> {
        let mut muts: Vec<Mutation> = remove_key_hashes
            .iter()
            .map(|h| Mutation::Delete { ks: self.t.association_keys.clone(), key: h.clone() })
            .collect();
        muts.extend(add_keys.iter().map(|k| Self::put(&self.t.association_keys, k.key_hash.clone(), k)));
        muts.push(Self::put(&self.t.associations, i64_key(rec.id).to_vec(), rec));
        self.committer.write(muts, vec![]).await
    }

    async fn lookup_key(&self, key_hash: &[u8]) -> StoreResult<Option<KeyIndexEntry>> {
        Self::get_row(&self.t.association_keys, "association_keys", key_hash)
    }

    async fn put_credentials(&self, recs: &[CredentialRecord]) -> StoreResult<()> {
        let muts = recs
            .iter()
            .map(|c| Self::put(&self.t.credentials, pair_key(c.association_id, c.id).to_vec(), c))
            .collect();
        self.committer.write(muts, vec![]).await
    }

    async fn get_credential(&self, association_id: i64, id: i64) -> StoreResult<Option<CredentialRecord>> {
        Self::get_row(&self.t.credentials, "credentials", &pair_key(association_id, id))
    }

    async fn list_credentials(&self, association_id: i64) -> StoreResult<Vec<CredentialRecord>> {
        let prefix = i64_key(association_id);
        Self::scan(&self.t.credentials, "credentials", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_credential(&self, association_id: i64, id: i64) -> StoreResult<bool> {
        let key = pair_key(association_id, id);
        if !self.t.credentials.contains_key(key).map_err(io)? {
            return Ok(false);
        }
        self.committer.write(vec![Mutation::Delete { ks: self.t.credentials.clone(), key: key.to_vec() }], vec![]).await?;
        Ok(true)
    }

    async fn put_allocation(&self, rec: &AllocationRecord) -> StoreResult<()> {
        let m = Self::put(&self.t.allocations, pair_key(rec.association_id, rec.id).to_vec(), rec);
        self.committer.write(vec![m], vec![]).await
    }

    async fn list_allocations(&self, association_id: i64) -> StoreResult<Vec<AllocationRecord>> {
        let prefix = i64_key(association_id);
        Self::scan(&self.t.allocations, "allocations", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_allocation(&self, association_id: i64, id: i64) -> StoreResult<bool> {
        let key = pair_key(association_id, id);
        if !self.t.allocations.contains_key(key).map_err(io)? {
            return Ok(false);
        }
        self.committer.write(vec![Mutation::Delete { ks: self.t.allocations.clone(), key: key.to_vec() }], vec![]).await?;
        Ok(true)
    }

    async fn insert_messages(&self, msgs: &[MessageRecord]) -> StoreResult<()> {
        let mut muts = Vec::with_capacity(msgs.len() * 2);
        for m in msgs {
            muts.push(Self::put(&self.t.messages, i64_key(m.id).to_vec(), m));
            if !m.status.is_terminal() {
                muts.push(Mutation::Put {
                    ks: self.t.unfinished_messages.clone(),
                    key: Self::unfinished_key(m.id).to_vec(),
                    value: Vec::new(),
                });
            }
        }
        self.committer.write(muts, vec![]).await
    }

    async fn get_message(&self, id: i64) -> StoreResult<Option<MessageRecord>> {
        Self::get_row(&self.t.messages, "messages", &i64_key(id))
    }

    async fn update_messages(&self, updates: &[MessageUpdate]) -> StoreResult<()> {
        let mut muts = Vec::with_capacity(updates.len() * 3);
        for MessageUpdate { message: msg, attempt } in updates {
            muts.push(Self::put(&self.t.messages, i64_key(msg.id).to_vec(), msg));
            let idx_key = Self::unfinished_key(msg.id).to_vec();
            muts.push(if msg.status.is_terminal() {
                Mutation::Delete { ks: self.t.unfinished_messages.clone(), key: idx_key }
            } else {
                Mutation::Put { ks: self.t.unfinished_messages.clone(), key: idx_key, value: Vec::new() }
            });
            if let Some(a) = attempt {
                muts.push(Self::put(&self.t.attempts, pair_key(a.message_id, i64::from(a.attempt)).to_vec(), a));
            }
        }
        self.committer.write(muts, vec![]).await
    }

    async fn list_attempts(&self, message_id: i64) -> StoreResult<Vec<AttemptRecord>> {
        let prefix = i64_key(message_id);
        Self::scan(&self.t.attempts, "attempts", prefix.to_vec(), &prefix, 10_000)
    }

    async fn list_unfinished(&self, after_id: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        // Merge the shards' partitions in id order (each is already sorted).
        let mut ids = Vec::new();
        for shard in 0..UNFINISHED_SHARDS {
            let prefix = i64_key(shard);
            let from = match after_id {
                Some(a) => after(&pair_key(shard, a)),
                None => prefix.to_vec(),
            };
            for guard in self.t.unfinished_messages.range(from..).take(limit) {
                let k = guard.key().map_err(io)?;
                if !k.starts_with(&prefix) {
                    break;
                }
                if let Some(id) = i64_from_key(&k[8..]) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.t.meta.get(key.as_bytes()).map_err(io)?.map(|v| v.to_vec()))
    }

    async fn put_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let m = Mutation::Put { ks: self.t.meta.clone(), key: key.as_bytes().to_vec(), value: value.to_vec() };
        self.committer.write(vec![m], vec![]).await
    }

    async fn close(&self) -> StoreResult<()> {
        // Waits only for the queued writes to commit; called once, at shutdown.
        self.committer.close_blocking();
        Ok(())
    }
}
