//! The WhatsApp bulk, history and stats routes of seed 000: `POST /whatsapp-send/bulk`,
//! `GET /whatsapp-send/bulk/status/:jobId` (and, beyond the document, `DELETE
//! /whatsapp-send/bulk/:jobId` to cancel a job), `GET /whatsapp-messages`,
//! `GET /whatsapp-stats`. X-API-Key as every WhatsApp route: an association's key infers its
//! association, the super-admin names `associationId`. Handlers translate and delegate to
//! [`crate::whatsapp`]; a job is a campaign, so its progress and cancel are the campaign
//! service's.

use super::extract::{target_association, AnyKeyAuth, JsonBody, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::domain::Timestamp;
use crate::store::stats::DeliveryCounts;
use crate::store::whatsapp_messages::WaStatus;
use crate::store::{CampaignRecord, MessageRecord};
use crate::whatsapp::bulk::{self, BulkEntry, BulkOutcome, BulkSend};
use crate::whatsapp::history::HistoryQuery;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkBody {
    association_id: Option<i64>,
    template_id: i64,
    recipients: Vec<RecipientBody>,
    credential_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    phone: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

pub async fn send_bulk(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<BulkBody>) -> Result<Response, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let req = BulkSend {
        association_id,
        template_id: b.template_id,
        recipients: b.recipients.into_iter().map(|r| BulkEntry { phone: r.phone, parameters: r.parameters.unwrap_or_default() }).collect(),
        credential_id: b.credential_id,
    };
    match s.whatsapp.send_bulk(&s.campaigns, req).await? {
        BulkOutcome::Done(results) => {
            let sent = results.iter().filter(|r| r.outcome.is_ok()).count();
            let items: Vec<Value> = results
                .into_iter()
                .map(|r| match r.outcome {
                    Ok(o) => json!({"index": r.index, "phone": r.phone, "success": true, "messageId": o.message_id,
                        "status": o.status.as_str(), "metaMessageId": o.provider_message_id}),
                    Err(e) => json!({"index": r.index, "phone": r.phone, "success": false, "error": e}),
                })
                .collect();
            let total = items.len();
            Ok(Envelope::ok(json!({"status": "completed", "total": total, "sent": sent, "failed": total - sent, "results": items})).into_response())
        }
        BulkOutcome::Job { campaign, invalid, invalid_count, duplicates } => {
            let items: Vec<Value> = invalid.into_iter().map(|x| json!({"index": x.index, "recipient": x.recipient, "reason": x.reason})).collect();
            let body = json!({
                "jobId": bulk::job_id(campaign.id),
                "campaignId": campaign.id,
                "status": "processing",
                "total": campaign.total_recipients,
                "sent": 0,
                "failed": 0,
                "invalidRecipients": {"count": invalid_count, "items": items},
                "duplicatesRemoved": duplicates,
                "startedAt": Timestamp(campaign.created_at),
            });
            Ok((StatusCode::ACCEPTED, Envelope::ok(body)).into_response())
        }
    }
}

/// The job's campaign, if the caller may see it and it is a WhatsApp bulk job.
async fn job(s: &AppState, caller: crate::auth::Caller, job_id: &str) -> Result<CampaignRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("Bulk job {} not found", job_id.chars().take(40).collect::<String>()));
    let id = bulk::parse_job_id(job_id).ok_or_else(not_found)?;
    let c = match super::visible_campaign(s, caller, id).await {
        Err(ApiError::NotFound(_)) => return Err(not_found()),
        other => other?,
    };
    if c.channel != "whatsapp" {
        return Err(not_found());
    }
    Ok(c)
}

pub async fn bulk_status(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, Path(job_id): Path<String>) -> Result<Envelope<Value>, ApiError> {
    let c = job(&s, caller, &job_id).await?;
    let d = DeliveryCounts::of_campaign(s.store.as_ref(), c.id).await?;
    let finished = c.status.is_final() && s.campaigns.is_settled(c.id);
    Ok(Envelope::ok(json!({
        "jobId": bulk::job_id(c.id),
        "campaignId": c.id,
        "status": c.status.as_str(),
        "sent": c.sent,
        "failed": c.failed,
        "cancelled": c.cancelled,
        "total": c.total_recipients,
        "delivered": d.delivered,
        "read": d.read,
        "invalidRecipients": c.invalid_recipients,
        "duplicatesRemoved": c.duplicates_removed,
        "startedAt": Timestamp(c.created_at),
        "updatedAt": Timestamp(c.updated_at),
        "completedAt": finished.then_some(Timestamp(c.updated_at)),
    })))
}

pub async fn cancel_bulk(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, Path(job_id): Path<String>) -> Result<Envelope<Value>, ApiError> {
    let c = job(&s, caller, &job_id).await?;
    let c = s.campaigns.cancel(c.id).await?;
    Ok(Envelope::ok(json!({"jobId": bulk::job_id(c.id), "status": c.status.as_str()})).message("Bulk job cancelled: messages not yet sent will not be"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessagesQuery {
    association_id: Option<i64>,
    status: Option<String>,
    recipient: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn message_view(m: MessageRecord) -> Value {
    let template = match &m.content {
        Some(crate::domain::WhatsAppContent::Template(t)) => Some(json!({"name": t.name, "language": t.language})),
        _ => None,
    };
    let kind = match &m.content {
        Some(crate::domain::WhatsAppContent::Template(_)) => "template",
        Some(crate::domain::WhatsAppContent::Media(x)) => x.kind.as_str(),
        _ => "text",
    };
    json!({
        "id": m.id,
        "associationId": m.association_id,
        "recipient": m.recipient,
        "type": kind,
        "template": template,
        "content": m.body,
        "status": WaStatus::of(m.status).as_str(),
        "deliveryStatus": m.status.as_str(),
        "metaMessageId": m.provider_message_id,
        "provider": m.provider,
        "campaignId": m.campaign_id,
        "jobId": m.campaign_id.map(bulk::job_id),
        "error": m.error,
        "createdAt": Timestamp(m.created_at),
        "updatedAt": Timestamp(m.updated_at),
    })
}

pub async fn messages(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, QueryParams(q): QueryParams<MessagesQuery>) -> Result<Envelope<Value>, ApiError> {
    let association_id = target_association(caller, q.association_id)?;
    let query = HistoryQuery { association_id, status: q.status, recipient: q.recipient, limit: q.limit, offset: q.offset };
    let (page, limit, offset) = s.whatsapp.messages(query).await?;
    let items: Vec<Value> = page.items.into_iter().map(message_view).collect();
    Ok(Envelope::ok(json!({"items": items, "total": page.total, "totalLimited": page.total_limited, "limit": limit, "offset": offset})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsQuery {
    association_id: Option<i64>,
    days: Option<i64>,
}

pub async fn stats(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, QueryParams(q): QueryParams<StatsQuery>) -> Result<Envelope<crate::whatsapp::history::WaStats>, ApiError> {
    let association_id = target_association(caller, q.association_id)?;
    Ok(Envelope::ok(s.whatsapp.stats(association_id, q.days).await?))
}
