//! `GET /api/v1/notifications/:id` (beyond the document, after the multi-channel API's
//! per-notification status): a message's status, every delivery attempt, and its `timeline`
//! (accepted, each attempt, and every status event: the engine's `sent`/`failed`/… and the
//! provider's reports), oldest first. Scoped to the
//! caller's association; another association's message is "not found", not "forbidden", so
//! ids reveal nothing. The timeline is shared with gRPC's `GetNotification`.

use super::extract::{AnyKeyAuth, IdPath};
use super::{ApiError, AppState, Envelope};
use crate::auth::Caller;
use crate::domain::Timestamp;
use crate::store::{AttemptRecord, MessageEvent, MessageRecord, MessageStatus};
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = notifications::AttemptView)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    attempt: u32,
    provider: String,
    credential_id: i64,
    result: String,
    provider_message_id: Option<String>,
    error: Option<String>,
    latency_ms: u64,
    at: Timestamp,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            provider: a.provider,
            credential_id: a.credential_id,
            result: a.result,
            provider_message_id: a.provider_message_id,
            error: a.error,
            latency_ms: a.latency_ms,
            at: Timestamp(a.at),
        }
    }
}

/// One entry of a message's timeline.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimelineEntry {
    /// `accepted`, `attempt` or `status`.
    pub(crate) event: &'static str,
    /// The status the message took (`queued`/`scheduled` when accepted; none for attempts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<MessageStatus>,
    /// `engine`, or the provider whose report it was (for attempts: the provider called).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attempt: Option<u32>,
    /// An attempt's result (`sent`, `retryable`, `permanent`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<String>,
    /// The provider's own status word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    pub(crate) at: Timestamp,
}

impl TimelineEntry {
    fn blank(event: &'static str, at: i64) -> Self {
        Self { event, status: None, source: None, attempt: None, result: None, provider_status: None, error_code: None, error: None, at: Timestamp(at) }
    }
}

/// Accepted, the attempts, then the status events in the order they were recorded (a
/// provider's own clock dates its reports, so times alone could misorder them).
pub(crate) fn timeline(m: &MessageRecord, attempts: &[AttemptRecord], events: Vec<MessageEvent>) -> Vec<TimelineEntry> {
    let accepted_as = if m.scheduled_at.is_some() { MessageStatus::Scheduled } else { MessageStatus::Queued };
    let mut rest: Vec<(u8, i64, TimelineEntry)> = Vec::with_capacity(attempts.len() + events.len());
    for a in attempts {
        let mut e = TimelineEntry::blank("attempt", a.at);
        e.source = Some(a.provider.clone());
        e.attempt = Some(a.attempt);
        e.result = Some(a.result.clone());
        e.error = a.error.clone();
        rest.push((0, i64::from(a.attempt), e));
    }
    for ev in events {
        let mut e = TimelineEntry::blank("status", ev.at);
        e.status = Some(ev.status);
        e.provider_status = ev.raw_status;
        e.error_code = ev.error_code;
        e.error = ev.error_text;
        e.source = Some(ev.source);
        rest.push((1, ev.seq, e));
    }
    rest.sort_by_key(|(kind, seq, _)| (*kind, *seq));
    let mut accepted = TimelineEntry::blank("accepted", m.created_at);
    accepted.status = Some(accepted_as);
    accepted.source = Some("engine".into());
    std::iter::once(accepted).chain(rest.into_iter().map(|(_, _, e)| e)).collect()
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    id: i64,
    association_id: i64,
    recipient: String,
    country: Option<String>,
    message: String,
    channel: String,
    priority: i32,
    status: &'static str,
    provider: Option<String>,
    credential_id: Option<i64>,
    provider_message_id: Option<String>,
    error: Option<String>,
    attempts: Vec<AttemptView>,
    timeline: Vec<TimelineEntry>,
    /// The end of its validity period (`validityPeriod`).
    expires_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// SMS: `GSM7` or `UCS2` and the parts billed (`null` / 0 for other channels).
    encoding: Option<&'static str>,
    segments: u32,
    /// Email: the subject sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// The tracked links of its text (`shortenLinks`) and their clicks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<super::links::TrackedLinkView>,
}

/// A message and its attempts, if the caller may see it (else "not found"). Shared with gRPC.
pub(crate) async fn visible_notification(s: &AppState, caller: Caller, id: i64) -> Result<(MessageRecord, Vec<AttemptRecord>), ApiError> {
    let not_found = || ApiError::NotFound(format!("Notification {id} not found"));
    let m = s.store.get_message(id).await?.ok_or_else(not_found)?;
    if let Caller::Association { id: own } = caller {
        if own != m.association_id {
            return Err(not_found());
        }
    }
    let attempts = s.store.list_attempts(id).await?;
    Ok((m, attempts))
}

/// One path, two APIs: `ntf_<id>` is seed 003's `notification_id` (its own view, in
/// `multichannel.rs`); a bare number is the Jood API's queue id (this view).
pub async fn get(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    headers: HeaderMap,
    IdPath(raw): IdPath<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(rest) = raw.strip_prefix(super::multichannel::ID_PREFIX) {
        return match rest.parse::<i64>() {
            Ok(id) => super::multichannel::view(&s, caller, id).await.into_response(),
            Err(_) => ApiError::NotFound(format!("Notification {raw} not found")).into_response(),
        };
    }
    match raw.parse::<i64>() {
        Ok(id) => jood_view(s, caller, id, &headers).await.into_response(),
        Err(_) => ApiError::invalid(format!("path parameter: `{raw}` is neither a queue id (a number) nor a notification_id (ntf_…)")).into_response(),
    }
}

async fn jood_view(s: AppState, caller: Caller, id: i64, headers: &HeaderMap) -> Result<Envelope<NotificationView>, ApiError> {
    let (m, attempts) = visible_notification(&s, caller, id).await?;
    let events = s.store.list_events(id).await?;
    let links = super::links::message_links(&s, headers, id).await?;
    let timeline = timeline(&m, &attempts, events);
    Ok(Envelope::ok(NotificationView {
        id: m.id,
        association_id: m.association_id,
        recipient: m.recipient,
        country: m.country,
        message: m.body,
        channel: m.channel,
        priority: m.priority,
        status: m.status.as_str(),
        provider: m.provider,
        credential_id: m.credential_id,
        provider_message_id: m.provider_message_id,
        error: m.error,
        attempts: attempts.into_iter().map(Into::into).collect(),
        timeline,
        created_at: Timestamp(m.created_at),
        expires_at: m.expires_at.map(Timestamp),
        updated_at: Timestamp(m.updated_at),
        encoding: m.encoding.map(|e| e.as_str()),
        segments: m.segments,
        subject: m.email.map(|e| e.subject),
        links,
    }))
}
