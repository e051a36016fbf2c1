//! Creating a bulk campaign. Built to keep memory flat for a million recipients: recipients
//! are processed a chunk at a time — parsed, validated and normalised (on all cores),
//! de-duplicated (by an 8-byte key per number), personalised, and written durably, with a
//! few chunk writes in flight. The campaign row is written first, as `ingesting`, and gets
//! its real status last: the answer comes only once everything is durable. An ingest that
//! does not finish (refused part-way, a broken stream, a dropped request) is abandoned by
//! [`IngestGuard`]: its messages are cancelled, never left as orphans; after a crash the
//! same happens at start (`CampaignService::start` finds the `ingesting` row).
//!
//! [`BulkIngest`] is that process with the chunks fed one by one, so a recipient list can be
//! stored as it arrives (the gRPC `SendBulk` stream) as well as from one request body (the
//! HTTP bulk route, whose recipients stay raw JSON slices of the body). Each API layer hands
//! recipients over as a [`RecipientInput`].

use super::{CampaignError, CampaignService};
use crate::domain::now_ms;
use super::checking::{check_chunk, Entry, Personalise};
use crate::store::{CampaignRecord, CampaignStatus, MessageRecord, StoreResult};
pub use super::recipients::{RecipientInput, Variables};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// A campaign's settings, whatever API carried them.
pub struct BulkSettings {
    pub association_id: i64,
    pub message: String,
    pub channel: String,
    pub name: Option<String>,
    pub scheduled_at: Option<i64>,
    pub data: Map<String, Value>,
    pub send_rate: Option<f64>,
    pub priority: i32,
    pub credential_id: Option<i64>,
    /// Status callbacks of its messages go here (else to the association's URL).
    pub callback_url: Option<String>,
    /// Its messages' `validityPeriod` in seconds (else the association's, else the engine's).
    pub validity_secs: Option<u32>,
    /// Smart encoding for its messages (`None`: the association's setting).
    pub smart_encoding: Option<bool>,
    /// An email campaign's subject, personalised like the message (default: its first line).
    pub subject: Option<String>,
    /// `shortenLinks`: each recipient's text gets a tracked short link under this base URL
    /// for each http(s) URL (a code per recipient, so clicks are attributable).
    pub shorten_links: Option<String>,
}

/// A bulk request whose recipients are all at hand (the HTTP body).
pub struct BulkRequest<'a> {
    pub settings: BulkSettings,
    /// Each a phone string or `{phone, variables}` (the documented Personalization format).
    pub recipients: &'a [&'a RawValue],
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

fn no_recipients() -> CampaignError {
    CampaignError::Invalid("recipients must list at least one phone number".into())
}

/// A campaign being stored: recipients go in chunk by chunk ([`Self::push`]), the campaign is
/// created by [`Self::finish`]. Holds only the de-duplication keys and a few chunk writes.
pub struct BulkIngest {
    svc: Arc<CampaignService>,
    settings: BulkSettings,
    /// Most entries accepted in all.
    limit: usize,
    campaign_id: i64,
    now: i64,
    /// Every message's validity deadline (from the campaign's due time).
    expires_at: i64,
    scheduled: Option<i64>,
    personalised: bool,
    seen: HashSet<u64>,
    invalid: Vec<InvalidRecipient>,
    invalid_count: usize,
    duplicates: usize,
    valid: u64,
    /// Entries received so far (the index of the next one).
    received: usize,
    /// The chunk writes in flight, and the clean-up if the ingest never finishes (armed once
    /// the `ingesting` row is written, before the first message).
    guard: IngestGuard,
    /// The association's SMS rules, the campaign's channel, whether the association has any
    /// opt-outs at all (if not, no recipient is looked up), and the segments stored so far.
    sms: crate::domain::sms_policy::SmsSettings,
    channel: crate::domain::Channel,
    check_opt_outs: bool,
    segments: u64,
}

/// Abandons an unfinished ingest when dropped: waits for its chunk writes in flight (so none
/// lands after the clean-up), then cancels the campaign's messages.
struct IngestGuard {
    svc: Arc<CampaignService>,
    campaign_id: i64,
    writes: tokio::task::JoinSet<StoreResult<()>>,
    armed: bool,
}

