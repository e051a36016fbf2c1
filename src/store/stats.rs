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
    // Never sent within its validity period: a failure, and counted as an expiry too.
    if m.status == MessageStatus::Expired {
        names.push("expired".into());
    }
    let day = day_of(m.updated_at);
    let mut deltas: Vec<CounterDelta> = scopes(m.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect();
    if outcome == "sent" {
        deltas.extend(segment_deltas(m, true));
    }
    deltas
}

/// `segments` and `segments:<provider>`: the SMS parts of a message a provider accepted
/// (what providers bill), counted once with its `sent`. `total` false: the by-provider
/// name only (a backfill, whose `segments` was counted already).
fn segment_deltas(m: &MessageRecord, total: bool) -> Vec<CounterDelta> {
    if m.segments == 0 {
        return Vec::new();
    }
    let mut names = Vec::new();
    if total {
        names.push("segments".to_string());
    }
    if let Some(p) = &m.provider {
        names.push(format!("segments:{p}"));
    }
    let delta = m.segments as i64;
    scopes(m.association_id, day_of(m.updated_at))
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta }))
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
        // Accepted by the provider, never reported delivered within its validity period.
        Expired if was_sent => Some("expired"),
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
    let mut deltas: Vec<CounterDelta> = scopes(after.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect();
    // A campaign's message also counts in its campaign's scope (without the by-provider
    // names): campaign progress reads them, whenever the report came.
    if let Some(c) = after.campaign_id {
        let scope = CounterScope::campaign(c);
        deltas.extend(names.iter().filter(|n| !n.contains(':')).map(|name| CounterDelta { scope, name: name.clone(), delta: 1 }));
    }
    deltas
}

/// What the providers' reports said of a set of messages (a campaign's, an association's),
/// from its counters: `delivered` (read ones included), `undelivered` (not reached, or
/// failed after the provider accepted them), `read`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub delivered: u64,
    pub undelivered: u64,
    pub read: u64,
    /// Sent, then not delivered within the validity period.
    pub expired: u64,
}

impl DeliveryCounts {
    pub fn from_counters(c: &std::collections::BTreeMap<String, i64>) -> Self {
        let get = |k: &str| c.get(k).copied().unwrap_or(0).max(0) as u64;
        Self { delivered: get("delivered"), undelivered: get("undelivered"), read: get("read"), expired: get("expired") }
    }

    /// A campaign's counts (one counter-partition read; never a scan of its messages).
    pub async fn of_campaign(store: &dyn super::Store, campaign_id: i64) -> super::StoreResult<Self> {
        Ok(Self::from_counters(&store.get_counters(CounterScope::campaign(campaign_id)).await?))
    }
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
    let mut deltas: Vec<CounterDelta> = scopes(m.association_id, day)
        .flat_map(|scope| names.iter().map(move |name| CounterDelta { scope, name: name.clone(), delta: 1 }))
        .collect();
    if m.status.was_sent() {
        deltas.extend(segment_deltas(m, false));
    }
    deltas
}
