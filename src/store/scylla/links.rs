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
        self.db.batch(w).await?;
        self.forget_clicks(id).await;
        Ok(true)
    }
}
