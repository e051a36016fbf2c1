//! The scheduler: fires scheduled messages and campaigns on time. It sleeps until the
//! earliest entry of the schedule index (or until woken by a new entry), then fires what is
//! due, so it never scans what is not due. The index is durable, so schedules survive
//! restarts; entries that fell due while the engine was down fire at start. With several
//! nodes each fires only the entries of the partitions it owns (the node bits of the id).

use super::CampaignService;
use crate::domain::now_ms;
use crate::store::{CampaignStatus, MessageStatus, ScheduledKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest sleep without looking again (a safety net; new entries wake it at once).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Pause when only entries of other nodes (partitions this engine does not own) are due.
const OTHERS_DUE: Duration = Duration::from_millis(500);

/// Runs the scheduler; `wake` is notified whenever an entry is added (by ingress or a bulk
/// request), so an earlier entry than the one it sleeps for is not missed.
pub fn spawn(svc: Arc<CampaignService>, wake: Arc<Notify>) {
    tokio::spawn(async move {
        loop {
            let sleep = match svc.store.next_scheduled().await {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64).min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not read the schedule");
                    Duration::from_secs(1)
                }
            };
            if !sleep.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = wake.notified() => continue,
                }
            }
            match fire_due(&svc).await {
                Ok(0) => {}
                // Only other nodes' entries are due: their owner fires them; look again later
                // rather than spin on them.
                Ok(_) => tokio::time::sleep(OTHERS_DUE).await,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not fire due entries");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
}

/// Fires what is due of the partitions this engine owns; how many due entries belong to
/// other nodes (left to them) once nothing of ours is due.
async fn fire_due(svc: &Arc<CampaignService>) -> anyhow::Result<usize> {
    loop {
        let due = svc.store.due_schedule(now_ms(), 500).await?;
        let others = due.iter().filter(|e| !svc.dispatcher.ownership().owns(e.id)).count();
        if others == due.len() {
            return Ok(others);
        }
        for e in due.into_iter().filter(|e| svc.dispatcher.ownership().owns(e.id)) {
            // Respect dispatch's memory bound: wait rather than overfill.
            while svc.dispatcher.admit().is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            match e.kind {
                ScheduledKind::Message => match svc.store.get_message(e.id).await? {
                    Some(mut m) if m.status == MessageStatus::Scheduled => {
                        m.status = MessageStatus::Queued;
                        m.updated_at = now_ms();
                        // Moves it from the schedule to the unfinished index, durably, only if
                        // it is still scheduled: a cancel that committed first wins (and was
                        // answered 200); if this commits first the cancel answers 409.
                        if svc.store.transition_message(&m, MessageStatus::Scheduled).await? {
                            let _ = svc.dispatcher.submit(m);
                        } else {
                            svc.store.remove_schedule(e).await?;
                        }
                    }
                    _ => svc.store.remove_schedule(e).await?,
                },
                ScheduledKind::Campaign => match svc.store.get_campaign(e.id).await? {
                    Some(mut c) if c.status == CampaignStatus::Scheduled => {
                        c.status = CampaignStatus::Processing;
                        c.updated_at = now_ms();
                        svc.store.put_campaign(&c).await?;
                        tracing::info!(campaign = c.id, "scheduled campaign started");
                        svc.start_pump(c);
                    }
                    _ => svc.store.remove_schedule(e).await?,
                },
            }
        }
    }
}
