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
use super::keys::counter_key;
use super::committer::{GroupView, Mutation};
use super::{io, EmbeddedStore, Tables};
use crate::store::status_rules;
use crate::store::{CounterDelta, CounterScope, MessageEvent, MessageRecord, MessageStatus, MessageUpdate, StatusObserver, StatusOutcome, StoreResult};
use rustc_hash::{FxHashMap, FxHashSet};
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

/// The counter changes of the decisions of one write, summed per counter: a batch of
/// dispatch's updates moves the same few counters (`sent`, `sent:<provider>`, `segments`…,
/// in the same scopes) for every message, so it writes one addition per counter instead of
/// one per message and counter. The committer sums additions within a group anyway; this
/// only spares it the keys and the entries.
///
/// The counters of a status change follow from a few of its fields
/// ([`status_rules::DeltaKey`]): they are worked out once per key and counted.
#[derive(Default)]
struct Counters {
    sums: FxHashMap<(CounterScope, String), i64>,
    changes: FxHashMap<status_rules::DeltaKey, (Vec<CounterDelta>, i64)>,
}

impl Counters {
    fn add(&mut self, deltas: Vec<CounterDelta>) {
        for d in deltas {
            if d.delta != 0 {
                *self.sums.entry((d.scope, d.name)).or_insert(0) += d.delta;
            }
        }
    }

    /// The counters of the change from `before` to `after` (`status_rules::change_deltas`).
    fn add_change(&mut self, before: Option<&MessageRecord>, after: &MessageRecord) {
        let entry = self.changes.entry(status_rules::delta_key(before, after)).or_insert_with(|| (status_rules::change_deltas(before, after), 0));
        entry.1 += 1;
    }

    fn into_mutations(mut self, t: &Tables, muts: &mut Vec<Mutation>) {
        for (deltas, times) in std::mem::take(&mut self.changes).into_values() {
            for d in deltas {
                if d.delta != 0 {
                    *self.sums.entry((d.scope, d.name)).or_insert(0) += d.delta * times;
                }
            }
        }
        let mut sums: Vec<_> = self.sums.into_iter().filter(|(_, delta)| *delta != 0).collect();
        // A stable order: the same batch writes the same mutations.
        sums.sort_unstable_by(|a, b| (a.0 .0.association_id, a.0 .0.day, &a.0 .1).cmp(&(b.0 .0.association_id, b.0 .0.day, &b.0 .1)));
        muts.extend(sums.into_iter().map(|((scope, name), delta)| Mutation::Add { ks: t.stats.clone(), key: counter_key(scope, &name), delta }));
    }
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

    /// Counters (into `counters`), index rows, the history event and the outbox row of a change.
    fn change_mutations(
        t: &Tables,
        view: &mut GroupView<'_>,
        observer: Option<&Arc<dyn StatusObserver>>,
        c: Change<'_>,
        muts: &mut Vec<Mutation>,
        counters: &mut Counters,
    ) {
        let m = c.after;
        counters.add(c.deltas);
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
        let before = Self::current(t, view, u.message.id);
        let mut muts = Vec::with_capacity(6);
        let mut counters = Counters::default();
        Self::engine_decide(t, view, observer, before, u, encoded, &mut muts, &mut counters);
        counters.into_mutations(t, &mut muts);
        muts
    }

