//! The WA-Web gateway simulator's handlers: the API (auth, limiter, client state, the two
//! sends), the events posted to client webhooks with their answers read back, and the
//! control plane.

use super::{SentEvent, WawebSim, WawebSimConfig, MAX_EVENTS};
use crate::domain::ProviderKind;
use crate::sim::state::{Outcome, RecordedRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Sim = State<Arc<WawebSim>>;

fn fail(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"success": false, "code": code, "message": message}))).into_response()
}

/// Records, counts, checks the key (account or client key) and the 15-minute limiter.
fn admit(sim: &WawebSim, method: &str, path: &str, headers: &HeaderMap, body: &Bytes) -> Result<(String, WawebSimConfig), Response> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut hdrs = serde_json::Map::new();
    for (k, v) in headers {
        hdrs.insert(k.as_str().to_owned(), v.to_str().unwrap_or("").into());
    }
    let rec = RecordedRequest {
        at_ms: crate::domain::now_ms(),
        method: method.into(),
        path: path.into(),
        query: Value::Null,
        headers: hdrs,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        raw_body: String::from_utf8_lossy(&body[..body.len().min(8192)]).into_owned(),
    };
    sim.state.record(ProviderKind::WaWebGateway, rec, sim.state.config().record_requests);
    sim.state.count(ProviderKind::WaWebGateway, &key, None);
    let config = sim.config.lock().clone();
    let known = config.account_keys.contains(&key) || config.clients.values().any(|c| c.api_key == key);
    if key.is_empty() || !known {
        return Err(fail(StatusCode::UNAUTHORIZED, "AUTH_ERROR", "Invalid API key"));
    }
    if config.requests_per_15_min > 0 {
        let mut hits = sim.hits.lock();
        let q = hits.entry(key.clone()).or_default();
        let now = Instant::now();
        while q.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(900)) {
            q.pop_front();
        }
        if q.len() >= config.requests_per_15_min as usize {
            return Err((StatusCode::TOO_MANY_REQUESTS, Json(json!({"message": "Too many requests, please try again later."}))).into_response());
        }
        q.push_back(now);
    }
    Ok((key, config))
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn media_ok(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else { return false };
    let ext = u.path().rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    matches!(u.scheme(), "http" | "https") && matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "gif" | "webp" | "pdf" | "mp4" | "mp3")
}

/// The checks both sends share: client known and authenticated, content present and valid.
fn check_send(config: &WawebSimConfig, v: &Value) -> Result<(String, String, Option<String>, Option<String>), Response> {
    let Some(client_id) = field(v, "clientId") else { return Err(fail(StatusCode::BAD_REQUEST, "MISSING_FIELDS", "clientId is required")) };
    let Some(client) = config.clients.get(client_id) else { return Err(fail(StatusCode::NOT_FOUND, "CLIENT_NOT_FOUND", "Client not found")) };
    if client.status != "Authenticated" {
        return Err(fail(StatusCode::SERVICE_UNAVAILABLE, "CLIENT_NOT_READY", &format!("Client not authenticated ({})", client.status)));
    }
    let message = field(v, "message").map(str::to_owned);
    let media = field(v, "mediaUrl").map(str::to_owned);
    if message.is_none() && media.is_none() {
        return Err(fail(StatusCode::BAD_REQUEST, "MISSING_FIELDS", "Either message or mediaUrl is required"));
    }
    if message.as_ref().is_some_and(|m| m.chars().count() > 4096) {
        return Err(fail(StatusCode::BAD_REQUEST, "MESSAGE_TOO_LONG", "message must be at most 4096 characters"));
    }
    if media.as_deref().is_some_and(|m| !media_ok(m)) {
        return Err(fail(StatusCode::BAD_REQUEST, "MEDIA_ERROR", "mediaUrl must be a .jpg .jpeg .png .gif .webp .pdf .mp4 or .mp3 URL"));
    }
    Ok((client_id.to_owned(), client.phone_number.clone(), message, media))
}

