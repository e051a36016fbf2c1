//! HTTP handlers of the Graph API simulator beyond the send endpoint: template management
//! (`/{version}/{waba-id}/message_templates` GET/POST/DELETE, `/{version}/{template-id}`
//! GET/POST), `/{version}/{waba-id}/subscribed_apps`, and the control plane
//! `/_sim/whatsapp/{webhook,inbound,templates,template-status,messages}`. Handlers translate
//! and delegate to `templates`, `send` and `webhooks`; every Graph request is recorded under
//! the `meta` provider like sends are (not counted as sends).

use super::send::Remembered;
use super::{webhooks, GraphError, PhoneNumberSim};
use crate::domain::ProviderKind;
use crate::sim::server::{recorded, Shared};
use crate::sim::wire::{self, Incoming};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const BODY_LIMIT: usize = 1024 * 1024;

/// A Graph API request after the common checks.
struct Ctx {
    /// Path segments after the version.
    segments: Vec<String>,
    query: HashMap<String, String>,
    body: Value,
    /// `http://host/path` as the caller addressed it (for `paging.next`).
    self_url: String,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

fn version_ok(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let mut parts = rest.split('.');
    parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads and records the request, checks the version segment and the Bearer token.
async fn open(s: &Shared, req: Request) -> Result<Ctx, Response> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response())?;
    let pairs = parts.uri.query().map(|q| wire::form_pairs(q.as_bytes())).unwrap_or_default();
    let incoming = Incoming { method: parts.method, path: parts.uri.path().to_owned(), query: pairs.clone(), headers: parts.headers, body };
    let segments: Vec<String> = incoming.path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if !segments.first().is_some_and(|v| version_ok(v)) {
        return Err(not_found());
    }
    let config = s.state.config();
    if config.record_requests > 0 {
        s.state.record(ProviderKind::MetaWhatsapp, recorded(&incoming), config.record_requests);
    }
    let token = incoming
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| pairs.iter().find(|(k, _)| k == "access_token").map(|(_, v)| v.as_str()))
        .unwrap_or("");
    if !config.whatsapp.token_ok(token) {
        return Err(GraphError::token().into_response());
    }
    let body = if incoming.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&incoming.body) {
            Ok(v) => v,
            // Graph also takes form-encoded parameters.
            Err(_) => wire::pairs_json(&wire::form_pairs(&incoming.body)),
        }
    };
    let host = incoming.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    Ok(Ctx {
        self_url: format!("http://{host}{}", incoming.path),
        segments: segments.into_iter().skip(1).collect(),
        query: pairs.into_iter().collect(),
        body,
    })
}

macro_rules! open_or_return {
    ($s:expr, $req:expr) => {
        match open(&$s, $req).await {
            Ok(c) => c,
            Err(r) => return r,
        }
    };
}

