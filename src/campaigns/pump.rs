//! The campaign pump: one task per running campaign. Reads the campaign's message ids from
//! the store in pages, hands non-final messages to dispatch while the campaign's window has
//! room (`campaigns.window`) and dispatch is below its memory bound, paced by the campaign's
//! `sendRate` when set, and keeps the campaign row's counters fresh. On a restart the pump
//! starts over: messages already final are counted, not sent again.

use super::CampaignService;
use crate::dispatch::policy::TokenBucket;
use crate::dispatch::progress::CampaignProgress;
use crate::domain::now_ms;
use crate::store::{CampaignRecord, CampaignStatus};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(svc: Arc<CampaignService>, campaign: CampaignRecord, progress: Arc<CampaignProgress>) {
    let id = campaign.id;
    if let Err(e) = pump(&svc, campaign, &progress).await {
        tracing::error!(campaign = id, error = %e, "campaign pump stopped; it resumes on the next start");
    }
}

async fn pump(svc: &Arc<CampaignService>, mut campaign: CampaignRecord, progress: &Arc<CampaignProgress>) -> anyhow::Result<()> {
    let window = svc.config.window.max(1);
    let flush_every = Duration::from_millis(svc.config.progress_flush_ms.max(50));
    let mut last_flush = Instant::now();
    let mut bucket = campaign.send_rate.map(|r| TokenBucket::new(r, Instant::now()));
    let mut after = None;
    let mut gate = super::quiet::Gate::new(campaign.association_id);
    'pages: loop {
        let ids = svc.store.list_campaign_messages(campaign.id, after, 1000).await?;
        let Some(last) = ids.last().copied() else { break };
        after = Some(last);
        for mid in ids {
            if progress.is_cancelled() {
                break 'pages;
            }
            // Room in the campaign's window and in dispatch's memory bound.
            loop {
                let room = progress.outstanding() < window && svc.dispatcher.in_memory() < svc.dispatcher.max_in_memory() * 9 / 10;
                if room || progress.is_cancelled() {
                    break;
                }
                let notified = progress.finished.notified();
                let _ = tokio::time::timeout(Duration::from_millis(20), notified).await;
                if last_flush.elapsed() >= flush_every {
                    flush(svc, &mut campaign, progress).await;
                    last_flush = Instant::now();
                }
            }
            if let Some(b) = bucket.as_mut() {
                loop {
                    let wait = b.wait_time(Instant::now());
                    if wait.is_zero() {
                        b.try_take(Instant::now());
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
            let Some(m) = svc.store.get_message(mid).await? else { continue };
            if m.status.is_terminal() {
                progress.count_final(m.status);
                continue;
            }
            // Quiet hours: nothing of the campaign goes out inside the window.
            gate.wait_quiet_hours(svc, &mut campaign, progress).await?;
            if progress.is_cancelled() {
                break 'pages;
            }
            if gate.skip_opted_out(svc, &m, progress).await? {
                continue;
            }
            if !progress.hand_over(mid) {
                if progress.is_cancelled() {
                    break 'pages;
                }
                continue;
            }
            if svc.dispatcher.submit(m).is_err() {
                anyhow::bail!("dispatch stopped");
            }
            if last_flush.elapsed() >= flush_every {
                flush(svc, &mut campaign, progress).await;
                last_flush = Instant::now();
            }
        }
    }
    // Everything handed over: wait for the window to drain.
    while progress.outstanding() > 0 && !progress.is_cancelled() {
        let notified = progress.finished.notified();
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        if last_flush.elapsed() >= flush_every {
            flush(svc, &mut campaign, progress).await;
            last_flush = Instant::now();
        }
    }
    if progress.is_cancelled() {
        return Ok(()); // the cancel path writes the final row
    }
    // "Completed" promises every message's final status is durable: let the status writer
    // catch up first. Then re-read (a cancel may have landed) and write the exact counters.
    svc.dispatcher.flush_status().await;
    let mut c = svc.store.get_campaign(campaign.id).await?.unwrap_or(campaign);
    if c.status == CampaignStatus::Processing {
        c.sent = progress.sent.load(Ordering::Relaxed);
        c.failed = progress.failed.load(Ordering::Relaxed);
        c.cancelled = progress.cancelled.load(Ordering::Relaxed);
        c.status = CampaignStatus::Completed;
        c.paused_until = None;
        c.updated_at = now_ms();
        svc.store.put_campaign(&c).await?;
        tracing::info!(campaign = c.id, sent = c.sent, failed = c.failed, "campaign completed");
    }
    svc.dispatcher.campaigns().remove(c.id);
    Ok(())
}

/// Writes the live counters to the campaign row (unless it was cancelled meanwhile).
pub(super) async fn flush(svc: &CampaignService, campaign: &mut CampaignRecord, progress: &CampaignProgress) {
    if progress.is_cancelled() {
        return;
    }
    campaign.sent = progress.sent.load(Ordering::Relaxed);
    campaign.failed = progress.failed.load(Ordering::Relaxed);
    campaign.cancelled = progress.cancelled.load(Ordering::Relaxed);
    campaign.updated_at = now_ms();
    if let Err(e) = svc.store.put_campaign(campaign).await {
        tracing::warn!(campaign = campaign.id, error = %e, "could not write campaign progress");
    }
}
