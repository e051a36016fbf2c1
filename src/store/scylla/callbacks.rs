//! The customer-callback tables on ScyllaDB: `callback_outbox` (per association, by due
//! time), `outbox_associations` (which associations have rows), `callback_attempts` (newest
//! first per association and outcome; an attempt is one row, under its outcome). Outbox rows
//! are written by the status path in the batch beside the change they tell (`outbox_put`).

use super::session::{decode, encode, next_seq, Writes};
use super::ScyllaStore;
use crate::store::callbacks::{CallbackAttempt, CallbackOutcome, CallbackStore, OutboxEntry};
use crate::store::StoreResult;
use async_trait::async_trait;

fn outcome_code(o: Option<CallbackOutcome>) -> i32 {
    match o {
        None => 0,
        Some(CallbackOutcome::Delivered) => 1,
        Some(CallbackOutcome::Pending) => 2,
        Some(CallbackOutcome::Failed) => 3,
    }
}

const OUTBOX_PUT: &str = "INSERT INTO {ks}.callback_outbox (association_id, next_at, event_id, data) VALUES (?, ?, ?, ?)";

impl ScyllaStore {
    pub(super) async fn outbox_put(&self, w: &mut Writes, e: &OutboxEntry) -> StoreResult<()> {
        w.add(&self.db, OUTBOX_PUT, (e.association_id, e.next_at, e.event_id.clone(), encode(e))).await?;
        w.add(&self.db, "INSERT INTO {ks}.outbox_associations (bucket, association_id) VALUES (?, ?)", (0i32, e.association_id)).await
    }
}

#[async_trait]
impl CallbackStore for ScyllaStore {
    async fn outbox_associations(&self) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = self.db.many("SELECT association_id FROM {ks}.outbox_associations WHERE bucket = ?", (0i32,), 100_000).await?;
        Ok(rows.into_iter().map(|(a,)| a).collect())
    }

    async fn due_callbacks(&self, association_id: i64, after: Option<(i64, &str)>, until: i64, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let read = match after {
            Some((at, event)) => {
                self.db
                    .many(
                        "SELECT data FROM {ks}.callback_outbox WHERE association_id = ? AND (next_at, event_id) > (?, ?) AND (next_at) <= (?)",
                        (association_id, at, event.to_owned(), until),
                        limit,
                    )
                    .await
            }
            None => self.db.many("SELECT data FROM {ks}.callback_outbox WHERE association_id = ? AND next_at <= ?", (association_id, until), limit).await,
        };
        let rows: Vec<(Option<Vec<u8>>,)> = match read {
            Ok(rows) => rows,
            // A server without range predicates (kassandra-tester): the partition (what
            // one association has not yet been told, normally little) is read and cut here.
            Err(e) => {
                tracing::debug!(error = %e, "range read of the callback outbox refused; filtering the partition");
                let all: Vec<(i64, String, Option<Vec<u8>>)> =
                    self.db.many("SELECT next_at, event_id, data FROM {ks}.callback_outbox WHERE association_id = ?", (association_id,), 100_000).await?;
                let mut due: Vec<_> = all
                    .into_iter()
                    .filter(|(at, id, _)| *at <= until && after.is_none_or(|(a, e)| (*at, id.as_str()) > (a, e)))
                    .collect();
                due.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
                due.truncate(limit);
                due.into_iter().map(|(_, _, d)| (d,)).collect()
            }
        };
        rows.into_iter().map(|(d,)| decode("callback_outbox", &d.unwrap_or_default())).collect()
    }

    async fn settle_callback(&self, entry: &OutboxEntry, attempt: &CallbackAttempt, next: Option<&OutboxEntry>) -> StoreResult<()> {
        let mut w = Writes::default();
        w.add(&self.db, "DELETE FROM {ks}.callback_outbox WHERE association_id = ? AND next_at = ? AND event_id = ?", (entry.association_id, entry.next_at, entry.event_id.clone()))
            .await?;
        if let Some(n) = next {
            self.outbox_put(&mut w, n).await?;
        }
        // Once, under its outcome; the listing of every outcome merges the partitions.
        let row = (attempt.association_id, outcome_code(Some(attempt.outcome)), next_seq(), encode(attempt));
        w.add(&self.db, "INSERT INTO {ks}.callback_attempts (association_id, outcome, seq, data) VALUES (?, ?, ?, ?)", row).await?;
        self.db.batch(w).await
    }

    async fn list_callback_attempts(&self, association_id: i64, outcome: Option<CallbackOutcome>, limit: usize) -> StoreResult<Vec<CallbackAttempt>> {
        let mut rows: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
        for &o in CallbackOutcome::listed(outcome) {
            let part: Vec<(i64, Option<Vec<u8>>)> =
                self.db.many("SELECT seq, data FROM {ks}.callback_attempts WHERE association_id = ? AND outcome = ?", (association_id, outcome_code(Some(o))), limit).await?;
            rows.extend(part);
        }
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        rows.into_iter().take(limit).map(|(_, d)| decode("callback_attempts", &d.unwrap_or_default())).collect()
    }

    async fn prune_callback_attempts(&self, association_id: i64, before_ms: i64, limit: usize) -> StoreResult<usize> {
        // Read the doomed sequences first (a bounded page), then delete them by key: a
        // clustering-range delete would write one range tombstone per partition, but it gives
        // no count and some CQL servers refuse it.
        let cutoff = before_ms.saturating_mul(1000);
        let mut n = 0;
        for o in [0i32, 1, 2, 3] {
            if n >= limit {
                break;
            }
            let seqs: Vec<(i64,)> = self
                .db
                .many("SELECT seq FROM {ks}.callback_attempts WHERE association_id = ? AND outcome = ? AND seq < ?", (association_id, o, cutoff), limit - n)
                .await?;
            if seqs.is_empty() {
                continue;
            }
            let mut w = Writes::default();
            for (seq,) in &seqs {
                w.add(&self.db, "DELETE FROM {ks}.callback_attempts WHERE association_id = ? AND outcome = ? AND seq = ?", (association_id, o, *seq)).await?;
            }
            self.db.batch(w).await?;
            n += seqs.len();
        }
        Ok(n)
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        let mut n = 0u64;
        for a in self.outbox_associations().await? {
            let rows: Vec<(i64,)> = self.db.many("SELECT next_at FROM {ks}.callback_outbox WHERE association_id = ?", (a,), 1_000_000).await?;
            n += rows.len() as u64;
        }
        Ok(n)
    }
}
