//! WhatsApp message history and statistics of seed 000 ("WhatsApp Messages & Stats"): the
//! rules of the query (status SENT / DELIVERED / READ / FAILED, a recipient's digits, limit
//! and offset) and of the stats period, over the store's WhatsApp indexes and counters
//! (`store/whatsapp_messages.rs`): a page or the stats of a year cost the same with ten
//! messages or ten million.

use super::{WaResult, WhatsApp, WhatsAppError};
use crate::domain::now_ms;
use crate::store::stats::day_of;
use crate::store::whatsapp_messages::{WaMessagePage, WaMessageQuery, WaStatus};
use crate::store::CounterScope;
use serde::Serialize;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// Offsets beyond this are refused: deep pages are walked key by key.
pub const MAX_OFFSET: usize = 100_000;
pub const DEFAULT_DAYS: i64 = 30;
pub const MAX_DAYS: i64 = 366;

pub struct HistoryQuery {
    pub association_id: i64,
    pub status: Option<String>,
    pub recipient: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// `GET /api/v1/whatsapp-stats`, as documented.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct WaStats {
    pub total: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub templates: u64,
    pub period: i64,
}

fn invalid(m: impl Into<String>) -> WhatsAppError {
    WhatsAppError::Invalid(m.into())
}

impl WhatsApp {
    pub async fn messages(&self, q: HistoryQuery) -> WaResult<(WaMessagePage, usize, usize)> {
        self.directory.get_association(q.association_id).await?;
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(WaStatus::parse(s).ok_or_else(|| {
                invalid(format!("status `{}` must be one of SENT, DELIVERED, READ, FAILED (or PENDING, CANCELLED)", s.chars().take(32).collect::<String>()))
            })?),
        };
        // `+` first: the number starts with these digits; otherwise they may stand anywhere.
        let recipient_anywhere = !q.recipient.as_deref().map(str::trim).unwrap_or("").starts_with('+');
        let recipient_digits = match q.recipient.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(r) => {
                let ok = r.len() <= 32 && r.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
                let digits: String = r.chars().filter(char::is_ascii_digit).collect();
                if !ok || digits.is_empty() {
                    return Err(invalid("recipient must be digits of a phone number: `+` and the first digits (country code first) for numbers starting with them, or digits found anywhere in the number"));
                }
                Some(digits)
            }
        };
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let offset = q.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(invalid(format!("offset must be at most {MAX_OFFSET}")));
        }
        let page = self.store.list_wa_messages(&WaMessageQuery { association_id: q.association_id, status, recipient_digits, recipient_anywhere, offset, limit }).await?;
        Ok((page, limit, offset))
    }

    /// The last `days` days, today included, from the daily counters (one read per day).
    pub async fn stats(&self, association_id: i64, days: Option<i64>) -> WaResult<WaStats> {
        self.directory.get_association(association_id).await?;
        let days = days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(invalid(format!("days must be between 1 and {MAX_DAYS}")));
        }
        let today = day_of(now_ms());
        let mut s = WaStats { total: 0, sent: 0, delivered: 0, read: 0, failed: 0, templates: 0, period: days };
        for day in (today - days + 1).max(1)..=today {
            let c = self.store.get_counters(CounterScope { association_id, day }).await?;
            let get = |k: &str| c.get(k).copied().unwrap_or(0).max(0) as u64;
            s.total += get("wa.total");
            s.sent += get("wa.sent");
            s.delivered += get("wa.delivered");
            s.read += get("wa.read");
            s.failed += get("wa.failed");
        }
        // Bounded by the per-association template limit.
        s.templates = self.store.list_wa_templates(association_id).await?.iter().filter(|t| t.status != "DELETED").count() as u64;
        Ok(s)
    }
}
