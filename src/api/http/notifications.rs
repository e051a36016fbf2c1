//! `GET /api/v1/notifications/:id` (beyond the document, after the multi-channel API's
//! per-notification status): a message's status and every delivery attempt. Scoped to the
//! caller's association; another association's message is "not found", not "forbidden", so
//! ids reveal nothing.

use super::extract::{AnyKeyAuth, IdPath};
use super::{ApiError, AppState, Envelope};
use crate::auth::Caller;
use crate::domain::Timestamp;
use crate::store::{AttemptRecord, MessageRecord};
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize)]
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

#[derive(Serialize)]
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
    created_at: Timestamp,
    updated_at: Timestamp,
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

pub async fn get(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(id): IdPath<i64>,
) -> Result<Envelope<NotificationView>, ApiError> {
    let (m, attempts) = visible_notification(&s, caller, id).await?;
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
        created_at: Timestamp(m.created_at),
        updated_at: Timestamp(m.updated_at),
    }))
}
