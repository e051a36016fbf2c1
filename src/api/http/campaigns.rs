//! Campaign progress and cancellation, and cancelling a scheduled message, for API-key
//! callers (beyond the document, which has them only on the dashboard): `GET` and `DELETE
//! /api/v1/campaigns/:id`, `DELETE /api/v1/notifications/:id`. Scoped to the caller's
//! association; another association's ids are "not found". Progress shows `delivered`,
//! `undelivered` and `read` beside `sent`/`failed`: the campaign's report counters
//! ([`DeliveryCounts`]), written with each status change, so reports that arrive after the
//! campaign completed still count.

use super::extract::{AnyKeyAuth, IdPath};
use super::{ApiError, AppState, Envelope};
use crate::auth::Caller;
use crate::campaigns::CampaignError;
use crate::domain::Timestamp;
use crate::store::stats::DeliveryCounts;
use crate::store::CampaignRecord;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    id: i64,
    association_id: i64,
    name: String,
    channel: String,
    status: &'static str,
    total_recipients: u64,
    sent: u64,
    failed: u64,
    /// Of `sent`: what the providers' reports said so far.
    delivered: u64,
    undelivered: u64,
    read: u64,
    /// Of `sent`: not delivered within the validity period.
    expired: u64,
    cancelled: u64,
    invalid_recipients: u64,
    duplicates_removed: u64,
    scheduled_at: Option<Timestamp>,
    send_rate: Option<f64>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// SMS segments of its messages (the billed parts, summed when it was created).
    segments: u64,
    /// While the association's quiet hours hold its messages: when they end.
    paused_until: Option<Timestamp>,
    /// `shortenLinks`: clicks on its tracked links, and recipients who clicked at least one
    /// (clicks are flushed every second, so these may be up to about a second behind).
    clicks: i64,
    clicked_recipients: i64,
}

impl CampaignView {
    pub(crate) fn new(c: CampaignRecord, d: DeliveryCounts, k: crate::store::CampaignClicks) -> Self {
        Self {
            id: c.id,
            association_id: c.association_id,
            name: c.name,
            channel: c.channel,
            status: c.status.as_str(),
            total_recipients: c.total_recipients,
            sent: c.sent,
            failed: c.failed,
            delivered: d.delivered,
            undelivered: d.undelivered,
            read: d.read,
            expired: d.expired,
            cancelled: c.cancelled,
            invalid_recipients: c.invalid_recipients,
            duplicates_removed: c.duplicates_removed,
            scheduled_at: c.scheduled_at.map(Timestamp),
            send_rate: c.send_rate,
            created_at: Timestamp(c.created_at),
            updated_at: Timestamp(c.updated_at),
            segments: c.segments,
            paused_until: c.paused_until.map(Timestamp),
            clicks: k.clicks,
            clicked_recipients: k.clicked_recipients,
        }
    }
}

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::Invalid(m) => ApiError::invalid(m),
            CampaignError::NotFound(m) => ApiError::NotFound(m),
            CampaignError::Conflict(m) => ApiError::Conflict(m),
            CampaignError::Store(s) => s.into(),
        }
    }
}

/// The campaign, if the caller may see it (else "not found"). Shared with gRPC.
pub(crate) async fn visible(s: &AppState, caller: Caller, id: i64) -> Result<CampaignRecord, ApiError> {
    let c = s.campaigns.get(id).await?;
    match caller {
        Caller::Association { id: own } if own != c.association_id => Err(ApiError::NotFound(format!("Campaign {id} not found"))),
        _ => Ok(c),
    }
}

pub async fn get(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<CampaignView>, ApiError> {
    let c = visible(&s, caller, id).await?;
    let d = DeliveryCounts::of_campaign(s.store.as_ref(), id).await?;
    let k = s.links.campaign_clicks(id).await?;
    Ok(Envelope::ok(CampaignView::new(c, d, k)))
}

pub async fn cancel(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<()>, ApiError> {
    visible(&s, caller, id).await?;
    s.campaigns.cancel(id).await?;
    Ok(Envelope::done("Campaign cancelled successfully"))
}

/// `DELETE /api/v1/notifications/{id}`: the id as `GET` takes it, a queue id (a number) or
/// seed 003's `notification_id` (`ntf_<queue id>`); either way only a scheduled single
/// message can be cancelled (409 otherwise, naming its status).
pub async fn cancel_notification(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(raw): IdPath<String>,
) -> Result<Envelope<()>, ApiError> {
    let id = match raw.strip_prefix(super::multichannel::ID_PREFIX) {
        Some(rest) => rest.parse::<i64>().map_err(|_| ApiError::NotFound(format!("Notification {raw} not found")))?,
        None => raw.parse::<i64>().map_err(|_| {
            ApiError::invalid(format!("path parameter: `{raw}` is neither a queue id (a number) nor a notification_id (ntf_…)"))
        })?,
    };
    let shown = if raw.starts_with(super::multichannel::ID_PREFIX) { format!("{}{id}", super::multichannel::ID_PREFIX) } else { id.to_string() };
    let not_found = || ApiError::NotFound(format!("Notification {shown} not found"));
    let m = s.store.get_message(id).await?.ok_or_else(not_found)?;
    if let Caller::Association { id: own } = caller {
        if own != m.association_id {
            return Err(not_found());
        }
    }
    s.campaigns.cancel_message(id).await.map_err(|e| match e {
        // The service names the bare id; the caller used the other form.
        CampaignError::Conflict(m) if shown != id.to_string() => ApiError::Conflict(m.replacen(&format!("Notification {id} "), &format!("Notification {shown} "), 1)),
        other => other.into(),
    })?;
    Ok(Envelope::done("Scheduled message cancelled successfully"))
}
