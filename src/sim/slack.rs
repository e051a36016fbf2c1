//! Slack's Web API and incoming webhooks, simulated on their real paths:
//! * `POST /api/auth.test`: the bot behind a token (`{"ok":true,"team_id":…,"user_id":…}`).
//! * `POST /api/conversations.open` `{users}`: a DM channel id (`D…`, stable per user).
//! * `POST /api/chat.postMessage` `{channel, text?, blocks?}`: `{"ok":true,"channel","ts"}`.
//! * `POST /services/{T}/{B}/{secret}`: an incoming webhook, answering `ok`.
//!
//! Errors as Slack answers them (`200 {"ok":false,"error":…}`; webhooks: an HTTP status with
//! the word as body): a token that is not `xoxb-…` is `invalid_auth`, one containing `revoked`
//! is `token_revoked`; ids listed in `missing_ids` are `user_not_found` / `channel_not_found`;
//! no text nor blocks is `no_text`, blocks not an array of typed objects `invalid_blocks`.
//! `fail_next` answers its error words to the next posts, in order (`ratelimited` as a 429).
//! Rate limits: `post_per_channel_per_sec` (chat.postMessage's ~1 per second per channel,
//! with a burst of `post_burst`; 0 = off) answers `429` + `Retry-After` + `ratelimited`.
//!
//! Control: `GET|POST /_sim/slack/config` (merge), `GET /_sim/slack/messages` (what was
//! posted, with `channel`, `user` for DMs, `text`, `blocks`, `ts`). Requests are recorded and
//! counted under provider `slack` like every provider's.

use super::server::recorded;
use super::state::{Outcome, Reason, SimState};
use super::wire::Incoming;
use crate::domain::ProviderKind;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSimConfig {
    /// chat.postMessage per (token, channel) per second; 0 = no limit.
    pub post_per_channel_per_sec: f64,
    /// Posts a channel may take at once before the rate applies.
    pub post_burst: u32,
    /// `Retry-After` of a `ratelimited` answer (seconds).
    pub retry_after_secs: u64,
    /// User or channel ids that do not exist.
    pub missing_ids: Vec<String>,
    /// Error words answered to the next posts (chat.postMessage or a webhook), in order.
    pub fail_next: VecDeque<String>,
}

