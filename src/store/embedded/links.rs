//! The embedded backend's redirect-link tables (see `schema.cql`): `links` (by id),
//! `link_codes` (code → id, the insert-if-absent index that keeps codes unique),
//! `links_by_association` (newest first, for paging) and `link_clicks` (the batched click
//! counters). Only this file knows their key layouts; `mod.rs` delegates to it.

use super::codec::{decode, encode, i64_from_key, i64_key};
use super::committer::Mutation;
use super::keys::newest_first_key;
use super::{io, EmbeddedStore};
use crate::store::{LinkClicks, LinkPage, LinkRecord, StoreResult};
use fjall::Keyspace;

/// Keyspaces of the link tables, opened with the others.
pub(super) struct LinkTables {
    by_id: Keyspace,
    codes: Keyspace,
    by_association: Keyspace,
    clicks: Keyspace,
}

impl LinkTables {
    pub(super) fn open(ks: &dyn Fn(&str) -> StoreResult<Keyspace>) -> StoreResult<Self> {
        Ok(Self { by_id: ks("links")?, codes: ks("link_codes")?, by_association: ks("links_by_association")?, clicks: ks("link_clicks")? })
    }
}

/// `link_clicks` is the CQL row `(link_id, node)` with two columns; one node here, so a key
/// per column: the link id then `c` (count, a little-endian i64 added to by the committer)
/// or `t` (last click, Unix ms, little-endian i64).
const COUNT: u8 = b'c';
const LAST: u8 = b't';

fn clicks_key(id: i64, column: u8) -> Vec<u8> {
    let mut k = i64_key(id).to_vec();
    k.push(column);
    k
}

fn le_i64(bytes: &[u8]) -> Option<i64> {
    bytes.try_into().ok().map(i64::from_le_bytes)
}

impl EmbeddedStore {
    fn link_tables<R>(&self, f: impl FnOnce(&LinkTables) -> R) -> StoreResult<R> {
        let t = self.t()?;
        Ok(f(&t.links))
    }

    /// The link row `id` with its click columns.
    fn read_link(t: &LinkTables, id: i64) -> StoreResult<Option<LinkRecord>> {
        let Some(bytes) = t.by_id.get(i64_key(id)).map_err(io)? else { return Ok(None) };
        let mut rec: LinkRecord = decode("links", &bytes)?;
        rec.click_count = t.clicks.get(clicks_key(id, COUNT)).map_err(io)?.and_then(|v| le_i64(&v)).unwrap_or(0);
        rec.last_clicked_at = t.clicks.get(clicks_key(id, LAST)).map_err(io)?.and_then(|v| le_i64(&v));
        Ok(Some(rec))
    }

    /// The rows of a link, for a create or a rewrite.
    fn link_rows(t: &LinkTables, rec: &LinkRecord) -> Vec<Mutation> {
        vec![
            Mutation::Put { ks: t.by_id.clone(), key: i64_key(rec.id).to_vec(), value: encode(rec) },
            Mutation::Put { ks: t.codes.clone(), key: rec.code.as_bytes().to_vec(), value: i64_key(rec.id).to_vec() },
            Mutation::Put { ks: t.by_association.clone(), key: newest_first_key(rec.association_id, rec.id).to_vec(), value: Vec::new() },
        ]
    }

    pub(super) async fn links_create(&self, rec: &LinkRecord) -> StoreResult<()> {
        let (muts, absent) = self.link_tables(|t| {
            let absent = vec![
                (t.codes.clone(), rec.code.as_bytes().to_vec(), format!("link code `{}`", rec.code)),
                (t.by_id.clone(), i64_key(rec.id).to_vec(), format!("link {}", rec.id)),
            ];
            (Self::link_rows(t, rec), absent)
        })?;
        self.committer.write(muts, absent).await
    }

    pub(super) async fn links_get(&self, id: i64) -> StoreResult<Option<LinkRecord>> {
        self.link_tables(|t| Self::read_link(t, id))?
    }

    pub(super) async fn links_get_by_code(&self, code: &str) -> StoreResult<Option<LinkRecord>> {
        self.link_tables(|t| match t.codes.get(code.as_bytes()).map_err(io)? {
            Some(id) => match i64_from_key(&id) {
                Some(id) => Self::read_link(t, id),
                None => Ok(None),
            },
            None => Ok(None),
        })?
    }

    pub(super) async fn links_list(&self, association_id: i64, offset: usize, limit: usize) -> StoreResult<LinkPage> {
        self.link_tables(|t| {
            let mut page = LinkPage { links: Vec::with_capacity(limit.min(100)), total: 0 };
            // Keys only: the total counts the partition, the page reads at most `limit` rows.
            for guard in t.by_association.prefix(i64_key(association_id)) {
                let k = guard.key().map_err(io)?;
                let index = page.total as usize;
                page.total += 1;
                if index < offset || page.links.len() >= limit {
                    continue;
                }
                let id = i64::MAX - i64_from_key(k.get(8..).unwrap_or_default()).unwrap_or_default();
                if let Some(rec) = Self::read_link(t, id)? {
                    page.links.push(rec);
                }
            }
            Ok(page)
        })?
    }

    pub(super) async fn links_update(&self, rec: &LinkRecord) -> StoreResult<()> {
        let muts = self.link_tables(|t| Self::link_rows(t, rec))?;
        self.committer.write(muts, vec![]).await
    }

    pub(super) async fn links_delete(&self, id: i64) -> StoreResult<bool> {
        let muts = self.link_tables(|t| -> StoreResult<Option<Vec<Mutation>>> {
            let Some(bytes) = t.by_id.get(i64_key(id)).map_err(io)? else { return Ok(None) };
            let rec: LinkRecord = decode("links", &bytes)?;
            Ok(Some(vec![
                Mutation::Delete { ks: t.by_id.clone(), key: i64_key(id).to_vec() },
                Mutation::Delete { ks: t.codes.clone(), key: rec.code.as_bytes().to_vec() },
                Mutation::Delete { ks: t.by_association.clone(), key: newest_first_key(rec.association_id, id).to_vec() },
                Mutation::Delete { ks: t.clicks.clone(), key: clicks_key(id, COUNT) },
                Mutation::Delete { ks: t.clicks.clone(), key: clicks_key(id, LAST) },
            ]))
        })??;
        match muts {
            Some(muts) => self.committer.write(muts, vec![]).await.map(|()| true),
            None => Ok(false),
        }
    }

    pub(super) async fn links_add_clicks(&self, clicks: &[LinkClicks]) -> StoreResult<()> {
        let muts = self.link_tables(|t| -> StoreResult<Vec<Mutation>> {
            let mut muts = Vec::with_capacity(clicks.len() * 2);
            for c in clicks {
                if c.clicks <= 0 || !t.by_id.contains_key(i64_key(c.link_id)).map_err(io)? {
                    continue;
                }
                muts.push(Mutation::Add { ks: t.clicks.clone(), key: clicks_key(c.link_id, COUNT), delta: c.clicks });
                // One flusher per node writes this column, so read-then-put keeps it monotonic.
                let stored = t.clicks.get(clicks_key(c.link_id, LAST)).map_err(io)?.and_then(|v| le_i64(&v));
                if stored.is_none_or(|s| s < c.last_clicked_at) {
                    muts.push(Mutation::Put { ks: t.clicks.clone(), key: clicks_key(c.link_id, LAST), value: c.last_clicked_at.to_le_bytes().to_vec() });
                }
            }
            Ok(muts)
        })??;
        if muts.is_empty() {
            return Ok(());
        }
        self.committer.write(muts, vec![]).await
    }
}
