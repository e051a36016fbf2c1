//! The one status-update path of the return flow. Every receiver (SMS delivery reports today;
//! WhatsApp statuses and gateway events later) normalises what its provider sent into a
//! [`StatusEvent`] and calls [`StatusService::apply`], which:
//!
//! 1. finds the message through the durable index (provider, provider message id) → message
//!    id, written by the store in the same commit as the engine's `sent`;
//! 2. hands the event to [`Store::apply_status`](crate::store::Store::apply_status), which
//!    decides on the row as it is at commit time with the precedence rule
//!    ([`MessageStatus::rank`]: `sent` < `delivered`/`undelivered`/`failed` < `read`, a repeat
//!    changes nothing) and writes the row, its history event, the statistics counters and the
//!    customer-callback outbox row (the store's [`StatusObserver`](crate::store::StatusObserver)
//!    hook) in one durable commit;
//! 3. counts it (`jood_delivery_reports_total`, the sent→delivered latency, and
//!    `jood_messages_finished_total` for each outcome a report decided).
//!
//! A report naming an id the engine does not know is counted
//! (`jood_delivery_reports_unknown_total`) and not stored. Depends on `store`, `domain` and
//! `telemetry`; knows nothing of HTTP or of any provider's wire format.

pub mod expiry;
pub mod fallback;

use crate::domain::ProviderKind;
use crate::store::{MessageEvent, MessageRecord, MessageStatus, SharedStore, StatusOutcome, StoreError};
use std::time::Duration;

/// A provider's status, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Not yet final at the provider (queued, accepted, sending, enroute): acknowledged, no change.
    Pending,
    /// Handed on by the provider (to the carrier).
    Sent,
    Delivered,
    /// Not reached: the provider gave up.
    Undelivered,
    /// Refused or failed at the provider.
    Failed,
    /// The validity period passed undelivered.
    Expired,
    Read,
}

impl ReportStatus {
    /// The message status it moves a message to; `None` for `Pending`.
    pub fn message_status(self) -> Option<MessageStatus> {
        match self {
            Self::Pending => None,
            Self::Sent => Some(MessageStatus::Sent),
            Self::Delivered => Some(MessageStatus::Delivered),
            Self::Undelivered => Some(MessageStatus::Undelivered),
            Self::Failed => Some(MessageStatus::Failed),
            Self::Expired => Some(MessageStatus::Expired),
            Self::Read => Some(MessageStatus::Read),
        }
    }

    /// The status a label names ([`Self::as_str`]), for reports kept in the store.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Delivered, Self::Undelivered, Self::Failed, Self::Expired, Self::Read].into_iter().find(|r| r.as_str() == s)
    }

    /// The metric label (a bounded set).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Read => "read",
        }
    }
}

/// One normalised status report.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub provider: ProviderKind,
    /// The credential whose callback URL received it.
    pub credential_id: Option<i64>,
    pub provider_message_id: String,
    pub status: ReportStatus,
    /// The provider's own status word, kept in the history.
    pub raw_status: String,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    /// Unix ms: when the provider says it happened (else when it was received).
    pub at: i64,
}

/// What became of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The message moved from one status to another.
    Changed { message_id: i64, from: MessageStatus, to: MessageStatus },
    /// Known message, nothing to change (a repeat, a late lower status, a pending report).
    Unchanged { message_id: i64, status: MessageStatus },
    /// No message has this provider id: counted, not stored.
    Unknown,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StatusError {
    /// The store could not make the change durable: the receiver answers 503 so the
    /// provider sends the report again.
    #[error("status store: {0}")]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct StatusService {
    store: SharedStore,
    /// How long a lookup that misses keeps trying: a report may overtake the engine's own
    /// `sent` commit (the provider answered, the commit is a few ms behind). Kept short:
    /// a report still unmatched after it is parked (`inbound::early`), not lost.
    settle: Duration,
    /// Report-driven channel fallback (`fallback.rs`), when the composition root sets it.
    fallback: Option<std::sync::Arc<fallback::ReportFallback>>,
}

impl StatusService {
    pub fn new(store: SharedStore) -> Self {
        Self { store, settle: Duration::from_millis(200), fallback: None }
    }

    /// Reports of `undelivered`/`failed` move messages with fallback channels left on.
    pub fn with_fallback(mut self, fallback: std::sync::Arc<fallback::ReportFallback>) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// The message a provider id belongs to, retried briefly on a miss (see `settle`).
    pub async fn locate(&self, provider: ProviderKind, provider_message_id: &str) -> Result<Option<MessageRecord>, StatusError> {
        Ok(self.locate_many(provider, &[provider_message_id]).await?.pop().flatten())
    }

