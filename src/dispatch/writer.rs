//! The status writer: every status change and attempt of dispatch goes to the store through
//! one task, in the order it was produced, as large batches (one durable commit for all the
//! updates queued while the previous commit ran). Actors hand it updates without waiting, so
//! an fsync never stalls a mailbox. A failed commit is retried, never dropped: a message
//! whose final status is not yet written stays "unfinished" and would be re-sent after a
//! crash, which is the safe direction.

use crate::store::{MessageUpdate, SharedStore};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

enum Cmd {
    Update(MessageUpdate),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct StatusWriter {
    tx: mpsc::UnboundedSender<Cmd>,
}

const MAX_BATCH: usize = 4096;

impl StatusWriter {
    pub fn spawn(store: SharedStore) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut flushes = Vec::new();
            while let Some(cmd) = rx.recv().await {
                let mut next = Some(cmd);
                while let Some(cmd) = next.take() {
                    match cmd {
                        Cmd::Update(u) => batch.push(u),
                        Cmd::Flush(ack) => flushes.push(ack),
                    }
                    if batch.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                let mut delay = Duration::from_millis(50);
                while !batch.is_empty() {
                    match store.update_messages(&batch).await {
                        Ok(()) => batch.clear(),
                        Err(e) => {
                            tracing::warn!(error = %e, pending = batch.len(), "status write failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    }
                }
                for ack in flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
        });
        Self { tx }
    }

    pub fn push(&self, update: MessageUpdate) {
        // Fails only after shutdown, when the message stays unfinished for the next start.
        let _ = self.tx.send(Cmd::Update(update));
    }

    /// Waits until everything pushed before this call is durable.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Cmd::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }
}
