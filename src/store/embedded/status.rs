//! Message status writes of the embedded backend: dispatch's updates (`update_messages`) and
//! status events (`apply_status`), both decided on the committer thread
//! ([`Mutation::Compute`]) so that they are serialised with each other per message: the
//! precedence rule ([`MessageStatus::engine_supersedes`], [`MessageStatus::report_supersedes`])
//! is applied to the row as it really is, never to a copy another writer is about to replace.
//!
//! In the same commit as a change: the message row and its index rows, the counters, the
//! `provider_index` row (provider, provider message id) → message id whenever an update
//! carries a provider message id, a `message_events` row, and the status observer's outbox
//! row. Depends on the store's model, `stats` rules and the embedded plumbing only.

use super::codec::{decode, encode_compact_into, i64_from_key, i64_key, pair_key};
use super::committer::{GroupView, Mutation};
use super::{io, EmbeddedStore, Tables};
use crate::store::status_rules;
use crate::store::{CounterDelta, MessageEvent, MessageRecord, MessageStatus, MessageUpdate, StatusObserver, StatusOutcome, StoreResult};
use std::sync::Arc;


/// Key of `provider_index`: the provider code, a 0 byte, the provider's message id.
pub(super) fn provider_index_key(provider: &str, provider_message_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(provider.len() + 1 + provider_message_id.len());
    k.extend_from_slice(provider.as_bytes());
    k.push(0);
    k.extend_from_slice(provider_message_id.as_bytes());
    k
}

/// A message row as it is rewritten: compact, like a new row (see `codec`). Less than half
/// the bytes of the named form to encode, journal, flush and compact, for the one row every
/// status change rewrites.
fn encode_row(m: &MessageRecord) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    encode_compact_into(&mut buf, m);
    buf
}

/// Whether the index rows of a message (`message_index_mutations`) can differ between two
/// versions of it: they follow from the state class, the schedule and the campaign only.
fn index_rows_change(before: Option<&MessageRecord>, after: &MessageRecord) -> bool {
    let class = |m: &MessageRecord| (m.status.is_terminal(), m.status == MessageStatus::Scheduled, m.scheduled_at, m.campaign_id);
    before.is_none_or(|b| class(b) != class(after))
}

/// What one decided change writes beside the message row.
struct Change<'a> {
    before: Option<&'a MessageRecord>,
    after: &'a MessageRecord,
    event: Option<MessageEvent>,
    /// Counter changes, as `status_rules` decided them.
    deltas: Vec<CounterDelta>,
}

