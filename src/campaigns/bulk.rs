//! Creating a bulk campaign. Built to keep memory flat for a million recipients: the
//! recipients stay raw JSON slices of the request body and are processed a chunk at a time —
//! parsed, validated and normalised (on all cores), de-duplicated (by an 8-byte key per
//! number), personalised, and written durably, with a few chunk writes in flight. The
//! campaign row is written last: the answer comes only once everything is durable, and a
//! crash before that leaves unacknowledged messages that no pump ever reads.

use super::{CampaignError, CampaignService};
use crate::domain::{now_ms, phone, template};
use crate::store::{CampaignRecord, CampaignStatus, MessageRecord, MessageStatus};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

pub struct BulkRequest<'a> {
    pub association_id: i64,
    /// Each a phone string or `{phone, variables}` (the documented Personalization format).
    pub recipients: &'a [&'a RawValue],
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

#[derive(Deserialize)]
struct Personal<'a> {
    #[serde(borrow)]
    phone: Cow<'a, str>,
    #[serde(default, borrow)]
    variables: Option<&'a RawValue>,
}

/// One recipient entry, parsed and checked.
enum Entry<'a> {
    Valid { recipient: phone::Recipient, variables: Option<&'a RawValue> },
    Invalid { shown: String, reason: String },
}

fn check(raw: &RawValue) -> Entry<'_> {
    let text = raw.get();
    let (phone, variables) = match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Cow<str>>(text) {
            Ok(p) => (p, None),
            Err(e) => return Entry::Invalid { shown: text.to_string(), reason: format!("is not a string: {e}") },
        },
        Some(b'{') => match serde_json::from_str::<Personal>(text) {
            Ok(p) => (p.phone, p.variables),
            Err(e) => {
                let e = e.to_string();
                let e = e.split(" at line").next().unwrap_or(&e).to_string();
                return Entry::Invalid { shown: text.chars().take(64).collect(), reason: format!("is not {{phone, variables}}: {e}") };
            }
        },
        _ => return Entry::Invalid { shown: text.chars().take(64).collect(), reason: "must be a phone number string or {phone, variables}".into() },
    };
    if variables.is_some_and(|v| !v.get().starts_with('{') && v.get() != "null") {
        return Entry::Invalid { shown: phone.into_owned(), reason: "variables must be an object".into() };
    }
    match phone::normalise(&phone) {
        Ok(recipient) => Entry::Valid { recipient, variables },
        Err(reason) => Entry::Invalid { shown: phone.into_owned(), reason },
    }
}

/// Checks a chunk on every core (phone validation is the costly part of a big request).
fn check_chunk<'a>(raws: &'a [&'a RawValue]) -> Vec<Entry<'a>> {
    let work = || -> Vec<Entry<'a>> {
        let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).clamp(1, 8);
        if threads == 1 || raws.len() < 512 {
            return raws.iter().map(|r| check(r)).collect();
        }
        let per = raws.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = raws.chunks(per).map(|part| s.spawn(move || part.iter().map(|r| check(r)).collect::<Vec<_>>())).collect();
            parts.into_iter().flat_map(|h| h.join().expect("validation thread")).collect()
        })
    };
    // Don't stall the async scheduler's worker while the chunk is checked.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// E.164 digits as an integer: a compact de-duplication key (15 digits fit in 64 bits).
fn dedupe_key(e164: &str) -> u64 {
    e164.trim_start_matches('+').parse().unwrap_or(u64::MAX)
}

