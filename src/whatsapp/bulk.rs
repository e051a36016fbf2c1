//! The WhatsApp bulk send of seed 000 ("Send WhatsApp Bulk Messages"): one approved template
//! to many recipients, each with its own `parameters` (body variables, `header_*`,
//! `button_url*`). Every entry is checked and rendered before anything is stored; an entry
//! that cannot be sent is reported with its index and reason and the others go on.
//!
//! * Up to [`SYNC_LIMIT`] entries the request is answered with each recipient's result: the
//!   messages are accepted durably one by one (as `/whatsapp-send/template` does) and the
//!   route waits, bounded, for the provider's answers.
//! * Beyond it the messages become a campaign (`campaigns::create_prepared`): durable before
//!   the answer, a `jobId` (`wa_bulk_<campaign id>`) to poll, paced by the credential's
//!   policy (per-number throughput; the pair limit defers only the recipient concerned),
//!   resumed after a restart and cancellable like any campaign.
//!
//! The same number with different parameters is two messages (two receipts for one donor);
//! an entry repeating another exactly (number and parameters) is sent once.

use super::{SendOutcome, WaResult, WhatsApp, WhatsAppError};
use crate::campaigns::{CampaignService, InvalidRecipient, PreparedMessage, PreparedSettings};
use crate::domain::{phone, ProviderKind, WhatsAppContent};
use crate::ingress::whatsapp::template_content;
use crate::store::CampaignRecord;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Entries answered synchronously at most (the document: "larger than 50 are processed
/// asynchronously").
pub const SYNC_LIMIT: usize = 50;

/// The prefix of a bulk job's id; the rest is its campaign's id.
pub const JOB_PREFIX: &str = "wa_bulk_";

pub struct BulkSend {
    pub association_id: i64,
    pub template_id: i64,
    pub recipients: Vec<BulkEntry>,
    pub credential_id: Option<i64>,
}

pub struct BulkEntry {
    pub phone: String,
    pub parameters: Map<String, Value>,
}

/// One entry's result in a synchronous answer.
pub struct EntryResult {
    pub index: usize,
    pub phone: String,
    pub outcome: Result<SendOutcome, String>,
}

pub enum BulkOutcome {
    /// Small batches: every entry's result.
    Done(Vec<EntryResult>),
    /// A job: the campaign carrying it, the entries refused (the first
    /// `campaigns.invalid_report_limit`), their count, and exact repeats removed.
    Job { campaign: CampaignRecord, invalid: Vec<InvalidRecipient>, invalid_count: usize, duplicates: usize },
}

/// A job id as the API shows it.
pub fn job_id(campaign_id: i64) -> String {
    format!("{JOB_PREFIX}{campaign_id}")
}

/// The campaign id of a job id (`wa_bulk_<id>`, or the bare id).
pub fn parse_job_id(s: &str) -> Option<i64> {
    s.strip_prefix(JOB_PREFIX).unwrap_or(s).parse().ok().filter(|id: &i64| *id > 0)
}

fn invalid(m: impl Into<String>) -> WhatsAppError {
    WhatsAppError::Invalid(m.into())
}

/// What makes two entries the same message (number and every parameter).
fn repeat_key(e164: &str, content: &WhatsAppContent) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e164.hash(&mut h);
    serde_json::to_string(content).unwrap_or_default().hash(&mut h);
    h.finish()
}

