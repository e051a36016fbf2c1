//! Documentation of the send routes and what they create: the HMAC-signed webhooks (single
//! and bulk), a notification's status and cancellation, campaigns, and SMS/email templates.

use super::{Done, Failure, Success};
use crate::api::http::{campaigns as cm, notifications as n, templates as t, webhook as w};
use std::collections::BTreeMap;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    webhook_notification,
    webhook_bulk,
    get_notification,
    cancel_notification,
    get_campaign,
    cancel_campaign,
    list_templates,
    create_template,
    get_template,
    update_template,
    delete_template
))]
pub struct Doc;

/// `POST /api/v1/webhook/bulk`, as the handler reads it (`ingress::signed::BulkBody`, whose
/// recipients stay raw slices of the body and so cannot derive a schema themselves).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct BulkRequest {
    association_id: i64,
    /// Phone numbers or email addresses (strings), or objects `{"recipient":…,"data":{…}}`
    /// with per-recipient template variables.
    recipients: Vec<serde_json::Value>,
    message: Option<String>,
    template_code: Option<String>,
    /// sms (default), whatsapp or email.
    channel: Option<String>,
    campaign_name: Option<String>,
    /// ISO 8601; in the past: sent at once.
    scheduled_at: Option<String>,
    /// Template variables for every recipient.
    data: Option<BTreeMap<String, serde_json::Value>>,
    /// Messages per second for this campaign.
    send_rate: Option<f64>,
    priority: Option<i32>,
    callback_url: Option<String>,
    /// Seconds each message may take to be delivered (then `expired`).
    validity_period: Option<u32>,
    /// Smart encoding for this campaign's SMS (look-alike characters replaced to fit GSM-7).
    smart_encoding: Option<bool>,
    /// An email campaign's subject, personalised like the message.
    subject: Option<String>,
    /// Each http(s) URL of each recipient's text becomes a tracked short link (a code per
    /// recipient); clicks show on the campaign (`clicks`, `clickedRecipients`).
    shorten_links: Option<bool>,
    /// Also accepted as the `Idempotency-Key` header.
    idempotency_key: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/webhook/notification", tag = "sending",
    security(("webhookSignature" = [], "webhookTimestamp" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first answer again")),
    request_body = crate::ingress::signed::NotificationRequest,
    responses(
        (status = 200, description = "Durably queued (or scheduled)", body = Success<w::QueuedView>),
        (status = 422, description = "The idempotency key was used for another request", body = Failure)))]
#[allow(dead_code)]
fn webhook_notification() {}

#[utoipa::path(post, path = "/api/v1/webhook/bulk", tag = "sending",
    security(("webhookSignature" = [], "webhookTimestamp" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first answer again")),
    request_body = BulkRequest,
    responses(
        (status = 200, description = "Campaign created with every valid recipient durably stored", body = Success<w::BulkView>),
        (status = 422, description = "The idempotency key was used for another request", body = Failure)))]
#[allow(dead_code)]
fn webhook_bulk() {}

#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "sending",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "The queueId of the send")),
    responses((status = 200, description = "Status, attempts and timeline", body = Success<n::NotificationView>)))]
#[allow(dead_code)]
fn get_notification() {}

#[utoipa::path(delete, path = "/api/v1/notifications/{id}", tag = "sending",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = String, Path, description = "The queueId of a scheduled send, or its notification_id (`ntf_…`)")),
    responses(
        (status = 200, description = "Cancelled", body = Done),
        (status = 409, description = "Not scheduled any more (already sent or cancelled)", body = Failure)))]
#[allow(dead_code)]
fn cancel_notification() {}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "sending",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, description = "Campaign progress", body = Success<cm::CampaignView>)))]
#[allow(dead_code)]
fn get_campaign() {}

#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "sending",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Cancelled: no further message leaves", body = Done),
        (status = 409, description = "Already finished or cancelled", body = Failure)))]
#[allow(dead_code)]
fn cancel_campaign() {}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    responses((status = 200, description = "The association's templates", body = Success<Vec<t::TemplateView>>)))]
#[allow(dead_code)]
fn list_templates() {}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = t::CreateBody,
    responses(
        (status = 201, description = "Created", body = Success<t::TemplateView>),
        (status = 409, description = "A template with this code exists", body = Failure)))]
#[allow(dead_code)]
fn create_template() {}

#[utoipa::path(get, path = "/api/v1/templates/{code}", tag = "templates",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("code" = String, Path, description = "Template code"), ("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    responses((status = 200, description = "The template", body = Success<t::TemplateView>)))]
#[allow(dead_code)]
fn get_template() {}

#[utoipa::path(put, path = "/api/v1/templates/{code}", tag = "templates",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("code" = String, Path, description = "Template code"), ("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    request_body = t::UpdateBody,
    responses((status = 200, description = "Updated", body = Success<t::TemplateView>)))]
#[allow(dead_code)]
fn update_template() {}

#[utoipa::path(delete, path = "/api/v1/templates/{code}", tag = "templates",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("code" = String, Path, description = "Template code"), ("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    responses((status = 200, description = "Deleted", body = Done)))]
#[allow(dead_code)]
fn delete_template() {}
