//! Customer status callbacks: the customer's side of the return path.
//!
//! ```text
//! status change ─► store commit ─┬─ message row, history event, counters
//!  (dispatch,       (committer)  └─ callback_outbox row  ◄── observer: has a URL? build payload
//!   reports)                              │
//!                                         ▼
//!                          sender: due rows per association ─► signed POST ─► customer URL
//!                                  2xx: delivered · 410: stop · else: backoff (Retry-After)
//! ```
//!
//! - `observer`: the store's status hook; writes the outbox row in the status change's commit.
//! - `sender`: reads the outbox and delivers, retried with backoff for up to 24 h.
//! - `target`: which URLs a callback may go to (no SSRF).
//!
//! Depends on `store`, `directory`, `auth::webhook`, `config`, `telemetry`; knows nothing of
//! HTTP routes.

mod observer;
mod sender;
pub mod target;

pub use observer::{event_id, payload, UrlCache};
pub use target::{TargetError, TargetPolicy};

use crate::config::CallbacksConfig;
use crate::coord::lease::Ownership;
use crate::directory::Directory;
use crate::store::{CallbackAttempt, CallbackOutcome, SharedStore, StoreError};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The most attempts one listing returns.
pub const MAX_LIST: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CallbacksError {
    /// A callback URL or listing parameter is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the status observer tells the sender of new outbox rows: which associations have
/// some, and a nudge. (The sender also sweeps the whole outbox now and then, for rows it was
/// not told of: another engine's, or ones written before it started.)
#[derive(Default)]
pub struct Wake {
    notify: tokio::sync::Notify,
    associations: parking_lot::Mutex<std::collections::HashSet<i64>>,
    /// Rows added since the sender last took the count (for its outbox depth gauge).
    added: std::sync::atomic::AtomicI64,
}

impl Wake {
    /// Called on the store's writer thread for each row it adds: a set insert and a nudge.
    pub fn row_added(&self, association_id: i64) {
        self.associations.lock().insert(association_id);
        self.added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify.notify_one();
    }

    /// The rows added since the last call.
    pub fn take_added(&self) -> i64 {
        self.added.swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    /// The associations told of since the last call.
    pub fn take(&self) -> std::collections::HashSet<i64> {
        std::mem::take(&mut *self.associations.lock())
    }

    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

pub struct Callbacks {
    store: SharedStore,
    policy: TargetPolicy,
    urls: Arc<UrlCache>,
    /// What the sender needs, until [`Self::start_sender`] takes it.
    pending_sender: parking_lot::Mutex<Option<(CallbacksConfig, Arc<Directory>, Arc<Wake>)>>,
}

impl Callbacks {
    /// Installs the observer on the store (before dispatch starts, so every status change
    /// from then on has its outbox row). The sender starts with [`Self::start_sender`], once
    /// the engine knows which partitions it owns.
    pub fn start(cfg: &CallbacksConfig, store: SharedStore, directory: Arc<Directory>) -> anyhow::Result<Arc<Self>> {
        let urls = Arc::new(UrlCache::default());
        let wake = Arc::new(Wake::default());
        let observer = observer::Observer::new(Arc::downgrade(&store), urls.clone(), wake.clone());
        store.set_status_observer(Arc::new(observer));
        {
            let urls = urls.clone();
            directory.on_association_change(Arc::new(move |id| urls.invalidate_association(id)));
        }
        Ok(Arc::new(Self {
            store,
            policy: TargetPolicy { allow_private: cfg.allow_private_targets },
            urls,
            pending_sender: parking_lot::Mutex::new(Some((cfg.clone(), directory, wake))),
        }))
    }

    /// When `callbacks.enabled`, starts the sender (it resumes from the outbox) until `stop`.
    /// It delivers only the callbacks of messages in partitions `owned` names: with several
    /// engines on one store each callback has one sender, the node that owns its message
    /// (and, after a takeover, the node that took the partition over). A second call does nothing.
    pub fn start_sender(&self, owned: Arc<Ownership>, stop: CancellationToken) -> anyhow::Result<()> {
        let Some((cfg, directory, wake)) = self.pending_sender.lock().take() else { return Ok(()) };
        if cfg.enabled {
            let sender = Arc::new(sender::Sender::new(cfg, self.store.clone(), directory, wake, owned)?);
            tokio::spawn(sender.run(stop));
        } else {
            tracing::warn!("callbacks.enabled is false: status callbacks queue in the outbox and are not sent");
        }
        Ok(())
    }

    /// Checks a callback URL given in `field` (form, then where its host resolves); the URL as
    /// stored.
    pub async fn check_url(&self, field: &str, url: &str) -> Result<String, CallbacksError> {
        self.policy.check(url).await.map_err(|e| CallbacksError::Invalid(format!("field `{field}` {e}")))
    }

    /// A campaign's callback URL as it was just created (saves the observer a read).
    pub fn campaign_created(&self, id: i64, url: Option<String>) {
        self.urls.put_campaign(id, url);
    }

    /// An association's attempts, newest first: `status` is `delivered`, `pending` (a retry
    /// is scheduled), `failed` (given up), or absent for all; at most `limit` (≤ [`MAX_LIST`]).
    pub async fn attempts(&self, association_id: i64, status: Option<&str>, limit: Option<usize>) -> Result<Vec<CallbackAttempt>, CallbacksError> {
        let outcome = match status.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(CallbackOutcome::parse(s).ok_or_else(|| CallbacksError::Invalid(format!("status `{s}` is not one of failed, pending, delivered")))?),
        };
        let limit = limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIST {
            return Err(CallbacksError::Invalid(format!("limit must be between 1 and {MAX_LIST}")));
        }
        Ok(self.store.list_callback_attempts(association_id, outcome, limit).await?)
    }
}
