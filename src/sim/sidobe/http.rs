//! The Sidobe simulator's handlers: the API as `shared/providers/sidobe.md` describes it
//! (envelope `{is_success, data, message?, error_code?}`, the rate-limit body without one),
//! the webhook task, and the control plane.

use super::{signature, SentWebhook, SidobeSim, SidobeSimConfig, SimMessage, MAX_KEPT};
use crate::domain::ProviderKind;
use crate::sim::state::{Outcome, RecordedRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

type Sim = State<Arc<SidobeSim>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"is_success": false, "message": message, "error_code": code}))).into_response()
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "API_VALIDATION_ERROR", message)
}

/// Records and counts the request, then checks the key and the sticky failure mode.
fn admit(sim: &SidobeSim, method: &str, path: &str, headers: &HeaderMap, body: &Bytes) -> Result<(String, SidobeSimConfig), Response> {
    let secret = headers.get("x-secret-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let keep = sim.state.config().record_requests;
    let mut hdrs = serde_json::Map::new();
    for (k, v) in headers {
        hdrs.insert(k.as_str().to_owned(), v.to_str().unwrap_or("").into());
    }
    let raw = String::from_utf8_lossy(&body[..body.len().min(8192)]).into_owned();
    let rec = RecordedRequest {
        at_ms: crate::domain::now_ms(),
        method: method.into(),
        path: path.into(),
        query: Value::Null,
        headers: hdrs,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        raw_body: raw,
    };
    sim.state.record(ProviderKind::Sidobe, rec, keep);
    sim.state.count(ProviderKind::Sidobe, &secret, None);
    let config = sim.config.lock().clone();
    if secret.is_empty() || config.invalid_keys.contains(&secret) || config.failure.as_deref() == Some("invalid_api_key") {
        return Err(error(StatusCode::UNAUTHORIZED, "INVALID_API_KEY", "The API key provided is invalid. Please check your API key and try again."));
    }
    match config.failure.as_deref() {
        Some("rate_limit") => return Err((StatusCode::TOO_MANY_REQUESTS, Json(json!({"message": "rate limit exceeded"}))).into_response()),
        Some("maintenance") => return Err(error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "Service under maintenance, try again later")),
        Some("invalid_device") => {
            return Err(error(StatusCode::BAD_REQUEST, "INVALID_DEVICE_WHATSAPP", "The registered WhatsApp device has a problem (logged out)"))
        }
        _ => {}
    }
    Ok((secret, config))
}

/// `+` and 8 to 15 digits.
fn phone_ok(p: &str) -> bool {
    p.strip_prefix('+').is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

fn url_ext(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
    let last = u.path_segments()?.next_back()?.to_owned();
    last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Image,
    Doc,
}

pub(super) async fn send_text(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    send(sim, Kind::Text, headers, body).await
}

pub(super) async fn send_image(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    send(sim, Kind::Image, headers, body).await
}

pub(super) async fn send_doc(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    send(sim, Kind::Doc, headers, body).await
}

async fn send(sim: Arc<SidobeSim>, kind: Kind, headers: HeaderMap, body: Bytes) -> Response {
    let path = match kind {
        Kind::Text => "/wa/v1/send-message",
        Kind::Image => "/wa/v1/send-message-image",
        Kind::Doc => "/wa/v1/send-message-doc",
    };
    let (secret, config) = match admit(&sim, "POST", path, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return validation("body must be JSON") };
    let phone = field(&v, "phone").unwrap_or("");
    if !phone_ok(phone) {
        return validation("phone must be in E.164 format with a leading +");
    }
    let message_type = match kind {
        Kind::Text => {
            if field(&v, "message").is_none() {
                return validation("message is required");
            }
            "TEXT"
        }
        Kind::Image => {
            let ok = field(&v, "image_url").and_then(url_ext).is_some_and(|e| matches!(e.as_str(), "jpg" | "jpeg" | "png"));
            if !ok {
                return validation("image_url must be a jpg, jpeg or png URL");
            }
            "IMAGE"
        }
        Kind::Doc => {
            let ok = field(&v, "document_url")
                .and_then(url_ext)
                .is_some_and(|e| matches!(e.as_str(), "pdf" | "doc" | "docx" | "ppt" | "pptx" | "xls" | "xlsx"));
            if !ok {
                return validation("document_url must be a PDF, DOC, DOCX, PPT, PPTX, XLS or XLSX URL");
            }
            match field(&v, "document_name") {
                None => return validation("document_name is required"),
                Some(n) if n.contains('.') && n.rsplit_once('.').is_some_and(|(_, e)| e.len() <= 4) => {
                    return validation("document_name must not carry an extension")
                }
                Some(_) => {}
            }
            "DOCS"
        }
    };
    let is_async = v.get("is_async").and_then(Value::as_bool).unwrap_or(false);
    let digits = &phone[1..];
    let ends = |suffix: &str| !suffix.is_empty() && digits.ends_with(suffix);
    let final_status = if ends(&config.failed_suffix) || ends(&config.unregistered_suffix) { "FAILED" } else { "SUCCESS" };
    let id = sim.next_id();
    let mut msg = SimMessage { id: id.clone(), phone: phone.into(), message_type, status: "PENDING", is_async, secret: secret.clone() };
    if !is_async {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(config.sync_latency_ms)) => {}
            _ = sim.shutdown.cancelled() => return (StatusCode::SERVICE_UNAVAILABLE, "simulator shutting down").into_response(),
        }
        msg.status = final_status;
    }
    {
        let mut all = sim.messages.lock();
        if all.len() >= MAX_KEPT {
            if let Some(k) = all.keys().next().cloned() {
                all.remove(&k);
            }
        }
        all.insert(id.clone(), msg.clone());
    }
    sim.state.count(ProviderKind::Sidobe, &secret, Some(Outcome::Accepted));
    let sim2 = sim.clone();
    let id2 = id.clone();
    tokio::spawn(async move { finish(sim2, id2, final_status).await });
    Json(json!({"is_success": true, "data": {"id": id, "message_type": message_type, "status": msg.status, "is_async": is_async}})).into_response()
}

