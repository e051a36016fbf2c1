//! Infobip as simulated: `POST /sms/3/messages` (v3: `messages[].{sender, destinations[].{to,
//! messageId}, content.text}`) and the legacy `POST /sms/2/text/advanced` (v2: `messages[].{from,
//! destinations[], text}`), `Authorization: App <key>` (Basic / IBSSO / Bearer also taken).
//! Success is 200 `{bulkId, messages[]}` with a per-destination status: `PENDING_ACCEPTED`, or
//! inline rejections (`REJECTED_DESTINATION` 52, `REJECTED_DUPLICATE_MESSAGE_ID` 23,
//! `REJECTED_SYSTEM_ERROR` 21). Errors: v3 `{errorCode: E4xx…}`, v2 `{requestError…}`.

use super::{basic_auth, json_response, segments, Answer, Dest, Endpoint, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn parse(ep: Endpoint, req: &Incoming) -> Parsed {
    let auth = req.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let identity = ["App ", "IBSSO ", "Bearer "]
        .iter()
        .find_map(|scheme| auth.strip_prefix(scheme).map(|k| k.trim().to_owned()))
        .or_else(|| basic_auth(&req.headers).map(|(user, _)| user))
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut p = Parsed::new(identity, body.clone());
    if p.identity.is_empty() {
        p.fail(Problem::NoCredentials);
    }
    if req.body.is_empty() || body.is_null() {
        p.fail(Problem::Malformed("Request body is not valid JSON".into()));
        return p;
    }
    let messages = body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    if messages.is_empty() {
        p.fail(Problem::Missing("messages"));
    }
    for m in &messages {
        let text = if ep == Endpoint::InfobipV3 { m.pointer("/content/text") } else { m.get("text") };
        if text.and_then(Value::as_str).is_none_or(str::is_empty) {
            p.fail(Problem::Missing(if ep == Endpoint::InfobipV3 { "content.text" } else { "text" }));
        }
        let dests = m.get("destinations").and_then(Value::as_array).cloned().unwrap_or_default();
        if dests.is_empty() {
            p.fail(Problem::Missing("to"));
        }
        for d in dests {
            let to = d.get("to").and_then(Value::as_str).unwrap_or("").trim_start_matches('+').to_owned();
            // A malformed `to` is rejected inline per destination (REJECTED_DESTINATION), not
            // for the whole request, so only a missing one fails here.
            if to.is_empty() {
                p.fail(Problem::Missing("to"));
            }
            p.recipients.push(to);
            p.client_ids.push(d.get("messageId").and_then(Value::as_str).map(str::to_owned));
        }
    }
    p
}

fn status(dest: Dest, system_error: bool) -> Value {
    if system_error {
        return json!({"groupId": 5, "groupName": "REJECTED", "id": 21, "name": "REJECTED_SYSTEM_ERROR", "description": "System error"});
    }
    match dest {
        Dest::Ok => json!({"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED", "description": "Message sent to next instance"}),
        Dest::Invalid => json!({"groupId": 5, "groupName": "REJECTED", "id": 52, "name": "REJECTED_DESTINATION", "description": "Invalid destination address"}),
        Dest::Duplicate => json!({"groupId": 5, "groupName": "REJECTED", "id": 23, "name": "REJECTED_DUPLICATE_MESSAGE_ID", "description": "Duplicate message id"}),
        Dest::ServerError => status(Dest::Ok, true),
    }
}

/// The 200 answer with one entry per destination.
fn sent(ep: Endpoint, p: &Parsed, dests: &[Dest], system_error: bool, rng: &Rng) -> Response {
    let text = p.body.pointer("/messages/0/content/text").or_else(|| p.body.pointer("/messages/0/text"));
    let count = text.and_then(Value::as_str).map(segments).unwrap_or(1);
    let messages: Vec<Value> = p
        .recipients
        .iter()
        .zip(&p.client_ids)
        .zip(dests)
        .map(|((to, client_id), dest)| {
            let id = client_id.clone().unwrap_or_else(|| {
                let h = rng.hex(33);
                format!("{}-{}-{}-{}-{}", &h[..12], &h[12..16], &h[16..21], &h[21..25], &h[25..])
            });
            if ep == Endpoint::InfobipV3 {
                json!({"messageId": id, "status": status(*dest, system_error), "destination": to, "details": {"messageCount": count}})
            } else {
                json!({"to": to, "status": status(*dest, system_error), "messageId": id, "smsCount": count})
            }
        })
        .collect();
    let bulk_id = p.body.pointer("/options/schedule/bulkId").or_else(|| p.body.get("bulkId")).and_then(Value::as_str);
    json_response(200, json!({"bulkId": bulk_id.map(str::to_owned).unwrap_or_else(|| rng.digits(19)), "messages": messages}))
}

fn error(ep: Endpoint, status: u16, code: &str, legacy: &str, text: &str, property: Option<&str>) -> Response {
    if ep == Endpoint::InfobipV3 {
        let violations: Vec<Value> = property.map(|p| json!({"property": p, "violation": text})).into_iter().collect();
        json_response(
            status,
            json!({"errorCode": code, "description": text, "action": "Check the request and try again.",
                   "violations": violations,
                   "resources": [{"name": "API endpoint documentation", "url": "https://www.infobip.com/docs/api/send-sms-messages"}]}),
        )
    } else {
        let mut e = json!({"messageId": legacy, "text": text});
        if let Some(p) = property {
            e["validationErrors"] = json!({ p: [text] });
        }
        json_response(status, json!({"requestError": {"serviceException": e}}))
    }
}

pub(super) fn respond(ep: Endpoint, p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    let all = |d: Dest| vec![d; p.recipients.len()];
    match answer {
        Answer::Accepted(dests) => sent(ep, p, dests, false, rng),
        Answer::InvalidNumber(_) => sent(ep, p, &all(Dest::Invalid), false, rng),
        Answer::Duplicate => sent(ep, p, &all(Dest::Duplicate), false, rng),
        Answer::ServerError => sent(ep, p, &all(Dest::Ok), true, rng),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => {
            error(ep, 401, "E401", "UNAUTHORIZED", "Invalid login details", None)
        }
        Answer::Problem(Problem::BadNumber(_) | Problem::Missing("to")) => {
            error(ep, 400, "E400", "BAD_REQUEST", "Invalid destination address", Some("messages[0].destinations[0].to"))
        }
        Answer::Problem(Problem::Missing(field)) => {
            error(ep, 400, "E400", "BAD_REQUEST", "must not be empty", Some(&format!("messages[0].{field}")))
        }
        Answer::Problem(Problem::Malformed(m) | Problem::BadSender(m)) => error(ep, 400, "E400", "BAD_REQUEST", m, None),
        Answer::Throttled => error(ep, 429, "E429", "TOO_MANY_REQUESTS", "Too many requests sent.", None),
        Answer::HttpError(s) => error(ep, *s, "E500", "GENERAL_ERROR", "Something went wrong. Please contact support.", None),
    }
}
