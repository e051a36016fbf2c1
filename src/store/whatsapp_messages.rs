//! The WhatsApp message history of seed 000 ("WhatsApp Messages & Stats") as the store keeps
//! it: the status classes the API filters by (SENT, DELIVERED, READ, FAILED, and PENDING /
//! CANCELLED beside them), the query of `GET /api/v1/whatsapp-messages`, and the counter
//! rules behind it and `GET /api/v1/whatsapp-stats`. Every backend keeps, in the commit that
//! inserts or changes a WhatsApp message:
//!
//! * an index per association, newest first, once for all messages and once per status
//!   class (a message moves from one class partition to the next as its status changes);
//! * an index per association by the recipient's digits, then newest first, so a recipient
//!   filter led by `+` is a range read of the numbers starting with the digits asked for, and
//!   one without is a bounded walk of that index's keys for numbers holding them anywhere;
//! * counters: per day (`wa.total`, `wa.sent`, `wa.delivered`, `wa.read`, `wa.failed`, the day
//!   the event happened) for the stats of a period, and all time per class
//!   (`wa.state.<CLASS>`, moved with the message) for the listing's `total`.
//!
//! Names carry no `:` so the dashboard's by-provider parsing never sees them. Pure rules; no I/O.

use super::stats::day_of;
use super::{CounterDelta, CounterScope, MessageRecord, MessageStatus};

/// Where a WhatsApp message stands, in the words of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaStatus {
    Pending,
    Sent,
    Delivered,
    Read,
    Failed,
    Cancelled,
}

impl WaStatus {
    pub const ALL: [WaStatus; 6] = [Self::Pending, Self::Sent, Self::Delivered, Self::Read, Self::Failed, Self::Cancelled];

