//! Delivery logs and statistics.
//!
//! Logs page through the store's clustering order (newest first) and never scan without a
//! bound: unfiltered pages skip index entries; a `status` filter (the documented `success`,
//! `failed`, `pending`, and the return path's `delivered`, `undelivered`, `read`) takes its
//! total from the statistics counters; a `search` (phone or message text) reads at most
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
    /// Delivered to the handset (read ones included).
    Delivered,
    /// Accepted by the provider, then not reached (`undelivered`, or `failed` by its report).
    Undelivered,
    Read,
}

/// The documented class of a status: `success` is accepted by the provider and not known
/// to have missed the handset; a report's `undelivered` (or `failed`) makes it `failed`.
fn class(s: MessageStatus) -> StatusFilter {
    match s {
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => StatusFilter::Success,
        MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Expired | MessageStatus::Cancelled => StatusFilter::Failed,
        _ => StatusFilter::Pending,
    }
}

/// Whether `m` is among what filter `f` lists (the same sets its counters count).
fn matches(f: StatusFilter, m: &MessageRecord) -> bool {
    match f {
        StatusFilter::Delivered => matches!(m.status, MessageStatus::Delivered | MessageStatus::Read),
        StatusFilter::Undelivered => {
            m.status == MessageStatus::Undelivered || (m.status == MessageStatus::Failed && m.provider_message_id.is_some())
        }
        StatusFilter::Read => m.status == MessageStatus::Read,
        other => class(m.status) == other,
    }
}

fn parse_filter(status: Option<&str>) -> Result<Option<StatusFilter>, ApiError> {
    Ok(match status.filter(|x| !x.is_empty() && *x != "all") {
        None => None,
        Some("success") => Some(StatusFilter::Success),
        Some("failed") => Some(StatusFilter::Failed),
        Some("pending") => Some(StatusFilter::Pending),
        Some("delivered") => Some(StatusFilter::Delivered),
        Some("undelivered") => Some(StatusFilter::Undelivered),
        Some("read") => Some(StatusFilter::Read),
        Some(other) => {
            return Err(ApiError::invalid(format!("status `{other}` is not one of success, failed, pending, delivered, undelivered, read, all")))
        }
    })
}

/// A filter's total from the all-time counters of its scope.
fn filter_total(filter: Option<StatusFilter>, c: &BTreeMap<String, i64>) -> i64 {
    let (accepted, sent, failed, cancelled) = (get(c, "accepted"), get(c, "sent"), get(c, "failed"), get(c, "cancelled"));
    // Counted as `sent` when the provider accepted them, then reported not reached.
    let undelivered = get(c, "undelivered");
    match filter {
        None => accepted,
        Some(StatusFilter::Success) => (sent - undelivered).max(0),
        Some(StatusFilter::Failed) => failed + cancelled + undelivered,
        Some(StatusFilter::Pending) => (accepted - sent - failed - cancelled).max(0),
        Some(StatusFilter::Delivered) => get(c, "delivered"),
        Some(StatusFilter::Undelivered) => undelivered,
        Some(StatusFilter::Read) => get(c, "read"),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogItem {
    id: i64,
    association_id: i64,
    recipient: String,
    message: String,
    /// The documented class: `success`, `failed` or `pending`.
    status: &'static str,
    /// The message's own status (`sent`, `delivered`, `undelivered`, `read`, `failed`, …).
    delivery_status: &'static str,
    provider: Option<String>,
    message_id: Option<String>,
    error: Option<String>,
    sent_at: Option<Timestamp>,
    created_at: Timestamp,
    /// Beyond the document (SMS): `GSM7` / `UCS2` and the parts billed (`null` / 0 for
    /// other channels and for rows from before they were kept).
    encoding: Option<&'static str>,
    segments: u32,
    /// Beyond the document (email): the subject sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
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
                _ => "pending",
            },
            delivery_status: m.status.as_str(),
            provider: m.provider,
            message_id: m.provider_message_id,
            error: m.error,
            sent_at: m.status.was_sent().then_some(Timestamp(m.updated_at)),
            created_at: Timestamp(m.created_at),
            encoding: m.encoding.map(|e| e.as_str()),
            segments: m.segments,
            subject: m.email.map(|e| e.subject),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
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
    let filter = parse_filter(q.status.as_deref())?;
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
            let keep = filter.is_none_or(|f| matches(f, &m))
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
        filter_total(filter, &counters(&s, scope, 0).await?) as u64
    };
    Ok(Envelope::ok(LogsPage { page: Paged { items, total, page, limit }, search_limited: search.as_ref().map(|_| limited) }))
}