impl Drop for IngestGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (svc, id, mut writes) = (self.svc.clone(), self.campaign_id, std::mem::take(&mut self.writes));
        // Without a runtime (the process is ending) the start-up clean-up does it instead.
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            while writes.join_next().await.is_some() {}
            svc.abandon_ingest(id).await;
        });
    }
}

impl CampaignService {
    /// A campaign whose recipients all came in one request.
    pub async fn create_bulk(self: &Arc<Self>, req: BulkRequest<'_>) -> Result<BulkAccepted, CampaignError> {
        let n = req.recipients.len();
        if n == 0 {
            return Err(no_recipients());
        }
        if n > self.config.max_recipients_per_request {
            return Err(CampaignError::Invalid(format!(
                "recipients has {n} entries; the limit per request is {}",
                self.config.max_recipients_per_request
            )));
        }
        // The one activity check every sending path makes (see `directory::require_active`).
        match crate::directory::require_active(self.store.as_ref(), req.settings.association_id).await {
            Ok(_) => {}
            Err(crate::directory::DirectoryError::Inactive) => return Err(CampaignError::Conflict("Inactive association".into())),
            Err(crate::directory::DirectoryError::NotFound(m)) => return Err(CampaignError::NotFound(m)),
            Err(crate::directory::DirectoryError::Store(e)) => return Err(CampaignError::Store(e)),
            Err(other) => return Err(CampaignError::Invalid(other.to_string())),
        }
        let mut ingest = self.begin_bulk(req.settings, self.config.max_recipients_per_request, n).await?;
        ingest.push(req.recipients).await?;
        ingest.finish().await
    }

    /// Starts a campaign whose recipients arrive in chunks: at most `limit` of them,
    /// `expected` if known (0 otherwise), only to size the de-duplication set.
    pub async fn begin_bulk(self: &Arc<Self>, mut settings: BulkSettings, limit: usize, expected: usize) -> Result<BulkIngest, CampaignError> {
        if let Some(name) = &settings.name {
            use crate::domain::input;
            let n = input::name("campaignName", name, input::MAX_NAME_CHARS).map_err(|e| CampaignError::Invalid(e.to_string()))?;
            settings.name = Some(n.to_string());
        }
        if settings.message.trim().is_empty() {
            return Err(CampaignError::Invalid("message must not be empty".into()));
        }
        let channel = crate::ingress::channel::deliverable(&self.store, settings.association_id, &settings.channel).await.map_err(|e| match e {
            crate::ingress::channel::ChannelError::Refused(why) => CampaignError::Invalid(why),
            crate::ingress::channel::ChannelError::Store(e) => CampaignError::Store(e),
        })?;
        let sms = self.store.get_association(settings.association_id).await?.map(|a| a.sms).unwrap_or_default();
        let check_opt_outs = !self.store.list_opt_outs(settings.association_id, None, 1).await?.is_empty();
        if let Some(subject) = &settings.subject {
            if settings.channel != crate::domain::Channel::Email.as_str() {
                return Err(CampaignError::Invalid(format!("subject is for the email channel, not {}", settings.channel)));
            }
            settings.subject = Some(crate::domain::email::check_subject(subject).map_err(CampaignError::Invalid)?);
        }
        if let Some(rate) = settings.send_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(CampaignError::Invalid("sendRate must be a positive number of messages per second".into()));
            }
        }
        let now = now_ms();
        let scheduled = crate::domain::time::schedule_at(settings.scheduled_at, now).map_err(CampaignError::Invalid)?;
        let association = self.store.get_association(settings.association_id).await?.ok_or_else(|| CampaignError::NotFound(format!("Association {} not found", settings.association_id)))?;
        let expires_at = self.validity.deadline(settings.validity_secs, &association, scheduled.unwrap_or(now)).map_err(CampaignError::Invalid)?;
        let campaign_id = self.ids.next_id();
        Ok(BulkIngest {
            svc: self.clone(),
            limit,
            campaign_id,
            now,
            expires_at,
            scheduled,
            personalised: settings.message.contains("{{"),
            settings,
            seen: HashSet::with_capacity(expected.min(1 << 20)),
            invalid: Vec::new(),
            invalid_count: 0,
            duplicates: 0,
            valid: 0,
            received: 0,
            guard: IngestGuard { svc: self.clone(), campaign_id, writes: tokio::task::JoinSet::new(), armed: false },
            sms,
            channel,
            check_opt_outs,
            segments: 0,
        })
    }
}

