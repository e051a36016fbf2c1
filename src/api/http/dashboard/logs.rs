//! Delivery logs and statistics.
//!
//! Logs page through the store's clustering order (newest first) and never scan without a
//! bound: unfiltered pages skip index entries; a `status` filter takes its total from the
//! statistics counters; a `search` (phone or message text) reads at most
//! `dashboard.logs_max_scan` of the newest messages, and its `total` counts matches among
//! those (`searchLimited` says when the bound was reached). Statistics come from counters
//! kept as messages change state, so they cost the same with ten messages or ten million.

use super::{Dash, Page, Paged};
use crate::api::http::extract::QueryParams;
use crate::api::http::{ApiError, AppState, Envelope};
use crate::domain::{now_ms, Timestamp};
use crate::store::stats::day_of;
use crate::store::{CounterScope, MessageRecord, MessageStatus};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsQuery {
    page: Option<usize>,
    limit: Option<usize>,
    status: Option<String>,
    search: Option<String>,
    association_id: Option<i64>,
}

#[derive(Clone, Copy, PartialEq)]
enum StatusFilter {
    Success,
    Failed,
    Pending,
}

fn class(s: MessageStatus) -> StatusFilter {
    match s {
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Read => StatusFilter::Success,
        MessageStatus::Failed | MessageStatus::Expired | MessageStatus::Cancelled => StatusFilter::Failed,
        _ => StatusFilter::Pending,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogItem {
    id: i64,
    association_id: i64,
    recipient: String,
    message: String,
    status: &'static str,
    provider: Option<String>,
    message_id: Option<String>,
    error: Option<String>,
    sent_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl From<MessageRecord> for LogItem {
    fn from(m: MessageRecord) -> Self {
        let c = class(m.status);
        Self {
            id: m.id,
            association_id: m.association_id,
            recipient: m.recipient,
            message: m.body,
            status: match c {
                StatusFilter::Success => "success",
                StatusFilter::Failed => "failed",
                StatusFilter::Pending => "pending",
            },
            provider: m.provider,
            message_id: m.provider_message_id,
            error: m.error,
            sent_at: (c == StatusFilter::Success).then_some(Timestamp(m.updated_at)),
            created_at: Timestamp(m.created_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsPage {
    #[serde(flatten)]
    page: Paged<LogItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_limited: Option<bool>,
}

async fn counters(s: &AppState, association: Option<i64>, day: i64) -> Result<BTreeMap<String, i64>, ApiError> {
    Ok(s.store.get_counters(CounterScope { association_id: association.unwrap_or(0), day }).await?)
}

fn get(c: &BTreeMap<String, i64>, k: &str) -> i64 {
    c.get(k).copied().unwrap_or(0).max(0)
}

pub async fn logs(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<LogsQuery>) -> Result<Envelope<LogsPage>, ApiError> {
    let (page, limit) = Page { page: q.page, limit: q.limit }.resolve()?;
    let scope = dash.operator.scope(q.association_id)?;
    let filter = match q.status.as_deref().filter(|x| !x.is_empty() && *x != "all") {
        None => None,
        Some("success") => Some(StatusFilter::Success),
        Some("failed") => Some(StatusFilter::Failed),
        Some("pending") => Some(StatusFilter::Pending),
        Some(other) => return Err(ApiError::invalid(format!("status `{other}` is not one of success, failed, pending, all"))),
    };
    let search = q.search.as_deref().map(str::trim).filter(|x| !x.is_empty()).map(str::to_lowercase);
    let skip = (page - 1) * limit;
    let max_scan = s.config.dashboard.logs_max_scan;

    let mut items = Vec::with_capacity(limit);
    let (mut matched, mut scanned) = (0usize, 0usize);
    let mut before = None;
    let mut limited = false;
    'scan: loop {
        let batch = s.store.list_messages(scope, before, 500).await?;
        let Some(last) = batch.last() else { break };
        before = Some(last.id);
        for m in batch {
            scanned += 1;
            let keep = filter.is_none_or(|f| class(m.status) == f)
                && search.as_ref().is_none_or(|needle| m.recipient.contains(needle.as_str()) || m.body.to_lowercase().contains(needle.as_str()));
            if keep {
                if matched >= skip && items.len() < limit {
                    items.push(LogItem::from(m));
                }
                matched += 1;
            }
            // Without a search the total comes from counters: stop once the page is full.
            if search.is_none() && items.len() == limit {
                break 'scan;
            }
            if (search.is_some() || filter.is_some()) && scanned >= max_scan {
                limited = true;
                break 'scan;
            }
        }
    }
    let total = if search.is_some() {
        matched as u64
    } else {
        let c = counters(&s, scope, 0).await?;
        let (accepted, sent, failed, cancelled) = (get(&c, "accepted"), get(&c, "sent"), get(&c, "failed"), get(&c, "cancelled"));
        (match filter {
            None => accepted,
            Some(StatusFilter::Success) => sent,
            Some(StatusFilter::Failed) => failed + cancelled,
            Some(StatusFilter::Pending) => (accepted - sent - failed - cancelled).max(0),
        }) as u64
    };
    Ok(Envelope::ok(LogsPage { page: Paged { items, total, page, limit }, search_limited: search.as_ref().map(|_| limited) }))
}

#[derive(Serialize)]
pub struct ProviderStats {
    sent: i64,
    failed: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    total_sent: i64,
    total_failed: i64,
    total_pending: i64,
    success_rate: f64,
    today_sent: i64,
    today_failed: i64,
    by_provider: BTreeMap<String, ProviderStats>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsQuery {
    association_id: Option<i64>,
}

pub async fn stats(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<StatsQuery>) -> Result<Envelope<StatsView>, ApiError> {
    let scope = dash.operator.scope(q.association_id)?;
    let all = counters(&s, scope, 0).await?;
    let today = counters(&s, scope, day_of(now_ms())).await?;
    let (sent, failed, cancelled, accepted) = (get(&all, "sent"), get(&all, "failed"), get(&all, "cancelled"), get(&all, "accepted"));
    let mut by_provider: BTreeMap<String, ProviderStats> = BTreeMap::new();
    for (k, v) in &all {
        if let Some((outcome, provider)) = k.split_once(':') {
            let e = by_provider.entry(provider.to_string()).or_insert(ProviderStats { sent: 0, failed: 0 });
            match outcome {
                "sent" => e.sent = *v,
                "failed" => e.failed = *v,
                _ => {}
            }
        }
    }
    let rate = if sent + failed > 0 { (sent as f64 * 10_000.0 / (sent + failed) as f64).round() / 100.0 } else { 0.0 };
    Ok(Envelope::ok(StatsView {
        total_sent: sent,
        total_failed: failed,
        total_pending: (accepted - sent - failed - cancelled).max(0),
        success_rate: rate,
        today_sent: get(&today, "sent"),
        today_failed: get(&today, "failed"),
        by_provider,
    }))
}
