//! Documentation of the WhatsApp routes: Cloud API credentials, message templates (with
//! their Meta life cycle) and sends. Any API key scheme; the super-admin names the
//! association with `associationId`.

use super::{Done, Success};
use crate::api::http::whatsapp as wa;
use serde_json::Value;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_credentials,
    save_credentials,
    list_templates,
    create_template,
    sync_all,
    get_template,
    update_template,
    delete_template,
    submit_template,
    sync_template,
    send_template,
    send_text,
    send_media
))]
pub struct Doc;

#[utoipa::path(get, path = "/api/v1/whatsapp-credentials/{id}", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Association id")),
    responses((status = 200, description = "The association's WhatsApp Cloud API credentials (the token and app secret never shown)", body = Success<Value>)))]
#[allow(dead_code)]
fn get_credentials() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-credentials/{id}", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Association id")),
    request_body = wa::CredentialsBody,
    responses((status = 200, description = "Saved (sealed at rest)", body = Success<Value>)))]
#[allow(dead_code)]
fn save_credentials() {}

#[utoipa::path(get, path = "/api/v1/whatsapp-templates", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(
        ("associationId" = Option<i64>, Query, description = "Required with the super-admin key"),
        ("status" = Option<String>, Query, description = "PENDING, APPROVED, REJECTED, PAUSED, …"),
        ("category" = Option<String>, Query, description = "MARKETING, UTILITY or AUTHENTICATION")),
    responses((status = 200, description = "Templates", body = Success<Vec<wa::TemplateView>>)))]
#[allow(dead_code)]
fn list_templates() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-templates", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = wa::CreateTemplateBody,
    responses(
        (status = 201, description = "Created (and submitted to Meta when asked)", body = Success<wa::TemplateView>),
        (status = 409, description = "A template with this name and language exists", body = super::Failure),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta refused or failed the submission", body = super::Failure)))]
#[allow(dead_code)]
fn create_template() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-templates/sync-all", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = wa::SyncAllBody,
    responses(
        (status = 200, description = "What the sync with Meta changed", body = Success<crate::whatsapp::SyncReport>),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta failed", body = super::Failure)))]
#[allow(dead_code)]
fn sync_all() {}

#[utoipa::path(get, path = "/api/v1/whatsapp-templates/{id}", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Template id")),
    responses((status = 200, description = "The template, with how to send it", body = Success<wa::TemplateView>)))]
#[allow(dead_code)]
fn get_template() {}

#[utoipa::path(put, path = "/api/v1/whatsapp-templates/{id}", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Template id")),
    request_body = wa::UpdateTemplateBody,
    responses(
        (status = 200, description = "Updated", body = Success<wa::TemplateView>),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta refused or failed the resubmission", body = super::Failure)))]
#[allow(dead_code)]
fn update_template() {}

#[utoipa::path(delete, path = "/api/v1/whatsapp-templates/{id}", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Template id"), ("deleteFromMeta" = Option<bool>, Query, description = "Delete it at Meta too")),
    responses(
        (status = 200, description = "Deleted", body = Done),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta refused or failed the deletion", body = super::Failure)))]
#[allow(dead_code)]
fn delete_template() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-templates/{id}/submit", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Template id")),
    responses(
        (status = 200, description = "Submitted to Meta for review", body = Success<wa::TemplateView>),
        (status = 409, description = "Already submitted", body = super::Failure),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta refused or failed", body = super::Failure)))]
#[allow(dead_code)]
fn submit_template() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-templates/{id}/sync", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Template id")),
    responses(
        (status = 200, description = "Status read back from Meta", body = Success<wa::TemplateView>),
        (status = 422, description = "Meta refused the request (invalid template, duplicate name, bad token): its reason is in the message", body = super::Failure),
        (status = 502, description = "Meta failed", body = super::Failure)))]
#[allow(dead_code)]
fn sync_template() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-send/template", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = wa::TemplateSendBody,
    responses(
        (status = 200, description = "Sent: the provider accepted it", body = Success<Value>),
        (status = 202, description = "Durably queued; the provider had not answered yet", body = Success<Value>),
        (status = 422, description = "Refused: the provider rejected it, or (free-form text and media) the 24-hour customer service window is closed", body = super::Failure)))]
#[allow(dead_code)]
fn send_template() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-send/text", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = wa::TextSendBody,
    responses(
        (status = 200, description = "Sent: the provider accepted it", body = Success<Value>),
        (status = 202, description = "Durably queued; the provider had not answered yet", body = Success<Value>),
        (status = 422, description = "Refused: the provider rejected it, or (free-form text and media) the 24-hour customer service window is closed", body = super::Failure)))]
#[allow(dead_code)]
fn send_text() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-send/media", tag = "whatsapp",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body = wa::MediaSendBody,
    responses(
        (status = 200, description = "Sent: the provider accepted it", body = Success<Value>),
        (status = 202, description = "Durably queued; the provider had not answered yet", body = Success<Value>),
        (status = 422, description = "Refused: the provider rejected it, or (free-form text and media) the 24-hour customer service window is closed", body = super::Failure)))]
#[allow(dead_code)]
fn send_media() {}
