//! `/api/v1/opt-outs` (X-API-Key, or key + secret): an association's suppression list.
//! `POST` adds `{recipient, channel?: sms|whatsapp|all (default all), reason?}`; `GET` lists
//! (`recipient=` for one number, `after=` + `limit=` to page); `DELETE ?recipient=&channel=`
//! removes (every channel without `channel`). The super-admin names `associationId`.
//! Handlers translate and delegate to `directory::opt_outs`.

use super::extract::{AnyKeyAuth, JsonBody, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::directory::opt_outs;
use crate::domain::Timestamp;
use crate::store::OptOutRecord;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutView {
    association_id: i64,
    recipient: String,
    channel: String,
    reason: Option<String>,
    /// `api`, or `keyword:<provider>` when an inbound message asked for it.
    source: String,
    created_at: Timestamp,
}

impl From<OptOutRecord> for OptOutView {
    fn from(r: OptOutRecord) -> Self {
        Self { association_id: r.association_id, recipient: r.recipient, channel: r.channel, reason: r.reason, source: r.source, created_at: Timestamp(r.created_at) }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddBody {
    association_id: Option<i64>,
    recipient: String,
    channel: Option<String>,
    reason: Option<String>,
}

pub async fn add(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<AddBody>) -> Result<Envelope<OptOutView>, ApiError> {
    let assoc = super::extract::target_association(caller, b.association_id)?;
    s.directory.get_association(assoc).await?;
    let rec = opt_outs::add(s.store.as_ref(), assoc, &b.recipient, b.channel.as_deref(), b.reason, "api").await?;
    Ok(Envelope::created(rec.into()).message("Recipient opted out"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    association_id: Option<i64>,
    recipient: Option<String>,
    /// The last row of the previous page, as `recipient,channel` (its `next`).
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutList {
    items: Vec<OptOutView>,
    /// Pass as `after` for the next page; `null` on the last.
    next: Option<String>,
}

pub async fn list(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, QueryParams(q): QueryParams<ListQuery>) -> Result<Envelope<OptOutList>, ApiError> {
    let assoc = super::extract::target_association(caller, q.association_id)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > opt_outs::MAX_PAGE {
        return Err(ApiError::invalid(format!("limit must be between 1 and {}", opt_outs::MAX_PAGE)));
    }
    if let Some(r) = q.recipient.as_deref() {
        let who = opt_outs::recipient(r)?;
        let rows = s.store.opt_outs_of(assoc, &who).await?;
        return Ok(Envelope::ok(OptOutList { items: rows.into_iter().map(Into::into).collect(), next: None }));
    }
    let after = match q.after.as_deref() {
        Some(a) => Some(a.split_once(',').ok_or_else(|| ApiError::invalid("after must be `recipient,channel` (a page's `next`)"))?),
        None => None,
    };
    let rows = s.store.list_opt_outs(assoc, after, limit).await?;
    let next = (rows.len() == limit).then(|| rows.last().map(|r| format!("{},{}", r.recipient, r.channel))).flatten();
    Ok(Envelope::ok(OptOutList { items: rows.into_iter().map(Into::into).collect(), next }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQuery {
    association_id: Option<i64>,
    recipient: String,
    channel: Option<String>,
}

#[derive(Serialize)]
pub struct Removed {
    removed: usize,
}

pub async fn remove(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, QueryParams(q): QueryParams<DeleteQuery>) -> Result<Envelope<Removed>, ApiError> {
    let assoc = super::extract::target_association(caller, q.association_id)?;
    let removed = opt_outs::remove(s.store.as_ref(), assoc, &q.recipient, q.channel.as_deref()).await?;
    if removed == 0 {
        return Err(ApiError::NotFound(format!("No opt-out for recipient {}", q.recipient.trim())));
    }
    Ok(Envelope::ok(Removed { removed }).message("Opt-out removed"))
}
