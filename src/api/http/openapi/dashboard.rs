//! Documentation of the dashboard routes (`/api/v1/dashboard`): a session cookie from
//! `auth/login`, and the session's CSRF token in `X-CSRF-Token` on every request that
//! changes state.

use super::{Done, Success};
use crate::api::http::dashboard::{allocations as al, auth as au, campaigns as cm, logs as lg, messages as ms, Paged};

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    login,
    logout,
    me,
    create_operator,
    update_operator,
    delete_operator,
    provider_schemas,
    send_sms,
    schedule_sms,
    queue,
    cancel_queued,
    list_campaigns,
    create_campaign,
    cancel_campaign,
    list_allocations,
    create_allocation,
    update_allocation,
    delete_allocation,
    logs,
    stats
))]
pub struct Doc;

/// `POST /api/v1/dashboard/campaigns`, as the handler reads it (its recipients stay raw
/// slices of the body, so the handler's type cannot derive a schema).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CampaignRequest {
    association_id: i64,
    name: String,
    message: String,
    /// Phone numbers (strings) or objects `{"recipient":…}`.
    recipients: Vec<serde_json::Value>,
    scheduled_at: Option<String>,
    credential_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/dashboard/auth/login", tag = "dashboard",
    request_body = au::LoginBody,
    responses(
        (status = 200, description = "Logged in: the session cookie is set; csrfToken goes in X-CSRF-Token", body = Success<au::MeView>,
            headers(("Set-Cookie" = String, description = "jood_session=…; HttpOnly; SameSite=Strict"))),
        (status = 401, description = "Wrong username or password", body = super::Failure),
        (status = 403, description = "The operator is disabled, or its association is inactive", body = super::Failure)))]
#[allow(dead_code)]
fn login() {}

#[utoipa::path(post, path = "/api/v1/dashboard/auth/logout", tag = "dashboard",
    responses(
        (status = 200, description = "The session is ended and the cookie cleared", body = Done),
        (status = 401, description = "No valid session to end", body = super::Failure)))]
#[allow(dead_code)]
fn logout() {}

#[utoipa::path(get, path = "/api/v1/dashboard/auth/me", tag = "dashboard",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "The operator of the session", body = Success<au::MeView>)))]
#[allow(dead_code)]
fn me() {}

#[utoipa::path(post, path = "/api/v1/dashboard/operators", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body = au::OperatorBody,
    responses((status = 201, description = "Saved (super operators only): created, or an existing operator replaced, which ends its sessions", body = Success<au::OperatorView>)))]
#[allow(dead_code)]
fn create_operator() {}

#[utoipa::path(put, path = "/api/v1/dashboard/operators/{username}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("username" = String, Path, description = "Operator username")),
    request_body = au::OperatorPatch,
    responses((status = 200, description = "Updated; a new password or a disable ends its sessions", body = Success<au::OperatorView>)))]
#[allow(dead_code)]
fn update_operator() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/operators/{username}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("username" = String, Path, description = "Operator username")),
    responses((status = 200, description = "Deleted; its sessions are revoked", body = Done)))]
#[allow(dead_code)]
fn delete_operator() {}

#[utoipa::path(get, path = "/api/v1/dashboard/providers/schemas", tag = "dashboard",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Every provider's credential fields", body = Success<Vec<ms::SchemaView>>)))]
#[allow(dead_code)]
fn provider_schemas() {}

#[utoipa::path(post, path = "/api/v1/dashboard/send-sms", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body = ms::SendBody,
    responses((status = 200, description = "Sent (or durably queued when the provider is slow)", body = Success<ms::SendView>)))]
#[allow(dead_code)]
fn send_sms() {}

#[utoipa::path(post, path = "/api/v1/dashboard/schedule-sms", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body = ms::ScheduleBody,
    responses((status = 200, description = "Durably scheduled", body = Success<ms::QueuedView>)))]
