//! The WhatsApp message history of the embedded backend (rules in
//! `store/whatsapp_messages.rs`): two index tables kept in the commit of every insert and
//! status change of a WhatsApp message, and the read of `GET /api/v1/whatsapp-messages`.
//!
//! * `whatsapp_messages`: (association, class byte, `i64::MAX - id`) → empty; class 0 holds
//!   every message, classes 1.. the messages now in that status class.
//! * `whatsapp_messages_by_recipient`: (association, recipient digits, 0, `i64::MAX - id`) →
//!   empty; a recipient filter led by `+` reads the range of numbers starting with the digits
//!   asked, one without walks the association's keys (bounded) for numbers holding them.
//!
//! Pages skip index keys (no row is read for an entry skipped by `offset`), totals come from
//! the class counters; only a recipient filter counts its matches from its index range.

use super::codec::{i64_from_key, i64_key};
use super::committer::Mutation;
use super::{io, EmbeddedStore, Tables};
use crate::store::whatsapp_messages::{digits_match, wa_class_changed, wa_deltas, WaMessagePage, WaMessageQuery, WaStatus, RECIPIENT_MATCH_LIMIT, RECIPIENT_SCAN_LIMIT};
use crate::store::{CounterScope, MessageRecord, Store, StoreResult};

fn class_key(association_id: i64, class: u8, id: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&i64_key(association_id));
    k.push(class);
    k.extend_from_slice(&i64_key(i64::MAX - id));
    k
}

fn digits(recipient: &str) -> impl Iterator<Item = u8> + '_ {
    recipient.bytes().filter(u8::is_ascii_digit)
}

fn recipient_key(association_id: i64, recipient: &str, id: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + 16 + 9);
    k.extend_from_slice(&i64_key(association_id));
    k.extend(digits(recipient));
    k.push(0);
    k.extend_from_slice(&i64_key(i64::MAX - id));
    k
}

/// The message id at the end of an index key.
fn id_of(key: &[u8]) -> Option<i64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(i64::MAX - i64_from_key(tail)?)
}

impl EmbeddedStore {
    /// Index rows and counters of a WhatsApp message inserted (`before` None) or changed.
    pub(super) fn wa_message_mutations(t: &Tables, before: Option<&MessageRecord>, after: &MessageRecord, muts: &mut Vec<Mutation>) {
        let Some((old, new)) = wa_class_changed(before, after) else { return };
        let (w, a, id) = (&t.whatsapp, after.association_id, after.id);
        match old {
            None => {
                muts.push(Self::empty(&w.messages, class_key(a, 0, id)));
                muts.push(Self::empty(&w.messages_by_recipient, recipient_key(a, &after.recipient, id)));
            }
            Some(old) => muts.push(Mutation::Delete { ks: w.messages.clone(), key: class_key(a, old.code(), id) }),
        }
        muts.push(Self::empty(&w.messages, class_key(a, new.code(), id)));
        Self::counter_mutations(t, &wa_deltas(before, after), muts);
    }

    pub(super) async fn list_wa_messages_rows(&self, q: &WaMessageQuery) -> StoreResult<WaMessagePage> {
        let t = self.t()?;
        let mut page = WaMessagePage::default();
        let rows = |ids: &mut dyn Iterator<Item = i64>, page: &mut WaMessagePage| -> StoreResult<()> {
            for id in ids {
                if let Some(m) = Self::get_row::<MessageRecord>(&t.messages, "messages", &i64_key(id))? {
                    page.items.push(m);
                }
            }
            Ok(())
        };
        match q.recipient_digits.as_deref() {
            None => {
                let class = q.status.map(WaStatus::code).unwrap_or(0);
                let mut prefix = i64_key(q.association_id).to_vec();
                prefix.push(class);
                let mut ids = Vec::with_capacity(q.limit);
                for guard in t.whatsapp.messages.prefix(&prefix).skip(q.offset).take(q.limit) {
                    ids.extend(id_of(&guard.key().map_err(io)?));
                }
                rows(&mut ids.into_iter(), &mut page)?;
                let counters = self.get_counters(CounterScope { association_id: q.association_id, day: 0 }).await?;
                let name = q.status.map(WaStatus::counter).unwrap_or_else(|| "wa.total".into());
                page.total = counters.get(&name).copied().unwrap_or(0).max(0) as u64;
            }
            Some(d) => {
                let fragment: Vec<u8> = digits(d).collect();
                let mut prefix = i64_key(q.association_id).to_vec();
                if !q.recipient_anywhere {
                    prefix.extend_from_slice(&fragment);
                }
                let mut matched = 0usize;
                let mut scanned = 0usize;
                let mut wanted = Vec::with_capacity(q.limit);
                for guard in t.whatsapp.messages_by_recipient.prefix(&prefix) {
                    if matched >= RECIPIENT_MATCH_LIMIT || scanned >= RECIPIENT_SCAN_LIMIT {
                        page.total_limited = true;
                        break;
                    }
                    scanned += 1;
                    let key = guard.key().map_err(io)?;
                    // (association, digits, 0, id): the number's digits sit between.
                    let Some(number) = key.get(8..key.len().saturating_sub(9)) else { continue };
                    if !digits_match(number, &fragment, q.recipient_anywhere) {
                        continue;
                    }
                    let Some(id) = id_of(&key) else { continue };
                    // With a status too, the class index says whether this one is in it.
                    if let Some(s) = q.status {
                        if !t.whatsapp.messages.contains_key(class_key(q.association_id, s.code(), id)).map_err(io)? {
                            continue;
                        }
                    }
                    if matched >= q.offset && wanted.len() < q.limit {
                        wanted.push(id);
                    }
                    matched += 1;
                }
                rows(&mut wanted.into_iter(), &mut page)?;
                page.total = matched as u64;
            }
        }
        Ok(page)
    }
}
