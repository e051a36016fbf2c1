//! Statistics and link clicks on ScyllaDB without counter columns: each node keeps its own
//! running total of every counter it bumps and writes the new total as a plain upsert of its
//! own row (`stats`: one row per counter and node; `link_clicks`: one per link and node). A
//! retried or repeated write of a total cannot count twice, and a read sums the nodes' rows.
//!
//! A node's totals are loaded from its row the first time it touches a counter and then kept
//! in memory; writes of totals are serialised in this process (one at a time, in the order
//! the totals were computed), so a later total is never overwritten by an earlier one. Node
//! ids are leased, so no two live processes write one node's rows. The totals of a message
//! change go in the change's own logged batch ([`ScyllaStore::batch_with_counters`]).

use super::session::{Db, Writes};
use super::ScyllaStore;
use crate::store::{CounterDelta, CounterScope, LinkClicks, StoreResult};
use std::collections::{BTreeMap, HashMap};

/// This node's totals as last written.
#[derive(Default)]
pub(super) struct NodeTotals {
    counters: HashMap<(i64, i64, String), i64>,
    clicks: HashMap<i64, (i64, i64)>,
}

impl ScyllaStore {
    pub(super) async fn add_counter_rows(&self, deltas: &[CounterDelta]) -> StoreResult<()> {
        self.batch_with_counters(Writes::default(), deltas).await
    }

    /// Writes `w` and this node's new totals of `deltas` in one logged batch: the change and
    /// its counts land together or not at all, so a process killed after the write has no
    /// count to lose. The stats rows are plain rows (totals, not counter columns), which is
    /// what lets them share a logged batch with the message rows at all.
    ///
    /// The totals lock is held until the batch is answered: totals are written in the order
    /// they were computed, so a later total is never overwritten by an earlier one. A failed
    /// batch (its outcome unknown: it may still have landed) drops the cached totals it
    /// carried, so the next write of them starts from what the rows say.
    pub(super) async fn batch_with_counters(&self, w: Writes, deltas: &[CounterDelta]) -> StoreResult<()> {
        batch_with_totals(&self.db, &self.totals, w, deltas).await
    }

    pub(super) async fn get_counter_rows(&self, scope: CounterScope) -> StoreResult<BTreeMap<String, i64>> {
        let rows: Vec<(String, Option<i64>)> =
            self.db.many("SELECT name, value FROM {ks}.stats WHERE association_id = ? AND day = ?", (scope.association_id, scope.day), 1_000_000).await?;
        let mut out = BTreeMap::new();
        for (name, v) in rows {
            *out.entry(name).or_insert(0) += v.unwrap_or(0);
        }
        Ok(out)
    }

    /// Adds clicks to this node's rows of links that still exist.
    pub(super) async fn add_click_rows(&self, clicks: &[LinkClicks]) -> StoreResult<()> {
        let node = self.db.opts.node;
        let mut totals = self.totals.lock().await;
        let mut next: Vec<(i64, (i64, i64))> = Vec::new();
        for c in clicks {
            if c.clicks <= 0 {
                continue;
            }
            let exists: Option<(i64,)> = self.db.one("SELECT id FROM {ks}.links WHERE id = ?", (c.link_id,)).await?;
            if exists.is_none() {
                continue;
            }
            let (n, last) = match next.iter().find(|(id, _)| *id == c.link_id).map(|(_, v)| *v).or_else(|| totals.clicks.get(&c.link_id).copied()) {
                Some(v) => v,
                None => {
                    // The node is read back: a read by the whole key never answers with a neighbour.
                    let row: Option<(i32, Option<i64>, Option<i64>)> =
                        self.db.one("SELECT node, clicks, last_clicked_at FROM {ks}.link_clicks WHERE link_id = ? AND node = ?", (c.link_id, node)).await?;
                    row.filter(|(got, _, _)| *got == node).map(|(_, n, l)| (n.unwrap_or(0), l.unwrap_or(0))).unwrap_or((0, 0))
                }
            };
            let v = (n + c.clicks, last.max(c.last_clicked_at));
            match next.iter_mut().find(|(id, _)| *id == c.link_id) {
                Some(slot) => slot.1 = v,
                None => next.push((c.link_id, v)),
            }
        }
        let mut w = Writes::default();
        for (id, (n, last)) in &next {
            w.add(&self.db, "INSERT INTO {ks}.link_clicks (link_id, node, clicks, last_clicked_at) VALUES (?, ?, ?, ?)", (*id, node, *n, *last)).await?;
        }
        self.db.batch(w).await?;
        totals.clicks.extend(next);
        Ok(())
    }

    /// A link's clicks summed over the nodes, and the latest click time.
    pub(super) async fn click_totals(&self, link_id: i64) -> StoreResult<(i64, Option<i64>)> {
        let rows: Vec<(Option<i64>, Option<i64>)> = self.db.many("SELECT clicks, last_clicked_at FROM {ks}.link_clicks WHERE link_id = ?", (link_id,), 10_000).await?;
        let n = rows.iter().map(|(n, _)| n.unwrap_or(0)).sum();
        let last = rows.iter().filter_map(|(_, l)| *l).filter(|l| *l > 0).max();
        Ok((n, last))
    }

    /// Forgets this node's remembered totals of a deleted link.
    pub(super) async fn forget_clicks(&self, link_id: i64) {
        self.totals.lock().await.clicks.remove(&link_id);
    }
}

/// [`ScyllaStore::batch_with_counters`] on the parts it needs, for tasks that outlive a borrow.
pub(super) async fn batch_with_totals(db: &Db, totals_lock: &tokio::sync::Mutex<NodeTotals>, mut w: Writes, deltas: &[CounterDelta]) -> StoreResult<()> {
    let mut sums: BTreeMap<(i64, i64, String), i64> = BTreeMap::new();
    for d in deltas {
        *sums.entry((d.scope.association_id, d.scope.day, d.name.clone())).or_default() += d.delta;
    }
    sums.retain(|_, v| *v != 0);
    if sums.is_empty() {
        return db.batch(w).await;
    }
    let node = db.opts.node;
    let mut totals = totals_lock.lock().await;
    let mut next = Vec::with_capacity(sums.len());
    for (key, delta) in sums {
        let current = match totals.counters.get(&key) {
            Some(v) => *v,
            None => {
                let row: Option<(Option<i64>,)> = db
                    .one("SELECT value FROM {ks}.stats WHERE association_id = ? AND day = ? AND name = ? AND node = ?", (key.0, key.1, key.2.clone(), node))
                    .await?;
                row.and_then(|(v,)| v).unwrap_or(0)
            }
        };
        next.push((key, current + delta));
    }
    for ((assoc, day, name), total) in &next {
        w.add(db, "INSERT INTO {ks}.stats (association_id, day, name, node, value) VALUES (?, ?, ?, ?, ?)", (*assoc, *day, name.clone(), node, *total)).await?;
    }
    match db.batch(w).await {
        Ok(()) => {
            totals.counters.extend(next);
            Ok(())
        }
        Err(e) => {
            for (key, _) in &next {
                totals.counters.remove(key);
            }
            Err(e)
        }
    }
}
