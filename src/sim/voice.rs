//! Twilio Programmable Voice's Calls resource, simulated: `POST
//! /2010-04-01/Accounts/{sid}/Calls.json` (form: `To`, `From`, `Twiml` or `Url`,
//! `StatusCallback`, `StatusCallbackEvent`…) answers `201` with a Call resource (`sid` =
//! `CA…`, `status: queued`), then plays the call out: its status callbacks (`initiated`,
//! `ringing`, `in-progress` for answered, then the outcome) go to `StatusCallback` as form
//! POSTs signed with `X-Twilio-Signature` under the auth token of the request's Basic
//! credentials, `event_delay_ms` apart. Twilio sends the events the request asked for in
//! `StatusCallbackEvent`, and always the final one.
//!
//! Settable (`POST /_sim/voice/config`, merged): `outcome` (`completed`, `busy`, `no-answer`,
//! `failed`, `canceled`) and per-number `outcomes`; `event_delay_ms`; `calls_per_second` (CPS:
//! past it, `429` with Twilio's code 20429; 0 = no limit). Errors as Twilio answers: no
//! `Twiml`/`Url` 21205, a `To` that is not a number 21211, a bad account 20003.
//! `GET /_sim/voice/calls`: every call with its TwiML and the callbacks posted (status, HTTP
//! answer).

use super::server::recorded;
use super::state::{Outcome, Reason, SimState};
use super::wire::{basic_auth, form_pairs, Incoming};
use crate::domain::ProviderKind;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceSimConfig {
    /// How calls end: `completed`, `busy`, `no-answer`, `failed` or `canceled`.
    pub outcome: String,
    /// Per `To` number (E.164), overriding `outcome`.
    pub outcomes: HashMap<String, String>,
    /// Delay before each status callback.
    pub event_delay_ms: u64,
    /// Calls per second per account (0 = no limit).
    pub calls_per_second: f64,
}

impl Default for VoiceSimConfig {
    fn default() -> Self {
        Self { outcome: "completed".into(), outcomes: HashMap::new(), event_delay_ms: 30, calls_per_second: 0.0 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub twiml: String,
    /// (CallStatus, HTTP status of the engine's answer) per callback posted.
    pub callbacks: Vec<(String, u16)>,
}

pub(crate) struct VoiceSim {
    state: Arc<SimState>,
    shutdown: CancellationToken,
    config: Mutex<VoiceSimConfig>,
    calls: Mutex<Vec<CallRecord>>,
    /// Call starts in the last second, per account.
    starts: Mutex<HashMap<String, VecDeque<Instant>>>,
    client: reqwest::Client,
}

pub(crate) fn routes(state: Arc<SimState>, shutdown: CancellationToken) -> Router {
    let sim = Arc::new(VoiceSim {
        state,
        shutdown,
        config: Mutex::new(VoiceSimConfig::default()),
        calls: Mutex::new(Vec::new()),
        starts: Mutex::new(HashMap::new()),
        client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
    });
    Router::new()
        .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create_call))
        .route("/_sim/voice/config", get(get_config).post(set_config))
        .route("/_sim/voice/calls", get(list_calls))
        .with_state(sim)
}

fn twilio_error(sim: &VoiceSim, identity: &str, status: StatusCode, code: u32, message: &str, reason: Reason) -> Response {
    sim.state.count(ProviderKind::TwilioVoice, identity, Some(Outcome::Rejected(reason)));
    (status, Json(json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()}))).into_response()
}

/// Takes one call start from the account's CPS budget.
fn within_cps(sim: &VoiceSim, account: &str) -> bool {
    let cps = sim.config.lock().calls_per_second;
    if cps <= 0.0 {
        return true;
    }
    let now = Instant::now();
    let mut starts = sim.starts.lock();
    let q = starts.entry(account.to_owned()).or_default();
    while q.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
        q.pop_front();
    }
    if (q.len() as f64) < cps.max(1.0) {
        q.push_back(now);
        true
    } else {
        false
    }
}

