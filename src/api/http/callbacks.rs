//! `POST /api/v1/callbacks/{provider}/{credentialId}`: provider delivery reports, public (no
//! API key: the provider signs, and `inbound` verifies). Translates the request for
//! `inbound::Receivers` and its answer into the envelope: 200 once durable (unknown ids too,
//! so the provider stops retrying), 403 when not authentic, 404 for a provider without a
//! report mechanism, 503 when the change could not be recorded (the provider retries).

use super::{ApiError, AppState, Envelope};
use crate::inbound::{Callback, InboundError, Receipt};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub async fn receive(
    State(s): State<AppState>,
    Path((provider, credential_id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<Receipt>, ApiError> {
    let credential_id: i64 = credential_id.parse().map_err(|_| ApiError::NotFound(format!("credential `{credential_id}` not found")))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cb = Callback {
        provider: &provider,
        credential_id,
        path_and_query: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        host: header("host"),
        twilio_signature: header("x-twilio-signature"),
        hub_signature: header("x-hub-signature-256"),
        webhook_signature: header("x-webhook-signature"),
        body: &body,
    };
    match s.inbound.receive(cb).await {
        Ok(receipt) => Ok(Envelope::ok(receipt)),
        Err(e) => {
            tracing::info!(provider = %provider, credential = credential_id, error = %e, "provider callback refused");
            Err(match e {
                InboundError::NoReceiver(p) => ApiError::NotFound(format!("No delivery-report receiver for provider `{p}`")),
                InboundError::Malformed(m) => ApiError::BadRequest(format!("Invalid callback: {m}")),
                InboundError::Forbidden(_) => ApiError::Forbidden("Invalid signature".into()),
                InboundError::Unavailable(_) => ApiError::Unavailable { reason: "report not recorded, retry".into(), retry_after_s: 1 },
            })
        }
    }
}

/// `GET /api/v1/callbacks/{provider}/{credentialId}`: Meta's webhook verification
/// (`hub.mode`, `hub.verify_token`, `hub.challenge`): the challenge echoed as plain text, or 403.
pub async fn verify(
    State(s): State<AppState>,
    Path((provider, credential_id)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let credential_id: i64 = credential_id.parse().map_err(|_| ApiError::NotFound(format!("credential `{credential_id}` not found")))?;
    let get = |k: &str| q.get(k).map(String::as_str);
    match s.inbound.verify_subscription(&provider, credential_id, get("hub.mode"), get("hub.verify_token"), get("hub.challenge")).await {
        Ok(challenge) => Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response()),
        Err(InboundError::NoReceiver(p)) => Err(ApiError::NotFound(format!("No webhook verification for provider `{p}`"))),
        Err(InboundError::Malformed(m)) => Err(ApiError::BadRequest(format!("Invalid verification request: {m}"))),
        Err(InboundError::Unavailable(_)) => Err(ApiError::Unavailable { reason: "verification not possible now".into(), retry_after_s: 1 }),
        Err(InboundError::Forbidden(_)) => Err(ApiError::Forbidden("Verification failed".into())),
    }
}
