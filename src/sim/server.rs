//! The simulator's HTTP side: every provider's send endpoint on one router (their paths don't
//! collide), the request pipeline they share (record → count → latency → faults → validate →
//! invalid numbers → duplicates → answer), and the `/_sim/*` control plane.

use super::config::{FaultMode, FaultSpec, SimConfig};
use super::graph::{self, http as graph_http};
use super::state::{Outcome, RecordedRequest, SimState};
use super::wire::{self, Answer, Dest, Endpoint, Incoming};
use crate::domain::ProviderKind;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub state: Arc<SimState>,
    /// Cancelled on stop, so hanging requests end instead of holding shutdown for `hang_ms`.
    pub shutdown: CancellationToken,
    /// Delivery reports of accepted sends.
    pub dlr: Arc<super::dlr::Dlr>,
}

/// Largest request body read; bulk requests of a few thousand numbers fit.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The router, and the task sending the Graph API simulator's webhooks (it stops with `shutdown`).
pub(crate) fn router(shared: Shared) -> Router {
    graph::webhooks::spawn(shared.state.clone(), shared.shutdown.clone());
    let ep = |endpoint: Endpoint| {
        move |State(s): State<Shared>, req: Request| async move { handle(s, endpoint, req).await }
    };
    let get_or_post = MethodFilter::GET.or(MethodFilter::POST);
    Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(ep(Endpoint::Twilio)))
        .route("/sms/3/messages", post(ep(Endpoint::InfobipV3)))
        .route("/sms/2/text/advanced", post(ep(Endpoint::InfobipV2)))
        .route("/rest/SMS/messages", post(ep(Endpoint::Unifonic)))
        .route("/rest/Messages/SendBulk", post(ep(Endpoint::UnifonicBulk)))
        .route("/api/v1/account/area/sms/send", post(ep(Endpoint::FourJawaly)))
        .route("/SendSMS", post(ep(Endpoint::YamamahJson)))
        .route("/SendSMSV2", on(get_or_post, ep(Endpoint::YamamahQuery)))
        .route("/sendurl.aspx", on(get_or_post, ep(Endpoint::ShastraUrl)))
        .route("/sendurlcomma.aspx", on(get_or_post, ep(Endpoint::ShastraUrlComma)))
        .route("/sendsms_api_json.aspx", post(ep(Endpoint::ShastraJson)))
        .route("/sms/api/sendsms.php", on(get_or_post, ep(Endpoint::Qyadat)))
        // Graph API paths share their parameter names (`{id}` is a phone number, WABA or
        // template id), as the router requires.
        .route("/{version}/{id}/messages", post(ep(Endpoint::MetaMessages)))
        .route(
            "/{version}/{id}/message_templates",
            get(graph_http::list_templates).post(graph_http::create_template).delete(graph_http::delete_templates),
        )
        .route("/{version}/{id}/subscribed_apps", get(graph_http::subscribed_apps).post(graph_http::subscribed_apps))
        .route("/{version}/{id}", get(graph_http::get_object).post(graph_http::edit_object))
        .route("/_sim/whatsapp/webhook", get(graph_http::get_webhooks).post(graph_http::set_webhook))
        .route("/_sim/whatsapp/inbound", post(graph_http::inbound))
        .route("/_sim/whatsapp/templates", get(graph_http::dump_templates))
        .route("/_sim/whatsapp/template-status", post(graph_http::force_template_status))
        .route("/_sim/whatsapp/messages", get(graph_http::messages))
        .route("/_sim/config", get(get_config).post(post_config))
        .route("/_sim/faults", get(get_faults).post(post_faults).delete(delete_faults))
        .route("/_sim/stats", get(get_stats))
        .route("/_sim/requests", get(get_requests))
        .route("/_sim/reset", post(post_reset))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .with_state(shared.clone())
        // The WhatsApp gateways keep their own state (`sim::sidobe`, `sim::waweb`).
        .merge(super::sidobe::routes(shared.state.clone(), shared.shutdown.clone()))
        .merge(super::waweb::routes(shared.state.clone(), shared.shutdown.clone()))
        .merge(super::slack::routes(shared.state.clone()))
        .merge(super::voice::routes(shared.state.clone(), shared.shutdown.clone()))
}

