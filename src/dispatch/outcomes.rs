//! Waiting for one message's dispatch outcome: the synchronous WhatsApp send routes answer
//! with the provider's message id, as documented, so they wait (bounded) for dispatch to
//! finish the message they just stored. Costs nothing while nobody waits: the association
//! actor checks one atomic before looking anything up.

use crate::store::MessageRecord;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;

#[derive(Default)]
pub struct Outcomes {
    waiting: AtomicUsize,
    senders: Mutex<HashMap<i64, oneshot::Sender<MessageRecord>>>,
}

impl Outcomes {
    /// Registers interest in `id`'s outcome; call before the message can finish (before
    /// handing it to dispatch).
    pub fn watch(&self, id: i64) -> oneshot::Receiver<MessageRecord> {
        let (tx, rx) = oneshot::channel();
        self.senders.lock().insert(id, tx);
        self.waiting.fetch_add(1, Ordering::Release);
        rx
    }

    /// Drops interest (the waiter gave up).
    pub fn forget(&self, id: i64) {
        if self.senders.lock().remove(&id).is_some() {
            self.waiting.fetch_sub(1, Ordering::Release);
        }
    }

    /// Called by dispatch with a message's final record.
    pub(super) fn finished(&self, record: &MessageRecord) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let sender = self.senders.lock().remove(&record.id);
        if let Some(tx) = sender {
            self.waiting.fetch_sub(1, Ordering::Release);
            let _ = tx.send(record.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watched_message_is_delivered_once_and_others_cost_nothing() {
        let o = Outcomes::default();
        let rx = o.watch(7);
        let mut m = crate::store::MessageRecord::accepted(
            8,
            1,
            crate::domain::phone::normalise("+966501234567").unwrap(),
            "x".into(),
            "sms".into(),
            None,
            0,
        );
        o.finished(&m);
        m.id = 7;
        o.finished(&m);
        assert_eq!(rx.await.unwrap().id, 7);
        assert_eq!(o.waiting.load(Ordering::Relaxed), 0);
        let _rx = o.watch(9);
        o.forget(9);
        assert_eq!(o.waiting.load(Ordering::Relaxed), 0);
    }
}
