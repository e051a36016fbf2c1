//! Draining provider calls at a graceful stop. Every provider call holds a [`CallGuard`] from
//! the moment it starts until its outcome has been handed to the status writer by the
//! association actor (or the report is dropped). A stop first sets `draining`, so credential
//! actors start no new call, then waits (bounded by the shutdown grace) until no guard is
//! left, and only then stops the actor tree and flushes the writer: a call the provider
//! accepted is recorded `sent`, so the next start does not repeat it. Only calls cut by the
//! grace deadline (or by a crash) can be repeated.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Default)]
pub struct CallTracker {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One provider call whose outcome is not yet with the status writer.
pub struct CallGuard(Arc<CallTracker>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl CallTracker {
    pub fn start(self: &Arc<Self>) -> CallGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        CallGuard(self.clone())
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
