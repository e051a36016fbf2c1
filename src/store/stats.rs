//! Statistics counter rules shared by the backends: which counters a message bumps when it
//! is accepted, when it first becomes final, and when a report tells its outcome. Each event
//! counts in four scopes: its association and all associations, today and all time.

use super::{CounterDelta, CounterScope, MessageRecord, MessageStatus};

pub const DAY_MS: i64 = 86_400_000;

/// Days since the Unix epoch (UTC), never 0 (0 means "all time").
pub fn day_of(ms: i64) -> i64 {
    (ms.div_euclid(DAY_MS)).max(1)
}

/// The four scopes an event of `association_id` on `day` counts in.
pub fn scopes(association_id: i64, day: i64) -> impl Iterator<Item = CounterScope> {
    [(association_id, day), (association_id, 0), (0, day), (0, 0)].into_iter().map(|(association_id, day)| CounterScope { association_id, day })
}

/// Counters bumped when `m` first reaches its (final) status; the day is the day it ended.
pub fn final_deltas(m: &MessageRecord) -> Vec<CounterDelta> {
    let outcome = match m.status {
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Read => "sent",
        MessageStatus::Failed | MessageStatus::Expired => "failed",
        MessageStatus::Cancelled => "cancelled",
        _ => return Vec::new(),
    };
    let mut names = vec![outcome.to_string()];
    if let (Some(p), "sent" | "failed") = (&m.provider, outcome) {
        names.push(format!("{outcome}:{p}"));
    }
    let day = day_of(m.updated_at);
    scopes(m.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect()
}

/// Counters bumped when a message moves from `before` to `after` past `sent`: `delivered`
/// (also when `read` comes first), `undelivered` (a provider's `undelivered`, or `failed`
/// after it had accepted the message), `read`; the outcomes also by provider. A move within
/// one class (delivered → read) counts nothing twice.
pub fn outcome_deltas(before: MessageStatus, after: &MessageRecord) -> Vec<CounterDelta> {
    use MessageStatus::*;
    let class = |s: MessageStatus, was_sent: bool| match s {
        Delivered | Read => Some("delivered"),
        Undelivered => Some("undelivered"),
        Failed if was_sent => Some("undelivered"),
        _ => None,
    };
    let mut names = Vec::new();
    let new = class(after.status, before.was_sent());
    if new.is_some() && new != class(before, false) {
        let n = new.unwrap_or_default();
        names.push(n.to_string());
        if let Some(p) = &after.provider {
            names.push(format!("{n}:{p}"));
        }
    }
    if after.status == Read && before != Read {
        names.push("read".into());
    }
    let day = day_of(after.updated_at);
    scopes(after.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect()
}

/// The by-provider counters of a message whose outcome was counted before its provider was
/// known (a report overtook dispatch's `sent`), bumped once dispatch's write names it.
pub fn provider_backfill_deltas(m: &MessageRecord) -> Vec<CounterDelta> {
    let Some(p) = &m.provider else { return Vec::new() };
    let mut names = Vec::new();
    if m.status.was_sent() {
        names.push(format!("sent:{p}"));
    }
    match m.status {
        MessageStatus::Delivered | MessageStatus::Read => names.push(format!("delivered:{p}")),
        MessageStatus::Undelivered => names.push(format!("undelivered:{p}")),
        _ => {}
    }
    let day = day_of(m.updated_at);
    scopes(m.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect()
}
