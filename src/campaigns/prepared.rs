//! Campaigns whose messages another service built in full: the WhatsApp bulk send, where
//! each recipient's approved template is rendered with that recipient's parameters (and
//! checked) before anything is stored. Written like every bulk — messages in chunks of
//! `campaigns.write_chunk`, durably, then the campaign row, then its pump — so the job is
//! durable before it is acknowledged, resumes after a restart, and is cancelled, counted and
//! watched through the same machinery as any campaign.

use super::{CampaignError, CampaignService};
use crate::domain::{now_ms, phone, WhatsAppContent};
use crate::store::{CampaignRecord, CampaignStatus, MessageRecord};
use std::sync::Arc;

/// The campaign-wide settings of a prepared campaign.
pub struct PreparedSettings {
    pub association_id: i64,
    pub name: String,
    pub channel: String,
    pub credential_id: Option<i64>,
    /// Refused entries and removed duplicates, for the campaign row's counters.
    pub invalid_recipients: u64,
    pub duplicates_removed: u64,
    /// What the signed `/webhook/bulk` carries beside the recipients (default: none of it).
    pub options: PreparedOptions,
}

/// Optional campaign settings of a prepared campaign.
#[derive(Debug, Clone, Default)]
pub struct PreparedOptions {
    /// Due time: the campaign is `scheduled` until then (its messages too).
    pub scheduled_at: Option<i64>,
    pub send_rate: Option<f64>,
    pub priority: i32,
    pub callback_url: Option<String>,
}

/// One recipient's finished message.
pub struct PreparedMessage {
    pub recipient: phone::Recipient,
    /// What logs and searches show (the rendered text).
    pub body: String,
    pub content: Option<WhatsAppContent>,
}

impl CampaignService {
    /// Stores the messages and the campaign, and starts it. Nothing is acknowledged before
    /// all of it is durable; a crash before the campaign row leaves messages no pump reads.
    pub async fn create_prepared(self: &Arc<Self>, s: PreparedSettings, messages: Vec<PreparedMessage>) -> Result<CampaignRecord, CampaignError> {
        if messages.is_empty() {
            return Err(CampaignError::Invalid("recipients must list at least one valid recipient".into()));
        }
        if messages.len() > self.config.max_recipients_per_request {
            return Err(CampaignError::Invalid(format!(
                "recipients has {} entries; the limit per request is {}",
                messages.len(),
                self.config.max_recipients_per_request
            )));
        }
        match crate::directory::require_active(self.store.as_ref(), s.association_id).await {
            Ok(_) => {}
            Err(crate::directory::DirectoryError::Inactive) => return Err(CampaignError::Conflict("Inactive association".into())),
            Err(crate::directory::DirectoryError::NotFound(m)) => return Err(CampaignError::NotFound(m)),
            Err(crate::directory::DirectoryError::Store(e)) => return Err(CampaignError::Store(e)),
            Err(other) => return Err(CampaignError::Invalid(other.to_string())),
        }
        crate::ingress::channel::deliverable(&self.store, s.association_id, &s.channel).await.map_err(|e| match e {
            crate::ingress::channel::ChannelError::Refused(why) => CampaignError::Invalid(why),
            crate::ingress::channel::ChannelError::Store(e) => CampaignError::Store(e),
        })?;
        if let Some(rate) = s.options.send_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(CampaignError::Invalid("sendRate must be a positive number of messages per second".into()));
            }
        }
        let now = now_ms();
        // A due time already past is now (as on every bulk).
        let mut s = s;
        s.options.scheduled_at = crate::domain::time::schedule_at(s.options.scheduled_at, now).map_err(CampaignError::Invalid)?;
        let campaign_id = self.ids.next_id();
        let total = messages.len() as u64;
        let mut ids = self.ids.next_block(total).into_iter();
        let mut writes = tokio::task::JoinSet::new();
        let mut rest = messages.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<MessageRecord> = rest
                .by_ref()
                .take(self.config.write_chunk.max(1))
                .map(|m| MessageRecord {
                    campaign_id: Some(campaign_id),
                    credential_id: s.credential_id,
                    content: m.content,
                    priority: s.options.priority,
                    callback_url: s.options.callback_url.clone(),
                    ..MessageRecord::accepted(ids.next().unwrap_or_else(|| self.ids.next_id()), s.association_id, m.recipient, m.body, s.channel.clone(), s.options.scheduled_at, now)
                })
                .collect();
            let store = self.store.clone();
            writes.spawn(async move { store.insert_messages(&chunk).await });
            while writes.len() >= 3 {
                writes.join_next().await.expect("non-empty").map_err(|e| CampaignError::Invalid(e.to_string()))??;
            }
        }
        while let Some(r) = writes.join_next().await {
            r.map_err(|e| CampaignError::Invalid(e.to_string()))??;
        }
        let campaign = CampaignRecord {
            id: campaign_id,
            association_id: s.association_id,
            name: s.name,
            channel: s.channel,
            status: if s.options.scheduled_at.is_some() { CampaignStatus::Scheduled } else { CampaignStatus::Processing },
            total_recipients: total,
            sent: 0,
            failed: 0,
            cancelled: 0,
            invalid_recipients: s.invalid_recipients,
            duplicates_removed: s.duplicates_removed,
            scheduled_at: s.options.scheduled_at,
            send_rate: s.options.send_rate,
            priority: s.options.priority,
            credential_id: s.credential_id,
            created_at: now,
            updated_at: now,
            callback_url: s.options.callback_url.clone(),
            paused_until: None,
            segments: 0,
        };
        self.store.put_campaign(&campaign).await?;
        tracing::info!(campaign = campaign_id, recipients = total, channel = %campaign.channel, "prepared campaign created");
        if campaign.scheduled_at.is_some() {
            self.schedule_changed();
        } else {
            self.start_pump(campaign.clone());
        }
        Ok(campaign)
    }
}
