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
}

impl CampaignView {
    pub(crate) fn new(c: CampaignRecord, d: DeliveryCounts) -> Self {
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
    Ok(Envelope::ok(CampaignView::new(c, d)))
}

pub async fn cancel(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<()>, ApiError> {
    visible(&s, caller, id).await?;
    s.campaigns.cancel(id).await?;
    Ok(Envelope::done("Campaign cancelled successfully"))
}

pub async fn cancel_notification(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(id): IdPath<i64>,
) -> Result<Envelope<()>, ApiError> {
    let not_found = || ApiError::NotFound(format!("Notification {id} not found"));
    let m = s.store.get_message(id).await?.ok_or_else(not_found)?;
    if let Caller::Association { id: own } = caller {
        if own != m.association_id {
            return Err(not_found());
        }
    }
    s.campaigns.cancel_message(id).await?;
    Ok(Envelope::done("Scheduled message cancelled successfully"))
}
