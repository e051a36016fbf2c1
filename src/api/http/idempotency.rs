//! Idempotency keys on the signed sends: an `Idempotency-Key` header or an `idempotencyKey`
//! body field. The first request with a key runs; a retry within `idempotency.ttl_seconds`
//! gets the first answer again (same status, same body, plus `Idempotent-Replayed: true`)
//! and sends nothing; a duplicate arriving while the first still runs gets 409; the same
//! key with a different request gets 422. Keys are scoped by association.
//!
//! Answers a retry would reproduce are kept (2xx, and 400/404/422 about the request
//! itself); others (401/403/409/429/5xx) release the key so a retry runs again. The claim
//! and the stored answers live in `coord` (Redis when configured).

use super::{ApiError, AppState};
use crate::coord::{Claim, StoredAnswer};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;

const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_CHARS: usize = 255;
/// Answers larger than this are not kept (ours are a few hundred bytes).
const MAX_KEPT_BODY: usize = 64 * 1024;

/// The request's idempotency key, if any; 400 when malformed or when header and field differ.
/// `body` is the body's `idempotencyKey` field as found (any JSON type).
pub fn key_of(headers: &HeaderMap, body: Option<&serde_json::Value>) -> Result<Option<String>, ApiError> {
    let header = match headers.get(HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::invalid("the Idempotency-Key header must be visible ASCII"))?.trim().to_string()),
    };
    let field = match body {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err(ApiError::invalid("field `idempotencyKey`: expected a string")),
    };
    let key = match (header, field) {
        (Some(h), Some(f)) if h != f => return Err(ApiError::invalid("the Idempotency-Key header and the idempotencyKey field differ")),
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => return Ok(None),
    };
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("the idempotency key must be 1 to {MAX_KEY_CHARS} characters, without control characters")));
    }
    Ok(Some(key))
}

/// Runs `send` at most once per key and association (see the module header).
pub async fn run(s: &AppState, association_id: i64, key: Option<String>, request: &[u8], send: impl Future<Output = Response>) -> Response {
    let Some(key) = key else { return send.await };
    // The body's bytes: a retry re-signed with another timestamp is the same request (the
    // timestamp is a header); a client resends the bytes it built.
    let fingerprint = hex::encode(Sha256::digest(request));
    let scoped = format!("{association_id}:{}", hex::encode(Sha256::digest(key.as_bytes())));
    // A claim outlives the longest request, so a duplicate is refused while the first runs;
    // if the first died, a retry may run after this.
    let pending = Duration::from_millis(s.config.server.request_timeout_ms.saturating_add(5_000));
    match s.coord.idempotency_claim(&scoped, pending).await {
        Claim::Done(answer) if answer.fingerprint == fingerprint => {
            metrics::counter!(crate::telemetry::IDEMPOTENT_REPLAYS_TOTAL).increment(1);
            replay(answer)
        }
        Claim::Done(_) => ApiError::Unprocessable(format!("Idempotency key `{key}` was already used for a different request")).into_response(),
        Claim::InProgress => {
            ApiError::Conflict(format!("A request with idempotency key `{key}` is still being processed; retry when it has completed")).into_response()
        }
        Claim::Claimed(token) => {
            let (resp, answer) = capture(send.await, fingerprint).await;
            s.coord.idempotency_finish(token, answer).await;
            resp
        }
    }
}

fn kept(status: StatusCode) -> bool {
    status.is_success() || matches!(status.as_u16(), 400 | 404 | 422)
}

/// Reads the answer's body to keep it, and gives back an identical response.
async fn capture(resp: Response, fingerprint: String) -> (Response, Option<StoredAnswer>) {
    if !kept(resp.status()) {
        return (resp, None);
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_KEPT_BODY).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not read an answer to keep for its idempotency key");
            return (ApiError::Internal.into_response(), None);
        }
    };
    let answer = std::str::from_utf8(&bytes).ok().map(|text| StoredAnswer { status: parts.status.as_u16(), fingerprint, body: text.to_string() });
    (Response::from_parts(parts, Body::from(bytes)), answer)
}

fn replay(a: StoredAnswer) -> Response {
    let mut resp = Response::new(Body::from(a.body));
    *resp.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(key: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(k) = key {
            h.insert(HEADER, HeaderValue::from_str(k).unwrap());
        }
        h
    }

    #[test]
    fn key_from_header_or_field() {
        assert_eq!(key_of(&headers(None), json!({}).get("idempotencyKey")).unwrap(), None);
        assert_eq!(key_of(&headers(Some("a1")), json!({}).get("idempotencyKey")).unwrap().as_deref(), Some("a1"));
        assert_eq!(key_of(&headers(None), json!({"idempotencyKey": "b2"}).get("idempotencyKey")).unwrap().as_deref(), Some("b2"));
        assert_eq!(key_of(&headers(Some("c")), json!({"idempotencyKey": "c"}).get("idempotencyKey")).unwrap().as_deref(), Some("c"));
        assert!(key_of(&headers(Some("c")), json!({"idempotencyKey": "d"}).get("idempotencyKey")).unwrap_err().message().contains("differ"));
        assert!(key_of(&headers(None), json!({"idempotencyKey": 7}).get("idempotencyKey")).unwrap_err().message().contains("idempotencyKey"));
        assert!(key_of(&headers(None), json!({"idempotencyKey": ""}).get("idempotencyKey")).unwrap_err().message().contains("1 to 255"));
        assert!(key_of(&headers(None), json!({"idempotencyKey": "x".repeat(256)}).get("idempotencyKey")).is_err());
    }
}