fn reply(r: Result<Value, GraphError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /{version}/{waba-id}/message_templates`.
pub(crate) async fn create_template(State(s): State<Shared>, req: Request) -> Response {
    let ctx = open_or_return!(s, req);
    let config = s.state.config();
    let created = s.state.graph.templates.lock().create(&ctx.segments[0], &ctx.body, &config.whatsapp, &s.state.rng, Instant::now());
    match created {
        Ok((v, due)) => {
            if let Some(id) = v["id"].as_str() {
                webhooks::schedule_review(&s.state, id, due);
            }
            Json(v).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /{version}/{waba-id}/message_templates?fields=&status=&limit=&after=`.
pub(crate) async fn list_templates(State(s): State<Shared>, req: Request) -> Response {
    let ctx = open_or_return!(s, req);
    let config = s.state.config();
    let mut store = s.state.graph.templates.lock();
    let changes = store.settle_waba(&ctx.segments[0], Instant::now());
    let answer = store.list(&ctx.segments[0], &ctx.query, &ctx.self_url);
    drop(store);
    for c in changes {
        webhooks::template_changed(&s.state, &config, c);
    }
    reply(answer)
}

/// `DELETE /{version}/{waba-id}/message_templates?name=[&hsm_id=]`.
pub(crate) async fn delete_templates(State(s): State<Shared>, req: Request) -> Response {
    let ctx = open_or_return!(s, req);
    let name = ctx.query.get("name").cloned().or_else(|| ctx.body.get("name").and_then(Value::as_str).map(str::to_owned));
    let hsm = ctx.query.get("hsm_id").cloned().or_else(|| ctx.body.get("hsm_id").and_then(Value::as_str).map(str::to_owned));
    reply(s.state.graph.templates.lock().delete(&ctx.segments[0], name.as_ref(), hsm.as_ref()))
}

/// `GET /{version}/{template-id}?fields=`.
pub(crate) async fn get_object(State(s): State<Shared>, req: Request) -> Response {
    let ctx = open_or_return!(s, req);
    let config = s.state.config();
    let mut store = s.state.graph.templates.lock();
    let change = store.settle_one(&ctx.segments[0], Instant::now());
    let answer = store.get(&ctx.segments[0], ctx.query.get("fields"));
    drop(store);
    if let Some(c) = change {
        webhooks::template_changed(&s.state, &config, c);
    }
    reply(answer)
}

/// `POST /{version}/{template-id}`: edit `components` / `category` (back to PENDING).
pub(crate) async fn edit_object(State(s): State<Shared>, req: Request) -> Response {
    let ctx = open_or_return!(s, req);
    let config = s.state.config();
    let edited = s.state.graph.templates.lock().edit(&ctx.segments[0], &ctx.body, &config.whatsapp, &s.state.rng, Instant::now());
    match edited {
        Ok((change, due)) => {
            let id = change.template_id.clone();
            webhooks::template_changed(&s.state, &config, change);
            webhooks::schedule_review(&s.state, &id, due);
            Json(json!({"success": true})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST|GET /{version}/{waba-id}/subscribed_apps`.
pub(crate) async fn subscribed_apps(State(s): State<Shared>, req: Request) -> Response {
    let is_get = req.method() == axum::http::Method::GET;
    let _ctx = open_or_return!(s, req);
    if is_get {
        Json(json!({"data": [{"whatsapp_business_api_data": {"id": "1000000000000", "name": "Jood simulator app"}}]})).into_response()
    } else {
        Json(json!({"success": true})).into_response()
    }
}

// ---- control plane ----------------------------------------------------------------------------

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.into()}))).into_response()
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn body_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body).ok().filter(Value::is_object).ok_or_else(|| bad("the body must be a JSON object"))
}

/// `POST /_sim/whatsapp/webhook {"phoneNumberId","url","appSecret","wabaId"?,"displayPhoneNumber"?}`:
/// sets a number's webhook target (an empty `url` removes it) in the settings.
pub(crate) async fn set_webhook(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(number) = str_field(&v, "phoneNumberId") else { return bad("phoneNumberId is required") };
    let mut config = (*s.state.config()).clone();
    if !config.whatsapp.phone_numbers.contains_key(number) && config.whatsapp.phone_numbers.len() >= 10_000 {
        return bad("at most 10000 phone numbers");
    }
    let entry = config.whatsapp.phone_numbers.entry(number.to_owned()).or_insert_with(PhoneNumberSim::default);
    if v.get("url").is_some() {
        entry.webhook_url = str_field(&v, "url").map(str::to_owned);
    }
    if v.get("appSecret").is_some() {
        entry.app_secret = v.get("appSecret").and_then(Value::as_str).map(str::to_owned);
    }
    if let Some(w) = str_field(&v, "wabaId") {
        entry.waba_id = Some(w.to_owned());
    }
    if let Some(d) = str_field(&v, "displayPhoneNumber") {
        entry.display_phone_number = Some(d.to_owned());
    }
    if let Some(t) = v.get("throughputPerSecond").and_then(Value::as_u64) {
        entry.throughput_per_second = Some(t.min(u64::from(u32::MAX)) as u32);
    }
    let entry = entry.clone();
    let answer = json!({"phoneNumberId": number, "wabaId": config.whatsapp.waba_of(number), "settings": entry});
    if let Err(e) = config.validate() {
        return bad(e);
    }
    s.state.set_config(config);
    Json(answer).into_response()
}

/// `GET /_sim/whatsapp/webhook`: every configured number.
pub(crate) async fn get_webhooks(State(s): State<Shared>) -> Response {
    Json(json!(s.state.config().whatsapp.phone_numbers)).into_response()
}

/// `POST /_sim/whatsapp/inbound {"phoneNumberId","from","text","name"?}`: a user writes to the
/// number: its window opens and a `messages` webhook is queued.
pub(crate) async fn inbound(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(number) = str_field(&v, "phoneNumberId") else { return bad("phoneNumberId is required") };
    let Some(from) = str_field(&v, "from").map(|f| f.trim_start_matches('+').to_owned()) else { return bad("from is required") };
    if !((6..=15).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit())) {
        return bad("from must be 6 to 15 digits");
    }
    let Some(text) = v.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) else { return bad("text is required") };
    if text.len() > 4096 {
        return bad("text is longer than 4096 bytes");
    }
    let name = str_field(&v, "name").unwrap_or("Sim User").to_owned();
    let config = s.state.config();
    let wa = &config.whatsapp;
    s.state.graph.limits.lock().open_window(number, &from, Duration::from_millis(wa.window_ms), Instant::now());
    s.state.graph.counters.inbound();
    let wamid = wire::meta::wamid(&s.state.rng);
    let remembered = Remembered { wamid: wamid.clone(), phone_number_id: number.to_owned(), peer: from.clone(), inbound: true, kind: "text".into(), statuses: Vec::new() };
    s.state.graph.messages.lock().remember(remembered, wa.max_messages);
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": webhooks::metadata(&config, number),
        "contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": text}}],
    });
    let webhook = if wa.target(number).is_none() {
        webhooks::enqueue_value(&s.state, &config, number, "messages", value);
        "no_target"
    } else if webhooks::enqueue_value(&s.state, &config, number, "messages", value) {
        "queued"
    } else {
        "dropped"
    };
    Json(json!({"id": wamid, "phoneNumberId": number, "from": from, "windowOpen": true, "webhook": webhook})).into_response()
}

/// `GET /_sim/whatsapp/templates`: every template, by WABA.
pub(crate) async fn dump_templates(State(s): State<Shared>) -> Response {
    Json(s.state.graph.templates.lock().dump()).into_response()
}

/// `POST /_sim/whatsapp/template-status {"id","status","reason"?}`: sets a status by hand
/// (e.g. PAUSED, DISABLED) and sends its webhook.
pub(crate) async fn force_template_status(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(id), Some(status)) = (str_field(&v, "id"), str_field(&v, "status")) else { return bad("id and status are required") };
    let status = status.to_ascii_uppercase();
    if !["APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "IN_APPEAL", "FLAGGED"].contains(&status.as_str()) {
        return bad("status must be APPROVED, REJECTED, PENDING, PAUSED, DISABLED, IN_APPEAL or FLAGGED");
    }
    let change = s.state.graph.templates.lock().force_status(id, &status, str_field(&v, "reason"));
    match change {
        Some(c) => {
            let value = c.value.clone();
            webhooks::template_changed(&s.state, &s.state.config(), c);
            Json(value).into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"error": format!("no template {id}")}))).into_response(),
    }
}

/// `GET /_sim/whatsapp/messages?phoneNumberId=&limit=`: recent messages and their statuses.
pub(crate) async fn messages(State(s): State<Shared>, axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>) -> Response {
    let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100usize).min(10_000);
    Json(json!(s.state.graph.messages.lock().recent(q.get("phoneNumberId").map(String::as_str), limit))).into_response()
}
