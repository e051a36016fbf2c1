//! The OpenAPI 3.1 document of every HTTP route, generated from the code with utoipa and
//! served at `GET /api/v1/openapi.json`.
//!
//! Request and response schemas are the handlers' own serde types (`#[derive(ToSchema)]` on
//! them), wrapped in the documented envelopes ([`Success`], [`Done`], [`Failure`]). The
//! operations are declared per area in this folder (`management`, `sending`, `whatsapp`,
//! `links`, `dashboard`, `ops`) on documentation-only functions rather than on the handlers:
//! the handler files stay as they are, and a new route is one `#[utoipa::path]` here plus its
//! name in the area's `paths(...)` list. `tests/openapi.rs` checks this document against the
//! router in both directions, so a route added without documentation fails CI by name.
//!
//! Depends on the handler modules' types only; nothing below `api` imports this.

mod console;
mod dashboard;
mod extensions;
mod links;
mod management;
mod ops;
mod routes;
mod sending;
mod whatsapp;

pub use routes::{drift, route_table, RouteEntry};

use crate::domain::Timestamp;
use crate::store::MessageStatus;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;

/// The documented success envelope with data: `{"success":true,"data":…,"message":…}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by the schema derive only
pub struct Success<T> {
    /// Always `true`.
    success: bool,
    data: T,
    /// Present on some writes ("Template created successfully").
    #[schema(required = false)]
    message: Option<String>,
}

/// The documented success envelope of operations without data (deletions, cancellations).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by the schema derive only
pub struct Done {
    /// Always `true`.
    success: bool,
    message: String,
}

/// The documented error envelope: `{"success":false,"error":"…","code":"…"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by the schema derive only
pub struct Failure {
    /// Always `false`.
    success: bool,
    /// What is wrong, for a person (names the field for validation errors).
    error: String,
    /// A stable machine-readable code (`invalid_request`, `unauthorized`, `not_found`, …).
    code: String,
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("ISO 8601 date-time in UTC with milliseconds (2026-03-01T09:00:00.000Z)"))
            .into()
    }
}
impl utoipa::ToSchema for Timestamp {}

/// Every status, for the enum of the schema (a new variant must be added here; the match
/// makes the compiler say so).
const STATUSES: [MessageStatus; 10] = {
    use MessageStatus::*;
    [Queued, Scheduled, Dispatching, Sent, Delivered, Failed, Cancelled, Expired, Undelivered, Read]
};
#[allow(dead_code)]
fn every_status_listed(s: MessageStatus) {
    use MessageStatus::*;
    match s {
        Queued | Scheduled | Dispatching | Sent | Delivered | Failed | Cancelled | Expired | Undelivered | Read => {}
    }
}

impl utoipa::PartialSchema for MessageStatus {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(STATUSES.iter().map(|s| s.as_str())))
            .into()
    }
}
impl utoipa::ToSchema for MessageStatus {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jood Notifications API",
        description = "SMS, WhatsApp and email notifications: signed sends, bulk campaigns, templates, management, the dashboard, redirect links and provider callbacks. Every JSON answer uses the envelope `{\"success\":true,\"data\":…}` or `{\"success\":false,\"error\":\"…\"}`.",
        version = "1"
    ),
    components(schemas(Failure, Done)),
    modifiers(&SecuritySchemes)
)]
struct Base;

/// Security schemes: the API keys, the super-admin key, the webhook signature, the dashboard
/// session and its CSRF header.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let header = |name: &str, what: &str| SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)));
        c.add_security_scheme("apiKey", header("X-API-Key", "An association's apiKey (with X-API-Secret) or its adminApiKey (alone, or also as X-API-Secret on key-pair routes)"));
        c.add_security_scheme("apiSecret", header("X-API-Secret", "The association's secretKey, paired with X-API-Key"));
        c.add_security_scheme("superAdminKey", header("X-API-Key", "The super-admin key (from the environment); on key-pair routes it is sent as X-API-Secret too"));
        c.add_security_scheme("webhookSignature", header("X-Webhook-Signature", "Hex HMAC-SHA256 of `timestamp + \".\" + body` with the association's secretKey"));
        c.add_security_scheme("webhookTimestamp", header("X-Webhook-Timestamp", "Unix time in milliseconds, within five minutes of the server's"));
        c.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(super::dashboard::COOKIE, "Dashboard session from POST /api/v1/dashboard/auth/login"))),
        );
        c.add_security_scheme("csrfToken", header("X-CSRF-Token", "The session's csrfToken, required on dashboard requests that change state"));
    }
}

/// The whole document: the base merged with every area's operations, and the error answers
/// every operation shares added where an area did not describe them itself.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    for part in [
        management::Doc::openapi(),
        sending::Doc::openapi(),
        whatsapp::Doc::openapi(),
        links::Doc::openapi(),
        dashboard::Doc::openapi(),
        ops::Doc::openapi(),
        extensions::Doc::openapi(),
        console::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    for item in doc.paths.paths.values_mut() {
        if let Some(op) = item.get.as_mut() {
            add_shared_errors(op, false);
        }
        for op in [&mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten() {
            add_shared_errors(op, true);
        }
    }
    doc
}

/// Answers any operation can give: validation (400), authentication and scoping (401, 403)
/// for authenticated ones, not found (404), body too large (413), rate limits (429), and
/// overload, timeouts or an unavailable store (503); for writes, a lost compare-and-set
/// race (409). Each with the error envelope.
fn add_shared_errors(op: &mut Operation, writes: bool) {
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut statuses = vec![("400", "Invalid request: the message names the field"), ("404", "Not found"), ("413", "Request body too large")];
    if authenticated {
        statuses.push(("401", "Missing or invalid credentials"));
        statuses.push(("403", "Not allowed for these credentials (another association, not super-admin, IP not allowed, CSRF token missing)"));
    }
    if writes {
        statuses.push(("409", "Conflict: a concurrent write won, or the resource is in another state; the message says which"));
    }
    statuses.push(("429", "Rate limited: retry after the Retry-After header"));
    statuses.push(("503", "Overloaded, timed out or the store is unavailable: retry after the Retry-After header"));
    for (status, description) in statuses {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| failure(description));
    }
}

pub(crate) fn failure(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("Failure"))).build())
        .build()
        .into()
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| document().to_json().expect("the OpenAPI document serialises"));

/// `GET /api/v1/openapi.json` (public): the document, built once.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT_JSON.as_str())
}
