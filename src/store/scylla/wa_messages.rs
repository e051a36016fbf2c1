//! The WhatsApp message history on ScyllaDB (`GET /api/v1/whatsapp-messages`; rules in
//! `store/whatsapp_messages.rs`), on the time-bucketed tables of `schema.cql`:
//! `whatsapp_history` ((association, creation day), newest first, with the recipient's
//! digits) and `whatsapp_history_days` (the days an association has rows in, newest first).
//!
//! * Written with each WhatsApp message's insert (before its rows: an index row whose
//!   message was never stored is skipped on read); the counters (`wa.total`, `wa.sent`, …)
//!   are written in the message's own logged batch, at insert and at every status change.
//! * Read newest first, day partition after day partition, through the driver's pages; no
//!   `ALLOW FILTERING`, no range predicate. Without a filter, `offset` skips index rows (no
//!   message is read for them) and `total` is the all-time `wa.total` counter. A recipient
//!   filter is decided on the index rows' digits (prefix or anywhere), walking at most
//!   [`RECIPIENT_SCAN_LIMIT`] rows; a status filter reads the message of each row walked
//!   (its status now), at most [`STATUS_SCAN_LIMIT`] of them; with either, `total` counts the
//!   matches of the walk and `total_limited` says a bound was reached.

use super::ScyllaStore;
use crate::store::stats::day_of;
use crate::store::whatsapp_messages::{digits_match, WaMessagePage, WaMessageQuery, WaStatus, RECIPIENT_MATCH_LIMIT, RECIPIENT_SCAN_LIMIT};
use crate::store::{CounterScope, MessageRecord, Store, StoreResult};

/// Messages read (their status now) by a status-filtered walk at most.
pub const STATUS_SCAN_LIMIT: usize = 20_000;
/// Days of history walked at most (days with no row are not listed, so this is days with
/// messages): beyond, the page ends and `total_limited` is set.
const MAX_DAYS: usize = 3_660;

fn digits(recipient: &str) -> String {
    recipient.chars().filter(char::is_ascii_digit).collect()
}

impl ScyllaStore {
    /// Index rows of the WhatsApp messages among `msgs` (just accepted); their counters go in
    /// the messages' own batches (`insert_message_rows`).
    pub(super) async fn wa_history_insert(&self, msgs: &[MessageRecord]) -> StoreResult<()> {
        let mut days = std::collections::BTreeSet::new();
        for m in msgs.iter().filter(|m| m.channel == "whatsapp") {
            let day = day_of(m.created_at);
            self.db
                .exec(
                    "INSERT INTO {ks}.whatsapp_history (association_id, day, rev, message_id, recipient) VALUES (?, ?, ?, ?, ?)",
                    (m.association_id, day, i64::MAX - m.id, m.id, digits(&m.recipient)),
                )
                .await?;
            days.insert((m.association_id, day));
        }
        for (association_id, day) in days {
            self.db
                .exec("INSERT INTO {ks}.whatsapp_history_days (association_id, rev_day, day) VALUES (?, ?, ?)", (association_id, i64::MAX - day, day))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn list_wa_history(&self, q: &WaMessageQuery) -> StoreResult<WaMessagePage> {
        let mut page = WaMessagePage::default();
        let days: Vec<(Option<i64>,)> =
            self.db.many("SELECT day FROM {ks}.whatsapp_history_days WHERE association_id = ?", (q.association_id,), MAX_DAYS + 1).await?;
        if days.len() > MAX_DAYS {
            page.total_limited = true;
        }
        let fragment = q.recipient_digits.as_deref().map(digits);
        let filtered = fragment.is_some() || q.status.is_some();
        let (mut skipped, mut matched, mut scanned, mut read) = (0usize, 0usize, 0usize, 0usize);
        'days: for day in days.into_iter().take(MAX_DAYS).filter_map(|(d,)| d) {
            // The rows this partition may still be asked for (read through the driver's
            // pages): the page's rest without a filter, the walk's remaining budget with one.
            let want = if filtered { RECIPIENT_SCAN_LIMIT.saturating_sub(scanned) + 1 } else { (q.offset - skipped) + (q.limit - page.items.len()) + 1 };
            let rows: Vec<(i64, Option<i64>, Option<String>)> = self
                .db
                .many("SELECT rev, message_id, recipient FROM {ks}.whatsapp_history WHERE association_id = ? AND day = ?", (q.association_id, day), want)
                .await?;
            for (_rev, id, recipient) in rows {
                let Some(id) = id else { continue };
                if !filtered {
                    if skipped < q.offset {
                        skipped += 1;
                        continue;
                    }
                    if page.items.len() >= q.limit {
                        break 'days;
                    }
                    if let Some(m) = self.get_message(id).await? {
                        page.items.push(m);
                    }
                    continue;
                }
                if scanned >= RECIPIENT_SCAN_LIMIT || matched >= RECIPIENT_MATCH_LIMIT || read >= STATUS_SCAN_LIMIT {
                    page.total_limited = true;
                    break 'days;
                }
                scanned += 1;
                if let Some(f) = &fragment {
                    if !digits_match(recipient.unwrap_or_default().as_bytes(), f.as_bytes(), q.recipient_anywhere) {
                        continue;
                    }
                }
                let mut row = None;
                if let Some(s) = q.status {
                    read += 1;
                    match self.get_message(id).await? {
                        Some(m) if WaStatus::of(m.status) == s => row = Some(m),
                        _ => continue,
                    }
                }
                if matched >= q.offset && page.items.len() < q.limit {
                    match row {
                        Some(m) => page.items.push(m),
                        None => page.items.extend(self.get_message(id).await?),
                    }
                }
                matched += 1;
            }
            if !filtered && page.items.len() >= q.limit {
                break;
            }
        }
        page.total = if filtered {
            matched as u64
        } else {
            let c = self.get_counters(CounterScope { association_id: q.association_id, day: 0 }).await?;
            c.get("wa.total").copied().unwrap_or(0).max(0) as u64
        };
        Ok(page)
    }
}