#[derive(Serialize, Default, utoipa::ToSchema)]
pub struct ProviderStats {
    sent: i64,
    failed: i64,
    delivered: i64,
    undelivered: i64,
    /// SMS segments of the messages it accepted (what it bills).
    segments: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    total_sent: i64,
    total_failed: i64,
    total_pending: i64,
    success_rate: f64,
    today_sent: i64,
    today_failed: i64,
    by_provider: BTreeMap<String, ProviderStats>,
    /// Beyond the document, from the providers' delivery reports.
    total_delivered: i64,
    total_undelivered: i64,
    total_read: i64,
    /// Not delivered (or not even sent) within their validity period.
    total_expired: i64,
    /// `delivered` as a percentage of `sent` (0 to 100, two decimals).
    delivery_rate: f64,
    today_delivered: i64,
    today_undelivered: i64,
    today_delivery_rate: f64,
    today_by_provider: BTreeMap<String, ProviderStats>,
    /// SMS segments sent (accepted by a provider), all time and today.
    total_segments: i64,
    today_segments: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsQuery {
    association_id: Option<i64>,
}

/// A percentage with two decimals; 0 when there is nothing to divide by.
fn percent(part: i64, whole: i64) -> f64 {
    if whole > 0 {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    } else {
        0.0
    }
}

/// The `<outcome>:<provider>` counters of a scope, by provider.
fn by_provider(c: &BTreeMap<String, i64>) -> BTreeMap<String, ProviderStats> {
    let mut out: BTreeMap<String, ProviderStats> = BTreeMap::new();
    for (k, v) in c {
        if let Some((outcome, provider)) = k.split_once(':') {
            let e = out.entry(provider.to_string()).or_default();
            let v = (*v).max(0);
            match outcome {
                "sent" => e.sent = v,
                "failed" => e.failed = v,
                "delivered" => e.delivered = v,
                "undelivered" => e.undelivered = v,
                "segments" => e.segments = v,
                _ => {}
            }
        }
    }
    out
}

pub async fn stats(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<StatsQuery>) -> Result<Envelope<StatsView>, ApiError> {
    let scope = dash.operator.scope(q.association_id)?;
    let all = counters(&s, scope, 0).await?;
    let today = counters(&s, scope, day_of(now_ms())).await?;
    let (sent, failed, cancelled, accepted) = (get(&all, "sent"), get(&all, "failed"), get(&all, "cancelled"), get(&all, "accepted"));
    let delivered = get(&all, "delivered");
    let (today_sent, today_delivered) = (get(&today, "sent"), get(&today, "delivered"));
    Ok(Envelope::ok(StatsView {
        total_sent: sent,
        total_failed: failed,
        total_pending: (accepted - sent - failed - cancelled).max(0),
        success_rate: percent(sent, sent + failed),
        today_sent,
        today_failed: get(&today, "failed"),
        by_provider: by_provider(&all),
        total_delivered: delivered,
        total_undelivered: get(&all, "undelivered"),
        total_read: get(&all, "read"),
        total_expired: get(&all, "expired"),
        delivery_rate: percent(delivered, sent),
        today_delivered,
        today_undelivered: get(&today, "undelivered"),
        // Of today's counters: a report today for a message sent yesterday counts today.
        today_delivery_rate: percent(today_delivered, today_sent).min(100.0),
        today_by_provider: by_provider(&today),
        total_segments: get(&all, "segments"),
        today_segments: get(&today, "segments"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn filter_totals_follow_the_classes_of_their_rows() {
        // 10 accepted: 7 sent (4 delivered, 1 of them read; 2 undelivered), 2 failed, 1 pending.
        let c = counters(&[("accepted", 10), ("sent", 7), ("failed", 2), ("delivered", 4), ("read", 1), ("undelivered", 2)]);
        assert_eq!(filter_total(None, &c), 10);
        assert_eq!(filter_total(Some(StatusFilter::Success), &c), 5);
        assert_eq!(filter_total(Some(StatusFilter::Failed), &c), 4);
        assert_eq!(filter_total(Some(StatusFilter::Pending), &c), 1);
        assert_eq!(filter_total(Some(StatusFilter::Delivered), &c), 4);
        assert_eq!(filter_total(Some(StatusFilter::Undelivered), &c), 2);
        assert_eq!(filter_total(Some(StatusFilter::Read), &c), 1);
        assert!(parse_filter(Some("bogus")).is_err());
        assert!(parse_filter(Some("all")).unwrap().is_none());
    }

    #[test]
    fn rates_are_percentages_with_two_decimals() {
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(1, 0), 0.0);
        let p = by_provider(&counters(&[("sent:twilio", 3), ("delivered:twilio", 2), ("undelivered:twilio", 1), ("sent", 3)]));
        assert_eq!((p["twilio"].sent, p["twilio"].delivered, p["twilio"].undelivered), (3, 2, 1));
    }
}
