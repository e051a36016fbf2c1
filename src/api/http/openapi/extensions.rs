//! Documentation of the routes added beside the first document: the console's pages, seed
//! 003's notifications API, opt-outs and segment previews, the WhatsApp bulk jobs, history,
//! stats and gateways, and the console's own dashboard routes. Bodies are described as JSON
//! objects here (their fields are in the README); statuses are each route's own.

use super::Success;
use serde_json::Value;

#[derive(utoipa::OpenApi)]
#[openapi(paths(root_redirect, console_redirect, console_index, console_asset, waweb_event, channel_capabilities, notifications_send, notifications_bulk, opt_outs_list, opt_outs_add, opt_outs_remove, sms_segments, whatsapp_messages, whatsapp_stats, whatsapp_bulk, whatsapp_bulk_status, whatsapp_bulk_cancel, whatsapp_check_number, gateway_settings_get, gateway_settings_put, dash_associations, dash_callbacks, dash_credentials, dash_credentials_add, dash_links, dash_message, dash_overview, dash_route_test, dash_stats_daily, dash_templates, dash_templates_add, dash_wa_templates))]
pub struct Doc;

#[utoipa::path(get, path = "/", tag = "console", description = "The operator console's entry",
    responses((status = 303, description = "Redirect to /console/")))]
#[allow(dead_code)]
fn root_redirect() {}

#[utoipa::path(get, path = "/console", tag = "console", description = "The operator console",
    responses((status = 303, description = "Redirect to /console/")))]
#[allow(dead_code)]
fn console_redirect() {}

#[utoipa::path(get, path = "/console/", tag = "console", description = "The operator console's page",
    responses((status = 200, description = "The console page (HTML)", content_type = "text/html", body = String)))]
#[allow(dead_code)]
fn console_index() {}

#[utoipa::path(get, path = "/console/{*path}", tag = "console", description = "A console asset (JavaScript, CSS)",
    params(("*path" = String, Path, description = "Asset path")),
    responses((status = 200, description = "A console asset", content_type = "text/html", body = String), (status = 304, description = "Not modified (ETag)")))]
#[allow(dead_code)]
fn console_asset() {}

#[utoipa::path(post, path = "/api/v1/callbacks/wawebgw/{credential_id}", tag = "callbacks", description = "WA-Web gateway events (message_sent, message_received, call_rejected)",
    params(("credential_id" = String, Path, description = "The engine's credential id")),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Event recorded; auto-reply or rejection message in the answer", body = Success<Value>), (status = 403, description = "X-Api-Key is not the client's key", body = super::Failure)))]
#[allow(dead_code)]
fn waweb_event() {}

#[utoipa::path(get, path = "/api/v1/channels/capabilities", tag = "notifications", description = "Seed 003: channel capabilities",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "Per channel: recipient field, template required, raw body allowed", body = Success<Value>)))]
#[allow(dead_code)]
fn channel_capabilities() {}

#[utoipa::path(post, path = "/api/v1/notifications/send", tag = "notifications", description = "Seed 003: send one notification with channel fallback",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Accepted (replayed idempotent answers too)", body = Success<Value>), (status = 201, description = "Accepted", body = Success<Value>), (status = 202, description = "Accepted", body = Success<Value>), (status = 422, description = "Policy error (template mismatch, idempotency key reused with another body)", body = super::Failure)))]
#[allow(dead_code)]
fn notifications_send() {}

#[utoipa::path(post, path = "/api/v1/notifications/bulk", tag = "notifications", description = "Seed 003: a bulk send",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Accepted; bad rows reported", body = Success<Value>), (status = 201, description = "Accepted", body = Success<Value>), (status = 202, description = "Accepted", body = Success<Value>), (status = 422, description = "Policy error", body = super::Failure)))]
#[allow(dead_code)]
fn notifications_bulk() {}

#[utoipa::path(get, path = "/api/v1/opt-outs", tag = "opt-outs", description = "List opt-outs",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "The association's opt-outs, paged", body = Success<Value>)))]
#[allow(dead_code)]
fn opt_outs_list() {}

#[utoipa::path(post, path = "/api/v1/opt-outs", tag = "opt-outs", description = "Opt a recipient out (one channel or all)",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Recorded", body = Success<Value>), (status = 201, description = "Recorded", body = Success<Value>)))]
#[allow(dead_code)]
fn opt_outs_add() {}

#[utoipa::path(delete, path = "/api/v1/opt-outs", tag = "opt-outs", description = "Opt a recipient back in",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "Removed (how many)", body = Success<Value>)))]
#[allow(dead_code)]
fn opt_outs_remove() {}

#[utoipa::path(post, path = "/api/v1/sms/segments", tag = "sms", description = "Preview what a text costs as SMS",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Encoding, segments and units of a text", body = Success<Value>)))]
#[allow(dead_code)]
fn sms_segments() {}

#[utoipa::path(get, path = "/api/v1/whatsapp-messages", tag = "whatsapp", description = "WhatsApp message history",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(
        ("associationId" = Option<i64>, Query, description = "Required with the super-admin key"),
        ("status" = Option<String>, Query, description = "SENT, DELIVERED, READ, FAILED (or PENDING, CANCELLED)"),
        ("recipient" = Option<String>, Query, description = "Digits of the number: led by `+`, numbers starting with them; otherwise numbers holding them anywhere (bounded walk; `totalLimited` when the bound was reached)"),
        ("limit" = Option<usize>, Query, description = "1 to 500 (default 50)"),
        ("offset" = Option<usize>, Query, description = "At most 100000"),
    ),
    responses((status = 200, description = "A page of WhatsApp messages", body = Success<Value>)))]