#[allow(dead_code)]
fn schedule_sms() {}

#[utoipa::path(get, path = "/api/v1/dashboard/queue", tag = "dashboard",
    security(("sessionCookie" = [])),
    params(
        ("page" = Option<usize>, Query, description = "From 1"),
        ("limit" = Option<usize>, Query, description = "1 to 100"),
        ("associationId" = Option<i64>, Query, description = "Super operators: one association")),
    responses((status = 200, description = "Scheduled messages", body = Success<Paged<ms::QueueItem>>)))]
#[allow(dead_code)]
fn queue() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/queue/{id}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "Cancelled", body = Done),
        (status = 409, description = "Not scheduled any more", body = super::Failure)))]
#[allow(dead_code)]
fn cancel_queued() {}

#[utoipa::path(get, path = "/api/v1/dashboard/campaigns", tag = "dashboard",
    security(("sessionCookie" = [])),
    params(
        ("page" = Option<usize>, Query, description = "From 1"),
        ("limit" = Option<usize>, Query, description = "1 to 100"),
        ("associationId" = Option<i64>, Query, description = "Super operators: one association")),
    responses((status = 200, description = "Campaigns, newest first", body = Success<Paged<cm::CampaignItem>>)))]
#[allow(dead_code)]
fn list_campaigns() {}

#[utoipa::path(post, path = "/api/v1/dashboard/campaigns", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body = CampaignRequest,
    responses((status = 200, description = "Campaign created with every valid recipient durably stored", body = Success<cm::CreatedView>)))]
#[allow(dead_code)]
fn create_campaign() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/campaigns/{id}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Cancelled", body = Done),
        (status = 409, description = "Already finished or cancelled", body = super::Failure)))]
#[allow(dead_code)]
fn cancel_campaign() {}

#[utoipa::path(get, path = "/api/v1/dashboard/allocations", tag = "dashboard",
    security(("sessionCookie" = [])),
    params(("associationId" = Option<i64>, Query, description = "Super operators: one association")),
    responses((status = 200, description = "Country allocations", body = Success<Vec<al::AllocationView>>)))]
#[allow(dead_code)]
fn list_allocations() {}

#[utoipa::path(post, path = "/api/v1/dashboard/allocations", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body = al::CreateBody,
    responses((status = 201, description = "Created", body = Success<al::AllocationView>)))]
#[allow(dead_code)]
fn create_allocation() {}

#[utoipa::path(put, path = "/api/v1/dashboard/allocations/{id}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "Allocation id")),
    request_body = al::UpdateBody,
    responses((status = 200, description = "Updated", body = Success<al::AllocationView>)))]
#[allow(dead_code)]
fn update_allocation() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/allocations/{id}", tag = "dashboard",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "Allocation id")),
    responses((status = 200, description = "Deleted", body = Done)))]
#[allow(dead_code)]
fn delete_allocation() {}

#[utoipa::path(get, path = "/api/v1/dashboard/logs", tag = "dashboard",
    security(("sessionCookie" = [])),
    params(
        ("page" = Option<usize>, Query, description = "From 1"),
        ("limit" = Option<usize>, Query, description = "1 to 100"),
        ("status" = Option<String>, Query, description = "Only messages in this status"),
        ("search" = Option<String>, Query, description = "Recipient or message text contains this (a bounded scan)"),
        ("associationId" = Option<i64>, Query, description = "Super operators: one association")),
    responses((status = 200, description = "A page of message logs, newest first", body = Success<lg::LogsPage>)))]
#[allow(dead_code)]
fn logs() {}

#[utoipa::path(get, path = "/api/v1/dashboard/stats", tag = "dashboard",
    security(("sessionCookie" = [])),
    params(("associationId" = Option<i64>, Query, description = "Super operators: one association")),
    responses((status = 200, description = "Totals, today's figures and per-provider counts", body = Success<lg::StatsView>)))]
#[allow(dead_code)]
fn stats() {}
