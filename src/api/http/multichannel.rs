//! The notifications API of seed 003 (`shared/seeds/003_…`), a second facade over the same
//! ingress as the Jood API: `POST /api/v1/notifications/send`, `POST
//! /api/v1/notifications/bulk`, `GET /api/v1/channels/capabilities`, and the seed-003 view of
//! `GET /api/v1/notifications/{notification_id}`. Auth is `X-API-Key` (an association's
//! `adminApiKey`, or its key + secret; the super-admin adds `associationId`).
//!
//! Ids: a seed-003 `notification_id` is `ntf_<message id>`; the same path with a bare number
//! is the Jood API's view (`notifications.rs`), so both APIs share one route and one message.
//! Statuses are seed 003's four: queued (queued, scheduled, dispatching), sent, delivered
//! (delivered, read), failed (failed, undelivered, expired, cancelled).

use super::extract::{parse_json, target_association, AnyKeyAuth};
use super::{idempotency, ApiError, AppState, Envelope};
use crate::domain::fallback::parse_marker;
use crate::domain::Timestamp;
use crate::ingress::multichannel::{self, NotificationFields, RecipientFields, CAPABILITIES};
use crate::store::{MessageRecord, MessageStatus};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The prefix of seed-003 notification ids.
pub const ID_PREFIX: &str = "ntf_";

#[derive(Deserialize)]
struct SendBody {
    #[serde(default, alias = "associationId")]
    association_id: Option<i64>,
    recipient: RecipientFields,
    notification: NotificationFields,
    #[serde(default)]
    #[allow(dead_code)] // read before parsing, by the idempotency layer
    idempotency_key: Option<Value>,
}

#[derive(Deserialize)]
struct BulkRow {
    #[serde(flatten)]
    recipient: RecipientFields,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct BulkBody {
    #[serde(default, alias = "associationId")]
    association_id: Option<i64>,
    channels: Vec<String>,
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    /// Variables for every row (a row's own `data` wins).
    #[serde(default)]
    data: Option<Map<String, Value>>,
    recipients: Vec<BulkRow>,
}

#[derive(Serialize)]
struct SentView {
    notification_id: String,
    status: &'static str,
    channels: Vec<String>,
}

/// Seed 003's status word for a stored status.
pub fn status_word(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Queued | MessageStatus::Scheduled | MessageStatus::Dispatching => "queued",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered | MessageStatus::Read => "delivered",
        MessageStatus::Failed | MessageStatus::Undelivered | MessageStatus::Expired | MessageStatus::Cancelled => "failed",
    }
}

