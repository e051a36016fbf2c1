//! `/api/v1/webhook/*`: HMAC-signed sends. The handler reads the raw body (the signature
//! covers its bytes), the two signature headers and the client address, and delegates to
//! the signed ingress; an idempotency key wraps the send (see `idempotency`).

use super::protect::ClientIp;
use super::{idempotency, ApiError, AppState, Envelope};
use crate::ingress::signed::Verified;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = webhook::QueuedView)]
#[serde(rename_all = "camelCase")]
pub struct QueuedView {
    queue_id: i64,
    job_id: String,
    status: &'static str,
    /// Beyond the document (SMS): `GSM7` or `UCS2`, the parts billed, and whether smart
    /// encoding replaced look-alike characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    smart_encoding_applied: Option<bool>,
}

pub(super) fn raw_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::invalid(format!("could not read the request body: {}", rej.body_text()))
        }
    })
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub async fn notification(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = s.config.server.body_limit_bytes;
    let (verified, body, key) = match verify(&s, ip, &headers, body, limit).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let association_id = verified.association_id;
    idempotency::run(&s, association_id, key, &body, async { send_notification(&s, verified, &body).await.into_response() }).await
}

/// Body, signature and idempotency key of a signed request.
async fn verify(
    s: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<(Verified, Bytes, Option<String>), ApiError> {
    let body = raw_body(body, limit)?;
    let mut verified = s.webhook.verify(header(headers, "x-webhook-signature"), header(headers, "x-webhook-timestamp"), &body, ip).await?;
    // Only read by `shortenLinks` sends.
    verified.link_base = super::links::base_url(s, headers);
    let key = idempotency::key_of(headers, verified.idempotency_field.as_ref())?;
    Ok((verified, body, key))
}

/// The replay check comes after the idempotency claim: a retry of the very same signed
/// request is answered from its key rather than refused as a replay.
async fn send_notification(s: &AppState, verified: Verified, body: &[u8]) -> Result<Envelope<QueuedView>, ApiError> {
    s.webhook.check_replay(&verified).await?;
    let accepted = s.webhook.notification(&verified, body).await?;
    let sms = accepted.encoding.is_some();
    Ok(Envelope::ok(QueuedView {
        queue_id: accepted.id,
        job_id: format!("job_{}", accepted.id),
        status: accepted.status.as_str(),
        encoding: accepted.encoding.map(|e| e.as_str()),
        segments: sms.then_some(accepted.segments),
        smart_encoding_applied: sms.then_some(accepted.smart_encoding_applied),
    })
        .message(if accepted.status == crate::store::MessageStatus::Scheduled {
            "Notification scheduled for sending"
        } else {
            "Notification queued for sending"
        }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidView {
    index: usize,
    recipient: String,
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidSummary {
    count: usize,
    /// The first ones, with the reason each was refused.
    items: Vec<InvalidView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkView {
    campaign_id: i64,
    total_recipients: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<crate::domain::Timestamp>,
    invalid_recipients: InvalidSummary,
    duplicates_removed: usize,
}

pub async fn bulk(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = s.config.server.bulk_body_limit_bytes;
    let (verified, body, key) = match verify(&s, ip, &headers, body, limit).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let association_id = verified.association_id;
    idempotency::run(&s, association_id, key, &body, async { send_bulk(&s, verified, &body).await.into_response() }).await
}

async fn send_bulk(s: &AppState, verified: Verified, body: &[u8]) -> Result<Envelope<BulkView>, ApiError> {
    s.webhook.check_replay(&verified).await?;
    let a = s.webhook.bulk(&verified, body).await?;
    Ok(Envelope::ok(BulkView {
        campaign_id: a.campaign.id,
        total_recipients: a.campaign.total_recipients,
        status: a.campaign.status.as_str(),
        scheduled_at: a.campaign.scheduled_at.map(crate::domain::Timestamp),
        invalid_recipients: InvalidSummary {
            count: a.invalid_count,
            items: a.invalid.into_iter().map(|i| InvalidView { index: i.index, recipient: i.recipient, reason: i.reason }).collect(),
        },
        duplicates_removed: a.duplicates_removed,
    })
    .message("Bulk notification campaign created"))
}
