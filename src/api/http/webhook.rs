//! `/api/v1/webhook/*`: HMAC-signed sends. The handler reads the raw body (the signature
//! covers its bytes) and the two signature headers, and delegates to the signed ingress.

use super::{ApiError, AppState, Envelope};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedView {
    queue_id: i64,
    job_id: String,
    status: &'static str,
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
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Envelope<QueuedView>, ApiError> {
    let body = raw_body(body, s.config.server.body_limit_bytes)?;
    let accepted = s
        .webhook
        .notification(header(&headers, "x-webhook-signature"), header(&headers, "x-webhook-timestamp"), &body)
        .await?;
    Ok(Envelope::ok(QueuedView { queue_id: accepted.id, job_id: format!("job_{}", accepted.id), status: accepted.status.as_str() })
        .message("Notification queued for sending"))
}