    pub fn of(s: MessageStatus) -> Self {
        use MessageStatus::*;
        match s {
            Queued | Scheduled | Dispatching => Self::Pending,
            Sent => Self::Sent,
            Delivered => Self::Delivered,
            Read => Self::Read,
            Failed | Expired | Undelivered => Self::Failed,
            Cancelled => Self::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Delivered => "DELIVERED",
            Self::Read => "READ",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The byte of its index partition (0 is the partition of all messages).
    pub fn code(self) -> u8 {
        match self {
            Self::Pending => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Failed => 5,
            Self::Cancelled => 6,
        }
    }

    /// The all-time counter of the messages now in this class.
    pub fn counter(self) -> String {
        format!("wa.state.{}", self.as_str())
    }
}

/// `GET /api/v1/whatsapp-messages` for one association.
#[derive(Debug, Clone)]
pub struct WaMessageQuery {
    pub association_id: i64,
    pub status: Option<WaStatus>,
    /// Digits of the recipient's number asked for: the number starts with them
    /// (`recipient_anywhere` false, country code first) or holds them anywhere.
    pub recipient_digits: Option<String>,
    /// The digits may stand anywhere in the number (an infix match: a walk of the
    /// association's recipient index, keys only, at most [`RECIPIENT_SCAN_LIMIT`] entries).
    pub recipient_anywhere: bool,
    pub offset: usize,
    pub limit: usize,
}

/// A page of the history, newest first (with a recipient filter: by number, then newest first).
#[derive(Debug, Clone, Default)]
pub struct WaMessagePage {
    pub items: Vec<MessageRecord>,
    pub total: u64,
    /// With a recipient filter the total is counted from the index, at most
    /// [`RECIPIENT_MATCH_LIMIT`] entries; true when that bound was reached.
    pub total_limited: bool,
}

/// Most index entries a recipient filter walks (keys only) to count its total.
pub const RECIPIENT_MATCH_LIMIT: usize = 100_000;

/// Most recipient-index entries an infix match reads (keys only, no row) before it stops:
/// a bound on its cost whatever the history's size; `total_limited` says it was reached.
pub const RECIPIENT_SCAN_LIMIT: usize = 250_000;

/// Whether `digits` (a number's digits) holds `fragment` (the digits asked for).
pub fn digits_match(digits: &[u8], fragment: &[u8], anywhere: bool) -> bool {
    if anywhere {
        fragment.is_empty() || digits.windows(fragment.len()).any(|w| w == fragment)
    } else {
        digits.starts_with(fragment)
    }
}

fn is_whatsapp(m: &MessageRecord) -> bool {
    m.channel == "whatsapp"
}

/// Counters of a WhatsApp message being inserted (`before` None) or changing.
pub fn wa_deltas(before: Option<&MessageRecord>, after: &MessageRecord) -> Vec<CounterDelta> {
    if !is_whatsapp(after) {
        return Vec::new();
    }
    let a = after.association_id;
    let all_time = CounterScope { association_id: a, day: 0 };
    let mut out = Vec::new();
    let mut add = |scope: CounterScope, name: String, delta: i64| out.push(CounterDelta { scope, name, delta });
    let class = WaStatus::of(after.status);
    let Some(b) = before else {
        add(CounterScope { association_id: a, day: day_of(after.created_at) }, "wa.total".into(), 1);
        add(all_time, "wa.total".into(), 1);
        add(all_time, class.counter(), 1);
        return out;
    };
    let old = WaStatus::of(b.status);
    if old != class {
        add(all_time, old.counter(), -1);
        add(all_time, class.counter(), 1);
    }
    let day = CounterScope { association_id: a, day: day_of(after.updated_at) };
    use MessageStatus::*;
    let delivered = |s: MessageStatus| matches!(s, Delivered | Read);
    let failed = |s: MessageStatus| matches!(s, Failed | Expired | Undelivered);
    if after.status.was_sent() && !b.status.was_sent() {
        add(day, "wa.sent".into(), 1);
    }
    if delivered(after.status) && !delivered(b.status) {
        add(day, "wa.delivered".into(), 1);
    }
    if after.status == Read && b.status != Read {
        add(day, "wa.read".into(), 1);
    }
    if failed(after.status) && !failed(b.status) {
        add(day, "wa.failed".into(), 1);
    }
    out
}

/// Whether a change moves the message between index partitions.
pub fn wa_class_changed(before: Option<&MessageRecord>, after: &MessageRecord) -> Option<(Option<WaStatus>, WaStatus)> {
    if !is_whatsapp(after) {
        return None;
    }
    let new = WaStatus::of(after.status);
    match before.map(|b| WaStatus::of(b.status)) {
        Some(old) if old == new => None,
        old => Some((old, new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(status: MessageStatus) -> MessageRecord {
        let r = crate::domain::phone::normalise("+966501234567").unwrap();
        MessageRecord { status, ..MessageRecord::accepted(1, 7, r, "b".into(), "whatsapp".into(), None, 86_400_000 * 3) }
    }

    #[test]
    fn counters_follow_the_message() {
        let q = msg(MessageStatus::Queued);
        let names = |d: &[CounterDelta]| d.iter().map(|d| (d.name.clone(), d.scope.day, d.delta)).collect::<Vec<_>>();
        assert_eq!(names(&wa_deltas(None, &q)), [("wa.total".into(), 3, 1), ("wa.total".into(), 0, 1), ("wa.state.PENDING".into(), 0, 1)]);
        let sent = msg(MessageStatus::Sent);
        assert_eq!(names(&wa_deltas(Some(&q), &sent)), [("wa.state.PENDING".into(), 0, -1), ("wa.state.SENT".into(), 0, 1), ("wa.sent".into(), 3, 1)]);
        // read straight after sent counts delivered too
        let read = msg(MessageStatus::Read);
        let d = names(&wa_deltas(Some(&sent), &read));
        assert!(d.contains(&("wa.delivered".into(), 3, 1)) && d.contains(&("wa.read".into(), 3, 1)), "{d:?}");
        let mut sms = msg(MessageStatus::Sent);
        sms.channel = "sms".into();
        assert!(wa_deltas(None, &sms).is_empty());
        assert_eq!(WaStatus::parse("delivered"), Some(WaStatus::Delivered));
        assert_eq!(wa_class_changed(Some(&read), &read), None);
    }

    #[test]
    fn infix_and_prefix_matches() {
        assert!(digits_match(b"966501234567", b"1234", true));
        assert!(!digits_match(b"966501234567", b"1234", false));
        assert!(digits_match(b"966501234567", b"9665", false));
        assert!(digits_match(b"966501234567", b"4567", true));
        assert!(!digits_match(b"966501234567", b"45678", true));
        assert!(!digits_match(b"123", b"12345", true));
    }
}
