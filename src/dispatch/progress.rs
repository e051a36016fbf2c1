//! Live progress of running campaigns, shared between the campaign pumps (which hand
//! messages to dispatch a window at a time) and the association actors (which finish them).
//! Counters here are the live view; the campaign row in the store is refreshed from them.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::store::MessageStatus;

#[derive(Default)]
pub struct CampaignProgress {
    pub association_id: i64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub cancelled: AtomicU64,
    /// Set on cancel: credential actors drop the campaign's messages instead of calling.
    pub cancel_requested: AtomicBool,
    /// Messages handed to dispatch and not finished: the campaign's in-memory window.
    outstanding: Mutex<HashSet<i64>>,
    /// Woken whenever a message of the campaign finishes (the pump waits on it).
    pub finished: tokio::sync::Notify,
}

impl CampaignProgress {
    pub fn new(association_id: i64) -> Self {
        Self { association_id, ..Default::default() }
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.lock().len()
    }

    pub fn outstanding_ids(&self) -> Vec<i64> {
        self.outstanding.lock().iter().copied().collect()
    }

    /// Records a message handed to dispatch; false if it already was (no double count) or
    /// the campaign is cancelled. Checked under the same lock as [`Self::cancel`], so no
    /// message is handed over after a cancel has taken its snapshot.
    pub fn hand_over(&self, id: i64) -> bool {
        let mut o = self.outstanding.lock();
        !self.is_cancelled() && o.insert(id)
    }

    /// Stops further hand-overs; returns the messages dispatch holds at this moment (they
    /// are cancelled by dispatch itself, or sent if already at the provider).
    pub fn cancel(&self) -> HashSet<i64> {
        let o = self.outstanding.lock();
        self.cancel_requested.store(true, Ordering::Relaxed);
        o.clone()
    }

    /// Counts a message found already final (resume after restart).
    pub fn count_final(&self, status: MessageStatus) {
        match status {
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Read => self.sent.fetch_add(1, Ordering::Relaxed),
            MessageStatus::Failed | MessageStatus::Expired => self.failed.fetch_add(1, Ordering::Relaxed),
            MessageStatus::Cancelled => self.cancelled.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// A handed-over message reached a final status.
    pub fn finish(&self, id: i64, status: MessageStatus) {
        if self.outstanding.lock().remove(&id) {
            self.count_final(status);
        }
        self.finished.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct ProgressRegistry {
    map: Mutex<HashMap<i64, Arc<CampaignProgress>>>,
}

impl ProgressRegistry {
    pub fn register(&self, campaign_id: i64, association_id: i64) -> Arc<CampaignProgress> {
        self.map.lock().entry(campaign_id).or_insert_with(|| Arc::new(CampaignProgress::new(association_id))).clone()
    }

    pub fn get(&self, campaign_id: i64) -> Option<Arc<CampaignProgress>> {
        self.map.lock().get(&campaign_id).cloned()
    }

    pub fn remove(&self, campaign_id: i64) {
        self.map.lock().remove(&campaign_id);
    }

    /// Outstanding message ids of an association's running campaigns (resubmitted after its
    /// actor restarts).
    pub fn outstanding_of(&self, association_id: i64) -> Vec<i64> {
        self.map.lock().values().filter(|p| p.association_id == association_id).flat_map(|p| p.outstanding_ids()).collect()
    }
}
