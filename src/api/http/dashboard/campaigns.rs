//! Campaigns from the dashboard: create (same engine as the bulk webhook), list, cancel.
//! The list shows each campaign's `delivered`/`undelivered` from its report counters.

use super::{Dash, Page, Paged};
use crate::api::http::extract::{parse_json_borrowed, IdPath, QueryParams};
use crate::api::http::{ApiError, AppState, Envelope};
use crate::campaigns::{BulkRequest, BulkSettings};
use crate::domain::Timestamp;
use crate::store::stats::DeliveryCounts;
use crate::store::CampaignRecord;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody<'a> {
    association_id: i64,
    name: String,
    message: String,
    #[serde(borrow)]
    recipients: Vec<&'a RawValue>,
    scheduled_at: Option<String>,
    credential_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = dashboard_campaigns::CreatedView)]
#[serde(rename_all = "camelCase")]
pub struct CreatedView {
    campaign_id: i64,
    total_recipients: u64,
    status: &'static str,
    invalid_recipients: usize,
    duplicates_removed: usize,
    /// Beyond the document: the first invalid recipients, each with its reason (the console
    /// shows them on the campaign's detail).
    invalid: Vec<InvalidItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvalidItem {
    index: usize,
    recipient: String,
    reason: String,
}

/// Up to `server.bulk_body_limit_bytes` (as the bulk webhook), 413 in the envelope beyond.
pub async fn create(State(s): State<AppState>, dash: Dash, body: Result<Bytes, BytesRejection>) -> Result<Envelope<CreatedView>, ApiError> {
    let body = crate::api::http::webhook::raw_body(body, s.config.server.bulk_body_limit_bytes)?;
    let b: CreateBody = parse_json_borrowed(&body)?;
    dash.operator.require_association(b.association_id)?;
    s.directory.require_active(b.association_id).await?;
    if let Some(c) = b.credential_id {
        s.directory.get_credential(b.association_id, c).await?;
    }
    let scheduled_at = match b.scheduled_at.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(Timestamp::parse_scheduled_at(v).map_err(ApiError::invalid)?.0),
        None => None,
    };
    if b.name.trim().is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    let a = s
        .campaigns
        .create_bulk(BulkRequest {
            settings: BulkSettings {
                association_id: b.association_id,
                message: b.message,
                channel: "sms".into(),
                name: Some(b.name),
                scheduled_at,
                data: Default::default(),
                send_rate: None,
                priority: 0,
                credential_id: b.credential_id,
                callback_url: None,
                validity_secs: None,
                smart_encoding: None,
                subject: None,
                shorten_links: None,
            },
            recipients: &b.recipients,
        })
        .await?;
    Ok(Envelope::ok(CreatedView {
        campaign_id: a.campaign.id,
        total_recipients: a.campaign.total_recipients,
        status: a.campaign.status.as_str(),
        invalid_recipients: a.invalid_count,
        duplicates_removed: a.duplicates_removed,
        invalid: a.invalid.into_iter().map(|i| InvalidItem { index: i.index, recipient: i.recipient, reason: i.reason }).collect(),
    })
    .message("Campaign created successfully"))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignItem {
    id: i64,
    association_id: i64,
    name: String,
    status: &'static str,
    total_recipients: u64,
    sent: u64,
    failed: u64,
    /// From the providers' reports (beyond the document).
    delivered: u64,
    undelivered: u64,
    expired: u64,
    /// Beyond the document: recipients cancelled before they were sent.
    cancelled: u64,
    scheduled_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl CampaignItem {
    fn new(c: CampaignRecord, d: DeliveryCounts) -> Self {
        Self {
            id: c.id,
            association_id: c.association_id,
            name: c.name,
            status: c.status.as_str(),
            total_recipients: c.total_recipients,
            sent: c.sent,
            failed: c.failed,
            delivered: d.delivered,
            undelivered: d.undelivered,
            expired: d.expired,
            cancelled: c.cancelled,
            scheduled_at: c.scheduled_at.map(Timestamp),
            created_at: Timestamp(c.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    page: Option<usize>,
    limit: Option<usize>,
    association_id: Option<i64>,
}

/// Newest first. Campaigns per association are few; a super operator without an
/// `associationId` sees every association's, merged by id.
pub async fn list(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<ListQuery>) -> Result<Envelope<Paged<CampaignItem>>, ApiError> {
    let (page, limit) = Page { page: q.page, limit: q.limit }.resolve()?;
    let associations: Vec<i64> = match dash.operator.scope(q.association_id)? {
        Some(a) => vec![a],
        None => s.directory.list_associations().await?.into_iter().map(|a| a.id).collect(),
    };
    let mut all = Vec::new();
    for a in associations {
        all.extend(s.store.list_campaigns(a, None, 100_000).await?);
    }
    all.sort_by(|a, b| b.id.cmp(&a.id));
    let total = all.len() as u64;
    let mut items: Vec<CampaignItem> = Vec::with_capacity(limit);
    for c in all.into_iter().skip((page - 1) * limit).take(limit) {
        // Live counters for running campaigns; the report counters of every one.
        let d = DeliveryCounts::of_campaign(s.store.as_ref(), c.id).await?;
        items.push(CampaignItem::new(s.campaigns.get(c.id).await.unwrap_or(c), d));
    }
    Ok(Envelope::ok(Paged { items, total, page, limit }))
}

pub async fn cancel(State(s): State<AppState>, dash: Dash, IdPath(id): IdPath<i64>) -> Result<Envelope<()>, ApiError> {
    let c = s.campaigns.get(id).await?;
    dash.operator.require_association(c.association_id)?;
    s.campaigns.cancel(id).await?;
    Ok(Envelope::done("Campaign cancelled successfully"))
}