/// After the delay: the final status, and its webhook unless webhooks are being lost.
async fn finish(sim: Arc<SidobeSim>, id: String, status: &'static str) {
    let delay = sim.config.lock().webhook_delay_ms;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
        _ = sim.shutdown.cancelled() => return,
    }
    let Some(msg) = ({
        let mut all = sim.messages.lock();
        all.get_mut(&id).map(|m| {
            m.status = status;
            m.clone()
        })
    }) else {
        return;
    };
    let config = sim.config.lock().clone();
    let Some(url) = config.webhook_url.filter(|u| !u.is_empty()) else { return };
    if config.drop_webhooks {
        return;
    }
    let event_id = sim.next_id();
    let now = chrono::Utc::now().to_rfc3339();
    let body = json!({
        "id": event_id, "event": "SEND_MESSAGE_STATUS", "created_at": now,
        "data": {"whatsapp_message_id": msg.id, "status": status, "send_at": now, "message_type": msg.message_type},
    });
    let sent = sim.client.post(&url).header("X-Webhook-Signature", signature(&msg.secret, &event_id)).json(&body).send().await;
    let (answer_status, answer) = match sent {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    };
    sim.remember_webhook(SentWebhook { event_id, whatsapp_message_id: msg.id, status: status.into(), answer_status, answer });
}

pub(super) async fn detail(State(sim): Sim, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&sim, "GET", &format!("/wa/v1/whatsapp-messages/{id}"), &headers, &Bytes::new()) {
        return r;
    }
    let Some(m) = sim.messages.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({"is_success": false, "message": "WhatsApp message not found"}))).into_response();
    };
    Json(json!({"is_success": true, "data": {
        "id": m.id, "phone": m.phone, "message_type": m.message_type, "status": m.status, "is_async": m.is_async,
        "whatsapp_device": {"id": "sim-device-1", "phone": "+6281100000000", "name": "Simulated device"},
    }}))
    .into_response()
}

pub(super) async fn check_number(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    let config = match admit(&sim, "POST", "/wa/v1/utilities/check-number", &headers, &body) {
        Ok((_, c)) => c,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let phone = field(&v, "phone").unwrap_or("");
    if !phone_ok(phone) {
        return validation("phone must be in E.164 format with a leading +");
    }
    let registered = config.unregistered_suffix.is_empty() || !phone.ends_with(&config.unregistered_suffix);
    Json(json!({"is_success": true, "data": {"is_registered": registered}})).into_response()
}

pub(super) async fn get_config(State(sim): Sim) -> Json<SidobeSimConfig> {
    Json(sim.config.lock().clone())
}

/// Merges the fields given over the current settings (`null` resets one to its default).
pub(super) async fn set_config(State(sim): Sim, Json(patch): Json<Value>) -> Response {
    let Some(patch) = patch.as_object() else { return (StatusCode::BAD_REQUEST, "settings must be a JSON object").into_response() };
    let mut current = serde_json::to_value(sim.config.lock().clone()).unwrap_or(Value::Null);
    let defaults = serde_json::to_value(SidobeSimConfig::default()).unwrap_or(Value::Null);
    for (k, v) in patch {
        current[k] = if v.is_null() { defaults.get(k).cloned().unwrap_or(Value::Null) } else { v.clone() };
    }
    match serde_json::from_value::<SidobeSimConfig>(current).map_err(|e| e.to_string()).and_then(|c| c.check().map(|_| c)) {
        Ok(c) => {
            *sim.config.lock() = c.clone();
            Json(c).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

pub(super) async fn list_webhooks(State(sim): Sim) -> Json<Vec<SentWebhook>> {
    Json(sim.webhooks.lock().clone())
}

pub(super) async fn list_messages(State(sim): Sim) -> Json<Vec<SimMessage>> {
    Json(sim.messages.lock().values().cloned().collect())
}