async fn handle(s: Shared, endpoint: Endpoint, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(|q| wire::form_pairs(q.as_bytes())).unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let kind = endpoint.provider();
    let parsed = wire::parse(endpoint, &incoming);
    let config = s.state.config();
    if config.record_requests > 0 {
        s.state.record(kind, recorded(&incoming), config.record_requests);
    }
    s.state.count(kind, &parsed.identity, None);
    s.state.count_items(kind, parsed.recipients.len());

    let delay = config.latency_ms + s.state.rng.below(config.latency_jitter_ms + 1);
    if delay > 0 && !sleep_or_stop(&s.shutdown, delay).await {
        return shutting_down();
    }

    let fault = s.state.take_fault(kind, &parsed.identity, parsed.recipients.len()).map(|m| (m, 500)).or_else(|| random_fault(&s.state, &config));
    let mut verdicts = Vec::new();
    let evaluated = matches!(fault, None | Some((FaultMode::Timeout | FaultMode::PartialServerError, _)));
    let answer = match fault {
        Some((FaultMode::PartialServerError, _)) => evaluate(&s.state, &config, kind, &parsed, &mut verdicts, item_errors(endpoint, ItemErrors::EverySecond)),
        Some((FaultMode::Error500, status)) => Answer::HttpError(status),
        Some((FaultMode::Throttle, _)) => Answer::Throttled,
        Some((FaultMode::AuthError, _)) => Answer::AuthFailed,
        Some((FaultMode::ServerError, _)) => Answer::ServerError,
        Some((FaultMode::Timeout, _)) => {
            s.state.count(kind, &parsed.identity, Some(Outcome::Hung));
            if !sleep_or_stop(&s.shutdown, config.hang_ms).await {
                return shutting_down();
            }
            evaluate(&s.state, &config, kind, &parsed, &mut verdicts, ItemErrors::None)
        }
        None => {
            let rate = ItemErrors::Rate(config.item_error_rate);
            evaluate(&s.state, &config, kind, &parsed, &mut verdicts, item_errors(endpoint, rate))
        }
    };
    // Meta: the Graph API rules (templates, window, limits, webhooks) decide what passed.
    if endpoint == Endpoint::MetaMessages && evaluated {
        if let Some((response, outcome)) = graph::send::decide(&s.state, &config, &parsed, &answer, &incoming) {
            s.state.count(kind, &parsed.identity, Some(outcome));
            return response;
        }
    }
    let outcome = match answer.reason() {
        None => Outcome::Accepted,
        Some(r) => Outcome::Rejected(r),
    };
    if let Answer::Accepted(dests) = &answer {
        let ok = dests.iter().filter(|d| **d == Dest::Ok).count();
        let billed = wire::billed_segments(endpoint, &parsed);
        // Invalid and duplicate destinations are not billed.
        let share = if parsed.recipients.is_empty() { 0 } else { billed * ok as u64 / parsed.recipients.len() as u64 };
        s.state.count_segments(kind, share);
    }
    s.state.count(kind, &parsed.identity, Some(outcome));
    let mut response = wire::respond(endpoint, &parsed, &answer, &s.state.rng);
    if matches!(answer, Answer::Throttled) && config.retry_after {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(config.retry_after_secs));
    }
    if matches!(answer, Answer::Accepted(_)) && matches!(kind, ProviderKind::Twilio | ProviderKind::Infobip) && config.dlr_enabled {
        response = schedule_reports(&s, &config, kind, &incoming, response).await;
    }
    response
}