impl BulkIngest {
    /// Checks, de-duplicates, personalises and writes the next recipients (durable by
    /// [`Self::finish`]). Any number per call; they are written `campaigns.write_chunk` at a time.
    pub async fn push<R: RecipientInput>(&mut self, items: &[R]) -> Result<(), CampaignError> {
        if self.received + items.len() > self.limit {
            return Err(CampaignError::Invalid(format!("recipients: more than the limit of {} entries", self.limit)));
        }
        let write_chunk = self.svc.config.write_chunk.max(1);
        for part in items.chunks(write_chunk) {
            let base = self.received;
            self.received += part.len();
            let s = &self.settings;
            let email = s.channel == crate::domain::Channel::Email.as_str();
            let personalise = Personalise {
                message: &s.message,
                data: &s.data,
                personalised: self.personalised || s.subject.as_deref().is_some_and(|t| t.contains("{{")),
                max_chars: self.svc.max_message_chars,
                email,
                subject: s.subject.as_deref(),
                shorten: s.shorten_links.as_deref(),
            };
            let mut accepted = Vec::with_capacity(part.len());
            for (i, entry) in check_chunk(part, &personalise).into_iter().enumerate() {
                match entry {
                    Entry::Valid { recipient, key, body, too_long, subject, links } => {
                        if !self.seen.insert(key) {
                            self.duplicates += 1;
                            continue;
                        }
                        if too_long {
                            return Err(CampaignError::Invalid(format!(
                                "the message for recipients[{}] has more than {} characters after personalisation",
                                base + i,
                                self.svc.max_message_chars
                            )));
                        }
                        let opts = crate::ingress::sms_rules::SendOptions { smart_encoding: s.smart_encoding, ..Default::default() };
                        let shaped = crate::ingress::sms_rules::shape(&self.sms, self.channel, body, &opts)
                            .map_err(|m| CampaignError::Invalid(format!("recipients[{}]: {m}", base + i)))?;
                        if self.check_opt_outs {
                            let store = self.svc.store.as_ref();
                            if crate::ingress::sms_rules::blocking_opt_out(store, s.association_id, &recipient.e164, self.channel.as_str()).await?.is_some() {
                                self.invalid_count += 1;
                                if self.invalid.len() < self.svc.config.invalid_report_limit {
                                    let reason = crate::ingress::sms_rules::OPTED_OUT.to_string();
                                    self.invalid.push(InvalidRecipient { index: base + i, recipient: recipient.e164, reason });
                                }
                                continue;
                            }
                        }
                        accepted.push((recipient, shaped, subject, links));
                    }
                    Entry::Invalid { shown, reason } => {
                        self.invalid_count += 1;
                        if self.invalid.len() < self.svc.config.invalid_report_limit {
                            self.invalid.push(InvalidRecipient { index: base + i, recipient: shown, reason });
                        }
                    }
                }
            }
            let ids = self.svc.ids.next_block(accepted.len() as u64);
            let mut links = Vec::new();
            let records: Vec<MessageRecord> = accepted
                .into_iter()
                .zip(ids)
                .map(|((recipient, shaped, subject, tracked), id)| {
                    if !tracked.is_empty() {
                        links.extend(crate::links::tracked_records(&self.svc.ids, s.association_id, id, Some(self.campaign_id), tracked, self.now));
                    }
                    MessageRecord {
                    email: subject.map(|subject| crate::domain::EmailContent { subject, html: None }),
                    campaign_id: Some(self.campaign_id),
                    expires_at: Some(self.expires_at),
                    priority: s.priority,
                    credential_id: s.credential_id,
                    encoding: shaped.encoding,
                    segments: shaped.segments,
                    ..MessageRecord::accepted(id, s.association_id, recipient, shaped.body, s.channel.clone(), self.scheduled, self.now)
                    }
                })
                .collect();
            self.valid += records.len() as u64;
            self.segments += records.iter().map(|r| r.segments as u64).sum::<u64>();
            if !records.is_empty() && !self.guard.armed {
                // The row before the first message (see the module comment): every message
                // written belongs to it. A request refused before any write leaves no row.
                let mut row = campaign_row(self.campaign_id, &self.settings, self.scheduled, self.now);
                row.status = CampaignStatus::Ingesting;
                self.svc.store.put_campaign(&row).await?;
                self.guard.armed = true;
            }
            if !records.is_empty() {
                let store = self.svc.store.clone();
                match self.settings.shorten_links.clone() {
                    // The links in the same durable write as their messages.
                    Some(base) if !links.is_empty() => self.guard.writes.spawn(super::tracked::write(store, records, links, base)),
                    _ => self.guard.writes.spawn(async move { store.insert_messages(&records).await }),
                };
            }
            // A few chunk commits in flight: they overlap with checking the next chunk.
            while self.guard.writes.len() >= 3 {
                self.guard.writes.join_next().await.expect("non-empty").map_err(|e| CampaignError::Invalid(e.to_string()))??;
            }
        }
        Ok(())
    }

