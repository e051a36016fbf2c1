//! The delivery-tracking tables of the embedded backend (see `store::delivery`).
//!
//! `message_expiry`: key (deadline, message id), empty value; its rows are put by the status
//! writes (`status.rs`) in the commit of a message's first `sent`. `parked_reports`: key
//! (provider, 0, provider message id, 0, seq), value the [`ParkedReport`]. Depends on the
//! codec and the committer only.

use super::codec::{decode, encode, i64_from_key, pair_key};
use super::committer::Mutation;
use super::{io, EmbeddedStore, Tables};
use crate::store::delivery::{DeliveryStore, ExpiryEntry, ParkedReport};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

pub(super) struct DeliveryTables {
    expiry: Keyspace,
    parked: Keyspace,
}

impl DeliveryTables {
    pub(super) fn open(db: &Database, memtable_bytes: u64) -> StoreResult<Self> {
        let ks = |name: &str| {
            db.keyspace(name, || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes))
                .map_err(|e| StoreError::Io(format!("open table {name}: {e}")))
        };
        Ok(Self { expiry: ks("message_expiry")?, parked: ks("parked_reports")? })
    }
}

fn expiry_key(e: ExpiryEntry) -> [u8; 16] {
    pair_key(e.at, e.message_id)
}

/// The expiry row of a message that has just been sent, for the status writes' commit.
pub(super) fn expiry_put(t: &Tables, e: ExpiryEntry) -> Mutation {
    Mutation::Put { ks: t.delivery.expiry.clone(), key: expiry_key(e).to_vec(), value: Vec::new() }
}

fn parked_key(r: &ParkedReport) -> Vec<u8> {
    let mut k = Vec::with_capacity(r.provider.len() + r.provider_message_id.len() + 6);
    k.extend_from_slice(r.provider.as_bytes());
    k.push(0);
    k.extend_from_slice(r.provider_message_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&r.seq.to_be_bytes());
    k
}

#[async_trait]
impl DeliveryStore for EmbeddedStore {
    async fn due_expiries(&self, until: i64, limit: usize) -> StoreResult<Vec<ExpiryEntry>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for guard in t.delivery.expiry.iter().take(limit) {
            let k = guard.key().map_err(io)?;
            let (Some(at), Some(message_id)) = (i64_from_key(&k), k.get(8..).and_then(i64_from_key)) else { continue };
            if at > until {
                break;
            }
            out.push(ExpiryEntry { at, message_id });
        }
        Ok(out)
    }

    async fn remove_expiries(&self, entries: &[ExpiryEntry]) -> StoreResult<()> {
        let t = self.t()?;
        let muts = entries.iter().map(|e| Mutation::Delete { ks: t.delivery.expiry.clone(), key: expiry_key(*e).to_vec() }).collect();
        self.committer.write(muts, vec![]).await
    }

    async fn park_reports(&self, reports: &[ParkedReport]) -> StoreResult<()> {
        let t = self.t()?;
        let muts = reports.iter().map(|r| Mutation::Put { ks: t.delivery.parked.clone(), key: parked_key(r), value: encode(r) }).collect();
        self.committer.write(muts, vec![]).await
    }

    async fn list_parked_reports(&self, limit: usize) -> StoreResult<Vec<ParkedReport>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for guard in t.delivery.parked.iter().take(limit) {
            let (_, v) = guard.into_inner().map_err(io)?;
            match decode::<ParkedReport>("parked_reports", &v) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(error = %e, "undecodable parked report skipped"),
            }
        }
        Ok(out)
    }

    async fn remove_parked_reports(&self, reports: &[ParkedReport]) -> StoreResult<()> {
        let t = self.t()?;
        let muts = reports.iter().map(|r| Mutation::Delete { ks: t.delivery.parked.clone(), key: parked_key(r) }).collect();
        self.committer.write(muts, vec![]).await
    }
}