/// The body's `idempotency_key` (seed 003's spelling) or the `Idempotency-Key` header.
fn idempotency_key(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, ApiError> {
    let v: Value = parse_json(body)?;
    idempotency::key_of(headers, v.get("idempotency_key").or_else(|| v.get("idempotencyKey")))
}

/// What both send routes read before anything runs: the idempotency key, the parsed body, and
/// the association it acts for (the caller's own, or the super-admin's `association_id`).
fn prepare<T: serde::de::DeserializeOwned>(
    caller: crate::auth::Caller,
    headers: &HeaderMap,
    body: &[u8],
    requested: impl Fn(&T) -> Option<i64>,
) -> Result<(i64, Option<String>, T), ApiError> {
    let key = idempotency_key(headers, body)?;
    let req: T = parse_json(body)?;
    let association_id = target_association(caller, requested(&req))?;
    Ok((association_id, key, req))
}

/// `POST /api/v1/notifications/send`.
pub async fn send(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, headers: HeaderMap, body: Bytes) -> Response {
    let (association_id, key, req) = match prepare::<SendBody>(caller, &headers, &body, |r| r.association_id) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    idempotency::run(&s, association_id, key, &body, async {
        let data = req.notification.data.clone().unwrap_or_default();
        let result = async {
            let m = multichannel::build(&s.webhook.ingress, association_id, &req.recipient, &req.notification, &data).await?;
            let accepted = s.webhook.ingress.accept(m).await?;
            Ok::<_, ApiError>(Envelope::ok(SentView {
                notification_id: format!("{ID_PREFIX}{}", accepted.id),
                status: status_word(accepted.status),
                channels: req.notification.channels.clone(),
            })
            .message("Notification queued"))
        };
        result.await.into_response()
    })
    .await
}

#[derive(Serialize)]
struct BulkItem {
    index: usize,
    notification_id: String,
    status: &'static str,
}

#[derive(Serialize)]
struct BulkError {
    index: usize,
    error: String,
}

#[derive(Serialize)]
struct BulkView {
    accepted: usize,
    notifications: Vec<BulkItem>,
    errors: Vec<BulkError>,
}

/// `POST /api/v1/notifications/bulk`: the same policy per row; each row becomes one
/// notification (with its fallbacks). A policy error of the whole request (channels, a
/// missing WhatsApp template) is a 400 before anything is stored; a bad row is reported with
/// its index and the others go ahead; every row bad is a 400.
pub async fn bulk(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, headers: HeaderMap, body: Bytes) -> Response {
    let (association_id, key, req) = match prepare::<BulkBody>(caller, &headers, &body, |r| r.association_id) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    idempotency::run(&s, association_id, key, &body, async {
        let result = async {
            multichannel::check_channels(&req.channels, req.template_id.as_deref())?;
            let limit = s.config.campaigns.max_recipients_per_request;
            if req.recipients.is_empty() || req.recipients.len() > limit {
                return Err(ApiError::invalid(format!("recipients must list 1 to {limit} entries")));
            }
            let notification = NotificationFields {
                channels: req.channels.clone(),
                template_id: req.template_id.clone(),
                subject: req.subject.clone(),
                body: req.body.clone(),
                data: None,
            };
            let global = req.data.clone().unwrap_or_default();
            let mut view = BulkView { accepted: 0, notifications: Vec::new(), errors: Vec::new() };
            for (index, row) in req.recipients.iter().enumerate() {
                let mut data = global.clone();
                data.extend(row.data.clone().unwrap_or_default());
                let accepted = async {
                    let m = multichannel::build(&s.webhook.ingress, association_id, &row.recipient, &notification, &data).await?;
                    s.webhook.ingress.accept(m).await
                };
                match accepted.await {
                    Ok(a) => view.notifications.push(BulkItem { index, notification_id: format!("{ID_PREFIX}{}", a.id), status: status_word(a.status) }),
                    // The engine is saturated or the store failed: stop and say so.
                    Err(e @ (crate::ingress::IngressError::Saturated(_) | crate::ingress::IngressError::Store(_) | crate::ingress::IngressError::Inactive)) => {
                        return Err(e.into())
                    }
                    Err(e) => view.errors.push(BulkError { index, error: e.to_string() }),
                }
            }
            view.accepted = view.notifications.len();
            if view.accepted == 0 {
                let first = view.errors.first().map(|e| format!("recipients[{}]: {}", e.index, e.error)).unwrap_or_default();
                return Err(ApiError::invalid(format!("no recipient could be accepted; {first}")));
            }
            Ok(Envelope::ok(view).message("Notifications queued"))
        };
        result.await.into_response()
    })
    .await
}

#[derive(Serialize)]
pub struct CapabilityView {
    channel: &'static str,
    recipient_field: &'static str,
    template_required: bool,
    raw_body_allowed: bool,
    /// Whether this tenant has a provider credential that delivers the channel.
    available: bool,
}

/// `GET /api/v1/channels/capabilities`.
pub async fn capabilities(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    super::extract::QueryParams(q): super::extract::QueryParams<AssocQuery>,
) -> Result<Envelope<Vec<CapabilityView>>, ApiError> {
    let association_id = target_association(caller, q.association_id)?;
    let credentials = s.store.list_credentials(association_id).await?;
    let serves = |c: crate::domain::Channel| {
        credentials.iter().any(|r| crate::domain::ProviderKind::from_id(r.provider_id).is_some_and(|p| p.channels().contains(&c)))
    };
    Ok(Envelope::ok(
        CAPABILITIES
            .iter()
            .map(|k| CapabilityView {
                channel: k.channel.as_str(),
                recipient_field: k.recipient_field,
                template_required: k.template_required,
                raw_body_allowed: k.raw_body_allowed,
                available: serves(k.channel),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssocQuery {
    #[serde(default)]
    association_id: Option<i64>,
}

#[derive(Serialize)]
struct AttemptView {
    attempt: u32,
    channel: String,
    provider: String,
    /// `sent`, `transient`, `invalid_recipient`, …, or `fallback` (the channel was given up).
    result: String,
    error: Option<String>,
    at: Timestamp,
}

#[derive(Serialize)]
pub struct NotificationView {
    notification_id: String,
    status: &'static str,
    /// The channel of the last try: the one that delivered it when `sent`/`delivered`.
    channel: String,
    recipient: String,
    provider: Option<String>,
    error: Option<String>,
    /// Channels still to try if this one fails for good.
    fallback_channels: Vec<String>,
    attempts: Vec<AttemptView>,
    /// Email: the subject sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The seed-003 view of a message (`GET /api/v1/notifications/ntf_…`).
pub async fn view(s: &AppState, caller: crate::auth::Caller, id: i64) -> Result<Envelope<NotificationView>, ApiError> {
    let (m, attempts) = super::visible_notification(s, caller, id).await.map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::NotFound(format!("Notification {ID_PREFIX}{id} not found")),
        other => other,
    })?;
    Ok(Envelope::ok(render(m, attempts)))
}

fn render(m: MessageRecord, attempts: Vec<crate::store::AttemptRecord>) -> NotificationView {
    // The first channel is the one the first fallback row left (or the current one).
    let mut channel = attempts
        .iter()
        .find(|a| a.result == "fallback")
        .and_then(|a| parse_marker(a.error.as_deref()?).map(|(from, _)| from.to_string()))
        .unwrap_or_else(|| m.channel.clone());
    let mut views = Vec::with_capacity(attempts.len());
    for a in attempts {
        let this = channel.clone();
        if a.result == "fallback" {
            if let Some((_, to)) = a.error.as_deref().and_then(parse_marker) {
                channel = to.to_string();
            }
        }
        views.push(AttemptView { attempt: a.attempt, channel: this, provider: a.provider, result: a.result, error: a.error, at: Timestamp(a.at) });
    }
    NotificationView {
        notification_id: format!("{ID_PREFIX}{}", m.id),
        status: status_word(m.status),
        channel: m.channel,
        recipient: m.recipient,
        provider: m.provider,
        error: m.error,
        fallback_channels: m.fallback.iter().map(|f| f.channel.clone()).collect(),
        attempts: views,
        subject: m.email.map(|e| e.subject),
        created_at: Timestamp(m.created_at),
        updated_at: Timestamp(m.updated_at),
    }
}