    /// [`Self::locate`] for many ids at once: the misses share one settling wait.
    pub async fn locate_many(&self, provider: ProviderKind, ids: &[&str]) -> Result<Vec<Option<MessageRecord>>, StatusError> {
        let mut found: Vec<Option<MessageRecord>> = vec![None; ids.len()];
        let mut wait = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            let mut missing = false;
            for (slot, pid) in found.iter_mut().zip(ids) {
                if slot.is_some() || pid.is_empty() {
                    continue;
                }
                match self.store.find_by_provider_id(provider.code(), pid).await? {
                    Some(id) => *slot = self.store.get_message(id).await?,
                    None => missing = true,
                }
            }
            if !missing || waited >= self.settle {
                return Ok(found);
            }
            tokio::time::sleep(wait).await;
            waited += wait;
            wait *= 2;
        }
    }

    /// Applies one report (looking its message up first).
    pub async fn apply(&self, ev: StatusEvent) -> Result<Applied, StatusError> {
        match self.locate(ev.provider, &ev.provider_message_id).await? {
            Some(m) => self.apply_to(m.id, ev).await,
            None => {
                Self::count_unknown(ev.provider);
                Ok(Applied::Unknown)
            }
        }
    }

    /// Counts a report for an id the engine does not know.
    pub fn count_unknown(provider: ProviderKind) {
        metrics::counter!(crate::telemetry::DELIVERY_REPORTS_UNKNOWN_TOTAL, "provider" => provider.code()).increment(1);
    }

    /// Applies one report to a message already located (receivers that verified the
    /// report against the message's association first). Returns once durable.
    pub async fn apply_to(&self, message_id: i64, ev: StatusEvent) -> Result<Applied, StatusError> {
        Ok(self.apply_located(vec![(message_id, ev)]).await?.pop().unwrap_or(Applied::Unknown))
    }

    /// Applies located reports in order, in one durable commit; one answer per report.
    pub async fn apply_located(&self, items: Vec<(i64, StatusEvent)>) -> Result<Vec<Applied>, StatusError> {
        // Reports that move their message to its next channel instead (`fallback.rs`).
        let mut moved: Vec<Option<Applied>> = vec![None; items.len()];
        let mut items = items;
        if let Some(fb) = &self.fallback {
            let mut rest = Vec::with_capacity(items.len());
            for (i, (message_id, ev)) in items.into_iter().enumerate() {
                match fb.try_apply(&self.store, message_id, &ev).await? {
                    Some(applied) => {
                        metrics::counter!(crate::telemetry::DELIVERY_REPORTS_TOTAL, "provider" => ev.provider.code(), "status" => ev.status.as_str()).increment(1);
                        moved[i] = Some(applied);
                    }
                    None => rest.push((message_id, ev)),
                }
            }
            items = rest;
        }
        let applied = self.apply_reports(items).await?;
        if moved.iter().all(Option::is_none) {
            return Ok(applied);
        }
        let mut applied = applied.into_iter();
        Ok(moved.into_iter().map(|m| m.or_else(|| applied.next()).unwrap_or(Applied::Unknown)).collect())
    }

    async fn apply_reports(&self, items: Vec<(i64, StatusEvent)>) -> Result<Vec<Applied>, StatusError> {
        let mut events = Vec::with_capacity(items.len());
        // Per report: its provider, and its index in `events` (none for a pending report).
        let mut slots = Vec::with_capacity(items.len());
        for (message_id, ev) in items {
            metrics::counter!(crate::telemetry::DELIVERY_REPORTS_TOTAL, "provider" => ev.provider.code(), "status" => ev.status.as_str())
                .increment(1);
            let Some(status) = ev.status.message_status() else {
                slots.push((ev.provider, message_id, None));
                continue;
            };
            slots.push((ev.provider, message_id, Some(events.len())));
            events.push(MessageEvent {
                message_id,
                seq: 0,
                status,
                at: ev.at,
                source: ev.provider.code().to_string(),
                raw_status: Some(ev.raw_status).filter(|s| !s.is_empty()),
                error_code: ev.error_code,
                error_text: ev.error_text,
            });
        }
        let mut outcomes: Vec<Option<StatusOutcome>> =
            if events.is_empty() { Vec::new() } else { self.store.apply_status(&events).await?.into_iter().map(Some).collect() };
        let mut out = Vec::with_capacity(slots.len());
        for (provider, message_id, slot) in slots {
            let outcome = match slot {
                Some(i) => outcomes.get_mut(i).and_then(Option::take).unwrap_or(StatusOutcome::Missing),
                None => match self.store.get_message(message_id).await? {
                    Some(m) => StatusOutcome::Unchanged(m),
                    None => StatusOutcome::Missing,
                },
            };
            out.push(match outcome {
                StatusOutcome::Applied { before, after } => {
                    if after.status == MessageStatus::Delivered && before.status == MessageStatus::Sent {
                        let secs = (crate::domain::now_ms() - before.updated_at).max(0) as f64 / 1000.0;
                        metrics::histogram!(crate::telemetry::DELIVERY_LATENCY_SECONDS, "provider" => provider.code()).record(secs);
                    }
                    if after.status.rank() >= 2 {
                        crate::telemetry::message_reported(after.status.as_str(), &after.channel, Some(provider.code()));
                    }
                    Applied::Changed { message_id, from: before.status, to: after.status }
                }
                StatusOutcome::Unchanged(m) => Applied::Unchanged { message_id, status: m.status },
                StatusOutcome::Missing => {
                    Self::count_unknown(provider);
                    Applied::Unknown
                }
            });
        }
        Ok(out)
    }
}