fn next_id(sim: &WawebSim) -> String {
    format!("3EB0{:016X}", sim.seq.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The send answer (the documented group shape; the number send's is undocumented and
/// assumed alike) and the `message_sent` event.
fn sent(sim: &Arc<WawebSim>, key: &str, client_id: &str, to: String, message: Option<String>, media: Option<String>, group: bool) -> Response {
    let id = next_id(sim);
    let body = message.clone().unwrap_or_default();
    let ts = chrono::Utc::now().timestamp();
    {
        let mut log = sim.sent.lock();
        if log.len() >= 100 {
            log.pop_front();
        }
        log.push_back(json!({"id": id, "clientId": client_id, "to": to, "body": body, "mediaUrl": media, "timestamp": ts}));
    }
    sim.state.count(ProviderKind::WaWebGateway, key, Some(Outcome::Accepted));
    let message = if sim.config.lock().event_message_ids {
        json!({"id": {"_serialized": id, "fromMe": true}, "body": body, "timestamp": ts, "type": if media.is_some() { "media" } else { "chat" }})
    } else {
        json!(body)
    };
    let event = json!({"event": "message_sent", "data": {
        "from": client_id, "to": to, "body": body, "message": message, "timestamp": ts * 1000, "type": "sent_message",
    }});
    let (sim2, client_id2) = (sim.clone(), client_id.to_owned());
    tokio::spawn(async move {
        let delay = sim2.config.lock().event_delay_ms;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
            _ = sim2.shutdown.cancelled() => return,
        }
        let _ = deliver(&sim2, &client_id2, event).await;
    });
    let mut answer = json!({"success": true, "message": {"id": {"_serialized": id}, "body": body, "timestamp": ts, "type": if media.is_some() { "media" } else { "chat" }}});
    if group {
        answer["groupId"] = to.into();
        answer["groupName"] = "Simulated group".into();
    }
    Json(answer).into_response()
}

pub(super) async fn send_message(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    let (key, config) = match admit(&sim, "POST", "/api/send-message", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (client_id, _, message, media) = match check_send(&config, &v) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let number = field(&v, "number").unwrap_or("");
    if !(8..=15).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return fail(StatusCode::BAD_REQUEST, "INVALID_NUMBER", "number must be digits with the country code, without +");
    }
    sent(&sim, &key, &client_id, format!("{number}@c.us"), message, media, false)
}

pub(super) async fn send_group_message(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    let (key, config) = match admit(&sim, "POST", "/api/send-group-message", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (client_id, _, message, media) = match check_send(&config, &v) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(group) = field(&v, "groupId").filter(|g| g.ends_with("@g.us") || g.ends_with("@newsletter")) else {
        return fail(StatusCode::BAD_REQUEST, "INVALID_CHAT_TYPE", "groupId must be a group (@g.us) or channel id");
    };
    if config.read_only_groups.iter().any(|g| g == group) {
        return fail(StatusCode::FORBIDDEN, "READ_ONLY_CHAT", "Only admins can send messages to this group");
    }
    if media.is_some() && !matches!(field(&v, "mediaType"), Some("image" | "video" | "audio" | "document")) {
        return fail(StatusCode::BAD_REQUEST, "MEDIA_ERROR", "mediaType must be image, video, audio or document");
    }
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(config.group_delay_ms)) => {}
        _ = sim.shutdown.cancelled() => return (StatusCode::SERVICE_UNAVAILABLE, "simulator shutting down").into_response(),
    }
    sent(&sim, &key, &client_id, group.to_owned(), message, media, true)
}

pub(super) async fn clients(State(sim): Sim, headers: HeaderMap) -> Response {
    let config = match admit(&sim, "GET", "/api/clients", &headers, &Bytes::new()) {
        Ok((_, c)) => c,
        Err(r) => return r,
    };
    let list: Vec<Value> = config
        .clients
        .iter()
        .map(|(id, c)| json!({"clientId": id, "status": c.status, "phoneNumber": c.phone_number, "apiKey": c.api_key, "webhookUrl": c.webhook_url}))
        .collect();
    Json(list).into_response()
}

pub(super) async fn update_webhook(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = admit(&sim, "POST", "/api/update-webhook", &headers, &body) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(client_id), Some(url)) = (field(&v, "clientId"), field(&v, "webhookUrl")) else {
        return fail(StatusCode::BAD_REQUEST, "MISSING_FIELDS", "clientId and webhookUrl are required");
    };
    let mut config = sim.config.lock();
    let Some(c) = config.clients.get_mut(client_id) else { return fail(StatusCode::NOT_FOUND, "CLIENT_NOT_FOUND", "Client not found") };
    c.webhook_url = Some(url.to_owned());
    Json(json!({"success": true, "message": "Webhook updated"})).into_response()
}

pub(super) async fn sent_messages(State(sim): Sim, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&sim, "GET", "/api/sent-messages", &headers, &Bytes::new()) {
        return r;
    }
    Json(sim.sent.lock().iter().cloned().collect::<Vec<_>>()).into_response()
}

