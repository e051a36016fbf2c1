//! The embedded backend's redirect-link tables (see `schema.cql`): `links` (by id),
//! `link_codes` (code → id, the insert-if-absent index that keeps codes unique),
//! `links_by_association` (newest first, for paging) and `link_clicks` (the batched click
//! counters); for the tracked links of sends (`shortenLinks`), `links_by_message` (message
//! id, link id) and `campaign_clicks` (a campaign's click totals, and a marker per message
//! clicked at least once, kept by the flusher). Only this file knows their key layouts;
//! `mod.rs` delegates to it.

use super::codec::{decode, encode, i64_from_key, i64_key};
use super::committer::Mutation;
use super::keys::newest_first_key;
use super::{io, EmbeddedStore};
use crate::store::{CampaignClicks, LinkClicks, LinkPage, LinkRecord, StoreResult};
use fjall::Keyspace;

/// Keyspaces of the link tables, opened with the others.
pub(super) struct LinkTables {
    by_id: Keyspace,
    codes: Keyspace,
    by_association: Keyspace,
    clicks: Keyspace,
    by_message: Keyspace,
    campaign_clicks: Keyspace,
}

impl LinkTables {
    pub(super) fn open(ks: &dyn Fn(&str) -> StoreResult<Keyspace>) -> StoreResult<Self> {
        Ok(Self { by_id: ks("links")?, codes: ks("link_codes")?, by_association: ks("links_by_association")?, clicks: ks("link_clicks")?, by_message: ks("links_by_message")?, campaign_clicks: ks("campaign_clicks")? })
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

/// `campaign_clicks` keys: `c` + campaign id + column (`c` clicks, `u` clicked recipients,
/// little-endian i64s added to by the committer), and `m` + message id (the message had a
/// click; empty value).
const CLICKED_RECIPIENTS: u8 = b'u';

fn campaign_key(campaign_id: i64, column: u8) -> Vec<u8> {
    let mut k = vec![b'c'];
    k.extend_from_slice(&i64_key(campaign_id));
    k.push(column);
    k
}

fn clicked_message_key(message_id: i64) -> Vec<u8> {
    let mut k = vec![b'm'];
    k.extend_from_slice(&i64_key(message_id));
    k
}

fn le_i64(bytes: &[u8]) -> Option<i64> {
    bytes.try_into().ok().map(i64::from_le_bytes)
}

impl EmbeddedStore {
    /// The rows of tracked links written with their messages, and the codes that must be new.
    pub(super) fn tracked_link_mutations(t: &LinkTables, links: &[LinkRecord], muts: &mut Vec<Mutation>) -> Vec<(Keyspace, Vec<u8>, String)> {
        if links.is_empty() {
            return Vec::new();
        }
        let mut rows = Vec::with_capacity(links.len());
        let mut by_message = Vec::with_capacity(links.len());
        let mut absent = Vec::with_capacity(links.len());
        for l in links {
            rows.push((fjall::Slice::from(i64_key(l.id)), fjall::Slice::from(encode(l))));
            // Single puts, not rows: the committer sees them when it checks a later request's
            // codes in the same group.
            muts.push(Mutation::Put { ks: t.codes.clone(), key: l.code.as_bytes().to_vec(), value: i64_key(l.id).to_vec() });
            if let Some(m) = l.message_id {
                by_message.push((fjall::Slice::from(super::codec::pair_key(m, l.id)), fjall::Slice::empty()));
            }
            absent.push((t.codes.clone(), l.code.as_bytes().to_vec(), format!("link code `{}`", l.code)));
        }
        muts.push(Mutation::PutRows { ks: t.by_id.clone(), rows });
        if !by_message.is_empty() {
            muts.push(Mutation::PutRows { ks: t.by_message.clone(), rows: by_message });
        }
        absent
    }

    pub(super) async fn links_of_message(&self, message_id: i64) -> StoreResult<Vec<LinkRecord>> {
        self.link_tables(|t| {
            let mut out = Vec::new();
            for guard in t.by_message.prefix(i64_key(message_id)) {
                let k = guard.key().map_err(io)?;
                if let Some(rec) = i64_from_key(k.get(8..).unwrap_or_default()).map(|id| Self::read_link(t, id)).transpose()?.flatten() {
                    out.push(rec);
                }
            }
            Ok(out)
        })?
    }

    pub(super) async fn links_campaign_clicks(&self, campaign_id: i64) -> StoreResult<CampaignClicks> {
        self.link_tables(|t| {
            let read = |col| -> StoreResult<i64> { Ok(t.campaign_clicks.get(campaign_key(campaign_id, col)).map_err(io)?.and_then(|v| le_i64(&v)).unwrap_or(0)) };
            Ok(CampaignClicks { clicks: read(COUNT)?, clicked_recipients: read(CLICKED_RECIPIENTS)? })
        })?
    }

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
                Mutation::Delete { ks: t.by_message.clone(), key: super::codec::pair_key(rec.message_id.unwrap_or_default(), id).to_vec() },
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
            // Messages marked clicked in this batch (their marker is not in the keyspace yet).
            let mut marked = std::collections::HashSet::new();
            for c in clicks {
                if c.clicks <= 0 {
                    continue;
                }
                let Some(bytes) = t.by_id.get(i64_key(c.link_id)).map_err(io)? else { continue };
                let rec: LinkRecord = decode("links", &bytes)?;
                if let Some(campaign) = rec.campaign_id {
                    muts.push(Mutation::Add { ks: t.campaign_clicks.clone(), key: campaign_key(campaign, COUNT), delta: c.clicks });
                    // One flusher per node: reading the marker then writing it counts each
                    // recipient once, however many of its links are clicked.
                    if let Some(m) = rec.message_id {
                        let key = clicked_message_key(m);
                        if !marked.contains(&m) && !t.campaign_clicks.contains_key(&key).map_err(io)? {
                            marked.insert(m);
                            muts.push(Mutation::Put { ks: t.campaign_clicks.clone(), key, value: Vec::new() });
                            muts.push(Mutation::Add { ks: t.campaign_clicks.clone(), key: campaign_key(campaign, CLICKED_RECIPIENTS), delta: 1 });
                        }
                    }
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
