//! Statistics counter rules shared by the backends: which counters a message bumps when it
//! is accepted and when it first becomes final. Each event counts in four scopes: its
//! association and all associations, today and all time.

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
        MessageStatus::Sent | MessageStatus::Delivered => "sent",
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
