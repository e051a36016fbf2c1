//! Draining provider calls at a graceful stop, and the call slots that bound what a crash
//! repeats.
//!
//! Every provider call holds a [`CallGuard`] from the moment it starts until its outcome has
//! been handed to the status writer by the association actor (or the report is dropped). A
//! stop first sets `draining`, so credential actors start no new call, then waits (bounded by
//! the shutdown grace) until no guard is left, and only then stops the actor tree and flushes
//! the writer: a call the provider accepted is recorded `sent`, so the next start does not
//! repeat it. Only calls cut by the grace deadline (or by a crash) can be repeated.
//!
//! A call's place in its credential's in-flight window is given back only when the status
//! row of its outcome is durable, not when the provider answers: once the call returns, its
//! guard carries a [`CallSlot`], which the association actor hands to the status writer
//! (`StatusWriter::after_commit`) behind the row it wrote, and the writer drops it after the
//! commit that contains that row; the drop tells the credential actor (`CredMsg::SlotFree`).
//! So calls in flight plus calls finished but not yet recorded never exceed
//! `dispatch.credential_in_flight` per credential (a batched request is one slot, freed when
//! the last of its messages is recorded), and that is all a `kill -9` can make the next start
//! repeat. The finished-but-not-recorded ones are `jood_credential_calls_settling`.

use super::credential::CredMsg;
use ractor::ActorRef;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Default)]
pub struct CallTracker {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One provider call whose outcome is not yet with the status writer; once the call has
/// returned, it also carries the call's slot.
pub struct CallGuard {
    tracker: Arc<CallTracker>,
    slot: Option<CallSlot>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.tracker.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.idle.notify_waiters();
        }
    }
}

impl CallGuard {
    /// The call returned: its slot travels with its outcome from now on.
    pub(super) fn hold_slot(&mut self, slot: CallSlot) {
        self.slot = Some(slot);
    }

    /// The slot, for whoever writes the outcome to keep until it is durable. Left in the
    /// guard, it is freed with the guard (nothing of the call is written then).
    pub(super) fn take_slot(&mut self) -> Option<CallSlot> {
        self.slot.take()
    }
}

/// A credential's call slot between the provider's answer and the durable record of it.
/// Clones share it (the messages of one batched request); it is given back to the credential
/// actor when the last clone drops.
#[derive(Clone)]
pub struct CallSlot(#[allow(dead_code)] Arc<SlotInner>);

struct SlotInner {
    credential: ActorRef<CredMsg>,
    settling: metrics::Gauge,
}

impl CallSlot {
    /// A call of `credential` returned; counted in `settling` until the slot is freed.
    pub(super) fn settling(credential: ActorRef<CredMsg>, settling: metrics::Gauge) -> Self {
        settling.increment(1.0);
        Self(Arc::new(SlotInner { credential, settling }))
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        self.settling.decrement(1.0);
        // A stopped credential actor has no window left to give it back to.
        let _ = self.credential.cast(CredMsg::SlotFree);
    }
}

impl CallTracker {
    pub fn start(self: &Arc<Self>) -> CallGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        CallGuard { tracker: self.clone(), slot: None }
    }

    /// Whether a stop has begun: no new provider call may start.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no call is in flight or `deadline` passes; returns the calls left.
    pub async fn wait_idle(&self, deadline: tokio::time::Instant) -> usize {
        loop {
            let notified = self.idle.notified();
            let left = self.in_flight();
            if left == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_guard_or_the_deadline() {
        let t = Arc::new(CallTracker::default());
        let (a, b) = (t.start(), t.start());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.wait_idle(deadline).await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        assert_eq!(waiter.await.unwrap(), 0);
        let _c = t.start();
        assert_eq!(t.wait_idle(tokio::time::Instant::now() + std::time::Duration::from_millis(50)).await, 1, "cut at the deadline");
    }
}
