//! The status decision every backend applies, as pure functions: what dispatch's write
//! ([`engine_update`]) or a status event ([`report_update`]) makes of the row as it is, which
//! counters move, which history event is written, whether the provider index gains a row and
//! whether the validity-expiry watch starts. The embedded backend runs these on its committer
//! thread, the ScyllaDB backend between its read and its compare-and-set write; neither
//! decides anything itself, so both hold one behaviour.
//!
//! The ordering rules themselves are [`MessageStatus::engine_supersedes`] and
//! [`MessageStatus::report_supersedes`]. Depends on the store's model and `stats` only.

use super::stats::{final_deltas, outcome_deltas, provider_backfill_deltas};
use super::{CounterDelta, MessageEvent, MessageRecord, MessageStatus};

/// Source of the events the engine writes itself.
pub const ENGINE_SOURCE: &str = "engine";

/// What one of dispatch's writes makes of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineDecision {
    /// The row as it is to be stored.
    pub after: MessageRecord,
    /// Whether the row is to be written: always for dispatch's write as given; for a kept
    /// row, only when it took something from the late write.
    pub row_changed: bool,
    /// Whether `after` is dispatch's write as given (not the stored row kept), so an
    /// encoding of it made beforehand stands.
    pub as_written: bool,
    /// The history event (none for a status that did not change or a pre-send status).
    pub event: Option<MessageEvent>,
    /// Counter changes: outcome and final counters, or the provider back-fill of a late write.
    pub deltas: Vec<CounterDelta>,
    /// Whether `(provider, provider_message_id)` → id is new and must be indexed.
    pub index_provider: bool,
    /// The validity end to watch from now on (the message has just been accepted by its provider).
    pub watch_expiry: Option<i64>,
}

/// Dispatch's write `new`, decided against the stored row `before`. A higher state already
/// recorded (a report came first) is kept, and only what that row lacks is taken from the
/// late write: the provider and its id, the credential, the attempt count.
pub fn engine_update(before: Option<&MessageRecord>, new: &MessageRecord) -> EngineDecision {
    let mut d = engine_update_rows(before, new.clone());
    d.deltas.extend(change_deltas(before, &d.after));
    d
}

/// [`engine_update`] taking dispatch's write by value (the row it becomes when it stands, the
/// usual case, is that value, not a copy) and without the change's own counters
/// (`change_deltas(before, &after)`), for a caller that works them out once per
/// [`DeltaKey`]: `deltas` holds only the provider back-fill of a late write.
pub fn engine_update_rows(before: Option<&MessageRecord>, new: MessageRecord) -> EngineDecision {
    let index_provider = match (&new.provider, &new.provider_message_id) {
        (Some(p), Some(pid)) => !pid.is_empty() && !before.is_some_and(|b| b.provider.as_ref() == Some(p) && b.provider_message_id.as_ref() == Some(pid)),
        _ => false,
    };
    let mut deltas = Vec::new();
    let as_written = before.is_none_or(|b| MessageStatus::engine_row_supersedes(&new, b));
    let after = match before {
        Some(b) if !as_written => {
            let mut kept = b.clone();
            if kept.provider_message_id.is_none() {
                kept.provider = new.provider;
                kept.provider_message_id = new.provider_message_id;
                kept.credential_id = kept.credential_id.or(new.credential_id);
                if b.provider.is_none() {
                    deltas.extend(provider_backfill_deltas(&kept));
                }
            }
            kept.attempts = kept.attempts.max(new.attempts);
            kept
        }
        _ => new,
    };
    let row_changed = as_written || before != Some(&after);
    let event = match (before, after.status) {
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
    let watch_expiry = expiry_watch(before, &after);
    EngineDecision { after, row_changed, as_written, event, deltas, index_provider, watch_expiry }
}

/// What a status event makes of the message: `None` when it does not move it to a higher
/// rank (a repeat, a late `sent` after `delivered`, a second outcome); otherwise the row to
/// store and the counter changes. The row keeps the provider's time in the event; its
/// `updated_at` is when the engine learnt it.
pub fn report_update(before: &MessageRecord, ev: &MessageEvent, now_ms: i64) -> Option<(MessageRecord, Vec<CounterDelta>)> {
    if !ev.status.report_supersedes(before.status) {
        return None;
    }
    let mut after = before.clone();
    after.status = ev.status;
    after.updated_at = before.updated_at.max(now_ms);
    if ev.error_code.is_some() || ev.error_text.is_some() {
        after.error = Some(match (&ev.error_code, &ev.error_text) {
            (Some(c), Some(x)) => format!("{c}: {x}"),
            (Some(c), None) => c.clone(),
            (None, Some(x)) => x.clone(),
            (None, None) => String::new(),
        });
    }
    let deltas = change_deltas(Some(before), &after);
    Some((after, deltas))
}

/// Counter changes of a status change: the final counters once, when the message first
/// becomes terminal; the outcome counters whenever the status changes.
pub fn change_deltas(before: Option<&MessageRecord>, after: &MessageRecord) -> Vec<CounterDelta> {
    let mut deltas = Vec::new();
    if after.status.is_terminal() && before.is_none_or(|b| !b.status.is_terminal()) {
        deltas.extend(final_deltas(after));
    }
    if let Some(b) = before {
        if b.status != after.status {
            deltas.extend(outcome_deltas(b.status, after));
        }
    }
    deltas
}

/// Everything [`change_deltas`] reads of a change, and nothing more: two changes with the
/// same key move the same counters, so a batch of updates (most of them `dispatching` →
/// `sent` of one campaign through one provider on one day) works them out once per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaKey {
    before: Option<MessageStatus>,
    status: MessageStatus,
    provider: Option<String>,
    association_id: i64,
    campaign_id: Option<i64>,
    day: i64,
    segments: u32,
}

