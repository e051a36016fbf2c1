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
use crate::store::stats::{final_deltas, outcome_deltas, provider_backfill_deltas};
use crate::store::{
    CounterDelta, MessageEvent, MessageRecord, MessageStatus, MessageUpdate, StatusObserver, StatusOutcome, StoreResult,
};
use std::sync::Arc;

/// Source of the events the engine writes itself.
pub const ENGINE_SOURCE: &str = "engine";

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
        let mut deltas: Vec<CounterDelta> = Vec::new();
        if m.status.is_terminal() && c.before.is_none_or(|b| !b.status.is_terminal()) {
            deltas.extend(final_deltas(m));
        }
        if let Some(b) = c.before {
            if b.status != m.status {
                deltas.extend(outcome_deltas(b.status, m));
            }
        }
        Self::counter_mutations(t, &deltas, muts);
        Self::wa_message_mutations(t, c.before, m, muts);
        // `sent` after `queued` leaves the index rows as they are: rewriting them identically
        // would cost a journal entry and a memtable insert each.
        if m.campaign_id.is_none() && index_rows_change(c.before, m) {
            Self::message_index_mutations(t, m, muts);
        }
        // A message the provider has just accepted is watched until its validity ends (the
        // expiry sweeper decides it then, if no report has).
        if let (MessageStatus::Sent, Some(at)) = (m.status, m.expires_at) {
            if c.before.is_none_or(|b| b.status != MessageStatus::Sent) {
                muts.push(super::delivery::expiry_put(t, crate::store::ExpiryEntry { at, message_id: m.id }));
            }
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
        if let (Some(p), Some(pid)) = (&new.provider, &new.provider_message_id) {
            let known = before.as_ref().is_some_and(|b| b.provider.as_ref() == Some(p) && b.provider_message_id.as_ref() == Some(pid));
            if !pid.is_empty() && !known {
                muts.push(Mutation::Put { ks: t.provider_index.clone(), key: provider_index_key(p, pid), value: i64_key(new.id).to_vec() });
            }
        }
        let (after, bytes) = match &before {
            Some(b) if !new.status.engine_supersedes(b.status) => {
                // A higher state is already recorded (a report came first): keep it, and take
                // from the late write only what the row lacks.
                let mut kept = b.clone();
                if kept.provider_message_id.is_none() {
                    kept.provider = new.provider.clone();
                    kept.provider_message_id = new.provider_message_id.clone();
                    kept.credential_id = kept.credential_id.or(new.credential_id);
                    if b.provider.is_none() {
                        Self::counter_mutations(t, &provider_backfill_deltas(&kept), &mut muts);
                    }
                }
                kept.attempts = kept.attempts.max(new.attempts);
                if kept == *b {
                    return muts;
                }
                let bytes = encode_row(&kept);
                (kept, bytes)
            }
            _ => (new, encoded),
        };
        muts.push(Mutation::Put { ks: t.messages.clone(), key: i64_key(after.id).to_vec(), value: bytes });
        let event = match (&before, after.status) {
            (Some(b), s) if b.status == s => None,
            (_, MessageStatus::Queued | MessageStatus::Scheduled | MessageStatus::Dispatching) => None,
            (_, status) => Some(MessageEvent {
                message_id: after.id,
                seq: 0,
                status,
                at: after.updated_at,
                source: ENGINE_SOURCE.into(),
                raw_status: None,
                error_code: None,
                error_text: after.error.clone(),
            }),
        };
        Self::change_mutations(t, view, observer, Change { before: before.as_ref(), after: &after, event }, &mut muts);
        muts
    }

    /// One status event, decided against the current row; its outcome goes to `out`.
    fn report_update(t: &Tables, view: &mut GroupView<'_>, observer: Option<&Arc<dyn StatusObserver>>, ev: MessageEvent, out: &mut Option<StatusOutcome>) -> Vec<Mutation> {
        let Some(before) = Self::current(t, view, ev.message_id) else {
            *out = Some(StatusOutcome::Missing);
            return Vec::new();
        };
        if !ev.status.report_supersedes(before.status) {
            *out = Some(StatusOutcome::Unchanged(before));
            return Vec::new();
        }
        let mut after = before.clone();
        after.status = ev.status;
        // When the engine learnt it (the event keeps the provider's own time).
        after.updated_at = before.updated_at.max(crate::domain::now_ms());
        if ev.error_code.is_some() || ev.error_text.is_some() {
            after.error = Some(match (&ev.error_code, &ev.error_text) {
                (Some(c), Some(x)) => format!("{c}: {x}"),
                (Some(c), None) => c.clone(),
                (None, Some(x)) => x.clone(),
                (None, None) => String::new(),
            });
        }
        let mut muts = vec![Mutation::Put { ks: t.messages.clone(), key: i64_key(after.id).to_vec(), value: encode_row(&after) }];
        Self::change_mutations(t, view, observer, Change { before: Some(&before), after: &after, event: Some(ev) }, &mut muts);
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