/// Posts one event to the client's webhook with its `X-Api-Key`, within the documented
/// answer time, and acts on the answer as the gateway does.
async fn deliver(sim: &Arc<WawebSim>, client_id: &str, event: Value) -> SentEvent {
    let name = event["event"].as_str().unwrap_or("").to_owned();
    let client = sim.config.lock().clients.get(client_id).cloned();
    let mut rec = SentEvent { event: name.clone(), client_id: client_id.into(), payload: event.clone(), answer_status: 0, answer: Value::Null, reply_sent: None, error: None };
    let Some(client) = client else {
        rec.error = Some("no such client".into());
        return remember(sim, rec);
    };
    let Some(url) = client.webhook_url.clone() else {
        rec.error = Some("the client has no webhook URL".into());
        return remember(sim, rec);
    };
    let limit = Duration::from_secs(if name == "call_rejected" { 3 } else { 5 });
    let answer = sim.client.post(&url).header("X-Api-Key", &client.api_key).json(&event).timeout(limit).send().await;
    match answer {
        Ok(r) => {
            rec.answer_status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            rec.answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if rec.answer_status == 200 {
                let pick = if name == "call_rejected" { "rejectionMessage" } else { "response" };
                if let Some(reply) = rec.answer.get(pick).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    rec.reply_sent = Some(reply.to_owned());
                    let mut log = sim.sent.lock();
                    if log.len() >= 100 {
                        log.pop_front();
                    }
                    log.push_back(json!({"clientId": client_id, "to": event["data"]["from"], "body": reply, "auto": true}));
                }
            }
        }
        Err(e) => {
            rec.error = Some(if e.is_timeout() { format!("no answer within {} s", limit.as_secs()) } else { e.to_string() });
        }
    }
    remember(sim, rec)
}

fn remember(sim: &WawebSim, rec: SentEvent) -> SentEvent {
    let mut log = sim.events.lock();
    if log.len() >= MAX_EVENTS {
        log.remove(0);
    }
    log.push(rec.clone());
    rec
}

/// `POST /_sim/waweb/events {clientId, event: message_received|call_rejected, from, body?, isVideo?}`:
/// the gateway fires the event now; answers with what it got back.
pub(super) async fn post_event(State(sim): Sim, Json(v): Json<Value>) -> Response {
    let client_id = field(&v, "clientId").unwrap_or("client-1").to_owned();
    let from = field(&v, "from").unwrap_or("966500000001").to_owned();
    let from = if from.contains('@') { from } else { format!("{}@c.us", from.trim_start_matches('+')) };
    let ts = chrono::Utc::now().timestamp_millis();
    let event = match field(&v, "event") {
        Some("message_received") => {
            let body = field(&v, "body").unwrap_or("").to_owned();
            json!({"event": "message_received", "data": {"from": from, "to": client_id, "body": body, "message": body, "timestamp": ts, "type": "received_message"}})
        }
        Some("call_rejected") => {
            let video = v.get("isVideo").and_then(Value::as_bool).unwrap_or(false);
            json!({"event": "call_rejected", "data": {"from": from, "to": client_id, "isVideo": video, "timestamp": ts, "type": "call_rejected"}})
        }
        _ => return (StatusCode::BAD_REQUEST, "event must be message_received or call_rejected").into_response(),
    };
    Json(deliver(&sim, &client_id, event).await).into_response()
}

pub(super) async fn get_config(State(sim): Sim) -> Json<WawebSimConfig> {
    Json(sim.config.lock().clone())
}

/// Merges the fields given over the settings; `clients` merge per client id (`null` removes one).
pub(super) async fn set_config(State(sim): Sim, Json(patch): Json<Value>) -> Response {
    let Some(patch) = patch.as_object() else { return (StatusCode::BAD_REQUEST, "settings must be a JSON object").into_response() };
    let mut current = serde_json::to_value(sim.config.lock().clone()).unwrap_or(Value::Null);
    let defaults = serde_json::to_value(WawebSimConfig::default()).unwrap_or(Value::Null);
    for (k, v) in patch {
        if k == "clients" {
            if let (Some(clients), Some(given)) = (current["clients"].as_object_mut(), v.as_object()) {
                for (id, c) in given {
                    if c.is_null() {
                        clients.remove(id);
                        continue;
                    }
                    let mut base = clients.get(id).cloned().unwrap_or_else(|| serde_json::to_value(super::SimClient::default()).unwrap_or(Value::Null));
                    for (f, x) in c.as_object().into_iter().flatten() {
                        base[f] = x.clone();
                    }
                    clients.insert(id.clone(), base);
                }
                continue;
            }
        }
        current[k] = if v.is_null() { defaults.get(k).cloned().unwrap_or(Value::Null) } else { v.clone() };
    }
    match serde_json::from_value::<WawebSimConfig>(current) {
        Ok(c) => {
            *sim.config.lock() = c.clone();
            Json(c).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

pub(super) async fn list_events(State(sim): Sim) -> Json<Vec<SentEvent>> {
    Json(sim.events.lock().clone())
}