pub fn delta_key(before: Option<&MessageRecord>, after: &MessageRecord) -> DeltaKey {
    DeltaKey {
        before: before.map(|b| b.status),
        status: after.status,
        provider: after.provider.clone(),
        association_id: after.association_id,
        campaign_id: after.campaign_id,
        day: super::stats::day_of(after.updated_at),
        segments: after.segments,
    }
}

/// The validity end to start watching: a message the provider has just accepted is watched
/// until it expires (the expiry sweeper decides it then, if no report has).
pub fn expiry_watch(before: Option<&MessageRecord>, after: &MessageRecord) -> Option<i64> {
    match (after.status, after.expires_at) {
        (MessageStatus::Sent, Some(at)) if before.is_none_or(|b| b.status != MessageStatus::Sent) => Some(at),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    fn msg(status: MessageStatus) -> MessageRecord {
        MessageRecord {
            id: 7,
            association_id: 1,
            campaign_id: None,
            recipient: "+966500000001".into(),
            country: Some("SA".into()),
            body: "hi".into(),
            channel: "sms".into(),
            priority: 0,
            status,
            scheduled_at: None,
            credential_id: None,
            provider: None,
            provider_message_id: None,
            error: None,
            attempts: 0,
            created_at: 1,
            updated_at: 1,
            content: None,
            callback_url: None,
            expires_at: None,
            encoding: None,
            segments: 1,
            email: None,
            fallback: Vec::new(),
        }
    }

    fn report(status: MessageStatus) -> MessageEvent {
        MessageEvent { message_id: 7, seq: 0, status, at: 5, source: "dlr".into(), raw_status: None, error_code: None, error_text: None }
    }

    fn sent_by(pid: &str) -> MessageRecord {
        MessageRecord { provider: Some("p".into()), provider_message_id: Some(pid.into()), credential_id: Some(3), attempts: 1, ..msg(Sent) }
    }

    #[test]
    fn a_late_dispatch_write_never_downgrades_a_report() {
        for higher in [Delivered, Undelivered, Read, Failed, Expired] {
            let before = msg(higher);
            let d = engine_update(Some(&before), &sent_by("x1"));
            assert_eq!(d.after.status, higher, "late sent over {higher:?}");
            assert!(d.event.is_none(), "no event when the status stays");
            // What the row lacked is taken: the provider id, indexed, and its back-fill counted.
            assert_eq!(d.after.provider_message_id.as_deref(), Some("x1"));
            assert!(d.index_provider && d.row_changed);
            assert!(d.deltas.iter().all(|c| c.delta > 0), "{:?}", d.deltas);
            assert!(d.watch_expiry.is_none());
        }
        // A row that already has its provider id keeps it, and nothing changes at all.
        let before = MessageRecord { status: Delivered, ..sent_by("x1") };
        let d = engine_update(Some(&before), &sent_by("x1"));
        assert!(!d.row_changed && !d.index_provider && d.deltas.is_empty() && d.event.is_none());
    }

    #[test]
    fn dispatch_moves_freely_below_sent_and_over_a_cancel() {
        for (from, to) in [(Queued, Dispatching), (Dispatching, Queued), (Dispatching, Sent), (Sent, Sent), (Cancelled, Sent), (Scheduled, Queued)] {
            let d = engine_update(Some(&msg(from)), &msg(to));
            assert_eq!(d.after.status, to, "{from:?} -> {to:?}");
        }
        // Pre-send statuses write no history event; a first `sent` does.
        assert!(engine_update(Some(&msg(Queued)), &msg(Dispatching)).event.is_none());
        let ev = engine_update(Some(&msg(Dispatching)), &sent_by("a")).event.unwrap();
        assert_eq!((ev.status, ev.source.as_str()), (Sent, ENGINE_SOURCE));
        assert!(engine_update(Some(&sent_by("a")), &sent_by("b")).event.is_none(), "a repeated sent is no new event");
    }

    #[test]
    fn reports_only_move_up_and_the_first_outcome_stands() {
        assert!(report_update(&msg(Sent), &report(Sent), 9).is_none(), "repeat");
        assert!(report_update(&msg(Delivered), &report(Sent), 9).is_none(), "late sent");
        assert!(report_update(&msg(Delivered), &report(Undelivered), 9).is_none(), "second outcome");
        assert!(report_update(&msg(Read), &report(Delivered), 9).is_none(), "read is the top");
        let (after, deltas) = report_update(&msg(Sent), &report(Delivered), 9).unwrap();
        assert_eq!((after.status, after.updated_at), (Delivered, 9));
        assert!(!deltas.is_empty());
        let (after, _) = report_update(&msg(Delivered), &report(Read), 0).unwrap();
        assert_eq!((after.status, after.updated_at), (Read, 1), "updated_at never goes back");
        let ev = MessageEvent { error_code: Some("E1".into()), error_text: Some("bad".into()), ..report(Undelivered) };
        assert_eq!(report_update(&msg(Sent), &ev, 9).unwrap().0.error.as_deref(), Some("E1: bad"));
    }

    #[test]
    fn final_counters_count_once_when_terminal() {
        use crate::store::stats::{final_deltas, outcome_deltas};
        assert!(change_deltas(Some(&msg(Queued)), &msg(Dispatching)).is_empty(), "neither is terminal, nothing counted");
        assert!(change_deltas(Some(&msg(Sent)), &msg(Sent)).is_empty(), "no change, no counter");
        // First terminal state: the final counters and the outcome counters.
        let sent = sent_by("a");
        let mut want = final_deltas(&sent);
        want.extend(outcome_deltas(Dispatching, &sent));
        assert_eq!(change_deltas(Some(&msg(Dispatching)), &sent), want);
        // Terminal to terminal: only the outcome counters move, the final ones never again.
        let delivered = MessageRecord { status: Delivered, ..sent.clone() };
        assert_eq!(change_deltas(Some(&sent), &delivered), outcome_deltas(Sent, &delivered));
        // A report decides the same way.
        assert_eq!(report_update(&sent, &report(Delivered), 9).unwrap().1, outcome_deltas(Sent, &MessageRecord { updated_at: 9, ..delivered }));
    }

    #[test]
    fn expiry_is_watched_from_the_first_sent_only() {
        let with_validity = |m: MessageRecord| MessageRecord { expires_at: Some(1_000), ..m };
        let sent = with_validity(sent_by("a"));
        assert_eq!(engine_update(Some(&with_validity(msg(Dispatching))), &sent).watch_expiry, Some(1_000));
        assert_eq!(engine_update(None, &sent).watch_expiry, Some(1_000), "an update before its insert");
        assert_eq!(engine_update(Some(&sent), &with_validity(sent_by("b"))).watch_expiry, None, "already watched");
        assert_eq!(engine_update(Some(&msg(Dispatching)), &sent_by("a")).watch_expiry, None, "no validity");
        assert_eq!(engine_update(Some(&with_validity(msg(Delivered))), &sent).watch_expiry, None, "a report came first");
        assert_eq!(expiry_watch(Some(&msg(Sent)), &with_validity(msg(Delivered))), None);
    }

    /// `change_deltas` reads nothing of a change beyond its `DeltaKey`: changes that differ
    /// in everything else move the same counters, and the key tells apart those that differ.
    #[test]
    fn change_deltas_depend_on_the_delta_key_only() {
        let statuses = [Queued, Dispatching, Sent, Delivered, Undelivered, Read, Failed, Expired, Cancelled];
        let variant = |m: &MessageRecord| MessageRecord {
            id: m.id + 1000,
            recipient: "+966500000999".into(),
            country: None,
            body: "other".into(),
            priority: 5,
            credential_id: Some(99),
            provider_message_id: Some("other".into()),
            error: Some("e".into()),
            attempts: 7,
            created_at: m.created_at - 5,
            updated_at: m.updated_at + 1000,
            ..m.clone()
        };
        let mut keys = std::collections::HashMap::new();
        for b in statuses {
            for a in statuses {
                for provider in [None, Some("infobip"), Some("twilio")] {
                    for campaign in [None, Some(3)] {
                        for segments in [0, 2] {
                            let before = msg(b);
                            let mut after = MessageRecord { status: a, campaign_id: campaign, segments, updated_at: 86_400_000 * 20_000, ..msg(a) };
                            after.provider = provider.map(str::to_owned);
                            for before in [None, Some(&before)] {
                                let deltas = change_deltas(before, &after);
                                let (vb, va) = (before.map(variant), variant(&after));
                                assert_eq!(change_deltas(vb.as_ref(), &va), deltas, "{b:?} -> {a:?} {provider:?} {campaign:?}");
                                assert_eq!(delta_key(vb.as_ref(), &va), delta_key(before, &after));
                                let mut sorted = deltas.iter().map(|d| (d.scope.association_id, d.scope.day, d.name.clone(), d.delta)).collect::<Vec<_>>();
                                sorted.sort();
                                if let Some(other) = keys.insert(delta_key(before, &after), sorted.clone()) {
                                    assert_eq!(other, sorted);
                                }
                            }
                        }
                    }
                }
            }
        }
        let sent = |day: i64| MessageRecord { status: Sent, updated_at: 86_400_000 * day, ..msg(Sent) };
        assert_ne!(delta_key(None, &sent(20_000)), delta_key(None, &sent(20_001)), "another day, other day counters");
    }
}