/// Reads the provider ids from an accepted answer and schedules their delivery reports;
/// answers the same response.
async fn schedule_reports(s: &Shared, config: &SimConfig, kind: ProviderKind, req: &Incoming, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "simulator answer unreadable").into_response();
    };
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let form = if kind == ProviderKind::Twilio { wire::form_pairs(&req.body) } else { Vec::new() };
    let json_body: Value = if kind == ProviderKind::Infobip { serde_json::from_slice(&req.body).unwrap_or(Value::Null) } else { Value::Null };
    let accepted = super::dlr::accepted(kind, &form, &json_body, wire::basic_auth(&req.headers), &answer);
    s.dlr.schedule(config, &s.state.rng, &s.shutdown, accepted);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Per-message server errors in a multi-message answer (partial failures of a batch).
#[derive(Clone, Copy)]
enum ItemErrors {
    None,
    /// The 2nd, 4th, … message (`partial_server_error` faults).
    EverySecond,
    /// Each message with this probability (`item_error_rate`).
    Rate(f64),
}

/// Only endpoints whose answer has a per-message status can fail one message alone.
fn item_errors(ep: Endpoint, e: ItemErrors) -> ItemErrors {
    if wire::has_item_errors(ep) {
        e
    } else {
        ItemErrors::None
    }
}

/// The answer to a request no fault intercepted: the provider's validation, then the
/// invalid-number rule per recipient, then duplicate client ids, then per-message errors.
fn evaluate<'a>(
    state: &SimState,
    config: &SimConfig,
    kind: ProviderKind,
    parsed: &'a wire::Parsed,
    verdicts: &'a mut Vec<Dest>,
    errors: ItemErrors,
) -> Answer<'a> {
    if let Some(problem) = &parsed.problem {
        return Answer::Problem(problem);
    }
    let suffix = config.invalid_number_suffix.as_str();
    for (number, client_id) in parsed.recipients.iter().zip(&parsed.client_ids) {
        let digits = number.trim_start_matches('+');
        let invalid = !wire_digits_ok(digits) || (!suffix.is_empty() && digits.ends_with(suffix));
        let verdict = if invalid {
            Dest::Invalid
        } else if let Some(id) = client_id {
            let key = format!("{}\u{1f}{}\u{1f}{id}", kind.code(), parsed.identity);
            if state.seen_before(key, config.dedup_window) {
                Dest::Duplicate
            } else {
                Dest::Ok
            }
        } else {
            Dest::Ok
        };
        verdicts.push(verdict);
    }
    if let Some(first_invalid) = parsed.recipients.first().filter(|_| verdicts.iter().all(|v| *v == Dest::Invalid)) {
        return Answer::InvalidNumber(first_invalid);
    }
    if verdicts.iter().all(|v| *v == Dest::Duplicate) {
        return Answer::Duplicate;
    }
    if verdicts.len() > 1 {
        for (i, v) in verdicts.iter_mut().enumerate() {
            let fail = match errors {
                ItemErrors::None => false,
                ItemErrors::EverySecond => i % 2 == 1,
                ItemErrors::Rate(r) => r > 0.0 && state.rng.unit() < r,
            };
            if fail && *v == Dest::Ok {
                *v = Dest::ServerError;
            }
        }
    }
    Answer::Accepted(verdicts)
}

fn wire_digits_ok(digits: &str) -> bool {
    let d = digits.strip_prefix("00").unwrap_or(digits);
    (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

/// One draw decides timeout, 5xx or 429 according to the configured rates.
fn random_fault(state: &SimState, config: &SimConfig) -> Option<(FaultMode, u16)> {
    if config.timeout_rate + config.error_rate + config.throttle_rate <= 0.0 {
        return None;
    }
    let r = state.rng.unit();
    if r < config.timeout_rate {
        Some((FaultMode::Timeout, 0))
    } else if r < config.timeout_rate + config.error_rate {
        Some((FaultMode::Error500, [500, 502, 503][state.rng.below(3) as usize]))
    } else if r < config.timeout_rate + config.error_rate + config.throttle_rate {
        Some((FaultMode::Throttle, 0))
    } else {
        None
    }
}

/// Sleeps unless the simulator stops first; false when it stopped.
async fn sleep_or_stop(shutdown: &CancellationToken, ms: u64) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        _ = shutdown.cancelled() => false,
    }
}

