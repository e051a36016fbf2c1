//! Redirect links on ScyllaDB: `links` by id, `link_codes` (the unique code: `INSERT … IF NOT
//! EXISTS` with LWT, checked under this process's lock without it), `links_by_association`
//! newest first, and the clicks of `link_clicks` summed over the nodes (see `stats.rs`).

use super::session::{decode, encode, hash_str, Writes};
use super::ScyllaStore;
use crate::store::*;

impl ScyllaStore {
    async fn link_row(&self, id: i64) -> StoreResult<Option<LinkRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self.db.one("SELECT data FROM {ks}.links WHERE id = ?", (id,)).await?;
        let Some((Some(d),)) = row else { return Ok(None) };
        let mut rec: LinkRecord = decode("links", &d)?;
        let (clicks, last) = self.click_totals(id).await?;
        rec.click_count = clicks;
        rec.last_clicked_at = last;
        Ok(Some(rec))
    }

    async fn link_rows(&self, w: &mut Writes, rec: &LinkRecord) -> StoreResult<()> {
        w.add(&self.db, "INSERT INTO {ks}.links (id, data) VALUES (?, ?)", (rec.id, encode(rec))).await?;
        w.add(&self.db, "INSERT INTO {ks}.links_by_association (association_id, id) VALUES (?, ?)", (rec.association_id, rec.id)).await
    }

    pub(super) async fn create_link_rows(&self, rec: &LinkRecord) -> StoreResult<()> {
        let code_taken = || StoreError::Conflict(format!("link code `{}`", rec.code));
        if self.db.opts.lwt {
            if !self.db.lwt("INSERT INTO {ks}.link_codes (code, link_id) VALUES (?, ?) IF NOT EXISTS", (rec.code.clone(), rec.id)).await? {
                return Err(code_taken());
            }
            if !self.db.lwt("INSERT INTO {ks}.links (id, data) VALUES (?, ?) IF NOT EXISTS", (rec.id, encode(rec))).await? {
                // The id is taken: give the code back, write nothing.
                self.db.lwt("DELETE FROM {ks}.link_codes WHERE code = ? IF link_id = ?", (rec.code.clone(), rec.id)).await?;
                return Err(StoreError::Conflict(format!("link {}", rec.id)));
            }
            let mut w = Writes::default();
            self.link_rows(&mut w, rec).await?;
            return self.db.batch(w).await;
        }
        let _g = self.row_locks.lock(hash_str("link_codes")).await;
        let taken: Option<(Option<i64>,)> = self.db.one("SELECT link_id FROM {ks}.link_codes WHERE code = ?", (rec.code.clone(),)).await?;
        if taken.is_some() {
            return Err(code_taken());
        }
        if self.link_row(rec.id).await?.is_some() {
            return Err(StoreError::Conflict(format!("link {}", rec.id)));
        }
        let mut w = Writes::default();
        w.add(&self.db, "INSERT INTO {ks}.link_codes (code, link_id) VALUES (?, ?)", (rec.code.clone(), rec.id)).await?;
        self.link_rows(&mut w, rec).await?;
        self.db.batch(w).await
    }

    pub(super) async fn get_link_row(&self, id: i64) -> StoreResult<Option<LinkRecord>> {
        self.link_row(id).await
    }

    pub(super) async fn get_link_by_code_row(&self, code: &str) -> StoreResult<Option<LinkRecord>> {
        let row: Option<(Option<i64>,)> = self.db.one("SELECT link_id FROM {ks}.link_codes WHERE code = ?", (code.to_string(),)).await?;
        match row.and_then(|(id,)| id) {
            Some(id) => self.link_row(id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn list_link_rows(&self, association_id: i64, offset: usize, limit: usize) -> StoreResult<LinkPage> {
        // Ids only: the total counts the partition, the page reads at most `limit` rows.
        let ids: Vec<(i64,)> = self.db.many("SELECT id FROM {ks}.links_by_association WHERE association_id = ?", (association_id,), 1_000_000).await?;
        let mut page = LinkPage { links: Vec::with_capacity(limit.min(100)), total: ids.len() as u64 };
        for (id,) in ids.into_iter().skip(offset).take(limit) {
            page.links.extend(self.link_row(id).await?);
        }
        Ok(page)
    }

    pub(super) async fn update_link_rows(&self, rec: &LinkRecord) -> StoreResult<()> {
        let mut w = Writes::default();
        self.link_rows(&mut w, rec).await?;
        self.db.batch(w).await
    }

    pub(super) async fn delete_link_rows(&self, id: i64) -> StoreResult<bool> {
        let Some(rec) = self.link_row(id).await? else { return Ok(false) };
        let mut w = Writes::default();
        w.add(&self.db, "DELETE FROM {ks}.links WHERE id = ?", (id,)).await?;
        w.add(&self.db, "DELETE FROM {ks}.link_codes WHERE code = ?", (rec.code.clone(),)).await?;
        w.add(&self.db, "DELETE FROM {ks}.links_by_association WHERE association_id = ? AND id = ?", (rec.association_id, id)).await?;
        w.add(&self.db, "DELETE FROM {ks}.link_clicks WHERE link_id = ?", (id,)).await?;
        if let Some(m) = rec.message_id {
            w.add(&self.db, "DELETE FROM {ks}.links_by_message WHERE message_id = ? AND link_id = ?", (m, id)).await?;
        }
        self.db.batch(w).await?;
        self.forget_clicks(id).await;
        Ok(true)
    }
}

/// Tracked links (`shortenLinks` on sends): `links_by_message` for a message's view, and a
/// campaign's clicks as running totals per node in `campaign_link_clicks` (summed on read),
/// with `clicked_messages` marking each message clicked at least once.
impl ScyllaStore {
    /// The codes first (unique: LWT when enabled, else checked under this process's lock),
    /// then the link rows, then the messages. A failure after the links leaves codes whose
    /// message was never acknowledged: they redirect, and nothing shows them.
    pub(super) async fn insert_messages_with_link_rows(&self, msgs: &[MessageRecord], links: &[LinkRecord]) -> StoreResult<()> {
        if !links.is_empty() {
            self.claim_codes(links).await?;
            let mut tasks = tokio::task::JoinSet::new();
            for chunk in links.chunks(16) {
                let mut w = Writes::default();
                for l in chunk {
                    w.add(&self.db, "INSERT INTO {ks}.links (id, data) VALUES (?, ?)", (l.id, encode(l))).await?;
                    if let Some(m) = l.message_id {
                        w.add(&self.db, "INSERT INTO {ks}.links_by_message (message_id, link_id) VALUES (?, ?)", (m, l.id)).await?;
                    }
                }
                let db = self.db.clone();
                tasks.spawn(async move { db.batch(w).await });
                while tasks.len() >= 32 {
                    if let Some(r) = tasks.join_next().await {
                        r.map_err(|e| StoreError::Io(e.to_string()))??;
                    }
                }
            }
            while let Some(r) = tasks.join_next().await {
                r.map_err(|e| StoreError::Io(e.to_string()))??;
            }
        }
        if msgs.is_empty() {
            return Ok(());
        }
        self.insert_message_rows(msgs).await
    }

    /// Inserts every code of `links` into `link_codes`, or none: on a taken code the ones
    /// claimed so far are given back and the answer is `Conflict`.
    async fn claim_codes(&self, links: &[LinkRecord]) -> StoreResult<()> {
        let mut claimed: Vec<&LinkRecord> = Vec::with_capacity(links.len());
        let mut taken = None;
        let _g = if self.db.opts.lwt { None } else { Some(self.row_locks.lock(hash_str("link_codes")).await) };
        for l in links {
            let ok = if self.db.opts.lwt {
                self.db.lwt("INSERT INTO {ks}.link_codes (code, link_id) VALUES (?, ?) IF NOT EXISTS", (l.code.clone(), l.id)).await?
            } else {
                let row: Option<(Option<i64>,)> = self.db.one("SELECT link_id FROM {ks}.link_codes WHERE code = ?", (l.code.clone(),)).await?;
                row.is_none() && {
                    let mut w = Writes::default();
                    w.add(&self.db, "INSERT INTO {ks}.link_codes (code, link_id) VALUES (?, ?)", (l.code.clone(), l.id)).await?;
                    self.db.batch(w).await?;
                    true
                }
            };
            if !ok {
                taken = Some(l.code.clone());
                break;
            }
            claimed.push(l);
        }
        let Some(code) = taken else { return Ok(()) };
        for l in claimed {
            let mut w = Writes::default();
            w.add(&self.db, "DELETE FROM {ks}.link_codes WHERE code = ?", (l.code.clone(),)).await?;
            self.db.batch(w).await?;
        }
        Err(StoreError::Conflict(format!("link code `{code}`")))
    }

    pub(super) async fn message_link_rows(&self, message_id: i64) -> StoreResult<Vec<LinkRecord>> {
        let ids: Vec<(i64,)> = self.db.many("SELECT link_id FROM {ks}.links_by_message WHERE message_id = ?", (message_id,), 10_000).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.extend(self.link_row(id).await?);
        }
        Ok(out)
    }

    /// Adds the campaign side of a click flush: clicks per campaign, and each message's first
    /// click as a clicked recipient. Runs on this node's flusher only, so this node's row is
    /// read, added to and written without a race; across nodes a message first clicked on two
    /// nodes within one flush may be counted twice unless LWT is on.
    pub(super) async fn add_campaign_click_rows(&self, clicks: &[LinkClicks]) -> StoreResult<()> {
        let node = self.db.opts.node;
        let mut per_campaign: Vec<(i64, i64, i64)> = Vec::new();
        for c in clicks.iter().filter(|c| c.clicks > 0) {
            let row: Option<(Option<Vec<u8>>,)> = self.db.one("SELECT data FROM {ks}.links WHERE id = ?", (c.link_id,)).await?;
            let Some((Some(d),)) = row else { continue };
            let rec: LinkRecord = decode("links", &d)?;
            let Some(campaign) = rec.campaign_id else { continue };
            let mut first = 0;
            if let Some(m) = rec.message_id {
                let fresh = if self.db.opts.lwt {
                    self.db.lwt("INSERT INTO {ks}.clicked_messages (message_id) VALUES (?) IF NOT EXISTS", (m,)).await?
                } else {
                    let seen: Option<(i64,)> = self.db.one("SELECT message_id FROM {ks}.clicked_messages WHERE message_id = ?", (m,)).await?;
                    seen.is_none() && {
                        let mut w = Writes::default();
                        w.add(&self.db, "INSERT INTO {ks}.clicked_messages (message_id) VALUES (?)", (m,)).await?;
                        self.db.batch(w).await?;
                        true
                    }
                };
                first = i64::from(fresh);
            }
            match per_campaign.iter_mut().find(|(id, _, _)| *id == campaign) {
                Some(slot) => {
                    slot.1 += c.clicks;
                    slot.2 += first;
                }
                None => per_campaign.push((campaign, c.clicks, first)),
            }
        }
        for (campaign, n, u) in per_campaign {
            let row: Option<(i32, Option<i64>, Option<i64>)> = self
                .db
                .one("SELECT node, clicks, clicked_recipients FROM {ks}.campaign_link_clicks WHERE campaign_id = ? AND node = ?", (campaign, node))
                .await?;
            let (n0, u0) = row.filter(|(got, _, _)| *got == node).map(|(_, n, u)| (n.unwrap_or(0), u.unwrap_or(0))).unwrap_or((0, 0));
            let mut w = Writes::default();
            w.add(
                &self.db,
                "INSERT INTO {ks}.campaign_link_clicks (campaign_id, node, clicks, clicked_recipients) VALUES (?, ?, ?, ?)",
                (campaign, node, n0 + n, u0 + u),
            )
            .await?;
            self.db.batch(w).await?;
        }
        Ok(())
    }

    pub(super) async fn campaign_click_rows(&self, campaign_id: i64) -> StoreResult<CampaignClicks> {
        let rows: Vec<(Option<i64>, Option<i64>)> =
            self.db.many("SELECT clicks, clicked_recipients FROM {ks}.campaign_link_clicks WHERE campaign_id = ?", (campaign_id,), 10_000).await?;
        Ok(CampaignClicks {
            clicks: rows.iter().map(|(n, _)| n.unwrap_or(0)).sum(),
            clicked_recipients: rows.iter().map(|(_, u)| u.unwrap_or(0)).sum(),
        })
    }
}