    /// Dispatch's update `u` decided against `before` (the row as the group sees it): its
    /// mutations go to `muts`, its counter changes to `counters`. Returns the row as it
    /// stands afterwards (`None`: there is none).
    #[allow(clippy::too_many_arguments)]
    fn engine_decide(
        t: &Tables,
        view: &mut GroupView<'_>,
        observer: Option<&Arc<dyn StatusObserver>>,
        before: Option<MessageRecord>,
        u: MessageUpdate,
        encoded: Vec<u8>,
        muts: &mut Vec<Mutation>,
        counters: &mut Counters,
    ) -> Option<MessageRecord> {
        let MessageUpdate { message: new, attempt } = u;
        if let Some(a) = &attempt {
            muts.push(Self::put(&t.attempts, pair_key(a.message_id, i64::from(a.attempt)).to_vec(), a));
        }
        let id = new.id;
        let index_key = match (&new.provider, &new.provider_message_id) {
            (Some(p), Some(pid)) => Some(provider_index_key(p, pid)),
            _ => None,
        };
        // Its own counters are counted by `Counters::add_change` once the row is known to change.
        let d = status_rules::engine_update_rows(before.as_ref(), new);
        if let Some(key) = index_key.filter(|_| d.index_provider) {
            muts.push(Mutation::Put { ks: t.provider_index.clone(), key, value: i64_key(id).to_vec() });
        }
        if !d.row_changed {
            return before;
        }
        // The encoding made off the committer thread stands when dispatch's write does.
        let bytes = if d.as_written { encoded } else { encode_row(&d.after) };
        let after = d.after;
        muts.push(Mutation::Put { ks: t.messages.clone(), key: i64_key(after.id).to_vec(), value: bytes });
        counters.add_change(before.as_ref(), &after);
        let change = Change { before: before.as_ref(), after: &after, event: d.event, deltas: d.deltas };
        Self::change_mutations(t, view, observer, change, muts, counters);
        Some(after)
    }

    /// A batch of dispatch's updates, decided in order as one read-modify-write: each is
    /// decided against the row as the previous ones of the batch left it (kept here, not
    /// read back and decoded), and the batch's counter changes are summed.
    fn engine_updates(t: &Tables, view: &mut GroupView<'_>, observer: Option<&Arc<dyn StatusObserver>>, updates: Vec<(MessageUpdate, Vec<u8>)>) -> Vec<Mutation> {
        let mut muts = Vec::with_capacity(updates.len() * 5 + 16);
        let mut counters = Counters::default();
        // Messages with more than one update in the batch (a `dispatching` and its outcome):
        // only their rows are kept between decisions.
        let mut seen = FxHashSet::default();
        let repeated: FxHashSet<i64> = updates.iter().map(|(u, _)| u.message.id).filter(|id| !seen.insert(*id)).collect();
        let mut rows: FxHashMap<i64, Option<MessageRecord>> = FxHashMap::default();
        for (u, encoded) in updates {
            let id = u.message.id;
            let before = match rows.remove(&id) {
                Some(row) => row,
                None => Self::current(t, view, id),
            };
            let now = Self::engine_decide(t, view, observer, before, u, encoded, &mut muts, &mut counters);
            if repeated.contains(&id) {
                rows.insert(id, now);
            }
        }
        counters.into_mutations(t, &mut muts);
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
        let mut counters = Counters::default();
        Self::change_mutations(t, view, observer, Change { before: Some(&before), after: &after, event: Some(ev), deltas }, &mut muts, &mut counters);
        counters.into_mutations(t, &mut muts);
        *out = Some(StatusOutcome::Applied { before, after });
        muts
    }

