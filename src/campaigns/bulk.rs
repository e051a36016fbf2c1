//! Creating a bulk campaign: validate and normalise every recipient (in parallel, on the
//! blocking pool), drop duplicates, personalise each message, write the messages durably in
//! chunks, then the campaign row. The answer comes only after all of it is durable; a crash
//! before the campaign row leaves unacknowledged messages no pump ever reads.

use super::{CampaignError, CampaignService};
use crate::domain::{now_ms, phone, template};
use crate::store::{CampaignRecord, CampaignStatus, MessageRecord, MessageStatus};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// One entry of `recipients`: a phone string, or `{phone, variables}` (Personalization).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RecipientInput {
    Phone(String),
    Personal {
        phone: String,
        #[serde(default)]
        variables: Option<Map<String, Value>>,
    },
}

impl RecipientInput {
    fn phone(&self) -> &str {
        match self {
            RecipientInput::Phone(p) | RecipientInput::Personal { phone: p, .. } => p,
        }
    }
}

pub struct BulkRequest {
    pub association_id: i64,
    pub recipients: Vec<RecipientInput>,
    pub message: String,
    pub channel: String,
    pub name: Option<String>,
    pub scheduled_at: Option<i64>,
    pub data: Map<String, Value>,
    pub send_rate: Option<f64>,
    pub priority: i32,
    pub credential_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct InvalidRecipient {
    pub index: usize,
    pub recipient: String,
    pub reason: String,
}

pub struct BulkAccepted {
    pub campaign: CampaignRecord,
    pub invalid_count: usize,
    /// The first `campaigns.invalid_report_limit` invalid recipients.
    pub invalid: Vec<InvalidRecipient>,
    pub duplicates_removed: usize,
}

impl CampaignService {
    pub async fn create_bulk(self: &Arc<Self>, req: BulkRequest) -> Result<BulkAccepted, CampaignError> {
        let n = req.recipients.len();
        if n == 0 {
            return Err(CampaignError::Invalid("recipients must list at least one phone number".into()));
        }
        if n > self.config.max_recipients_per_request {
            return Err(CampaignError::Invalid(format!(
                "recipients has {n} entries; the limit per request is {}",
                self.config.max_recipients_per_request
            )));
        }
        if req.message.trim().is_empty() {
            return Err(CampaignError::Invalid("message must not be empty".into()));
        }
        if !crate::ingress::CHANNELS.contains(&req.channel.as_str()) {
            return Err(CampaignError::Invalid(format!("channel `{}` is not one of sms, whatsapp", req.channel)));
        }
        if let Some(rate) = req.send_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(CampaignError::Invalid("sendRate must be a positive number of messages per second".into()));
            }
        }

        // Validate in parallel: phone parsing is the costly part of a large request.
        let recipients = Arc::new(req.recipients);
        let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(2).max(1);
        let chunk = n.div_ceil(workers);
        let mut handles = Vec::new();
        for w in 0..workers {
            let r = recipients.clone();
            let (start, end) = (w * chunk, ((w + 1) * chunk).min(n));
            handles.push(tokio::task::spawn_blocking(move || {
                r[start.min(end)..end].iter().map(|x| phone::normalise(x.phone())).collect::<Vec<_>>()
            }));
        }
        let mut normalised = Vec::with_capacity(n);
        for h in handles {
            normalised.extend(h.await.map_err(|e| CampaignError::Invalid(format!("validation failed: {e}")))?);
        }

