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
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let verified = match verify(&s, ip, &headers, body).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let key = match idempotency::key_of(&headers, &verified.value) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let (association_id, request) = (verified.association_id, verified.value.clone());
    idempotency::run(&s, association_id, key, &request, async { send_notification(&s, verified).await.into_response() }).await
}

async fn verify(s: &AppState, ip: Option<std::net::IpAddr>, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Verified, ApiError> {
    let body = raw_body(body, s.config.server.body_limit_bytes)?;
    Ok(s.webhook.verify(header(headers, "x-webhook-signature"), header(headers, "x-webhook-timestamp"), &body, ip).await?)
}

/// The replay check comes after the idempotency claim: a retry of the very same signed
/// request is answered from its key rather than refused as a replay.
async fn send_notification(s: &AppState, verified: Verified) -> Result<Envelope<QueuedView>, ApiError> {
    s.webhook.check_replay(&verified).await?;
    let accepted = s.webhook.notification(verified).await?;
    Ok(Envelope::ok(QueuedView { queue_id: accepted.id, job_id: format!("job_{}", accepted.id), status: accepted.status.as_str() })
        .message("Notification queued for sending"))
}
