//! Campaigns and scheduling: bulk sends (`/api/v1/webhook/bulk`), their progress and
//! cancellation, and the scheduler that fires scheduled messages and campaigns on time.
//!
//! A campaign's recipients are ordinary messages carrying its id, written durably in chunks
//! before the campaign is acknowledged. A pump per running campaign pulls them from the store
//! a window at a time (`campaigns.window`) and hands them to dispatch, optionally paced
//! (`sendRate`), so a million-recipient campaign never sits in memory whole; dispatch serves
//! single sends before campaign messages, so an OTP does not wait behind a campaign.
//! Depends on `store`, `dispatch`, `domain`.

mod bulk;
mod checking;
mod prepared;
mod pump;
mod quiet;
mod recipients;
mod tracked;
pub mod scheduler;

pub use prepared::{PreparedMessage, PreparedOptions, PreparedSettings};
pub use bulk::{BulkAccepted, BulkIngest, BulkRequest, BulkSettings, InvalidRecipient, RecipientInput, Variables};

use crate::config::CampaignsConfig;
use crate::dispatch::Dispatcher;
use crate::domain::{now_ms, IdGenerator};
use crate::store::{CampaignRecord, CampaignStatus, MessageStatus, MessageUpdate, SharedStore, StoreError};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct CampaignService {
    pub(crate) store: SharedStore,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) ids: Arc<IdGenerator>,
    pub(crate) config: CampaignsConfig,
    pub(crate) max_message_chars: usize,
    schedule_changed: Arc<tokio::sync::Notify>,
    pub(crate) validity: crate::ingress::validity::Validity,
    /// What quiet hours are decided by (tests set it; see `domain::sms_policy::Clock`).
    pub clock: Arc<crate::domain::sms_policy::Clock>,
}

impl CampaignService {
    /// Builds the service, starts the scheduler and resumes campaigns left running.
    pub async fn start(
        store: SharedStore,
        dispatcher: Dispatcher,
        ids: Arc<IdGenerator>,
        config: CampaignsConfig,
        max_message_chars: usize,
        schedule_changed: Arc<tokio::sync::Notify>,
        validity: crate::ingress::validity::Validity,
    ) -> Result<Arc<Self>, StoreError> {
        let svc = Arc::new(Self {
            store,
            dispatcher,
            ids,
            config,
            max_message_chars,
            schedule_changed: schedule_changed.clone(),
            clock: Default::default(),
            validity,
        });
        svc.resume_owned(None).await?;
        scheduler::spawn(svc.clone(), schedule_changed);
        Ok(svc)
    }