    pub(super) async fn update_messages_decided(&self, updates: &[MessageUpdate]) -> StoreResult<()> {
        let t = self.t()?;
        let observer = self.observer.read().clone();
        // Encoded here, off the committer thread, for the usual case where the update stands.
        let updates: Vec<(MessageUpdate, Vec<u8>)> = updates.iter().map(|u| (u.clone(), encode_row(&u.message))).collect();
        let reads = t.messages.clone();
        let f = Box::new(move |view: &mut GroupView<'_>| Self::engine_updates(&t, view, observer.as_ref(), updates));
        self.committer.write(vec![Mutation::Compute { reads, f }], vec![]).await
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

#[cfg(test)]
mod tests {
    use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
    use crate::store::stats::day_of;
    use crate::store::{AttemptRecord, CounterScope, MessageRecord, MessageStatus, MessageUpdate, Store};

    const AT: i64 = 1_700_000_000_000;

    fn message(id: i64, campaign: Option<i64>) -> MessageRecord {
        let recipient = crate::domain::phone::normalise("+966501234567").unwrap();
        let mut m = MessageRecord::accepted(id, 1, recipient, "hi".into(), "sms".into(), None, AT);
        m.campaign_id = campaign;
        m.segments = 1;
        m
    }

    fn update(m: &MessageRecord, status: MessageStatus, pmid: Option<&str>) -> MessageUpdate {
        let mut message = MessageRecord { status, updated_at: AT + 5, ..m.clone() };
        let attempt = pmid.map(|p| {
            message.provider = Some("infobip".into());
            message.provider_message_id = Some(p.into());
            message.credential_id = Some(3);
            message.attempts = 1;
            AttemptRecord {
                message_id: m.id,
                attempt: 1,
                credential_id: 3,
                provider: "infobip".into(),
                result: "sent".into(),
                provider_message_id: Some(p.into()),
                error: None,
                latency_ms: 4,
                at: AT + 5,
            }
        });
        MessageUpdate { message, attempt }
    }

    /// Everything a status write leaves behind for `ids`: rows, history (sequence numbers
    /// apart), attempts, provider index, and every counter scope the writes touch.
    async fn state(store: &EmbeddedStore, ids: &[i64]) -> Vec<String> {
        let mut out = Vec::new();
        for &id in ids {
            out.push(format!("{:?}", store.get_message(id).await.unwrap()));
            let events: Vec<_> = store.list_events(id).await.unwrap().into_iter().map(|e| (e.status, e.at, e.source, e.error_text)).collect();
            out.push(format!("{events:?}"));
            out.push(format!("{:?}", store.list_attempts(id).await.unwrap()));
            out.push(format!("{:?}", store.find_by_provider_id("infobip", &format!("p{id}")).await.unwrap()));
        }
        let day = day_of(AT + 5);
        for scope in [(1, 0), (1, day), (0, 0), (0, day), (7, CounterScope::CAMPAIGN)] {
            let scope = CounterScope { association_id: scope.0, day: scope.1 };
            out.push(format!("{scope:?} {:?}", store.get_counters(scope).await.unwrap()));
        }
        out
    }

    /// A batch of dispatch's updates, decided as one read-modify-write with its counters
    /// summed, leaves exactly what the same updates written one at a time leave: a message
    /// updated twice in the batch, a late `dispatching` after its `sent`, a repeat.
    #[tokio::test]
    async fn a_batch_of_updates_writes_what_the_updates_one_by_one_write() {
        let msgs = [message(1, Some(7)), message(2, Some(7)), message(3, None), message(4, Some(7))];
        let updates = vec![
            update(&msgs[0], MessageStatus::Dispatching, None),
            update(&msgs[1], MessageStatus::Dispatching, None),
            update(&msgs[0], MessageStatus::Sent, Some("p1")),
            update(&msgs[2], MessageStatus::Sent, Some("p3")),
            update(&msgs[3], MessageStatus::Sent, Some("p4")),
            update(&msgs[3], MessageStatus::Dispatching, None),
            update(&msgs[1], MessageStatus::Sent, Some("p2")),
            update(&msgs[1], MessageStatus::Sent, Some("p2")),
        ];
        let ids: Vec<i64> = msgs.iter().map(|m| m.id).collect();
        let one_by_one = {
            let dir = tempfile::tempdir().unwrap();
            let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
            store.insert_messages(&msgs).await.unwrap();
            for u in &updates {
                store.update_messages(std::slice::from_ref(u)).await.unwrap();
            }
            state(&store, &ids).await
        };
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
        store.insert_messages(&msgs).await.unwrap();
        store.update_messages(&updates).await.unwrap();
        let batched = state(&store, &ids).await;
        assert_eq!(batched, one_by_one);
        assert!(batched[0].contains("Sent") && batched[1].contains("Sent"), "{batched:?}");
        let sent = batched.iter().find(|l| l.starts_with("CounterScope { association_id: 0, day: 0 }")).unwrap();
        assert!(sent.contains("\"sent\": 4") && sent.contains("\"sent:infobip\": 4") && sent.contains("\"segments\": 4"), "{sent}");
    }
}
