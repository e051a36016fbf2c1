//! Operational routes: liveness, readiness, metrics, and the envelope for unknown routes and
//! panics.

use super::{ApiError, AppState};
use crate::domain::now_ms;
use crate::telemetry::{DISPATCH_IN_MEMORY, SCHEDULE_BACKLOG, SCHEDULE_OVERDUE_SECONDS};
use axum::extract::State;
use axum::http::{header, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// Liveness, and whether Redis answers (`up`, `down` while running on in-process limits,
/// or `not_configured`).
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(json!({ "success": true, "data": { "status": "ok", "redis": state.coord.redis_status().as_str() } }))
}

/// Meta key the readiness probe writes (a timestamp; nothing reads it).
const READY_PROBE_KEY: &str = "readyz_probe";
/// Longest wait for the probe write: a store that cannot commit in this long is not ready.
const READY_STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: 200 when the store takes a durable write and Redis (when configured) answers a
/// PING; otherwise 503 naming the failed checks. Running on in-process limits while Redis is
/// down keeps the engine live (`/healthz`) but not ready: across nodes the limits no longer hold.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let stamp = now_ms().to_string();
    let store = match tokio::time::timeout(READY_STORE_TIMEOUT, state.store.put_meta(READY_PROBE_KEY, stamp.as_bytes())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store write failed");
            Err("store not writable")
        }
        Err(_) => Err("store write timed out"),
    };
    let redis = state.coord.probe_redis().await;
    let mut failed = Vec::new();
    if let Err(why) = store {
        failed.push(why);
    }
    if redis == crate::coord::RedisStatus::Down {
        failed.push("redis unreachable");
    }
    if !failed.is_empty() {
        return ApiError::Unavailable { reason: format!("not ready: {}", failed.join(", ")), retry_after_s: 5 }.into_response();
    }
    axum::Json(json!({ "success": true, "data": { "status": "ready", "store": "ok", "redis": redis.as_str() } })).into_response()
}

/// Schedule entries counted for the backlog gauge at most (the count reads index keys).
const SCHEDULE_COUNT_CAP: usize = 100_000;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    sample_gauges(&state).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render())
}

/// Gauges of state rather than events, read when scraped.
async fn sample_gauges(state: &AppState) {
    metrics::gauge!(DISPATCH_IN_MEMORY).set(state.dispatcher.in_memory() as f64);
    let now = now_ms();
    if let Ok(entries) = state.store.due_schedule(i64::MAX, SCHEDULE_COUNT_CAP).await {
        metrics::gauge!(SCHEDULE_BACKLOG).set(entries.len() as f64);
        let overdue_ms = entries.first().map(|e| (now - e.at).max(0)).unwrap_or(0);
        metrics::gauge!(SCHEDULE_OVERDUE_SECONDS).set(overdue_ms as f64 / 1000.0);
    }
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("Route not found: {method} {}", uri.path()))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(%detail, "request handler panicked");
    ApiError::Internal.into_response()
}
