//! The console's detail views on the session: one message with its timeline (the same
//! timeline `GET /api/v1/notifications/:id` and gRPC answer with), and the statistics
//! counters day by day for the stats screen's chart (one counter read per day, at most 90).

use super::Dash;
use crate::api::http::extract::{IdPath, QueryParams};
use crate::api::http::{timeline, ApiError, AppState, Envelope, TimelineEntry};
use crate::domain::{now_ms, Timestamp};
use crate::store::stats::day_of;
use crate::store::CounterScope;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    id: i64,
    association_id: i64,
    recipient: String,
    country: Option<String>,
    message: String,
    channel: String,
    status: &'static str,
    provider: Option<String>,
    credential_id: Option<i64>,
    provider_message_id: Option<String>,
    error: Option<String>,
    scheduled_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    timeline: Vec<TimelineEntry>,
    /// Email: the subject sent.
    subject: Option<String>,
    /// The tracked links of its text (`shortenLinks`) and their clicks.
    links: Vec<crate::api::http::links::TrackedLinkView>,
}

pub async fn message(State(s): State<AppState>, dash: Dash, headers: axum::http::HeaderMap, IdPath(id): IdPath<i64>) -> Result<Envelope<MessageView>, ApiError> {
    let not_found = || ApiError::NotFound(format!("Message {id} not found"));
    let m = s.store.get_message(id).await?.ok_or_else(not_found)?;
    // Another association's message is "not found" to a bound operator: ids reveal nothing.
    if dash.operator.require_association(m.association_id).is_err() {
        return Err(not_found());
    }
    let attempts = s.store.list_attempts(id).await?;
    let events = s.store.list_events(id).await?;
    let timeline = timeline(&m, &attempts, events);
    let links = crate::api::http::links::message_links(&s, &headers, id).await?;
    Ok(Envelope::ok(MessageView {
        id: m.id,
        association_id: m.association_id,
        recipient: m.recipient,
        country: m.country,
        message: m.body,
        channel: m.channel,
        status: m.status.as_str(),
        provider: m.provider,
        credential_id: m.credential_id,
        provider_message_id: m.provider_message_id,
        error: m.error,
        scheduled_at: m.scheduled_at.map(Timestamp),
        created_at: Timestamp(m.created_at),
        updated_at: Timestamp(m.updated_at),
        timeline,
        subject: m.email.map(|e| e.subject),
        links,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyQuery {
    association_id: Option<i64>,
    days: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// `YYYY-MM-DD` (UTC: the counters' day).
    date: String,
    accepted: i64,
    sent: i64,
    delivered: i64,
    failed: i64,
    undelivered: i64,
}

pub async fn daily(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<DailyQuery>) -> Result<Envelope<Vec<Day>>, ApiError> {
    let scope = dash.operator.scope(q.association_id)?;
    let days = q.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(ApiError::invalid("days must be between 1 and 90"));
    }
    let today = day_of(now_ms());
    let mut out = Vec::with_capacity(days as usize);
    for back in (0..days as i64).rev() {
        let day = today - back;
        let c: BTreeMap<String, i64> = s.store.get_counters(CounterScope { association_id: scope.unwrap_or(0), day }).await?;
        let get = |k: &str| c.get(k).copied().unwrap_or(0).max(0);
        out.push(Day {
            date: Timestamp(day * 86_400_000).to_iso()[..10].to_string(),
            accepted: get("accepted"),
            sent: get("sent"),
            delivered: get("delivered"),
            failed: get("failed"),
            undelivered: get("undelivered"),
        });
    }
    Ok(Envelope::ok(out))
}