#[allow(dead_code)]
fn whatsapp_messages() {}

#[utoipa::path(get, path = "/api/v1/whatsapp-stats", tag = "whatsapp", description = "WhatsApp statistics",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "WhatsApp totals over the period", body = Success<Value>)))]
#[allow(dead_code)]
fn whatsapp_stats() {}

#[utoipa::path(post, path = "/api/v1/whatsapp-send/bulk", tag = "whatsapp", description = "WhatsApp template bulk send",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Sent (50 recipients or fewer)", body = Success<Value>), (status = 202, description = "A bulk job (over 50 recipients)", body = Success<Value>), (status = 422, description = "Refused by the template or Meta", body = super::Failure), (status = 502, description = "Meta unreachable", body = super::Failure)))]
#[allow(dead_code)]
fn whatsapp_bulk() {}

#[utoipa::path(get, path = "/api/v1/whatsapp-send/bulk/status/{job_id}", tag = "whatsapp", description = "WhatsApp bulk job status",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("job_id" = String, Path, description = "The job id")),
    responses((status = 200, description = "The job's progress", body = Success<Value>)))]
#[allow(dead_code)]
fn whatsapp_bulk_status() {}

#[utoipa::path(delete, path = "/api/v1/whatsapp-send/bulk/{job_id}", tag = "whatsapp", description = "Cancel a WhatsApp bulk job",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("job_id" = String, Path, description = "The job id")),
    responses((status = 200, description = "Cancelled", body = Success<Value>)))]
#[allow(dead_code)]
fn whatsapp_bulk_cancel() {}

#[utoipa::path(post, path = "/api/v1/whatsapp/check-number", tag = "whatsapp", description = "Check a number through the Sidobe gateway",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Whether the number is on WhatsApp", body = Success<Value>), (status = 422, description = "No Sidobe credential, or Sidobe refused", body = super::Failure), (status = 502, description = "Sidobe unreachable", body = super::Failure)))]
#[allow(dead_code)]
fn whatsapp_check_number() {}

#[utoipa::path(get, path = "/api/v1/whatsapp/gateway-settings", tag = "whatsapp", description = "WhatsApp gateway settings",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "Auto-reply, call-rejection message, gateway credential health", body = Success<Value>)))]
#[allow(dead_code)]
fn gateway_settings_get() {}

#[utoipa::path(put, path = "/api/v1/whatsapp/gateway-settings", tag = "whatsapp", description = "Set WhatsApp gateway settings",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Saved", body = Success<Value>)))]
#[allow(dead_code)]
fn gateway_settings_put() {}

#[utoipa::path(get, path = "/api/v1/dashboard/associations", tag = "dashboard", description = "Console: associations",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Associations the operator may see", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_associations() {}

#[utoipa::path(get, path = "/api/v1/dashboard/callbacks", tag = "dashboard", description = "Console: callback attempts",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Recent callback attempts", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_callbacks() {}

#[utoipa::path(get, path = "/api/v1/dashboard/credentials", tag = "dashboard", description = "Console: credentials",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Provider credentials (no secrets)", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_credentials() {}

#[utoipa::path(post, path = "/api/v1/dashboard/credentials", tag = "dashboard", description = "Console: add a credential",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Created", body = Success<Value>), (status = 201, description = "Created", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_credentials_add() {}

#[utoipa::path(get, path = "/api/v1/dashboard/links", tag = "dashboard", description = "Console: redirect links",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Redirect links with clicks", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_links() {}

#[utoipa::path(get, path = "/api/v1/dashboard/messages/{id}", tag = "dashboard", description = "Console: one message",
    security(("sessionCookie" = [])),
    params(("id" = String, Path, description = "The message id")),
    responses((status = 200, description = "A message with its timeline", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_message() {}

#[utoipa::path(get, path = "/api/v1/dashboard/overview", tag = "dashboard", description = "Console: overview",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Live rates, queue, credential health", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_overview() {}

#[utoipa::path(get, path = "/api/v1/dashboard/route-test", tag = "dashboard", description = "Console: where would a number go",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "The route and failover order for a number", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_route_test() {}

#[utoipa::path(get, path = "/api/v1/dashboard/stats/daily", tag = "dashboard", description = "Console: stats by day",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Counters by day", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_stats_daily() {}

#[utoipa::path(get, path = "/api/v1/dashboard/templates", tag = "dashboard", description = "Console: templates",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "Templates", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_templates() {}

#[utoipa::path(post, path = "/api/v1/dashboard/templates", tag = "dashboard", description = "Console: add a template",
    security(("sessionCookie" = [], "csrfToken" = [])),
    request_body(content = Value, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "Created", body = Success<Value>), (status = 201, description = "Created", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_templates_add() {}

#[utoipa::path(get, path = "/api/v1/dashboard/whatsapp-templates", tag = "dashboard", description = "Console: WhatsApp templates",
    security(("sessionCookie" = [])),
    responses((status = 200, description = "WhatsApp templates and their status", body = Success<Value>)))]
#[allow(dead_code)]
fn dash_wa_templates() {}
