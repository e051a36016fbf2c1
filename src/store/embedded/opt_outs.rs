//! The embedded backend's `opt_outs` table: key = association (order-preserving i64), the
//! recipient's bytes, a 0 byte, the channel; so one recipient's rows are one prefix scan
//! and an association's rows list in (recipient, channel) order.

use super::codec::i64_key;
use super::committer::Mutation;
use super::EmbeddedStore;
use crate::store::opt_outs::{OptOutRecord, OptOutStore};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

pub(super) struct OptOutTables {
    rows: Keyspace,
}

impl OptOutTables {
    pub(super) fn open(db: &Database, memtable_bytes: u64) -> StoreResult<Self> {
        let rows = db
            .keyspace("opt_outs", || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes))
            .map_err(|e| StoreError::Io(format!("open table opt_outs: {e}")))?;
        Ok(Self { rows })
    }
}

fn recipient_prefix(association_id: i64, recipient: &str) -> Vec<u8> {
    let mut k = i64_key(association_id).to_vec();
    k.extend_from_slice(recipient.as_bytes());
    k.push(0);
    k
}

fn row_key(association_id: i64, recipient: &str, channel: &str) -> Vec<u8> {
    let mut k = recipient_prefix(association_id, recipient);
    k.extend_from_slice(channel.as_bytes());
    k
}

#[async_trait]
impl OptOutStore for EmbeddedStore {
    async fn put_opt_out(&self, rec: &OptOutRecord) -> StoreResult<()> {
        let t = self.t()?;
        let m = Self::put(&t.opt_outs.rows, row_key(rec.association_id, &rec.recipient, &rec.channel), rec);
        self.committer.write(vec![m], vec![]).await
    }

    async fn opt_outs_of(&self, association_id: i64, recipient: &str) -> StoreResult<Vec<OptOutRecord>> {
        let t = self.t()?;
        let prefix = recipient_prefix(association_id, recipient);
        Self::scan(&t.opt_outs.rows, "opt_outs", prefix.clone(), &prefix, 64)
    }

    async fn delete_opt_outs(&self, association_id: i64, recipient: &str, channel: Option<&str>) -> StoreResult<usize> {
        let t = self.t()?;
        let rows = self.opt_outs_of(association_id, recipient).await?;
        let muts: Vec<Mutation> = rows
            .iter()
            .filter(|r| channel.is_none_or(|c| r.channel == c))
            .map(|r| Mutation::Delete { ks: t.opt_outs.rows.clone(), key: row_key(association_id, &r.recipient, &r.channel) })
            .collect();
        let n = muts.len();
        if n > 0 {
            self.committer.write(muts, vec![]).await?;
        }
        Ok(n)
    }

    async fn list_opt_outs(&self, association_id: i64, after: Option<(&str, &str)>, limit: usize) -> StoreResult<Vec<OptOutRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id).to_vec();
        let from = match after {
            // The smallest key after that row's.
            Some((r, c)) => {
                let mut k = row_key(association_id, r, c);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        Self::scan(&t.opt_outs.rows, "opt_outs", from, &prefix, limit)
    }
}
