//! `GET /dashboard/overview`: what the console's overview screen shows, from the engine's own
//! figures (never by parsing `/metrics`): rates per second over the last 15 minutes from the
//! sampled statistics counters (`api::console::live`), queue depth, the oldest queued
//! message's age, the scheduled backlog, and per credential its circuit state, in-flight
//! calls, its own error rate and p99 latency over the last 5 minutes (the credential actor's
//! record, `dispatch::latency`) and, for the WhatsApp gateways, the client state the gateway
//! last reported. A bound operator gets its own association's figures; the engine-wide ones
//! (dispatch queue depth, schedule backlog) only a super operator. [`view`] is shared with
//! the server-sent-event stream (`stream.rs`).

use super::Dash;
use crate::auth::sessions::Operator;
use crate::api::console::live::{increase, rates, SAMPLE_INTERVAL_MS};
use crate::api::http::extract::QueryParams;
use crate::api::http::{ApiError, AppState, Envelope};
use crate::domain::{now_ms, ProviderKind};
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// The counters charted, in the order of each point's `values`.
const SERIES: [&str; 4] = ["accepted", "sent", "delivered", "failed"];
/// Window of the provider-call health figures.
const HEALTH_WINDOW_MS: u64 = 5 * 60 * 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewQuery {
    pub association_id: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    at: i64,
    accepted: f64,
    sent: f64,
    delivered: f64,
    failed: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialHealth {
    id: i64,
    association_id: i64,
    provider: &'static str,
    provider_name: &'static str,
    sender_name: String,
    is_default: bool,
    /// `closed`, or `open` (open or half-open: calls are held back).
    circuit: &'static str,
    in_flight: f64,
    /// Whether `inFlight` is this credential's own (`metrics.per_credential_labels`) or its provider's.
    in_flight_per_credential: bool,
    /// This credential's calls in the last 5 minutes.
    calls: usize,
    error_rate: f64,
    p99_ms: Option<f64>,
    /// WhatsApp gateways only (WA-Web gateway, Sidobe).
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<GatewayState>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayState {
    /// `ready`, or `down` while the gateway reports its client cannot send.
    client: &'static str,
    /// What the gateway reported (its client state: QR code pending, logged out, missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Whether the gateway reports a client (device/session) state at all: the WA-Web
    /// gateway does (polled); Sidobe does not, so only its circuit speaks for it.
    reports_client_state: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewView {
    association_id: Option<i64>,
    generated_at: i64,
    sample_interval_ms: u64,
    /// Rates per second between samples, oldest first (up to 15 minutes).
    series: Vec<Point>,
    /// Increases over the charted window.
    window: serde_json::Value,
    /// Single messages accepted and not yet final in scope (counted up to 1,000).
    queued: u64,
    oldest_queued_age_ms: Option<i64>,
    scheduled_messages: u64,
    /// Engine-wide, super operators only: messages held by dispatch (campaigns included).
    #[serde(skip_serializing_if = "Option::is_none")]
    dispatch_queue_depth: Option<usize>,
    /// Engine-wide, super operators only: schedule entries not yet fired (and whether counting stopped at 1,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_backlog: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_backlog_capped: Option<bool>,
    credentials: Vec<CredentialHealth>,
}

pub async fn overview(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<OverviewQuery>) -> Result<Envelope<OverviewView>, ApiError> {
    Ok(Envelope::ok(view(&s, &dash.operator, q.association_id).await?))
}

/// The overview of a scope, as the endpoint and the stream send it.
pub async fn view(s: &AppState, operator: &Operator, requested: Option<i64>) -> Result<OverviewView, ApiError> {
    let scope = operator.scope(requested)?;
    let live = &s.console;
    let samples = live.samples(scope.unwrap_or(0));
    let series = rates(&samples, &SERIES)
        .into_iter()
        .map(|(at, v)| Point { at, accepted: v[0], sent: v[1], delivered: v[2], failed: v[3] })
        .collect();
    let window = serde_json::json!({
        "fromMs": samples.first().map(|x| x.at_ms),
        "toMs": samples.last().map(|x| x.at_ms),
        "accepted": increase(&samples, "accepted"),
        "sent": increase(&samples, "sent"),
        "delivered": increase(&samples, "delivered"),
        "failed": increase(&samples, "failed"),
    });
    let queue = live.queue(scope.unwrap_or(0));
    let now = now_ms();
    let associations: Vec<i64> = match scope {
        Some(a) => vec![a],
        None => s.directory.list_associations().await?.into_iter().map(|a| a.id).collect(),
    };
    let mut credentials = Vec::new();
    for a in associations {
        for c in s.directory.list_credentials(a).await? {
            let Some(p) = ProviderKind::from_id(c.provider_id) else { continue };
            let calls = s.dispatcher.credential_calls(c.id, HEALTH_WINDOW_MS);
            let (in_flight, per_credential) = crate::telemetry::live::in_flight(p.code(), c.id);
            let client_down = s.dispatcher.client_down(c.id);
            // The circuit gauge's own record: a gateway client found down counts there as an
            // open circuit (the credential actor keeps it so), so no second source is needed.
            let open = crate::telemetry::circuit_open(c.id);
            let gateway = matches!(p, ProviderKind::WaWebGateway | ProviderKind::Sidobe).then(|| GatewayState {
                client: if client_down.is_some() { "down" } else { "ready" },
                reason: client_down.clone(),
                reports_client_state: p == ProviderKind::WaWebGateway,
            });
            credentials.push(CredentialHealth {
                id: c.id,
                association_id: a,
                provider: p.code(),
                provider_name: p.name(),
                sender_name: c.sender_name,
                is_default: c.is_default,
                circuit: if open { "open" } else { "closed" },
                in_flight,
                in_flight_per_credential: per_credential,
                calls: calls.calls,
                error_rate: calls.error_rate,
                p99_ms: calls.p99_ms,
                gateway,
            });
        }
    }
    let (backlog, capped) = live.schedule_backlog();
    let super_op = operator.association_id.is_none();
    Ok(OverviewView {
        association_id: scope,
        generated_at: now,
        sample_interval_ms: SAMPLE_INTERVAL_MS,
        series,
        window,
        queued: queue.queued,
        oldest_queued_age_ms: queue.oldest_queued_at.map(|t| (now - t).max(0)),
        scheduled_messages: queue.scheduled,
        dispatch_queue_depth: super_op.then(|| s.dispatcher.in_memory()),
        schedule_backlog: super_op.then_some(backlog),
        schedule_backlog_capped: super_op.then_some(capped),
        credentials,
    })
}