impl WhatsApp {
    pub async fn send_bulk(self: &Arc<Self>, campaigns: &Arc<CampaignService>, req: BulkSend) -> WaResult<BulkOutcome> {
        let n = req.recipients.len();
        if n == 0 {
            return Err(invalid("recipients must list at least one {phone, parameters} entry"));
        }
        let t = self.template(Some(req.association_id), req.template_id).await?;
        if t.status != "APPROVED" {
            return Err(invalid(format!("template {} is {}; only APPROVED templates can be sent", t.id, t.status)));
        }
        if !t.is_active {
            return Err(invalid(format!("template {} is disabled (isActive false)", t.id)));
        }
        if let Some(cid) = req.credential_id {
            let serves = self
                .directory
                .list_credentials(req.association_id)
                .await?
                .iter()
                .any(|c| c.id == cid && ProviderKind::from_id(c.provider_id).is_some_and(|p| p.channels().contains(&crate::domain::Channel::Whatsapp)));
            if !serves {
                return Err(invalid(format!("credentialId {cid} is not a WhatsApp credential of association {}", req.association_id)));
            }
        }
        // Every entry checked and rendered before anything is stored.
        let mut ready: Vec<(usize, PreparedMessage)> = Vec::with_capacity(n);
        let mut refused: Vec<(usize, String, String)> = Vec::new();
        let mut seen = HashSet::with_capacity(n);
        let mut duplicates = 0;
        for (index, e) in req.recipients.into_iter().enumerate() {
            let recipient = match phone::normalise(&e.phone) {
                Ok(r) => r,
                Err(why) => {
                    refused.push((index, e.phone.chars().take(64).collect(), format!("recipient {why}")));
                    continue;
                }
            };
            match template_content(&t, &e.parameters) {
                Ok((content, body)) => {
                    let content = WhatsAppContent::Template(content);
                    if !seen.insert(repeat_key(&recipient.e164, &content)) {
                        duplicates += 1;
                        continue;
                    }
                    ready.push((index, PreparedMessage { recipient, body, content: Some(content) }));
                }
                Err(why) => refused.push((index, recipient.e164, why)),
            }
        }
        if n <= SYNC_LIMIT {
            return Ok(BulkOutcome::Done(self.send_each(req.association_id, req.credential_id, ready, refused).await));
        }
        if ready.is_empty() {
            let first: Vec<String> = refused.iter().take(5).map(|(i, p, why)| format!("recipients[{i}] `{p}`: {why}")).collect();
            return Err(invalid(format!("all {} recipients are invalid: {}", refused.len(), first.join("; "))));
        }
        let invalid_count = refused.len();
        let report_limit = campaigns.config.invalid_report_limit;
        let invalid = refused.into_iter().take(report_limit).map(|(index, recipient, reason)| InvalidRecipient { index, recipient, reason }).collect();
        let settings = PreparedSettings {
            association_id: req.association_id,
            name: format!("WhatsApp bulk: {} ({})", t.name, t.language),
            channel: "whatsapp".into(),
            credential_id: req.credential_id,
            invalid_recipients: invalid_count as u64,
            duplicates_removed: duplicates as u64,
            options: Default::default(),
        };
        let campaign = campaigns.create_prepared(settings, ready.into_iter().map(|(_, m)| m).collect()).await.map_err(|e| match e {
            crate::campaigns::CampaignError::Invalid(m) | crate::campaigns::CampaignError::Conflict(m) => WhatsAppError::Invalid(m),
            crate::campaigns::CampaignError::NotFound(m) => WhatsAppError::NotFound(m),
            crate::campaigns::CampaignError::Store(s) => WhatsAppError::Store(s),
        })?;
        Ok(BulkOutcome::Job { campaign, invalid, invalid_count, duplicates })
    }

    /// A small batch: each message accepted durably and waited for, all at once.
    async fn send_each(
        self: &Arc<Self>,
        association_id: i64,
        credential_id: Option<i64>,
        ready: Vec<(usize, PreparedMessage)>,
        refused: Vec<(usize, String, String)>,
    ) -> Vec<EntryResult> {
        let mut sends = tokio::task::JoinSet::new();
        for (index, m) in ready {
            let me = self.clone();
            sends.spawn(async move {
                let phone = m.recipient.e164.clone();
                let content = m.content.unwrap_or(WhatsAppContent::Text { body: m.body.clone(), preview_url: false });
                let outcome = me.deliver(association_id, m.recipient.e164, m.body, content, credential_id).await.map_err(|e| e.to_string());
                EntryResult { index, phone, outcome }
            });
        }
        let mut results = Vec::with_capacity(sends.len() + refused.len());
        while let Some(r) = sends.join_next().await {
            match r {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "a bulk send task failed"),
            }
        }
        results.extend(refused.into_iter().map(|(index, phone, why)| EntryResult { index, phone, outcome: Err(why) }));
        results.sort_by_key(|r| r.index);
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip() {
        assert_eq!(parse_job_id(&job_id(42)), Some(42));
        assert_eq!(parse_job_id("42"), Some(42));
        assert_eq!(parse_job_id("wa_bulk_x"), None);
        assert_eq!(parse_job_id("wa_bulk_-1"), None);
    }
}