impl EmbeddedStore {
    /// The row of `id` as the group sees it (a row that does not decode counts as absent).
    fn current(t: &Tables, view: &GroupView<'_>, id: i64) -> Option<MessageRecord> {
        match view.get(&t.messages, &i64_key(id)) {
            Ok(Some(bytes)) => match decode::<MessageRecord>("messages", &bytes) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(message = id, error = %e, "undecodable message row is replaced");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::error!(message = id, error = %e, "message row unreadable on the committer");
                None
            }
        }
    }

    /// Counters, index rows, the history event and the outbox row of a change.
    fn change_mutations(t: &Tables, view: &mut GroupView<'_>, observer: Option<&Arc<dyn StatusObserver>>, c: Change<'_>, muts: &mut Vec<Mutation>) {
        let m = c.after;
        Self::counter_mutations(t, &c.deltas, muts);
        Self::wa_message_mutations(t, c.before, m, muts);
        // `sent` after `queued` leaves the index rows as they are: rewriting them identically
        // would cost a journal entry and a memtable insert each.
        if m.campaign_id.is_none() && index_rows_change(c.before, m) {
            Self::message_index_mutations(t, m, muts);
        }
        if let Some(at) = status_rules::expiry_watch(c.before, m) {
            muts.push(super::delivery::expiry_put(t, crate::store::ExpiryEntry { at, message_id: m.id }));
        }
        if let Some(mut ev) = c.event {
            ev.seq = view.next_seq();
            if let (Some(obs), Some(before)) = (observer, c.before) {
                if let Some(entry) = obs.on_change(before, m, &ev) {
                    muts.push(super::callbacks::outbox_put(t, &entry));
                }
            }
            muts.push(Self::put(&t.message_events, pair_key(m.id, ev.seq).to_vec(), &ev));
        }
    }

    /// One dispatch update, decided against the current row.
    fn engine_update(t: &Tables, view: &mut GroupView<'_>, observer: Option<&Arc<dyn StatusObserver>>, u: MessageUpdate, encoded: Vec<u8>) -> Vec<Mutation> {
        let MessageUpdate { message: new, attempt } = u;
        let before = Self::current(t, view, new.id);
        let mut muts = Vec::with_capacity(6);
        if let Some(a) = &attempt {
            muts.push(Self::put(&t.attempts, pair_key(a.message_id, i64::from(a.attempt)).to_vec(), a));
        }
        let d = status_rules::engine_update(before.as_ref(), &new);
        if d.index_provider {
            if let (Some(p), Some(pid)) = (&new.provider, &new.provider_message_id) {
                muts.push(Mutation::Put { ks: t.provider_index.clone(), key: provider_index_key(p, pid), value: i64_key(new.id).to_vec() });
            }
        }
        if !d.row_changed {
            return muts;
        }
        // The encoding made off the committer thread stands when dispatch's write does.
        let bytes = if d.as_written { encoded } else { encode_row(&d.after) };
        let after = d.after;
        muts.push(Mutation::Put { ks: t.messages.clone(), key: i64_key(after.id).to_vec(), value: bytes });
        Self::change_mutations(t, view, observer, Change { before: before.as_ref(), after: &after, event: d.event, deltas: d.deltas }, &mut muts);
        muts
    }

    /// One status event, decided against the current row; its outcome goes to `out`.
    fn report_update(t: &Tables, view: &mut GroupView<'_>, observer: Option<&Arc<dyn StatusObserver>>, ev: MessageEvent, out: &mut Option<StatusOutcome>) -> Vec<Mutation> {
        let Some(before) = Self::current(t, view, ev.message_id) else {
            *out = Some(StatusOutcome::Missing);
            return Vec::new();
        };
        let Some((after, deltas)) = status_rules::report_update(&before, &ev, crate::domain::now_ms()) else {
            *out = Some(StatusOutcome::Unchanged(before));
            return Vec::new();
        };
        let mut muts = vec![Mutation::Put { ks: t.messages.clone(), key: i64_key(after.id).to_vec(), value: encode_row(&after) }];
        Self::change_mutations(t, view, observer, Change { before: Some(&before), after: &after, event: Some(ev), deltas }, &mut muts);
        *out = Some(StatusOutcome::Applied { before, after });
        muts
    }

    pub(super) async fn update_messages_decided(&self, updates: &[MessageUpdate]) -> StoreResult<()> {
        let t = self.t()?;
        let observer = self.observer.read().clone();
        // Encoded here, off the committer thread, for the usual case where the update stands.
        let muts = updates
            .iter()
            .map(|u| {
                let (t, observer, u, encoded) = (t.clone(), observer.clone(), u.clone(), encode_row(&u.message));
                let reads = t.messages.clone();
                Mutation::Compute { reads, f: Box::new(move |view: &mut GroupView<'_>| Self::engine_update(&t, view, observer.as_ref(), u, encoded)) }
            })
            .collect();
        self.committer.write(muts, vec![]).await
    }

    /// [`Store::transition_message`](crate::store::Store::transition_message): the status is
    /// compared inside the committer's read-modify-write, in order with every other write.
    pub(super) async fn transition_decided(&self, msg: &MessageRecord, from: MessageStatus) -> StoreResult<bool> {
        let t = self.t()?;
        let observer = self.observer.read().clone();
        let won = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (u, encoded, flag) = (MessageUpdate { message: msg.clone(), attempt: None }, encode_row(msg), won.clone());
        let reads = t.messages.clone();
        let f = Box::new(move |view: &mut GroupView<'_>| match Self::current(&t, view, u.message.id) {
            Some(b) if b.status == from => {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                Self::engine_update(&t, view, observer.as_ref(), u, encoded)
            }
            _ => Vec::new(),
        });
        self.committer.write(vec![Mutation::Compute { reads, f }], vec![]).await?;
        Ok(won.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub(super) async fn apply_status_decided(&self, events: &[MessageEvent]) -> StoreResult<Vec<StatusOutcome>> {
        let t = self.t()?;
        let observer = self.observer.read().clone();
        let outcomes: Arc<parking_lot::Mutex<Vec<Option<StatusOutcome>>>> = Arc::new(parking_lot::Mutex::new(vec![None; events.len()]));
        let muts = events
            .iter()
            .enumerate()
            .map(|(i, ev)| {
                let (t, observer, ev, outcomes) = (t.clone(), observer.clone(), ev.clone(), outcomes.clone());
                let reads = t.messages.clone();
                Mutation::Compute {
                    reads,
                    f: Box::new(move |view: &mut GroupView<'_>| {
                        let mut out = None;
                        let muts = Self::report_update(&t, view, observer.as_ref(), ev, &mut out);
                        if let Some(slot) = outcomes.lock().get_mut(i) {
                            *slot = out;
                        }
                        muts
                    }),
                }
            })
            .collect();
        self.committer.write(muts, vec![]).await?;
        let decided = std::mem::take(&mut *outcomes.lock());
        Ok(decided.into_iter().map(|o| o.unwrap_or(StatusOutcome::Missing)).collect())
    }

    pub(super) fn find_by_provider_id_row(&self, provider: &str, provider_message_id: &str) -> StoreResult<Option<i64>> {
        let t = self.t()?;
        Ok(t.provider_index.get(provider_index_key(provider, provider_message_id)).map_err(io)?.and_then(|v| i64_from_key(&v)))
    }

    pub(super) fn list_events_rows(&self, message_id: i64) -> StoreResult<Vec<MessageEvent>> {
        let t = self.t()?;
        let prefix = i64_key(message_id);
        Self::scan(&t.message_events, "message_events", prefix.to_vec(), &prefix, 1_000)
    }
}