impl CampaignService {
    pub async fn create_bulk(self: &Arc<Self>, req: BulkRequest<'_>) -> Result<BulkAccepted, CampaignError> {
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

        let now = now_ms();
        let scheduled = req.scheduled_at.filter(|at| *at > now);
        let status = if scheduled.is_some() { MessageStatus::Scheduled } else { MessageStatus::Queued };
        let campaign_id = self.ids.next_id();
        let personalised = req.message.contains("{{");
        let mut seen: HashSet<u64> = HashSet::with_capacity(n.min(1 << 20));
        let (mut invalid, mut invalid_count, mut duplicates, mut valid) = (Vec::new(), 0usize, 0usize, 0u64);
        let mut writes = tokio::task::JoinSet::new();

        for (chunk_no, raws) in req.recipients.chunks(self.config.write_chunk.max(1)).enumerate() {
            let base = chunk_no * self.config.write_chunk.max(1);
            let mut records = Vec::with_capacity(raws.len());
            let mut accepted = Vec::with_capacity(raws.len());
            for (i, entry) in check_chunk(raws).into_iter().enumerate() {
                match entry {
                    Entry::Valid { recipient, variables } => {
                        if seen.insert(dedupe_key(&recipient.e164)) {
                            accepted.push((base + i, recipient, variables));
                        } else {
                            duplicates += 1;
                        }
                    }
                    Entry::Invalid { shown, reason } => {
                        invalid_count += 1;
                        if invalid.len() < self.config.invalid_report_limit {
                            invalid.push(InvalidRecipient { index: base + i, recipient: shown, reason });
                        }
                    }
                }
            }
            let ids = self.ids.next_block(accepted.len() as u64);
            for ((index, recipient, variables), id) in accepted.into_iter().zip(ids) {
                let body = if personalised {
                    let own: Map<String, Value> = variables.and_then(|v| serde_json::from_str(v.get()).ok()).unwrap_or_default();
                    template::render(&req.message, &[&own, &req.data])
                } else {
                    req.message.clone()
                };
                if body.chars().count() > self.max_message_chars {
                    return Err(CampaignError::Invalid(format!(
                        "the message for recipients[{index}] has more than {} characters after personalisation",
                        self.max_message_chars
                    )));
                }
                records.push(MessageRecord {
                    id,
                    association_id: req.association_id,
                    campaign_id: Some(campaign_id),
                    recipient: recipient.e164,
                    country: recipient.country,
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
            }
            valid += records.len() as u64;
            if !records.is_empty() {
                let store = self.store.clone();
                writes.spawn(async move { store.insert_messages(&records).await });
            }
            // A few chunk commits in flight: they overlap with checking the next chunk.
            while writes.len() >= 3 {
                writes.join_next().await.expect("non-empty").map_err(|e| CampaignError::Invalid(e.to_string()))??;
            }
        }
        while let Some(r) = writes.join_next().await {
            r.map_err(|e| CampaignError::Invalid(e.to_string()))??;
        }
        drop(seen);
        if valid == 0 {
            let first: Vec<String> = invalid.iter().take(5).map(|x| format!("recipients[{}] `{}` {}", x.index, x.recipient, x.reason)).collect();
            return Err(CampaignError::Invalid(format!("all {invalid_count} recipients are invalid: {}", first.join("; "))));
        }

        let campaign = CampaignRecord {
            id: campaign_id,
            association_id: req.association_id,
            name: req.name.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| format!("Campaign {campaign_id}")),
            channel: req.channel,
            status: if scheduled.is_some() { CampaignStatus::Scheduled } else { CampaignStatus::Processing },
            total_recipients: valid,
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
        tracing::info!(campaign = campaign_id, recipients = valid, invalid = invalid_count, duplicates, "campaign created");
        if scheduled.is_some() {
            self.schedule_changed();
        } else {
            self.start_pump(campaign.clone());
        }
        Ok(BulkAccepted { campaign, invalid_count, invalid, duplicates_removed: duplicates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_one_by_one() {
        let raws: Vec<Box<RawValue>> = [r#""+966501234567""#, r#"{"phone":"+966501234568","variables":{"n":"A"}}"#, "5", r#"{"variables":{}}"#, r#"{"phone":"+966501234569","variables":[1]}"#, r#""nope""#]
            .iter()
            .map(|s| RawValue::from_string(s.to_string()).unwrap())
            .collect();
        let refs: Vec<&RawValue> = raws.iter().map(|b| b.as_ref()).collect();
        let out = check_chunk(&refs);
        let kinds: Vec<bool> = out.iter().map(|e| matches!(e, Entry::Valid { .. })).collect();
        assert_eq!(kinds, vec![true, true, false, false, false, false]);
        match &out[3] {
            Entry::Invalid { reason, .. } => assert!(reason.contains("missing field `phone`"), "{reason}"),
            _ => unreachable!(),
        }
        assert_eq!(dedupe_key("+966501234567"), 966501234567);
    }
}
