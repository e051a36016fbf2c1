//! Meta's WhatsApp Cloud API as simulated: `POST /{version}/{phone-number-id}/messages`, JSON,
//! `Authorization: Bearer <token>`. Success is `200` + `{messaging_product, contacts[],
//! messages:[{id: "wamid.…"}]}`; errors are Graph API error objects classified by `code`
//! (190 token, 100 bad parameter, 131026 undeliverable, 130429 throughput, 131000 server).
//! Also the mark-as-read body (`{"status":"read","message_id"}`). Templates, the window,
//! throughput, the pair limit and webhooks are `sim::graph`'s (`graph::send::decide`).

use super::{json_response, Answer, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::response::Response;
use serde_json::{json, Value};

const TYPES: [&str; 6] = ["text", "template", "image", "video", "audio", "document"];

pub(super) fn parse(req: &Incoming) -> Parsed {
    // /{version}/{phone-number-id}/messages
    let phone_number_id = req.path.split('/').nth(2).unwrap_or("").to_owned();
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            let mut p = Parsed::new(phone_number_id, Value::Null);
            p.fail(Problem::Malformed(format!("request body is not JSON: {e}")));
            return p;
        }
    };
    let mut p = Parsed::new(phone_number_id, body.clone());
    let bearer = req.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_none_or(|t| t.trim().is_empty()) {
        p.fail(Problem::NoCredentials);
    }
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        p.fail(Problem::Malformed("(#100) The parameter messaging_product is required and must be whatsapp".into()));
    }
    // Mark as read: no recipient; `graph::send` answers it.
    if body.get("status").and_then(Value::as_str) == Some("read") {
        if body.get("message_id").and_then(Value::as_str).is_none_or(str::is_empty) {
            p.fail(Problem::Missing("message_id"));
        }
        return p;
    }
    let to = body.get("to").and_then(Value::as_str).unwrap_or("").trim_start_matches('+').to_owned();
    if to.is_empty() {
        p.fail(Problem::Missing("to"));
    } else if !((6..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit())) {
        p.fail(Problem::BadNumber(to.clone()));
    }
    p.recipients.push(to);
    p.client_ids.push(None);
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    if !TYPES.contains(&kind) {
        p.fail(Problem::Malformed(format!("(#100) Param type must be one of {}", TYPES.join(", "))));
        return p;
    }
    let object = body.get(kind);
    let problem = match kind {
        "text" => object.and_then(|t| t.get("body")).and_then(Value::as_str).is_none_or(|b| b.trim().is_empty()).then_some("text.body"),
        "template" => {
            let name = object.and_then(|t| t.get("name")).and_then(Value::as_str).unwrap_or("");
            let lang = object.and_then(|t| t.get("language")?.get("code")?.as_str()).unwrap_or("");
            (name.is_empty() || lang.is_empty()).then_some("template.name and template.language.code")
        }
        _ => object.and_then(|m| m.get("link").or_else(|| m.get("id"))).and_then(Value::as_str).is_none().then_some("link or id"),
    };
    if let Some(field) = problem {
        p.fail(Problem::Malformed(format!("(#100) The parameter {field} is required")));
    }
    p
}

fn error(status: u16, code: u32, message: &str, details: &str) -> Response {
    json_response(
        status,
        json!({"error": {
            "message": format!("(#{code}) {message}"), "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AsimFbTrace",
        }}),
    )
}

/// A new message id in Meta's shape.
pub(crate) fn wamid(rng: &Rng) -> String {
    format!("wamid.HBgM{}", rng.hex(40).to_uppercase())
}

/// The 200 answer; templates carry `message_status: accepted`.
pub(crate) fn accepted(to: &str, wamid: &str, template: bool) -> Response {
    let mut message = json!({ "id": wamid });
    if template {
        message["message_status"] = "accepted".into();
    }
    json_response(200, json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [message]}))
}

pub(super) fn respond(p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    let to = p.recipients.first().cloned().unwrap_or_default();
    match answer {
        Answer::Accepted(_) | Answer::Duplicate => accepted(&to, &wamid(rng), false),
        Answer::InvalidNumber(n) => error(400, 131026, "Message Undeliverable.", &format!("{n} is not a WhatsApp user")),
        Answer::Problem(Problem::BadNumber(n)) => error(400, 100, "Invalid parameter", &format!("to: {n} is not a phone number")),
        Answer::Problem(Problem::Missing(f)) => error(400, 100, "Invalid parameter", &format!("The parameter {f} is required")),
        Answer::Problem(Problem::Malformed(m) | Problem::BadSender(m)) => error(400, 100, "Invalid parameter", m),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => {
            error(401, 190, "Error validating access token", "The access token is invalid or has expired")
        }
        Answer::Throttled => error(400, 130429, "Rate limit hit", "Cloud API message throughput has been reached."),
        Answer::HttpError(s) => error(*s, 131000, "Something went wrong", "Unknown error"),
        Answer::ServerError => error(500, 131000, "Something went wrong", "Unknown error"),
    }
}
