//! Provider schemas, the synchronous send, scheduling, and the queue view.

use super::{Dash, Page, Paged};
use crate::api::http::extract::{IdPath, JsonBody, QueryParams};
use crate::api::http::{ApiError, AppState, Envelope};
use crate::domain::{ProviderKind, Timestamp};
use crate::ingress::NewMessage;
use crate::store::MessageRecord;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SchemaView {
    id: &'static str,
    name: &'static str,
    channel: &'static str,
    fields: &'static [&'static str],
}

pub async fn schemas(_dash: Dash) -> Envelope<Vec<SchemaView>> {
    Envelope::ok(
        ProviderKind::ALL
            .iter()
            .map(|p| SchemaView { id: p.code(), name: p.name(), channel: p.channels()[0].as_str(), fields: p.required_fields() })
            .collect(),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    association_id: i64,
    phone_number: String,
    message: String,
    credential_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendView {
    log_id: i64,
    message_id: Option<String>,
    success: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn check_target(s: &AppState, dash: &Dash, association_id: i64, credential_id: Option<i64>) -> Result<(), ApiError> {
    dash.operator.require_association(association_id)?;
    // The one activity check every sending path makes.
    s.directory.require_active(association_id).await?;
    if let Some(c) = credential_id {
        s.directory.get_credential(association_id, c).await?;
    }
    Ok(())
}

/// Sends through the same actors as the webhook and waits (bounded by
/// `dashboard.send_timeout_ms`) for the provider's answer.
pub async fn send_sms(State(s): State<AppState>, dash: Dash, JsonBody(b): JsonBody<SendBody>) -> Result<Envelope<SendView>, ApiError> {
    check_target(&s, &dash, b.association_id, b.credential_id).await?;
    let accepted = accept_sms(&s, b.association_id, b.phone_number, b.message, b.credential_id, None).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(s.config.dashboard.send_timeout_ms);
    let mut m: Option<MessageRecord> = None;
    while tokio::time::Instant::now() < deadline {
        m = s.store.get_message(accepted.id).await?;
        if m.as_ref().is_some_and(|m| m.status.is_terminal()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = m.ok_or(ApiError::Internal)?;
    Ok(Envelope::ok(SendView {
        log_id: m.id,
        message_id: m.provider_message_id,
        success: m.status.was_sent(),
        status: m.status.as_str(),
        error: m.error,
    }))
}

/// A dashboard SMS through the webhook's ingress (same validation, durability and actors).
/// The dashboard calls the recipient `phoneNumber`: validation errors say so; every other
/// error keeps its own status.
async fn accept_sms(
    s: &AppState,
    association_id: i64,
    phone_number: String,
    message: String,
    credential_id: Option<i64>,
    scheduled_at: Option<i64>,
) -> Result<crate::ingress::Accepted, ApiError> {
    let m = NewMessage { association_id, recipient: phone_number, body: message, channel: "sms".into(), priority: 0, credential_id, scheduled_at, content: None, callback_url: None, validity_secs: None, sms: Default::default(), email: None, fallback: Vec::new(), shorten_links: None };
    s.webhook.ingress.accept(m).await.map_err(|e| match e {
        crate::ingress::IngressError::Invalid(m) => ApiError::invalid(m.replace("recipient `", "phoneNumber `")),
        other => other.into(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleBody {
    association_id: i64,
    phone_number: String,
    message: String,
    scheduled_at: String,
    credential_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = dashboard_messages::QueuedView)]
#[serde(rename_all = "camelCase")]
pub struct QueuedView {
    queue_id: i64,
    job_id: String,
    status: &'static str,
}

pub async fn schedule_sms(State(s): State<AppState>, dash: Dash, JsonBody(b): JsonBody<ScheduleBody>) -> Result<Envelope<QueuedView>, ApiError> {
    check_target(&s, &dash, b.association_id, b.credential_id).await?;
    // The rule of every send path: a past time sends at once (`domain::time::schedule_at`).
    let at = Timestamp::parse_scheduled_at(&b.scheduled_at).map_err(ApiError::invalid)?;
    let accepted = accept_sms(&s, b.association_id, b.phone_number, b.message, b.credential_id, Some(at.0)).await?;
    // As documented, the answer says "queued" (the queue view shows it as scheduled).
    Ok(Envelope::ok(QueuedView { queue_id: accepted.id, job_id: format!("job_sch_{}", accepted.id), status: "queued" })
        .message("Notification queued for sending"))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    id: i64,
    association_id: i64,
    recipient: String,
    message: String,
    status: &'static str,
    scheduled_at: Option<Timestamp>,
    created_at: Timestamp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueQuery {
    page: Option<usize>,
    limit: Option<usize>,
    association_id: Option<i64>,
}

/// Queued (not yet final) and scheduled single messages, oldest first.
pub async fn queue(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<QueueQuery>) -> Result<Envelope<Paged<QueueItem>>, ApiError> {
    let (page, limit) = Page { page: q.page, limit: q.limit }.resolve()?;
    let scope = dash.operator.scope(q.association_id)?;
    let all: Vec<MessageRecord> = s
        .store
        .list_queue(s.config.dashboard.queue_max_items)
        .await?
        .into_iter()
        .filter(|m| scope.is_none_or(|a| a == m.association_id) && !m.status.is_terminal())
        .collect();
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|m| QueueItem {
            id: m.id,
            association_id: m.association_id,
            recipient: m.recipient,
            message: m.body,
            status: m.status.as_str(),
            scheduled_at: m.scheduled_at.map(Timestamp),
            created_at: Timestamp(m.created_at),
        })
        .collect();
    Ok(Envelope::ok(Paged { items, total, page, limit }))
}

pub async fn cancel_queued(State(s): State<AppState>, dash: Dash, IdPath(id): IdPath<i64>) -> Result<Envelope<()>, ApiError> {
    let m = s.store.get_message(id).await?.ok_or_else(|| ApiError::NotFound(format!("Queued message {id} not found")))?;
    dash.operator.require_association(m.association_id)?;
    s.campaigns.cancel_message(id).await?;
    Ok(Envelope::done("Scheduled message cancelled successfully"))
}
