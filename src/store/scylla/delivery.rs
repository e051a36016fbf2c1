//! The delivery-tracking and opt-out tables on ScyllaDB (`store::delivery`, `store::opt_outs`).
//!
//! `message_expiry` is partitioned by the deadline's hour (`bucket`), clustered by deadline:
//! the sweeper walks the hours listed in `expiry_buckets` up to the current one, so no query
//! scans the cluster. `parked_reports` is partitioned by provider (a handful of partitions,
//! each bounded by `delivery.early_report_max`, rows expiring by table TTL). `opt_outs` is one
//! partition per association, clustered by (recipient, channel), as in the embedded backend.

use super::session::{decode, encode, Writes};
use super::ScyllaStore;
use crate::domain::ProviderKind;
use crate::store::delivery::{DeliveryStore, ExpiryEntry, ParkedReport};
use crate::store::opt_outs::{OptOutRecord, OptOutStore};
use crate::store::StoreResult;
use async_trait::async_trait;

const HOUR_MS: i64 = 3_600_000;

fn bucket(at: i64) -> i64 {
    at.div_euclid(HOUR_MS)
}

impl ScyllaStore {
    /// The expiry row of a message just sent, in the batch beside its status change.
    pub(super) async fn expiry_put(&self, w: &mut Writes, e: ExpiryEntry) -> StoreResult<()> {
        w.add(&self.db, "INSERT INTO {ks}.message_expiry (bucket, expires_at, message_id) VALUES (?, ?, ?)", (bucket(e.at), e.at, e.message_id)).await?;
        w.add(&self.db, "INSERT INTO {ks}.expiry_buckets (part, bucket) VALUES (?, ?)", (0i32, bucket(e.at))).await
    }
}

#[async_trait]
impl DeliveryStore for ScyllaStore {
    async fn due_expiries(&self, until: i64, limit: usize) -> StoreResult<Vec<ExpiryEntry>> {
        let buckets: Vec<(i64,)> = self.db.many("SELECT bucket FROM {ks}.expiry_buckets WHERE part = ?", (0i32,), 100_000).await?;
        let mut out = Vec::new();
        for (b,) in buckets.into_iter().filter(|(b,)| *b <= bucket(until)) {
            let rows: Vec<(i64, i64)> = self
                .db
                .many("SELECT expires_at, message_id FROM {ks}.message_expiry WHERE bucket = ? AND expires_at <= ?", (b, until), limit - out.len())
                .await?;
            // Reads may return more than asked of a clustering range on some servers: keep the range.
            let empty = rows.is_empty();
            out.extend(rows.into_iter().filter(|(at, _)| *at <= until).map(|(at, message_id)| ExpiryEntry { at, message_id }));
            if empty && b < bucket(until) {
                self.db.exec("DELETE FROM {ks}.expiry_buckets WHERE part = ? AND bucket = ?", (0i32, b)).await?;
            }
            if out.len() >= limit {
                break;
            }
        }
        out.sort();
        Ok(out)
    }

    async fn remove_expiries(&self, entries: &[ExpiryEntry]) -> StoreResult<()> {
        let mut w = Writes::default();
        for e in entries {
            w.add(&self.db, "DELETE FROM {ks}.message_expiry WHERE bucket = ? AND expires_at = ? AND message_id = ?", (bucket(e.at), e.at, e.message_id)).await?;
        }
        self.db.batch(w).await
    }

    async fn park_reports(&self, reports: &[ParkedReport]) -> StoreResult<()> {
        let mut w = Writes::default();
        for r in reports {
            w.add(
                &self.db,
                "INSERT INTO {ks}.parked_reports (provider, provider_message_id, seq, data) VALUES (?, ?, ?, ?)",
                (r.provider.clone(), r.provider_message_id.clone(), r.seq as i32, encode(r)),
            )
            .await?;
        }
        self.db.batch(w).await
    }

    async fn list_parked_reports(&self, limit: usize) -> StoreResult<Vec<ParkedReport>> {
        let mut out = Vec::new();
        for p in ProviderKind::ALL {
            if out.len() >= limit {
                break;
            }
            let rows: Vec<(Option<Vec<u8>>,)> = self.db.many("SELECT data FROM {ks}.parked_reports WHERE provider = ?", (p.code().to_string(),), limit - out.len()).await?;
            for (d,) in rows {
                out.push(decode("parked_reports", &d.unwrap_or_default())?);
            }
        }
        Ok(out)
    }

    async fn remove_parked_reports(&self, reports: &[ParkedReport]) -> StoreResult<()> {
        let mut w = Writes::default();
        for r in reports {
            w.add(
                &self.db,
                "DELETE FROM {ks}.parked_reports WHERE provider = ? AND provider_message_id = ? AND seq = ?",
                (r.provider.clone(), r.provider_message_id.clone(), r.seq as i32),
            )
            .await?;
        }
        self.db.batch(w).await
    }
}

#[async_trait]
impl OptOutStore for ScyllaStore {
    async fn put_opt_out(&self, rec: &OptOutRecord) -> StoreResult<()> {
        self.db
            .exec("INSERT INTO {ks}.opt_outs (association_id, recipient, channel, data) VALUES (?, ?, ?, ?)", (rec.association_id, rec.recipient.clone(), rec.channel.clone(), encode(rec)))
            .await
    }

    async fn opt_outs_of(&self, association_id: i64, recipient: &str) -> StoreResult<Vec<OptOutRecord>> {
        let rows: Vec<(String, Option<Vec<u8>>)> =
            self.db.many("SELECT recipient, data FROM {ks}.opt_outs WHERE association_id = ? AND recipient = ?", (association_id, recipient.to_string()), 1_000).await?;
        // A server may read an equality on a clustering column as "from here on": keep the key.
        rows.into_iter().filter(|(r, _)| r == recipient).map(|(_, d)| decode("opt_outs", &d.unwrap_or_default())).collect()
    }

    async fn delete_opt_outs(&self, association_id: i64, recipient: &str, channel: Option<&str>) -> StoreResult<usize> {
        let rows: Vec<OptOutRecord> = self.opt_outs_of(association_id, recipient).await?.into_iter().filter(|r| channel.is_none_or(|c| r.channel == c)).collect();
        let mut w = Writes::default();
        for r in &rows {
            w.add(&self.db, "DELETE FROM {ks}.opt_outs WHERE association_id = ? AND recipient = ? AND channel = ?", (association_id, r.recipient.clone(), r.channel.clone())).await?;
        }
        self.db.batch(w).await?;
        Ok(rows.len())
    }

    async fn list_opt_outs(&self, association_id: i64, after: Option<(&str, &str)>, limit: usize) -> StoreResult<Vec<OptOutRecord>> {
        // One partition per association, in (recipient, channel) order; the cursor is applied
        // while reading (bounded by the partition, which the API pages through).
        let rows: Vec<(Option<Vec<u8>>,)> = self.db.many("SELECT data FROM {ks}.opt_outs WHERE association_id = ?", (association_id,), 1_000_000).await?;
        let mut out = Vec::new();
        for (d,) in rows {
            let r: OptOutRecord = decode("opt_outs", &d.unwrap_or_default())?;
            if after.is_some_and(|(rc, ch)| (r.recipient.as_str(), r.channel.as_str()) <= (rc, ch)) {
                continue;
            }
            out.push(r);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
