//! Key layouts of the embedded tables: each is the CQL primary key flattened (partition
//! columns, then clustering columns) as order-preserving bytes, matching `schema.cql`.

use super::codec::{i64_from_key, i64_key, pair_key};
use super::UNFINISHED_SHARDS;
use crate::store::{CounterScope, ScheduleEntry, ScheduledKind};

pub(super) fn template_key(association_id: i64, code: &str) -> Vec<u8> {
    let mut k = i64_key(association_id).to_vec();
    k.extend_from_slice(code.as_bytes());
    k
}

pub(super) fn schedule_key(e: ScheduleEntry) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&i64_key(e.at));
    k.push(match e.kind {
        ScheduledKind::Message => 0,
        ScheduledKind::Campaign => 1,
    });
    k.extend_from_slice(&i64_key(e.id));
    k
}

pub(super) fn schedule_entry(key: &[u8]) -> Option<ScheduleEntry> {
    let kind = match key.get(8)? {
        0 => ScheduledKind::Message,
        _ => ScheduledKind::Campaign,
    };
    Some(ScheduleEntry { at: i64_from_key(&key[..8])?, kind, id: i64_from_key(key.get(9..)?)? })
}

/// A row of an association's partition in newest-first order (the id stored inverted), for
/// `messages_by_association` and `campaigns_by_association`.
pub(super) fn newest_first_key(association_id: i64, id: i64) -> [u8; 16] {
    pair_key(association_id, i64::MAX - id)
}

pub(super) fn counter_key(scope: CounterScope, name: &str) -> Vec<u8> {
    let mut k = pair_key(scope.association_id, scope.day).to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub(super) fn unfinished_key(id: i64) -> [u8; 16] {
    pair_key(id.rem_euclid(UNFINISHED_SHARDS), id)
}

