//! 4jawaly v1 as simulated: `POST /api/v1/account/area/sms/send`, JSON
//! `{"messages":[{"text","numbers":[…],"sender"}], "globals"?}`, HTTP Basic `appKey:appSecret`.
//! Success is 200 with a UUID `job_id` and, per message, `inserted_numbers` (numbers refused
//! in a partly valid message are listed in `has_more_iso_code`: the real list's meaning is
//! unconfirmed). A message whose numbers are all invalid is `200` with `err_text` and no
//! `job_id`; 401 bad auth, 422 missing text/numbers, 400 malformed JSON.

use super::{basic_auth, json_response, segments, Answer, Dest, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn parse(req: &Incoming) -> Parsed {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut p = Parsed::new(String::new(), body.clone());
    match basic_auth(&req.headers) {
        Some((key, secret)) if !key.is_empty() && !secret.is_empty() => p.identity = key,
        _ => p.fail(Problem::NoCredentials),
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        p.fail(if body.is_null() { Problem::Malformed("Malformed JSON".into()) } else { Problem::Missing("messages") });
        return p;
    };
    if messages.is_empty() {
        p.fail(Problem::Missing("messages"));
    }
    let global_sender = body.pointer("/globals/sender").and_then(Value::as_str).unwrap_or("");
    for m in messages {
        if m.get("text").and_then(Value::as_str).is_none_or(|t| t.trim().is_empty()) {
            p.fail(Problem::Missing("text"));
        }
        let sender = m.get("sender").and_then(Value::as_str).unwrap_or(global_sender);
        if sender.is_empty() {
            p.fail(Problem::Missing("sender"));
        }
        let numbers = m.get("numbers").and_then(Value::as_array).cloned().unwrap_or_default();
        if numbers.is_empty() {
            p.fail(Problem::Missing("numbers"));
        }
        for n in numbers {
            // Numbers may come as strings or JSON numbers; an unparsable one is an invalid number.
            let n = match n {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            p.recipients.push(n);
            p.client_ids.push(None);
        }
    }
    p
}

fn message_entry(m: &Value, job_id: &str, inserted: u64, refused: Vec<String>, rng: &Rng) -> Value {
    let text = m.get("text").and_then(Value::as_str).unwrap_or("");
    let (per, encoding): (usize, &str) = if text.is_ascii() { (160, "GSM_7BIT") } else { (70, "UCS2") };
    let length = if text.is_ascii() { text.len() } else { text.encode_utf16().count() };
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S.000000Z").to_string();
    json!({
        "inserted_numbers": inserted,
        "message": {
            "account_id": 16448, "job_id": job_id, "text": text, "sender_id": 217302,
            "sender_name": m.get("sender").cloned().unwrap_or(Value::Null),
            "encoding": encoding, "length": length, "per_message": per, "remaining": per.saturating_sub(length),
            "messages": segments(text), "send_at": null, "webhook": null,
            "id": rng.digits(8).parse::<u64>().unwrap_or(1), "created_at": now, "updated_at": now,
        },
        "no_package": [],
        "has_more_iso_code": refused,
    })
}

/// Every number refused: `err_text` and no `job_id`.
fn invalid_number(n: &str) -> Response {
    json_response(200, json!({"code": 400, "message": "لم يتم الإرسال", "messages": [{"err_text": format!("رقم الجوال غير صحيح: {n}")}]}))
}

pub(super) fn respond(p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    match answer {
        Answer::Accepted(dests) => {
            let h = rng.hex(32);
            // A version-1 (time-based) UUID shape, like the ids 4jawaly returns.
            let job_id = format!("{}-{}-1{}-{}-{}", &h[..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32]);
            let mut i = 0;
            let entries: Vec<Value> = p.body["messages"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            let n = m.get("numbers").and_then(Value::as_array).map_or(0, Vec::len);
                            let range = i..i + n;
                            i += n;
                            let inserted = dests[range.clone()].iter().filter(|d| **d == Dest::Ok).count() as u64;
                            let refused =
                                range.filter(|j| dests[*j] != Dest::Ok).map(|j| p.recipients[j].clone()).collect();
                            message_entry(m, &job_id, inserted, refused, rng)
                        })
                        .collect()
                })
                .unwrap_or_default();
            json_response(200, json!({"job_id": job_id, "messages": entries, "code": 200, "message": "تمت العملية بنجاح"}))
        }
        Answer::InvalidNumber(n) => invalid_number(n),
        Answer::Problem(Problem::BadNumber(n)) => invalid_number(n),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => {
            json_response(401, json!({"code": 401, "message": "Unauthenticated."}))
        }
        Answer::Problem(Problem::Missing("messages") | Problem::Malformed(_)) => {
            json_response(400, json!({"code": 400, "message": "Malformed request: messages is required"}))
        }
        Answer::Problem(Problem::Missing(field)) => {
            json_response(422, json!({"code": 422, "message": format!("The messages.0.{field} field is required.")}))
        }
        Answer::Problem(Problem::BadSender(s)) => json_response(
            200,
            json!({"code": 400, "message": "لم يتم الإرسال", "messages": [{"err_text": format!("اسم المرسل غير معتمد: {s}")}]}),
        ),
        Answer::Duplicate => json_response(409, json!({"code": 409, "message": "Duplicate"})),
        Answer::Throttled => json_response(429, json!({"code": 429, "message": "Too Many Attempts."})),
        Answer::HttpError(s) => json_response(*s, json!({"code": s, "message": "Server Error"})),
        Answer::ServerError => json_response(500, json!({"code": 500, "message": "Server Error"})),
    }
}
