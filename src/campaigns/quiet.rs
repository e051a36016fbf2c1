//! The SMS rules a running campaign obeys message by message: the association's quiet hours
//! (a message falling due inside the window waits for its end, and the campaign row shows
//! `paused_until` meanwhile) and the opt-out list (a recipient who opted out after the
//! campaign was created is skipped: the message ends `cancelled`, "recipient opted out").
//! The association's settings are re-read every few seconds, so a change applies to a
//! running campaign. Time comes from the service's settable clock (`CampaignService::clock`).

use super::CampaignService;
use crate::dispatch::progress::CampaignProgress;
use crate::domain::now_ms;
use crate::domain::sms_policy::SmsSettings;
use crate::store::{CampaignRecord, MessageRecord, MessageStatus, MessageUpdate};
use std::time::{Duration, Instant};

/// How often the association's settings and opt-out presence are re-read.
const REFRESH: Duration = Duration::from_secs(2);
/// Longest sleep between checks while paused (the clock may be moved, settings changed).
const PAUSED_POLL: Duration = Duration::from_millis(200);

pub(super) struct Gate {
    association_id: i64,
    settings: SmsSettings,
    /// Whether the association has any opt-out at all (if not, no lookup per message).
    any_opt_outs: bool,
    read_at: Option<Instant>,
}

impl Gate {
    pub(super) fn new(association_id: i64) -> Self {
        Self { association_id, settings: SmsSettings::default(), any_opt_outs: false, read_at: None }
    }

    async fn refresh(&mut self, svc: &CampaignService) -> anyhow::Result<()> {
        if self.read_at.is_some_and(|t| t.elapsed() < REFRESH) {
            return Ok(());
        }
        self.settings = svc.store.get_association(self.association_id).await?.map(|a| a.sms).unwrap_or_default();
        self.any_opt_outs = !svc.store.list_opt_outs(self.association_id, None, 1).await?.is_empty();
        self.read_at = Some(Instant::now());
        Ok(())
    }

    /// Waits while the association's quiet hours hold (or until the campaign is cancelled),
    /// keeping `paused_until` on the campaign row; clears it once they end.
    pub(super) async fn wait_quiet_hours(&mut self, svc: &CampaignService, campaign: &mut CampaignRecord, progress: &CampaignProgress) -> anyhow::Result<()> {
        loop {
            self.refresh(svc).await?;
            let now = svc.clock.now_ms();
            let until = self.settings.quiet_hours.as_ref().and_then(|q| q.hold_until(now));
            if campaign.paused_until != until && !progress.is_cancelled() {
                match until {
                    Some(t) => {
                        metrics::counter!(crate::telemetry::CAMPAIGN_QUIET_HOLDS_TOTAL).increment(1);
                        tracing::info!(campaign = campaign.id, paused_until = %crate::domain::Timestamp(t).to_iso(), "campaign paused for quiet hours");
                    }
                    None => tracing::info!(campaign = campaign.id, "quiet hours over; campaign resumes"),
                }
                // Resuming after a pause: settings and opt-outs may have changed meanwhile.
                if until.is_none() {
                    self.read_at = None;
                }
                campaign.paused_until = until;
                super::pump::flush(svc, campaign, progress).await;
            }
            let Some(until) = until else { return Ok(()) };
            if progress.is_cancelled() {
                return Ok(());
            }
            let left = Duration::from_millis((until - now).max(1) as u64);
            tokio::time::sleep(left.min(PAUSED_POLL)).await;
            // Settings may have changed (quiet hours removed): re-read on the next turn.
            if self.read_at.is_some_and(|t| t.elapsed() >= REFRESH) {
                self.read_at = None;
            }
        }
    }

    /// Skips `m` when its recipient opted out since the campaign was created: writes it
    /// `cancelled` and answers true.
    pub(super) async fn skip_opted_out(&mut self, svc: &CampaignService, m: &MessageRecord, progress: &CampaignProgress) -> anyhow::Result<bool> {
        self.refresh(svc).await?;
        if !self.any_opt_outs {
            return Ok(false);
        }
        let channel = m.channel_kind().as_str();
        if crate::ingress::sms_rules::blocking_opt_out(svc.store.as_ref(), m.association_id, &m.recipient, channel).await?.is_none() {
            return Ok(false);
        }
        let mut skipped = m.clone();
        skipped.status = MessageStatus::Cancelled;
        skipped.error = Some(crate::ingress::sms_rules::OPTED_OUT.into());
        skipped.updated_at = now_ms();
        svc.dispatcher.write_status(MessageUpdate { message: skipped, attempt: None });
        progress.count_final(MessageStatus::Cancelled);
        Ok(true)
    }
}
