//! Campaigns, the schedule, engine metadata and dashboard sessions on ScyllaDB.
//!
//! The schedule is partitioned by minute (`schedule`), and `schedule_minutes` (one small
//! partition) lists the minutes that hold entries, so the scheduler reads minute partitions in
//! order from the earliest and never scans the table. A minute row whose partition has been
//! empty for an hour is removed when the scheduler passes it.

use super::messages::kind_str;
use super::session::{decode, encode, Writes};
use super::ScyllaStore;
use crate::store::*;

const MINUTE_MS: i64 = 60_000;

impl ScyllaStore {
    pub(super) async fn put_campaign_rows(&self, rec: &CampaignRecord) -> StoreResult<()> {
        let mut w = Writes::default();
        w.add(&self.db, "INSERT INTO {ks}.campaigns (id, data) VALUES (?, ?)", (rec.id, encode(rec))).await?;
        w.add(&self.db, "INSERT INTO {ks}.campaigns_by_association (association_id, id) VALUES (?, ?)", (rec.association_id, rec.id)).await?;
        if rec.status.is_final() {
            w.add(&self.db, "DELETE FROM {ks}.active_campaigns WHERE bucket = ? AND id = ?", (0i32, rec.id)).await?;
        } else {
            w.add(&self.db, "INSERT INTO {ks}.active_campaigns (bucket, id) VALUES (?, ?)", (0i32, rec.id)).await?;
        }
        if let Some(at) = rec.scheduled_at {
            let e = ScheduleEntry { at, kind: ScheduledKind::Campaign, id: rec.id };
            if rec.status == CampaignStatus::Scheduled {
                self.schedule_put(&mut w, e).await?;
            } else {
                self.schedule_del(&mut w, e).await?;
            }
        }
        self.db.batch(w).await
    }

    pub(super) async fn get_campaign_row(&self, id: i64) -> StoreResult<Option<CampaignRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self.db.one("SELECT data FROM {ks}.campaigns WHERE id = ?", (id,)).await?;
        match row {
            Some((Some(d),)) => decode("campaigns", &d).map(Some),
            _ => Ok(None),
        }
    }

    pub(super) async fn list_campaign_rows(&self, association_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<CampaignRecord>> {
        let ids: Vec<(i64,)> = match before {
            Some(b) => self.db.many("SELECT id FROM {ks}.campaigns_by_association WHERE association_id = ? AND id < ?", (association_id, b), limit).await?,
            None => self.db.many("SELECT id FROM {ks}.campaigns_by_association WHERE association_id = ?", (association_id,), limit).await?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.extend(self.get_campaign_row(id).await?);
        }
        Ok(out)
    }

    pub(super) async fn list_active_campaign_rows(&self) -> StoreResult<Vec<CampaignRecord>> {
        let ids: Vec<(i64,)> = self.db.many("SELECT id FROM {ks}.active_campaigns WHERE bucket = ?", (0i32,), 1_000_000).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.extend(self.get_campaign_row(id).await?);
        }
        Ok(out)
    }

    pub(super) async fn list_campaign_message_rows(&self, campaign_id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = match after {
            Some(a) => self.db.many("SELECT id FROM {ks}.campaign_messages WHERE campaign_id = ? AND id > ?", (campaign_id, a), limit).await?,
            None => self.db.many("SELECT id FROM {ks}.campaign_messages WHERE campaign_id = ?", (campaign_id,), limit).await?,
        };
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Schedule entries at or before `until` (all when `None`), earliest first.
    pub(super) async fn scan_schedule(&self, until: Option<i64>, limit: usize) -> StoreResult<Vec<ScheduleEntry>> {
        let minutes: Vec<(i64,)> = self.db.many("SELECT minute FROM {ks}.schedule_minutes WHERE bucket = ?", (0i32,), 1_000_000).await?;
        let last = until.map(|u| u.div_euclid(MINUTE_MS));
        let stale_before = crate::domain::now_ms().div_euclid(MINUTE_MS) - 60;
        let mut out = Vec::new();
        for (minute,) in minutes {
            if out.len() >= limit || last.is_some_and(|l| minute > l) {
                break;
            }
            let left = limit - out.len();
            let rows: Vec<(i64, String, i64)> = match until {
                Some(u) if Some(minute) == last => self.db.many("SELECT at, kind, id FROM {ks}.schedule WHERE minute = ? AND at <= ?", (minute, u), left).await?,
                _ => self.db.many("SELECT at, kind, id FROM {ks}.schedule WHERE minute = ?", (minute,), left).await?,
            };
            if rows.is_empty() && minute < stale_before {
                self.db.exec("DELETE FROM {ks}.schedule_minutes WHERE bucket = ? AND minute = ?", (0i32, minute)).await?;
            }
            out.extend(rows.into_iter().map(|(at, kind, id)| ScheduleEntry {
                at,
                kind: if kind == kind_str(ScheduledKind::Campaign) { ScheduledKind::Campaign } else { ScheduledKind::Message },
                id,
            }));
        }
        Ok(out)
    }

    pub(super) async fn remove_schedule_row(&self, e: ScheduleEntry) -> StoreResult<()> {
        let mut w = Writes::default();
        self.schedule_del(&mut w, e).await?;
        self.db.batch(w).await
    }

    pub(super) async fn get_meta_row(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> = self.db.one("SELECT value FROM {ks}.meta WHERE key = ?", (key.to_string(),)).await?;
        Ok(row.map(|(v,)| v.unwrap_or_default()))
    }

    pub(super) async fn put_meta_row(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.db.exec("INSERT INTO {ks}.meta (key, value) VALUES (?, ?)", (key.to_string(), value.to_vec())).await
    }

    pub(super) async fn put_session_row(&self, rec: &SessionRecord) -> StoreResult<()> {
        self.db.exec("INSERT INTO {ks}.sessions (token_hash, data) VALUES (?, ?)", (rec.token_hash.clone(), encode(rec))).await
    }

    pub(super) async fn get_session_row(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self.db.one("SELECT data FROM {ks}.sessions WHERE token_hash = ?", (token_hash.to_vec(),)).await?;
        match row {
            Some((Some(d),)) => decode("sessions", &d).map(Some),
            _ => Ok(None),
        }
    }

    pub(super) async fn delete_session_row(&self, token_hash: &[u8]) -> StoreResult<()> {
        self.db.exec("DELETE FROM {ks}.sessions WHERE token_hash = ?", (token_hash.to_vec(),)).await
    }
}
