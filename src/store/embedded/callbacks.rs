//! The customer-callback tables of the embedded backend.
//!
//! `callback_outbox`: key (association id, next_at, event id), value the [`OutboxEntry`]; the
//! status path writes it (through [`outbox_put`]) in the same commit as the change it reports.
//! `callback_attempts`: key (association id, outcome byte, inverted sequence), value the
//! [`CallbackAttempt`]; an attempt is written once, under its outcome, and the listing of every
//! outcome merges the three partitions newest first. (Outcome byte 0 held a copy of every
//! attempt before; such rows are still pruned, no longer listed.) Depends on the codec and the
//! committer only.

use super::codec::{decode, encode, i64_from_key, i64_key};
use super::committer::Mutation;
use super::{io, EmbeddedStore, Tables};
use crate::store::callbacks::{CallbackAttempt, CallbackOutcome, CallbackStore, OutboxEntry};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

pub(super) struct CallbackTables {
    attempts: Keyspace,
}

impl CallbackTables {
    pub(super) fn open(db: &Database, memtable_bytes: u64) -> StoreResult<Self> {
        let attempts = db
            .keyspace("callback_attempts", || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes))
            .map_err(|e| StoreError::Io(format!("open table callback_attempts: {e}")))?;
        Ok(Self { attempts })
    }
}

fn outbox_key(e: &OutboxEntry) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + e.event_id.len());
    k.extend_from_slice(&i64_key(e.association_id));
    k.extend_from_slice(&i64_key(e.next_at));
    k.extend_from_slice(e.event_id.as_bytes());
    k
}

/// The outbox row of `entry`, for the status path's commit.
pub(super) fn outbox_put(t: &Tables, entry: &OutboxEntry) -> Mutation {
    Mutation::Put { ks: t.callback_outbox.clone(), key: outbox_key(entry), value: encode(entry) }
}

fn outcome_byte(o: Option<CallbackOutcome>) -> u8 {
    match o {
        None => 0,
        Some(CallbackOutcome::Delivered) => 1,
        Some(CallbackOutcome::Pending) => 2,
        Some(CallbackOutcome::Failed) => 3,
    }
}

fn attempt_key(association_id: i64, outcome: Option<CallbackOutcome>, seq: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&i64_key(association_id));
    k.push(outcome_byte(outcome));
    k.extend_from_slice(&i64_key(i64::MAX - seq));
    k
}

/// The part of an [`attempt_key`] that sorts newest first (the inverted sequence after the
/// association and outcome byte), for merging partitions.
fn newest_first(key: &[u8]) -> [u8; 8] {
    key.get(9..17).and_then(|b| b.try_into().ok()).unwrap_or([0xff; 8])
}

/// A sequence larger than every earlier one of this process (and, being microseconds since
/// the epoch, of earlier runs): newest-first order of the attempts.
fn next_seq() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::domain::now_ms().saturating_mul(1000);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

#[async_trait]
impl CallbackStore for EmbeddedStore {
    async fn outbox_associations(&self) -> StoreResult<Vec<i64>> {
        let t = self.t()?;
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        // A skip scan: the first key of each partition, then a seek past the partition.
        while out.len() < 100_000 {
            let Some(guard) = t.callback_outbox.range(from.clone()..).next() else { break };
            let k = guard.key().map_err(io)?;
            let Some(assoc) = i64_from_key(&k) else { break };
            out.push(assoc);
            match assoc.checked_add(1) {
                Some(next) => from = i64_key(next).to_vec(),
                None => break,
            }
        }
        Ok(out)
    }

    async fn due_callbacks(&self, association_id: i64, after: Option<(i64, &str)>, until: i64, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let t = self.t()?;
        let partition = i64_key(association_id);
        let mut to = partition.to_vec();
        to.extend_from_slice(&i64_key(until.saturating_add(1)));
        let from = match after {
            // The smallest key above the row's own (its key with a zero byte appended).
            Some((next_at, event_id)) => {
                let mut k = partition.to_vec();
                k.extend_from_slice(&i64_key(next_at));
                k.extend_from_slice(event_id.as_bytes());
                k.push(0);
                k
            }
            None => partition.to_vec(),
        };
        if from >= to {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for guard in t.callback_outbox.range(from..to).take(limit) {
            let (_, v) = guard.into_inner().map_err(io)?;
            out.push(decode("callback_outbox", &v)?);
        }
        Ok(out)
    }

    async fn settle_callback(&self, entry: &OutboxEntry, attempt: &CallbackAttempt, next: Option<&OutboxEntry>) -> StoreResult<()> {
        let t = self.t()?;
        let mut muts = vec![Mutation::Delete { ks: t.callback_outbox.clone(), key: outbox_key(entry) }];
        if let Some(n) = next {
            muts.push(outbox_put(&t, n));
        }
        let key = attempt_key(attempt.association_id, Some(attempt.outcome), next_seq());
        muts.push(Mutation::Put { ks: t.callbacks.attempts.clone(), key, value: encode(attempt) });
        self.committer.write(muts, vec![]).await
    }

    async fn list_callback_attempts(&self, association_id: i64, outcome: Option<CallbackOutcome>, limit: usize) -> StoreResult<Vec<CallbackAttempt>> {
        let t = self.t()?;
        // Each partition newest first (inverted sequence in the key); merged on that sequence.
        let mut rows: Vec<([u8; 8], CallbackAttempt)> = Vec::new();
        for &o in CallbackOutcome::listed(outcome) {
            let mut prefix = i64_key(association_id).to_vec();
            prefix.push(outcome_byte(Some(o)));
            for guard in t.callbacks.attempts.range(prefix.clone()..).take(limit) {
                let (k, v) = guard.into_inner().map_err(io)?;
                if !k.starts_with(&prefix) {
                    break;
                }
                rows.push((newest_first(&k), decode("callback_attempts", &v)?));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows.into_iter().take(limit).map(|(_, a)| a).collect())
    }

    async fn prune_callback_attempts(&self, association_id: i64, before_ms: i64, limit: usize) -> StoreResult<usize> {
        let t = self.t()?;
        let cutoff = before_ms.saturating_mul(1000);
        let mut doomed = Vec::new();
        for o in [None, Some(CallbackOutcome::Delivered), Some(CallbackOutcome::Pending), Some(CallbackOutcome::Failed)] {
            let mut prefix = i64_key(association_id).to_vec();
            prefix.push(outcome_byte(o));
            // Keys hold the inverted sequence: everything from the cutoff's key to the end of
            // the partition is older than the cutoff.
            for guard in t.callbacks.attempts.range(attempt_key(association_id, o, cutoff)..) {
                if doomed.len() >= limit {
                    break;
                }
                let k = guard.key().map_err(io)?;
                if !k.starts_with(&prefix) {
                    break;
                }
                doomed.push(Mutation::Delete { ks: t.callbacks.attempts.clone(), key: k.to_vec() });
            }
        }
        let n = doomed.len();
        if n > 0 {
            self.committer.write(doomed, vec![]).await?;
        }
        Ok(n)
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        let t = self.t()?;
        // Exact, bounded: the outbox holds what is not yet delivered, normally little.
        let mut n = 0u64;
        for guard in t.callback_outbox.iter().take(1_000_000) {
            guard.key().map_err(io)?;
            n += 1;
        }
        Ok(n)
    }
}