impl Default for SlackSimConfig {
    fn default() -> Self {
        Self { post_per_channel_per_sec: 0.0, post_burst: 1, retry_after_secs: 1, missing_ids: Vec::new(), fail_next: VecDeque::new() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PostedMessage {
    pub channel: String,
    /// The user a DM channel was opened for.
    pub user: Option<String>,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub ts: String,
    /// `webhook` or `chat.postMessage`.
    pub via: &'static str,
}

pub(crate) struct SlackSim {
    state: Arc<SimState>,
    config: Mutex<SlackSimConfig>,
    dms: Mutex<HashMap<String, String>>,
    posted: Mutex<Vec<PostedMessage>>,
    /// Token bucket per (token, channel): (tokens, last refill).
    buckets: Mutex<HashMap<(String, String), (f64, Instant)>>,
    seq: std::sync::atomic::AtomicU64,
}

pub(crate) fn routes(state: Arc<SimState>) -> Router {
    let sim = Arc::new(SlackSim {
        state,
        config: Mutex::new(SlackSimConfig::default()),
        dms: Mutex::new(HashMap::new()),
        posted: Mutex::new(Vec::new()),
        buckets: Mutex::new(HashMap::new()),
        seq: Default::default(),
    });
    Router::new()
        .route("/api/auth.test", post(auth_test))
        .route("/api/conversations.open", post(conversations_open))
        .route("/api/chat.postMessage", post(post_message))
        .route("/services/{team}/{bot}/{secret}", post(webhook))
        .route("/_sim/slack/config", get(get_config).post(set_config))
        .route("/_sim/slack/messages", get(messages))
        .with_state(sim)
}

/// Reads a request, records it and counts it as received; answers the body and the token.
async fn take(sim: &SlackSim, req: Request) -> (Bytes, Option<String>, String) {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    let token = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
    let incoming = Incoming { method: parts.method, path: parts.uri.path().to_owned(), query: Vec::new(), headers: parts.headers, body: body.clone() };
    let identity = token.clone().unwrap_or_else(|| incoming.path.clone());
    let keep = sim.state.config().record_requests;
    sim.state.record(ProviderKind::Slack, recorded(&incoming), keep);
    sim.state.count(ProviderKind::Slack, &identity, None);
    (body, token, identity)
}

fn slack_error(sim: &SlackSim, identity: &str, error: &str) -> Response {
    let reason = match error {
        "invalid_auth" | "token_revoked" | "not_authed" | "invalid_token" => Reason::Auth,
        "user_not_found" | "channel_not_found" => Reason::InvalidNumber,
        "ratelimited" => Reason::Throttled,
        "internal_error" => Reason::ServerError,
        _ => Reason::BadRequest,
    };
    sim.state.count(ProviderKind::Slack, identity, Some(Outcome::Rejected(reason)));
    if error == "ratelimited" {
        let secs = sim.config.lock().retry_after_secs;
        let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(json!({"ok": false, "error": "ratelimited"}))).into_response();
        r.headers_mut().insert("retry-after", HeaderValue::from(secs));
        return r;
    }
    Json(json!({"ok": false, "error": error})).into_response()
}

fn check_token(token: Option<&str>) -> Result<(), &'static str> {
    match token {
        None => Err("not_authed"),
        Some(t) if t.contains("revoked") => Err("token_revoked"),
        Some(t) if !t.starts_with("xoxb-") => Err("invalid_auth"),
        Some(_) => Ok(()),
    }
}

async fn auth_test(State(sim): State<Arc<SlackSim>>, req: Request) -> Response {
    let (_, token, identity) = take(&sim, req).await;
    if let Err(e) = check_token(token.as_deref()) {
        return slack_error(&sim, &identity, e);
    }
    sim.state.count(ProviderKind::Slack, &identity, Some(Outcome::Accepted));
    Json(json!({"ok": true, "url": "https://jood-sim.slack.com/", "team": "Jood Sim", "user": "jood", "team_id": "T0SIM", "user_id": "U0BOT", "bot_id": "B0SIM"}))
        .into_response()
}

async fn conversations_open(State(sim): State<Arc<SlackSim>>, req: Request) -> Response {
    let (body, token, identity) = take(&sim, req).await;
    if let Err(e) = check_token(token.as_deref()) {
        return slack_error(&sim, &identity, e);
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(user) = v["users"].as_str().filter(|u| !u.is_empty()) else {
        return slack_error(&sim, &identity, "invalid_arguments");
    };
    if sim.config.lock().missing_ids.iter().any(|m| m == user) || !(user.starts_with('U') || user.starts_with('W')) {
        return slack_error(&sim, &identity, "user_not_found");
    }
    let dm = sim.dms.lock().entry(user.to_owned()).or_insert_with(|| format!("D{}", &user[1..])).clone();
    sim.state.count(ProviderKind::Slack, &identity, Some(Outcome::Accepted));
    Json(json!({"ok": true, "channel": {"id": dm}})).into_response()
}

/// Whether a post to `channel` with `token` is within the rate (takes one if so).
fn within_rate(sim: &SlackSim, token: &str, channel: &str) -> bool {
    let (rate, burst) = {
        let c = sim.config.lock();
        (c.post_per_channel_per_sec, c.post_burst.max(1) as f64)
    };
    if rate <= 0.0 {
        return true;
    }
    let now = Instant::now();
    let mut buckets = sim.buckets.lock();
    let (tokens, at) = buckets.entry((token.to_owned(), channel.to_owned())).or_insert((burst, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
    *at = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

/// The content checks every post makes: `Err(word)` as Slack would answer.
fn check_content(v: &Value) -> Result<(Option<String>, Option<Value>), &'static str> {
    let text = v["text"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
    let blocks = match v.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(b)) if !b.is_empty() && b.iter().all(|x| x["type"].is_string()) => Some(Value::Array(b.clone())),
        Some(_) => return Err("invalid_blocks"),
    };
    if text.is_none() && blocks.is_none() {
        return Err("no_text");
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > 40_000) {
        return Err("msg_too_long");
    }
    Ok((text, blocks))
}

fn next_ts(sim: &SlackSim) -> String {
    let n = sim.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}.{:06}", chrono::Utc::now().timestamp(), n % 1_000_000)
}

async fn post_message(State(sim): State<Arc<SlackSim>>, req: Request) -> Response {
    let (body, token, identity) = take(&sim, req).await;
    if let Err(e) = check_token(token.as_deref()) {
        return slack_error(&sim, &identity, e);
    }
    let scripted = sim.config.lock().fail_next.pop_front();
    if let Some(word) = scripted {
        return slack_error(&sim, &identity, &word);
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(channel) = v["channel"].as_str().filter(|c| !c.is_empty()).map(str::to_owned) else {
        return slack_error(&sim, &identity, "channel_not_found");
    };
    let user = sim.dms.lock().iter().find(|(_, dm)| **dm == channel).map(|(u, _)| u.clone());
    let known_kind = channel.starts_with(['C', 'G', 'D', 'U', 'W', '#']);
    let dm_unopened = channel.starts_with('D') && user.is_none();
    if !known_kind || dm_unopened || sim.config.lock().missing_ids.iter().any(|m| *m == channel) {
        return slack_error(&sim, &identity, "channel_not_found");
    }
    let (text, blocks) = match check_content(&v) {
        Ok(c) => c,
        Err(e) => return slack_error(&sim, &identity, e),
    };
    if !within_rate(&sim, token.as_deref().unwrap_or(""), &channel) {
        return slack_error(&sim, &identity, "ratelimited");
    }
    let ts = next_ts(&sim);
    sim.posted.lock().push(PostedMessage { channel: channel.clone(), user, text: text.clone(), blocks, ts: ts.clone(), via: "chat.postMessage" });
    sim.state.count(ProviderKind::Slack, &identity, Some(Outcome::Accepted));
    Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"type": "message", "text": text.unwrap_or_default(), "ts": ts}})).into_response()
}

