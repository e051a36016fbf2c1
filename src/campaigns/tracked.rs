//! A campaign chunk whose texts carry tracked links (`shortenLinks`): its messages and their
//! link rows go to the store in one durable write (`Store::insert_messages_with_links`), not
//! a write per link, so a million-recipient campaign costs its chunk commits and no more.
//! Codes are random (about 59.5 bits); one found taken, or repeated within the chunk, is
//! drawn again, its message's text rewritten, and the write repeated.

use crate::store::{LinkRecord, MessageRecord, SharedStore, StoreError, StoreResult};
use std::collections::{HashMap, HashSet};

/// Writes attempted before a chunk gives up on codes (each retry follows a taken code).
const ATTEMPTS: usize = 4;

pub(super) async fn write(store: SharedStore, mut records: Vec<MessageRecord>, mut links: Vec<LinkRecord>, base: String) -> StoreResult<()> {
    redraw_repeats(&mut records, &mut links, &base)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.insert_messages_with_links(&records, &links).await {
            Err(StoreError::Conflict(what)) if attempt < ATTEMPTS && what.starts_with("link code") => {
                tracing::warn!(%what, "tracked link code taken; drawing the chunk's codes again");
                let by_id: HashMap<i64, usize> = records.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
                for l in &mut links {
                    redraw(&mut records, &by_id, l, &base)?;
                }
            }
            other => return other,
        }
    }
}

/// Codes repeated inside the chunk (the store checks only against stored codes).
fn redraw_repeats(records: &mut [MessageRecord], links: &mut [LinkRecord], base: &str) -> StoreResult<()> {
    let mut seen = HashSet::with_capacity(links.len());
    let mut by_id = None;
    for l in links.iter_mut() {
        while !seen.insert(l.code.clone()) {
            let by_id = by_id.get_or_insert_with(|| records.iter().enumerate().map(|(i, m)| (m.id, i)).collect::<HashMap<i64, usize>>());
            redraw(records, by_id, l, base)?;
        }
    }
    Ok(())
}

fn redraw(records: &mut [MessageRecord], by_id: &HashMap<i64, usize>, l: &mut LinkRecord, base: &str) -> StoreResult<()> {
    let Some(m) = l.message_id.and_then(|id| by_id.get(&id)).map(|i| &mut records[*i]) else { return Ok(()) };
    let mut t = crate::links::shorten::TrackedLink { code: l.code.clone(), target_url: l.target_url.clone() };
    crate::links::shorten::redraw(&mut m.body, base, &mut t).map_err(|e| StoreError::Io(format!("could not draw a link code: {e}")))?;
    l.code = t.code;
    Ok(())
}