async fn create_call(State(sim): State<Arc<VoiceSim>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let incoming = Incoming { method: parts.method, path: path.clone(), query: Vec::new(), headers: parts.headers, body: body.clone() };
    let auth = basic_auth(&incoming.headers);
    let account = path.split('/').nth(3).unwrap_or_default().to_owned();
    sim.state.record(ProviderKind::TwilioVoice, recorded(&incoming), sim.state.config().record_requests);
    sim.state.count(ProviderKind::TwilioVoice, &account, None);
    let Some((user, token)) = auth.filter(|(u, t)| *u == account && !t.is_empty()) else {
        return twilio_error(&sim, &account, StatusCode::UNAUTHORIZED, 20003, "Authenticate", Reason::Auth);
    };
    let form = form_pairs(&body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let to = get("To").unwrap_or_default();
    let digits = to.trim_start_matches('+');
    if !(to.starts_with('+') && (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())) {
        return twilio_error(&sim, &account, StatusCode::BAD_REQUEST, 21211, &format!("The 'To' number {to} is not a valid phone number."), Reason::InvalidNumber);
    }
    let Some(twiml) = get("Twiml").or_else(|| get("Url")).filter(|t| !t.is_empty()) else {
        return twilio_error(&sim, &account, StatusCode::BAD_REQUEST, 21205, "Url parameter is required.", Reason::BadRequest);
    };
    if !within_cps(&sim, &account) {
        return twilio_error(&sim, &account, StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests", Reason::Throttled);
    }
    let from = get("From").unwrap_or_default();
    let sid = format!("CA{}", sim.state.rng.hex(32));
    sim.calls.lock().push(CallRecord { sid: sid.clone(), to: to.clone(), from: from.clone(), twiml, callbacks: Vec::new() });
    sim.state.count(ProviderKind::TwilioVoice, &account, Some(Outcome::Accepted));
    let asked: Vec<String> = form.iter().filter(|(k, _)| k == "StatusCallbackEvent").flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>()).collect();
    if let Some(url) = get("StatusCallback").filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        let sim2 = sim.clone();
        let (sid2, to2, from2) = (sid.clone(), to.clone(), from.clone());
        tokio::spawn(async move { play(sim2, url, user, token, sid2, to2, from2, asked).await });
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "sid": sid, "account_sid": account, "to": to, "from": from, "status": "queued", "direction": "outbound-api",
            "api_version": "2010-04-01", "uri": format!("/2010-04-01/Accounts/{account}/Calls/{sid}.json"),
        })),
    )
        .into_response()
}

/// The call's events, in order, and the final one.
fn timeline(outcome: &str) -> Vec<&'static str> {
    match outcome {
        "busy" => vec!["initiated", "ringing", "busy"],
        "no-answer" => vec!["initiated", "ringing", "no-answer"],
        "failed" => vec!["failed"],
        "canceled" => vec!["initiated", "canceled"],
        _ => vec!["initiated", "ringing", "in-progress", "completed"],
    }
}

#[allow(clippy::too_many_arguments)]
async fn play(sim: Arc<VoiceSim>, url: String, account: String, token: String, sid: String, to: String, from: String, asked: Vec<String>) {
    let (outcome, delay) = {
        let c = sim.config.lock();
        (c.outcomes.get(&to).cloned().unwrap_or_else(|| c.outcome.clone()), c.event_delay_ms)
    };
    let events = timeline(&outcome);
    let last = events.len() - 1;
    for (seq, status) in events.into_iter().enumerate() {
        // The event name asked for: `answered` stands for in-progress; the final one always goes.
        let name = if status == "in-progress" { "answered" } else { status };
        if seq != last && !asked.iter().any(|a| a == name) {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
            _ = sim.shutdown.cancelled() => return,
        }
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), account.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("CallSid".into(), sid.clone()),
            ("CallStatus".into(), status.into()),
            ("CallbackSource".into(), "call-progress-events".into()),
            ("Direction".into(), "outbound-api".into()),
            ("From".into(), from.clone()),
            ("SequenceNumber".into(), seq.to_string()),
            ("Timestamp".into(), chrono::Utc::now().to_rfc2822()),
            ("To".into(), to.clone()),
        ];
        if status == "completed" {
            params.push(("CallDuration".into(), "9".into()));
        }
        let signature = crate::auth::twilio::signature(&token, &url, &params);
        let answer = sim.client.post(&url).header("x-twilio-signature", signature).form(&params).send().await;
        let code = answer.map(|r| r.status().as_u16()).unwrap_or(0);
        if let Some(c) = sim.calls.lock().iter_mut().find(|c| c.sid == sid) {
            c.callbacks.push((status.to_owned(), code));
        }
    }
}

async fn get_config(State(sim): State<Arc<VoiceSim>>) -> Json<VoiceSimConfig> {
    Json(sim.config.lock().clone())
}

async fn set_config(State(sim): State<Arc<VoiceSim>>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("settings must be JSON: {e}")}))).into_response(),
    };
    let mut current = serde_json::to_value(sim.config.lock().clone()).unwrap_or(Value::Null);
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        c.extend(p.clone());
    }
    match serde_json::from_value::<VoiceSimConfig>(current) {
        Ok(c) if ["completed", "busy", "no-answer", "failed", "canceled"].contains(&c.outcome.as_str()) => {
            *sim.config.lock() = c.clone();
            Json(c).into_response()
        }
        Ok(c) => (StatusCode::BAD_REQUEST, Json(json!({"error": format!("outcome `{}` is not one of completed, busy, no-answer, failed, canceled", c.outcome)}))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

async fn list_calls(State(sim): State<Arc<VoiceSim>>) -> Json<Vec<CallRecord>> {
    Json(sim.calls.lock().clone())
}
