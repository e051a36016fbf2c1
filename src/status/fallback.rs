//! Channel fallback on a delivery report: an OTP whose SMS the provider reports `undelivered`
//! or `failed` becomes a call (or whatever the message's next fallback channel is) when the
//! report comes within `delivery.report_fallback_within_ms` of the message's acceptance.
//! Dispatch already falls back when a channel fails for good at sending; this covers the
//! channels that fail after the provider took the message.
//!
//! The report is not applied as the message's outcome. Instead, in one compare-and-set on the
//! still-`sent` row, the message takes its next step's channel, recipient and payload and goes
//! back to `dispatching` (the store's [`MessageStatus::engine_row_supersedes`] admits exactly
//! this move), with a `fallback` attempt naming both channels and the report's reason; then it
//! is handed back to dispatch through [`Resubmit`] (a crash before that loses nothing: the row
//! is unfinished again, and recovery re-enqueues it). Depends on `store` and `domain`.

use super::{Applied, ReportStatus, StatusError, StatusEvent};
use crate::domain::now_ms;
use crate::store::{AttemptRecord, MessageRecord, MessageStatus, MessageUpdate, SharedStore};
use std::sync::Arc;

/// Hands a message back to dispatch (the composition root implements it over the dispatcher,
/// so this layer does not depend on dispatch). False if dispatch is stopping.
pub trait Resubmit: Send + Sync {
    fn resubmit(&self, message: MessageRecord) -> bool;
}

pub struct ReportFallback {
    within_ms: u64,
    sink: Arc<dyn Resubmit>,
}

impl ReportFallback {
    pub fn new(within_ms: u64, sink: Arc<dyn Resubmit>) -> Self {
        Self { within_ms, sink }
    }

    /// Moves the message to its next channel if this report is one that should; `None`: the
    /// report is applied as usual.
    pub(super) async fn try_apply(&self, store: &SharedStore, message_id: i64, ev: &StatusEvent) -> Result<Option<Applied>, StatusError> {
        if self.within_ms == 0 || !matches!(ev.status, ReportStatus::Undelivered | ReportStatus::Failed) {
            return Ok(None);
        }
        let Some(m) = store.get_message(message_id).await? else { return Ok(None) };
        let now = now_ms();
        let fresh = now.saturating_sub(m.created_at) <= self.within_ms as i64;
        // Only the report of the call the message is on now (not a late one from a channel
        // it already left).
        let current = m.provider_message_id.as_deref() == Some(ev.provider_message_id.as_str()) && ev.provider.channels().contains(&m.channel_kind());
        if m.status != MessageStatus::Sent || m.fallback.is_empty() || !fresh || !current {
            return Ok(None);
        }
        let reason = match (&ev.error_code, &ev.error_text) {
            (Some(c), Some(t)) => format!("{} ({c}: {t})", ev.status.as_str()),
            (Some(c), None) => format!("{} ({c})", ev.status.as_str()),
            (None, Some(t)) => format!("{} ({t})", ev.status.as_str()),
            (None, None) => ev.status.as_str().to_owned(),
        };
        let (next, marker) = next_step(m, &reason, now);
        if !store.transition_message(&next, MessageStatus::Sent).await? {
            return Ok(None); // the row moved on meanwhile: the report is applied as usual
        }
        store.update_messages(&[MessageUpdate { message: next.clone(), attempt: Some(marker) }]).await?;
        metrics::counter!(crate::telemetry::DISPATCH_FALLBACKS_TOTAL, "from" => crate::telemetry::channel_label(&ev_channel(ev)), "to" => crate::telemetry::channel_label(&next.channel)).increment(1);
        if !self.sink.resubmit(next) {
            tracing::warn!(message_id, "fallback after a report: dispatch is stopping; the message resumes at the next start");
        }
        Ok(Some(Applied::Changed { message_id, from: MessageStatus::Sent, to: MessageStatus::Dispatching }))
    }
}

fn ev_channel(ev: &StatusEvent) -> String {
    ev.provider.channels().first().map(|c| c.as_str()).unwrap_or("sms").to_owned()
}

/// The message on its next channel, and the attempt row that records the move.
fn next_step(mut m: MessageRecord, reason: &str, now: i64) -> (MessageRecord, AttemptRecord) {
    let step = m.fallback.remove(0);
    let from = std::mem::replace(&mut m.channel, step.channel.clone());
    m.attempts += 1;
    let marker = AttemptRecord {
        message_id: m.id,
        attempt: m.attempts,
        credential_id: 0,
        provider: String::new(),
        result: "fallback".into(),
        provider_message_id: None,
        error: Some(crate::domain::fallback::marker_text(&from, &step.channel, reason)),
        latency_ms: 0,
        at: now,
    };
    m.recipient = step.recipient;
    m.country = step.country;
    if let Some(body) = step.body {
        m.body = body;
    }
    m.content = step.content;
    m.email = step.email;
    m.credential_id = None;
    m.provider = None;
    m.provider_message_id = None;
    m.error = None;
    m.status = MessageStatus::Dispatching;
    m.updated_at = now;
    (m, marker)
}
