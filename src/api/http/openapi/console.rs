//! Documentation of the console's dashboard routes added with its live overview and edit
//! screens: the overview's server-sent-event stream, and the edit and delete of credentials
//! and templates on the session. Bodies are JSON objects (fields in the README).

use super::{Done, Success};
use serde_json::Value;

/// One server-sent event as a client parses it: `overview` (its `data` the JSON text of
/// GET /dashboard/overview's `data`) or `end` (the session ended; `data` says why).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    /// `overview` or `end`.
    event: Option<String>,
    /// The event's data line(s): JSON text for `overview`, a reason for `end`.
    data: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(dash_overview_stream, dash_credential_update, dash_credential_delete, dash_template_update, dash_template_delete), components(schemas(StreamEvent)))]
pub struct Doc;

#[utoipa::path(get, path = "/api/v1/dashboard/overview/stream", tag = "dashboard",
    description = "Console: the overview as server-sent events (`overview` after every counter sample, `end` on log-out or expiry, a heartbeat comment every 15 s); at most 3 per session",
    security(("sessionCookie" = [])),
    params(("associationId" = Option<i64>, Query, description = "A super operator's association (a bound one gets its own)")),
    responses(
        (status = 200, description = "An event stream; each `overview` event's data is the JSON of GET /dashboard/overview's `data`", content_type = "text/event-stream", body = StreamEvent),
        (status = 409, description = "The session already holds 3 streams", body = Value),
    ))]
#[allow(dead_code)]
fn dash_overview_stream() {}

#[utoipa::path(put, path = "/api/v1/dashboard/credentials/{id}", tag = "dashboard", description = "Console: edit a credential (new secrets optional, never returned)",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "The credential id"), ("associationId" = Option<i64>, Query, description = "A super operator's association")),
    request_body(content = Value, description = "senderName, credentials, apiUrl (null clears), isDefault", content_type = "application/json"),
    responses((status = 200, description = "Updated", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_credential_update() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/credentials/{id}", tag = "dashboard", description = "Console: delete a credential",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("id" = i64, Path, description = "The credential id"), ("associationId" = Option<i64>, Query, description = "A super operator's association")),
    responses((status = 200, description = "Deleted", body = Done)))]
#[allow(dead_code)]
fn dash_credential_delete() {}

#[utoipa::path(put, path = "/api/v1/dashboard/templates/{code}", tag = "dashboard", description = "Console: edit a template",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("code" = String, Path, description = "The template code"), ("associationId" = Option<i64>, Query, description = "A super operator's association")),
    request_body(content = Value, description = "name, content, channel", content_type = "application/json"),
    responses((status = 200, description = "Updated", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_template_update() {}

#[utoipa::path(delete, path = "/api/v1/dashboard/templates/{code}", tag = "dashboard", description = "Console: delete a template",
    security(("sessionCookie" = [], "csrfToken" = [])),
    params(("code" = String, Path, description = "The template code"), ("associationId" = Option<i64>, Query, description = "A super operator's association")),
    responses((status = 200, description = "Deleted", body = Done)))]
#[allow(dead_code)]
fn dash_template_delete() {}
