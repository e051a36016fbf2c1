//! The status writer: every status change and attempt of dispatch goes to the store through
//! one task, in the order it was produced, as large batches (one durable commit for all the
//! updates queued while the previous commit ran). Actors hand it updates without waiting, so
//! an fsync never stalls a mailbox. A failed commit is retried, never dropped: a message
//! whose final status is not yet written stays "unfinished" and would be re-sent after a
//! crash, which is the safe direction.
//!
//! The `dispatching` status is held back for `dispatching_delay` before it is written. Most
//! providers answer sooner, and then the later update of the same message replaces it: the
//! message goes from `queued` to its final row in one write instead of two. Nothing depends
//! on `dispatching` being durable (recovery re-enqueues `queued` and `dispatching` alike), so
//! holding it back costs only a late `dispatching` in the API's view of a slow call.
//!
//! `after_commit(hold)` keeps a value until everything pushed before it is durable, then
//! drops it: a provider call's slot in its credential's window is held that way until the row
//! of its outcome is committed (`dispatch::drain::CallSlot`), which bounds what a crash can
//! repeat. It never waits for a held-back `dispatching`, which is not an outcome.

use crate::store::{MessageStatus, MessageUpdate, SharedStore};
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

enum Cmd {
    Update(MessageUpdate),
    Flush(oneshot::Sender<()>),
    AfterCommit(Box<dyn Send>),
}

#[derive(Clone)]
pub struct StatusWriter {
    tx: mpsc::UnboundedSender<Cmd>,
}

/// Updates per durable write. Each is a read-modify-write on the store's single committer
/// thread (row read and decoded, up to eight rows written), so a batch's cost is paid by
/// every accept that shares its group commit: 4,096 of them held a group for tens of
/// milliseconds after a stall, which is what a p99 accept latency sees. 512 keeps a group
/// short and is still far more than one commit cycle gathers at full load.
const MAX_BATCH: usize = 512;

impl StatusWriter {
    pub fn spawn(store: SharedStore, dispatching_delay: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<Cmd>();
        tokio::spawn(run(store, rx, dispatching_delay));
        Self { tx }
    }

    pub fn push(&self, update: MessageUpdate) {
        // Fails only after shutdown, when the message stays unfinished for the next start.
        let _ = self.tx.send(Cmd::Update(update));
    }

    /// Keeps `hold` until everything pushed before it (held-back `dispatching` updates apart)
    /// is durable, then drops it. After shutdown it is dropped at once.
    pub fn after_commit(&self, hold: impl Send + 'static) {
        let _ = self.tx.send(Cmd::AfterCommit(Box::new(hold)));
    }

    /// Waits until everything pushed before this call is durable (held-back `dispatching`
    /// updates included).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Cmd::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

/// `dispatching` updates waiting to be written, oldest first. The queue may name messages
/// whose update was since replaced; the map is the truth.
#[derive(Default)]
struct HeldBack {
    updates: HashMap<i64, (Instant, MessageUpdate)>,
    order: VecDeque<(Instant, i64)>,
}

impl HeldBack {
    fn hold(&mut self, due: Instant, u: MessageUpdate) {
        let id = u.message.id;
        self.order.push_back((due, id));
        self.updates.insert(id, (due, u));
    }

    /// A newer update of the message supersedes its held-back `dispatching`.
    fn supersede(&mut self, id: i64) {
        self.updates.remove(&id);
    }

    fn next_due(&mut self) -> Option<Instant> {
        while let Some(&(due, id)) = self.order.front() {
            if self.updates.get(&id).is_some_and(|(d, _)| *d == due) {
                return Some(due);
            }
            self.order.pop_front();
        }
        None
    }

    /// Moves the updates due by `now` (all of them when `now` is `None`) into `batch`.
    fn release(&mut self, now: Option<Instant>, batch: &mut Vec<MessageUpdate>) {
        while let Some(due) = self.next_due() {
            if now.is_some_and(|n| due > n) {
                break;
            }
            let (_, id) = self.order.pop_front().expect("next_due saw it");
            if let Some((_, u)) = self.updates.remove(&id) {
                batch.push(u);
            }
        }
        if now.is_none() {
            self.order.clear();
        }
    }
}

fn is_dispatching_only(u: &MessageUpdate) -> bool {
    u.message.status == MessageStatus::Dispatching && u.attempt.is_none()
}

enum Event {
    Cmd(Cmd),
    /// The oldest held-back update is due.
    Due,
    /// Every sender is gone (shutdown): write what is held back and stop.
    Closed,
}

async fn run(store: SharedStore, mut rx: mpsc::UnboundedReceiver<Cmd>, delay: Duration) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut held = HeldBack::default();
    let mut flushes = Vec::new();
    let mut holds: Vec<Box<dyn Send>> = Vec::new();
    let mut open = true;
    while open {
        let event = match held.next_due() {
            Some(due) => tokio::select! {
                cmd = rx.recv() => cmd.map_or(Event::Closed, Event::Cmd),
                _ = tokio::time::sleep_until(due) => Event::Due,
            },
            None => rx.recv().await.map_or(Event::Closed, Event::Cmd),
        };
        let mut next = match event {
            Event::Cmd(cmd) => Some(cmd),
            Event::Due => None,
            Event::Closed => {
                open = false;
                None
            }
        };
        while let Some(cmd) = next.take() {
            match cmd {
                Cmd::Update(u) if !delay.is_zero() && is_dispatching_only(&u) => held.hold(Instant::now() + delay, u),
                Cmd::Update(u) => {
                    held.supersede(u.message.id);
                    batch.push(u);
                }
                Cmd::Flush(ack) => {
                    held.release(None, &mut batch);
                    flushes.push(ack);
                }
                Cmd::AfterCommit(hold) => holds.push(hold),
            }
            if batch.len() < MAX_BATCH {
                next = match rx.try_recv() {
                    Ok(cmd) => Some(cmd),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        None
                    }
                };
            }
        }
        held.release(open.then(Instant::now), &mut batch);
        write(&store, &mut batch).await;
        holds.clear();
        for ack in flushes.drain(..) {
            let _ = ack.send(());
        }
    }
}