    /// Resumes the campaigns left running of the partitions this engine owns (at start), or
    /// of partition `partition` alone (just taken over from a node whose lease expired), as
    /// a restart of their own node would.
    pub async fn resume_owned(self: &Arc<Self>, partition: Option<u8>) -> Result<(), StoreError> {
        let svc = self;
        for c in svc.store.list_active_campaigns().await? {
            let ours = match partition {
                Some(n) => crate::domain::ids::node_of(c.id) == n,
                None => svc.dispatcher.ownership().owns(c.id),
            };
            if !ours {
                continue;
            }
            match c.status {
                CampaignStatus::Processing => svc.start_pump(c),
                // An ingest that died before its answer (the process that ran it is gone).
                CampaignStatus::Ingesting => svc.abandon_ingest(c.id).await,
                // A cancel interrupted by a crash: finish marking its messages.
                CampaignStatus::Cancelled => {
                    let held = svc.dispatcher.campaigns().register(c.id, c.association_id).cancel();
                    svc.clone().spawn_cancel_sweep(c.id, held)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A scheduled item was added: the scheduler re-reads its next due time.
    pub fn schedule_changed(&self) {
        self.schedule_changed.notify_one();
    }

    pub(crate) fn start_pump(self: &Arc<Self>, campaign: CampaignRecord) {
        let progress = self.dispatcher.campaigns().register(campaign.id, campaign.association_id);
        tokio::spawn(pump::run(self.clone(), campaign, progress));
    }

    /// The campaign with live counters when it is running.
    pub async fn get(&self, id: i64) -> Result<CampaignRecord, CampaignError> {
        let mut c = self.store.get_campaign(id).await?.ok_or_else(|| CampaignError::NotFound(format!("Campaign {id} not found")))?;
        if let Some(p) = self.dispatcher.campaigns().get(id) {
            if !c.status.is_final() {
                c.sent = p.sent.load(Ordering::Relaxed);
                c.failed = p.failed.load(Ordering::Relaxed);
                c.cancelled = p.cancelled.load(Ordering::Relaxed);
            }
        }
        Ok(c)
    }

    /// Whether nothing tracks the campaign live any more: its row holds its final counters
    /// once its status is final too.
    pub fn is_settled(&self, id: i64) -> bool {
        self.dispatcher.campaigns().get(id).is_none()
    }

    /// Cancels a scheduled or running campaign: nothing more of it is sent. Messages already
    /// handed to a provider cannot be recalled.
    pub async fn cancel(self: &Arc<Self>, id: i64) -> Result<CampaignRecord, CampaignError> {
        let mut c = self.get(id).await?;
        if c.status.is_final() {
            return Err(CampaignError::Conflict(format!("Campaign {id} is already {}", c.status.as_str())));
        }
        if c.status == CampaignStatus::Ingesting {
            return Err(CampaignError::Conflict(format!("Campaign {id} is still being created; it can be cancelled once created")));
        }
        // Registering first means a pump that starts later (a scheduled campaign firing now)
        // finds the campaign cancelled.
        let outstanding = self.dispatcher.campaigns().register(id, c.association_id).cancel();
        c.status = CampaignStatus::Cancelled;
        c.updated_at = now_ms();
        // Durable first: after a crash the cancel still holds (the sweep resumes on start).
        self.store.put_campaign(&c).await?;
        self.clone().spawn_cancel_sweep(id, outstanding);
        tracing::info!(campaign = id, "campaign cancelled");
        Ok(c)
    }

    /// Cleans up after a bulk ingest that never answered: every message it wrote is cancelled
    /// ("campaign not created") and the row becomes `cancelled` with exact counts. The row
    /// stays `ingesting` until the sweep is done, so a crash meanwhile repeats it at start.
    /// Only unacknowledged recipients are touched: the client never got this campaign's id.
    pub(crate) async fn abandon_ingest(self: &Arc<Self>, id: i64) {
        match self.store.get_campaign(id).await {
            Ok(Some(c)) if c.status == CampaignStatus::Ingesting => {
                tracing::warn!(campaign = id, "bulk ingest did not finish; cancelling the recipients it stored");
                metrics::counter!(crate::telemetry::CAMPAIGN_INGESTS_ABANDONED_TOTAL).increment(1);
                let held = self.dispatcher.campaigns().register(id, c.association_id).cancel();
                self.clone().spawn_cancel_sweep(id, held);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(campaign = id, error = %e, "could not read an abandoned ingest's campaign"),
        }
    }

    /// Marks every message of a cancelled campaign that dispatch does not hold as cancelled
    /// (dispatch settles the ones it holds), waits for those to settle, then writes exact
    /// final counters.
    fn spawn_cancel_sweep(self: Arc<Self>, id: i64, outstanding: std::collections::HashSet<i64>) {
        tokio::spawn(async move {
            let ingesting = matches!(self.store.get_campaign(id).await, Ok(Some(c)) if c.status == CampaignStatus::Ingesting);
            let reason = if ingesting { "campaign not created: its bulk request did not complete" } else { "campaign cancelled" };
            let mut after = None;
            loop {
                let ids = match self.store.list_campaign_messages(id, after, 1000).await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::error!(campaign = id, error = %e, "cancel sweep failed");
                        return;
                    }
                };
                let Some(last) = ids.last().copied() else { break };
                after = Some(last);
                for mid in ids {
                    if outstanding.contains(&mid) {
                        continue; // dispatch holds it and cancels it itself
                    }
                    if let Ok(Some(mut m)) = self.store.get_message(mid).await {
                        if !m.status.is_terminal() {
                            m.status = MessageStatus::Cancelled;
                            m.error = Some(reason.into());
                            m.updated_at = now_ms();
                            self.dispatcher.write_status(MessageUpdate { message: m, attempt: None });
                        }
                    }
                }
            }
            if let Some(p) = self.dispatcher.campaigns().get(id) {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
                while p.outstanding() > 0 && std::time::Instant::now() < deadline {
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(100), p.finished.notified()).await;
                }
            }
            self.dispatcher.flush_status().await;
            self.refresh_final_counts(id).await;
        });
    }

    /// Recounts a cancelled campaign from its messages, once its statuses are all written.
    async fn refresh_final_counts(&self, id: i64) {
        let Ok(Some(mut c)) = self.store.get_campaign(id).await else { return };
        let (mut sent, mut failed, mut cancelled) = (0, 0, 0);
        let mut after = None;
        while let Ok(ids) = self.store.list_campaign_messages(id, after, 1000).await {
            let Some(last) = ids.last().copied() else { break };
            after = Some(last);
            for mid in ids {
                if let Ok(Some(m)) = self.store.get_message(mid).await {
                    match m.status {
                        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Read => sent += 1,
                        MessageStatus::Failed | MessageStatus::Expired => failed += 1,
                        _ => cancelled += 1,
                    }
                }
            }
        }
        c.sent = sent;
        c.failed = failed;
        c.cancelled = cancelled;
        c.status = CampaignStatus::Cancelled;
        c.updated_at = now_ms();
        let _ = self.store.put_campaign(&c).await;
        self.dispatcher.campaigns().remove(id);
    }

    /// Cancels a scheduled single message before it is sent.
    pub async fn cancel_message(&self, id: i64) -> Result<(), CampaignError> {
        let mut m = self.store.get_message(id).await?.ok_or_else(|| CampaignError::NotFound(format!("Notification {id} not found")))?;
        if m.status != MessageStatus::Scheduled || m.campaign_id.is_some() {
            return Err(CampaignError::Conflict(format!(
                "Notification {id} is {}; only scheduled messages can be cancelled",
                m.status.as_str()
            )));
        }
        m.status = MessageStatus::Cancelled;
        m.updated_at = now_ms();
        // Compare-and-set against the scheduler firing it at this moment: whichever commits
        // first wins. A 200 here means it will never be sent.
        if !self.store.transition_message(&m, MessageStatus::Scheduled).await? {
            let now = self.store.get_message(id).await?.map_or("gone", |m| m.status.as_str());
            return Err(CampaignError::Conflict(format!("Notification {id} is {now}; only scheduled messages can be cancelled")));
        }
        Ok(())
    }
}
