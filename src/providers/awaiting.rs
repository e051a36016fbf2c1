//! Messages whose final status comes only by a provider webhook that may never arrive
//! (Sidobe's asynchronous sends answer `PENDING`): the credential actor notes each accepted
//! one, the webhook receiver confirms it, and the reconciler (`inbound::sidobe_reconcile`)
//! takes those still unconfirmed after a delay and asks the provider. Plain in-memory data,
//! bounded (the oldest entries are dropped beyond `max`), rebuilt after a restart from the
//! message rows themselves (`inbound::sidobe_reconcile::recover_awaited`).

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedSend {
    pub message_id: i64,
    pub credential_id: i64,
    pub provider_message_id: String,
    /// Unix ms when it becomes due for a look-up.
    pub due_at: i64,
    /// Look-ups made so far.
    pub lookups: u32,
}

#[derive(Default)]
struct Inner {
    by_due: BTreeMap<(i64, i64), AwaitedSend>,
    by_pid: HashMap<String, (i64, i64)>,
}

pub struct Awaiting {
    inner: Mutex<Inner>,
    max: AtomicUsize,
}

impl Default for Awaiting {
    fn default() -> Self {
        Self { inner: Mutex::default(), max: AtomicUsize::new(100_000) }
    }
}

impl Awaiting {
    pub fn set_max(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Relaxed);
    }

    /// Follows a send (or follows it again, due at `s.due_at`).
    pub fn note(&self, s: AwaitedSend) {
        let mut g = self.inner.lock();
        if let Some(old) = g.by_pid.remove(&s.provider_message_id) {
            g.by_due.remove(&old);
        }
        let max = self.max.load(Ordering::Relaxed);
        while g.by_due.len() >= max {
            let Some((_, dropped)) = g.by_due.pop_first() else { break };
            g.by_pid.remove(&dropped.provider_message_id);
        }
        let key = (s.due_at, s.message_id);
        g.by_pid.insert(s.provider_message_id.clone(), key);
        g.by_due.insert(key, s);
    }

    /// The provider reported a final status: stop following it. Whether it was followed.
    pub fn confirm(&self, provider_message_id: &str) -> bool {
        let mut g = self.inner.lock();
        match g.by_pid.remove(provider_message_id) {
            Some(key) => g.by_due.remove(&key).is_some(),
            None => false,
        }
    }

    /// Takes the entries due at `now_ms`, at most `limit`.
    pub fn take_due(&self, now_ms: i64, limit: usize) -> Vec<AwaitedSend> {
        let mut g = self.inner.lock();
        let mut out = Vec::new();
        while out.len() < limit {
            match g.by_due.first_key_value() {
                Some((k, _)) if k.0 <= now_ms => {}
                _ => break,
            }
            let Some((_, s)) = g.by_due.pop_first() else { break };
            g.by_pid.remove(&s.provider_message_id);
            out.push(s);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.inner.lock().by_due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: i64, due: i64) -> AwaitedSend {
        AwaitedSend { message_id: id, credential_id: 1, provider_message_id: format!("p{id}"), due_at: due, lookups: 0 }
    }

    #[test]
    fn due_entries_come_out_in_order_and_confirmed_ones_never() {
        let a = Awaiting::default();
        a.set_max(3);
        for (id, due) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
            a.note(s(id, due));
        }
        assert_eq!(a.len(), 3, "the oldest is dropped beyond max");
        assert!(a.confirm("p3") && !a.confirm("p3"));
        let due: Vec<i64> = a.take_due(35, 10).iter().map(|x| x.message_id).collect();
        assert_eq!(due, [2]);
        assert_eq!(a.take_due(100, 10).len(), 1);
        assert!(a.is_empty());
    }
}
