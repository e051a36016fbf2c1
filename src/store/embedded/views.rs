//! Read paths of the dashboard views (logs newest first, the pending queue), kept apart from
//! the table plumbing in `mod.rs`.

use super::codec::{decode, i64_from_key, i64_key};
use super::keys::{newest_first_key, schedule_entry};
use super::{after, io, EmbeddedStore};
use crate::store::{MessageRecord, ScheduledKind, Store, StoreResult};

impl EmbeddedStore {
    pub(super) async fn list_messages_view(&self, association_id: Option<i64>, before: Option<i64>, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        let t = self.t()?;
        let mut out = Vec::with_capacity(limit.min(1000));
        match association_id {
            Some(assoc) => {
                let prefix = i64_key(assoc);
                let from = match before {
                    Some(b) => after(&newest_first_key(assoc, b)),
                    None => prefix.to_vec(),
                };
                for guard in t.messages_by_association.range(from..) {
                    if out.len() >= limit {
                        break;
                    }
                    let k = guard.key().map_err(io)?;
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    let id = i64::MAX - i64_from_key(&k[8..]).unwrap_or_default();
                    if let Some(m) = Self::get_row(&t.messages, "messages", &i64_key(id))? {
                        out.push(m);
                    }
                }
            }
            None => {
                let end = before.map(i64_key).unwrap_or([0xff; 8]).to_vec();
                for guard in t.messages.range(..end).rev().take(limit) {
                    let (_, v) = guard.into_inner().map_err(io)?;
                    out.push(decode("messages", &v)?);
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn list_queue_view(&self, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for id in self.list_unfinished(None, limit).await? {
            if let Some(m) = Self::get_row::<MessageRecord>(&t.messages, "messages", &i64_key(id))? {
                out.push(m);
            }
        }
        for guard in t.schedule.iter() {
            if out.len() >= limit {
                break;
            }
            let k = guard.key().map_err(io)?;
            if let Some(e) = schedule_entry(&k).filter(|e| e.kind == ScheduledKind::Message) {
                if let Some(m) = Self::get_row::<MessageRecord>(&t.messages, "messages", &i64_key(e.id))? {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

}