/// An incoming webhook: the error words as HTTP statuses, as Slack answers them.
async fn webhook(State(sim): State<Arc<SlackSim>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let (body, _, identity) = take(&sim, req).await;
    let fail = |word: &str| {
        let status = match word {
            "invalid_token" | "action_prohibited" => StatusCode::FORBIDDEN,
            "channel_not_found" | "no_service" => StatusCode::NOT_FOUND,
            "channel_is_archived" => StatusCode::GONE,
            "ratelimited" => StatusCode::TOO_MANY_REQUESTS,
            "internal_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        sim.state.count(ProviderKind::Slack, &identity, Some(Outcome::Rejected(if status == StatusCode::FORBIDDEN { Reason::Auth } else { Reason::BadRequest })));
        let mut r = (status, word.to_owned()).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut().insert("retry-after", HeaderValue::from(sim.config.lock().retry_after_secs));
        }
        r
    };
    let scripted = sim.config.lock().fail_next.pop_front();
    if let Some(word) = scripted {
        return fail(&word);
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return fail("invalid_payload"),
    };
    let (text, blocks) = match check_content(&v) {
        Ok(c) => c,
        Err(_) => return fail("invalid_payload"),
    };
    if !within_rate(&sim, &path, &path) {
        return fail("ratelimited");
    }
    let ts = next_ts(&sim);
    sim.posted.lock().push(PostedMessage { channel: format!("webhook:{path}"), user: None, text, blocks, ts, via: "webhook" });
    sim.state.count(ProviderKind::Slack, &identity, Some(Outcome::Accepted));
    (StatusCode::OK, "ok").into_response()
}

async fn get_config(State(sim): State<Arc<SlackSim>>) -> Json<SlackSimConfig> {
    Json(sim.config.lock().clone())
}

/// Merges the posted fields over the current settings.
async fn set_config(State(sim): State<Arc<SlackSim>>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("settings must be JSON: {e}")}))).into_response(),
    };
    let mut current = serde_json::to_value(sim.config.lock().clone()).unwrap_or(Value::Null);
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        c.extend(p.clone());
    }
    match serde_json::from_value::<SlackSimConfig>(current) {
        Ok(c) => {
            *sim.config.lock() = c.clone();
            Json(c).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

async fn messages(State(sim): State<Arc<SlackSim>>) -> Json<Vec<PostedMessage>> {
    Json(sim.posted.lock().clone())
}