fn shutting_down() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "simulator shutting down").into_response()
}

/// The request as sent: the body is parsed by its own content type (form or JSON), independent
/// of where the provider reads its parameters from.
pub(crate) fn recorded(req: &Incoming) -> RecordedRequest {
    let content_type = req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = if req.body.is_empty() {
        Value::Null
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        wire::pairs_json(&wire::form_pairs(&req.body))
    } else {
        serde_json::from_slice(&req.body).unwrap_or(Value::Null)
    };
    let headers: Map<String, Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())))
        .collect();
    let raw = &req.body[..req.body.len().min(8 * 1024)];
    RecordedRequest {
        at_ms: chrono::Utc::now().timestamp_millis(),
        method: req.method.to_string(),
        path: req.path.clone(),
        query: wire::pairs_json(&req.query),
        headers,
        body,
        raw_body: String::from_utf8_lossy(raw).into_owned(),
    }
}

// ---- control plane ----------------------------------------------------------------------------

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn get_config(State(s): State<Shared>) -> Json<SimConfig> {
    Json((*s.state.config()).clone())
}

/// Merges the posted fields over the current settings; `?replace=true` starts from defaults.
async fn post_config(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("settings must be JSON: {e}")),
    };
    let base = if q.get("replace").is_some_and(|v| v == "true") { SimConfig::default() } else { (*s.state.config()).clone() };
    match base.merged(&patch) {
        Ok(config) => {
            s.state.set_config(config.clone());
            Json(config).into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn get_faults(State(s): State<Shared>) -> Json<Vec<FaultSpec>> {
    Json(s.state.faults())
}

/// Arms one fault (an object) or several (an array); answers the armed list.
async fn post_faults(State(s): State<Shared>, body: Bytes) -> Response {
    let specs: Vec<FaultSpec> = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Array(_)) => match serde_json::from_value(v) {
            Ok(specs) => specs,
            Err(e) => return bad_request(e.to_string()),
        },
        Ok(v) => match serde_json::from_value(v) {
            Ok(spec) => vec![spec],
            Err(e) => return bad_request(e.to_string()),
        },
        Err(e) => return bad_request(format!("faults must be JSON: {e}")),
    };
    // Validate all before arming any, so a bad list arms nothing.
    if let Some(e) = specs.iter().find_map(|f| f.provider_kind().err()) {
        return bad_request(e);
    }
    for spec in specs {
        if let Err(e) = s.state.add_fault(spec) {
            return bad_request(e);
        }
    }
    Json(s.state.faults()).into_response()
}

async fn delete_faults(State(s): State<Shared>) -> Json<Vec<FaultSpec>> {
    s.state.clear_faults();
    Json(Vec::new())
}

async fn get_stats(State(s): State<Shared>) -> Json<Value> {
    let mut v = s.state.stats_json();
    v["dlr"] = s.dlr.stats_json();
    Json(v)
}

/// `?provider=twilio` → that provider's recent requests (oldest first); without it, all
/// providers keyed by code. `&limit=N` keeps the newest N.
async fn get_requests(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let newest = |kind: ProviderKind| {
        let mut all = s.state.requests(kind);
        let skip = all.len().saturating_sub(limit);
        all.drain(..skip);
        all
    };
    match q.get("provider") {
        Some(code) => match ProviderKind::from_code(code) {
            Some(kind) => Json(newest(kind)).into_response(),
            None => bad_request(format!("unknown provider {code:?}")),
        },
        None => {
            let all: Map<String, Value> = ProviderKind::ALL
                .iter()
                .map(|k| (k.code().to_owned(), serde_json::to_value(newest(*k)).unwrap_or(Value::Null)))
                .collect();
            Json(Value::Object(all)).into_response()
        }
    }
}

async fn post_reset(State(s): State<Shared>) -> Json<Value> {
    s.state.reset();
    Json(json!({"reset": true}))
}