async fn write(store: &SharedStore, batch: &mut Vec<MessageUpdate>) {
    let mut delay = Duration::from_millis(50);
    while !batch.is_empty() {
        match store.update_messages(batch).await {
            Ok(()) => batch.clear(),
            Err(e) => {
                tracing::warn!(error = %e, pending = batch.len(), "status write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
    use crate::store::{MessageRecord, Store};
    use std::sync::Arc;

    async fn store_with_message(dir: &std::path::Path) -> (Arc<EmbeddedStore>, MessageRecord) {
        let store = Arc::new(EmbeddedStore::open(dir, EmbeddedOptions::default()).unwrap());
        let recipient = crate::domain::phone::normalise("+966501234567").unwrap();
        let m = MessageRecord::accepted(42, 1, recipient, "hi".into(), "sms".into(), None, 1);
        store.insert_messages(std::slice::from_ref(&m)).await.unwrap();
        (store, m)
    }

    fn with_status(m: &MessageRecord, status: MessageStatus) -> MessageUpdate {
        MessageUpdate { message: MessageRecord { status, ..m.clone() }, attempt: None }
    }

    async fn status_of(store: &EmbeddedStore) -> MessageStatus {
        store.get_message(42).await.unwrap().unwrap().status
    }

    #[tokio::test]
    async fn an_answer_within_the_delay_replaces_the_dispatching_write() {
        let dir = tempfile::tempdir().unwrap();
        let (store, m) = store_with_message(dir.path()).await;
        let w = StatusWriter::spawn(store.clone() as SharedStore, Duration::from_secs(30));
        w.push(with_status(&m, MessageStatus::Dispatching));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(status_of(&store).await, MessageStatus::Queued, "dispatching is held back");
        let before = store.commit_stats().requests;
        w.push(with_status(&m, MessageStatus::Sent));
        w.flush().await;
        assert_eq!(status_of(&store).await, MessageStatus::Sent);
        assert_eq!(store.commit_stats().requests - before, 1, "one write: the final row only");
    }

    #[tokio::test]
    async fn a_held_back_dispatching_is_written_when_due_and_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (store, m) = store_with_message(dir.path()).await;
        let w = StatusWriter::spawn(store.clone() as SharedStore, Duration::from_millis(100));
        w.push(with_status(&m, MessageStatus::Dispatching));
        let deadline = Instant::now() + Duration::from_secs(5);
        while status_of(&store).await != MessageStatus::Dispatching && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status_of(&store).await, MessageStatus::Dispatching, "written once due");

        let dir = tempfile::tempdir().unwrap();
        let (store, m) = store_with_message(dir.path()).await;
        let w = StatusWriter::spawn(store.clone() as SharedStore, Duration::from_secs(30));
        w.push(with_status(&m, MessageStatus::Dispatching));
        w.flush().await;
        assert_eq!(status_of(&store).await, MessageStatus::Dispatching, "a flush writes what is held back");
    }

    #[tokio::test]
    async fn a_hold_is_dropped_after_the_commit_of_what_came_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, m) = store_with_message(dir.path()).await;
        let w = StatusWriter::spawn(store.clone() as SharedStore, Duration::from_secs(30));
        // A held-back `dispatching` is not waited for: the hold goes with the next commit.
        w.push(with_status(&m, MessageStatus::Dispatching));
        let (hold, dropped) = oneshot::channel::<()>();
        w.after_commit(hold);
        assert!(dropped.await.is_err(), "dropped, never sent");
        assert_eq!(status_of(&store).await, MessageStatus::Queued, "the dispatching row is still held back");

        let before = store.commit_stats().requests;
        w.push(with_status(&m, MessageStatus::Sent));
        let (hold, dropped) = oneshot::channel::<()>();
        w.after_commit(hold);
        assert!(dropped.await.is_err());
        assert_eq!(status_of(&store).await, MessageStatus::Sent, "the row before the hold is durable when it drops");
        assert_eq!(store.commit_stats().requests - before, 1);
    }

    #[tokio::test]
    async fn without_a_delay_every_update_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (store, m) = store_with_message(dir.path()).await;
        let w = StatusWriter::spawn(store.clone() as SharedStore, Duration::ZERO);
        w.push(with_status(&m, MessageStatus::Dispatching));
        w.flush().await;
        assert_eq!(status_of(&store).await, MessageStatus::Dispatching);
    }
}