        let mut seen: HashSet<String> = HashSet::with_capacity(n);
        let mut invalid = Vec::new();
        let mut invalid_count = 0;
        let mut duplicates = 0;
        let mut valid: Vec<(usize, phone::Recipient)> = Vec::with_capacity(n);
        for (i, r) in normalised.into_iter().enumerate() {
            match r {
                Ok(p) => {
                    if seen.insert(p.e164.clone()) {
                        valid.push((i, p));
                    } else {
                        duplicates += 1;
                    }
                }
                Err(reason) => {
                    invalid_count += 1;
                    if invalid.len() < self.config.invalid_report_limit {
                        invalid.push(InvalidRecipient { index: i, recipient: recipients[i].phone().to_string(), reason });
                    }
                }
            }
        }
        drop(seen);
        if valid.is_empty() {
            let first: Vec<String> = invalid.iter().take(5).map(|x| format!("recipients[{}] `{}` {}", x.index, x.recipient, x.reason)).collect();
            return Err(CampaignError::Invalid(format!("all {invalid_count} recipients are invalid: {}", first.join("; "))));
        }

        let now = now_ms();
        let scheduled = req.scheduled_at.filter(|at| *at > now);
        let campaign_id = self.ids.next_id();
        let status = if scheduled.is_some() { MessageStatus::Scheduled } else { MessageStatus::Queued };
        let ids = self.ids.next_block(valid.len() as u64);
        let max_chars = self.max_message_chars;
        // Durable in chunks, a few commits in flight at once (each chunk is one group commit).
        let mut writes = tokio::task::JoinSet::new();
        let mut chunk_msgs = Vec::with_capacity(self.config.write_chunk);
        for ((i, p), id) in valid.into_iter().zip(ids) {
            let empty = Map::new();
            let own = match &recipients[i] {
                RecipientInput::Personal { variables: Some(v), .. } => v,
                _ => &empty,
            };
            let body = template::render(&req.message, &[own, &req.data]);
            if body.chars().count() > max_chars {
                return Err(CampaignError::Invalid(format!(
                    "the message for recipients[{i}] has more than {max_chars} characters after personalisation"
                )));
            }
            chunk_msgs.push(MessageRecord {
                id,
                association_id: req.association_id,
                campaign_id: Some(campaign_id),
                recipient: p.e164,
                country: p.country,
                body,
                channel: req.channel.clone(),
                priority: req.priority,
                status,
                scheduled_at: scheduled,
                credential_id: req.credential_id,
                provider: None,
                provider_message_id: None,
                error: None,
                attempts: 0,
                created_at: now,
                updated_at: now,
            });
            if chunk_msgs.len() == self.config.write_chunk {
                let batch = std::mem::replace(&mut chunk_msgs, Vec::with_capacity(self.config.write_chunk));
                let store = self.store.clone();
                writes.spawn(async move { store.insert_messages(&batch).await });
                while writes.len() >= 4 {
                    writes.join_next().await.expect("non-empty").map_err(|e| CampaignError::Invalid(e.to_string()))??;
                }
            }
        }
        if !chunk_msgs.is_empty() {
            self.store.insert_messages(&chunk_msgs).await?;
        }
        while let Some(r) = writes.join_next().await {
            r.map_err(|e| CampaignError::Invalid(e.to_string()))??;
        }

        let total_recipients = (n - invalid_count - duplicates) as u64;
        let campaign = CampaignRecord {
            id: campaign_id,
            association_id: req.association_id,
            name: req.name.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| format!("Campaign {campaign_id}")),
            channel: req.channel,
            status: if scheduled.is_some() { CampaignStatus::Scheduled } else { CampaignStatus::Processing },
            total_recipients,
            sent: 0,
            failed: 0,
            cancelled: 0,
            invalid_recipients: invalid_count as u64,
            duplicates_removed: duplicates as u64,
            scheduled_at: scheduled,
            send_rate: req.send_rate,
            priority: req.priority,
            credential_id: req.credential_id,
            created_at: now,
            updated_at: now,
        };
        self.store.put_campaign(&campaign).await?;
        tracing::info!(campaign = campaign_id, recipients = total_recipients, invalid = invalid_count, duplicates, "campaign created");
        if scheduled.is_some() {
            self.schedule_changed();
        } else {
            self.start_pump(campaign.clone());
        }
        Ok(BulkAccepted { campaign, invalid_count, invalid, duplicates_removed: duplicates })
    }
}