    /// Waits for every write, then creates the campaign (and starts or schedules it).
    pub async fn finish(mut self) -> Result<BulkAccepted, CampaignError> {
        while let Some(r) = self.guard.writes.join_next().await {
            r.map_err(|e| CampaignError::Invalid(e.to_string()))??;
        }
        if self.received == 0 {
            return Err(no_recipients());
        }
        drop(std::mem::take(&mut self.seen));
        let (invalid_count, duplicates, valid) = (self.invalid_count, self.duplicates, self.valid);
        if valid == 0 {
            let first: Vec<String> =
                self.invalid.iter().take(5).map(|x| format!("recipients[{}] `{}` {}", x.index, x.recipient, x.reason)).collect();
            return Err(CampaignError::Invalid(format!("all {invalid_count} recipients are invalid: {}", first.join("; "))));
        }
        let campaign = CampaignRecord {
            total_recipients: valid,
            invalid_recipients: invalid_count as u64,
            duplicates_removed: duplicates as u64,
            segments: self.segments,
            ..campaign_row(self.campaign_id, &self.settings, self.scheduled, self.now)
        };
        let campaign_id = campaign.id;
        // From here the campaign is the pump's or the scheduler's, not the guard's.
        self.svc.store.put_campaign(&campaign).await?;
        self.guard.armed = false;
        tracing::info!(campaign = campaign_id, recipients = valid, invalid = invalid_count, duplicates, "campaign created");
        if self.scheduled.is_some() {
            self.svc.schedule_changed();
        } else {
            self.svc.start_pump(campaign.clone());
        }
        Ok(BulkAccepted { campaign, invalid_count, invalid: self.invalid, duplicates_removed: duplicates })
    }
}

/// The campaign row of `settings` (counts zero; `finish` fills them in).
fn campaign_row(id: i64, s: &BulkSettings, scheduled: Option<i64>, now: i64) -> CampaignRecord {
    CampaignRecord {
        id,
        association_id: s.association_id,
        name: s.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("Campaign {id}")),
        channel: s.channel.clone(),
        status: if scheduled.is_some() { CampaignStatus::Scheduled } else { CampaignStatus::Processing },
        total_recipients: 0,
        sent: 0,
        failed: 0,
        cancelled: 0,
        invalid_recipients: 0,
        duplicates_removed: 0,
        scheduled_at: scheduled,
        send_rate: s.send_rate,
        priority: s.priority,
        credential_id: s.credential_id,
        created_at: now,
        updated_at: now,
        callback_url: s.callback_url.clone(),
        paused_until: None,
        segments: 0,
    }
}
