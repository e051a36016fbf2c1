//! Operational routes: health, metrics, and the envelope for unknown routes and panics.

use super::{ApiError, AppState};
use axum::extract::State;
use axum::http::{header, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Liveness, and whether Redis answers (`up`, `down` while running on in-process limits,
/// or `not_configured`).
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(json!({ "success": true, "data": { "status": "ok", "redis": state.coord.redis_status().as_str() } }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render())
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
