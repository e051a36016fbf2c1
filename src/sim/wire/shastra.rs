//! mShastra as simulated: `GET /sendurl.aspx` and `/sendurlcomma.aspx` (query `user`, `pwd`,
//! `senderid`, `mobileno`, `msgtext`; plain-text answer, `NNN - text` with `ShowError=C`) and
//! `POST /sendsms_api_json.aspx` (a JSON array of `{user, pwd, number, msg, sender, language}`,
//! answered element by element with `{msg_id, number, str_response}`). Always HTTP 200; errors
//! are the documented code table (001 invalid receiver, 005 auth, 013 server error, …).

use super::{json_response, non_empty, pairs_json, param, query_and_form, split_numbers, text_response, Answer, Dest, Endpoint, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn parse(ep: Endpoint, req: &Incoming) -> Parsed {
    if ep == Endpoint::ShastraJson {
        return parse_json(req);
    }
    let pairs = query_and_form(req);
    let get = |name: &str| non_empty(param(&pairs, name, false));
    let mut p = Parsed::new(get("user").unwrap_or(""), pairs_json(&pairs));
    check_common(&mut p, get("user"), get("pwd"), get("senderid"), get("msgtext"));
    let numbers = get("mobileno").map(split_numbers).unwrap_or_default();
    if numbers.is_empty() {
        p.fail(Problem::Missing("mobileno"));
    }
    p.client_ids = vec![None; numbers.len()];
    p.recipients = numbers;
    p
}

fn parse_json(req: &Incoming) -> Parsed {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let items = body.as_array().cloned().unwrap_or_default();
    let first = items.first().cloned().unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned);
    let mut p = Parsed::new(s(&first, "user").unwrap_or_default(), body.clone());
    if items.is_empty() {
        p.fail(Problem::Malformed("Invalid JSON".into()));
    }
    for item in &items {
        check_common(&mut p, s(item, "user").as_deref(), s(item, "pwd").as_deref(), s(item, "sender").as_deref(), s(item, "msg").as_deref());
        match s(item, "number") {
            Some(n) => p.recipients.push(n),
            None => p.fail(Problem::Missing("number")),
        }
        p.client_ids.push(None);
    }
    p
}

fn check_common(p: &mut Parsed, user: Option<&str>, pwd: Option<&str>, sender: Option<&str>, msg: Option<&str>) {
    if user.is_none() || pwd.is_none() {
        p.fail(Problem::NoCredentials);
    }
    match sender {
        Some(s) if s.chars().count() > 13 => p.fail(Problem::BadSender(s.to_owned())),
        _ => {}
    }
    if msg.is_none() {
        p.fail(Problem::Missing("msg"));
    }
}

/// The documented `ShowError=C` table entry for an answer.
fn code(answer: &Answer) -> (&'static str, &'static str) {
    match answer {
        Answer::Accepted(_) | Answer::Duplicate => ("000", "Send Successful"),
        Answer::InvalidNumber(_) | Answer::Problem(Problem::BadNumber(_)) => ("001", "Invalid Receiver"),
        Answer::Problem(Problem::Missing("msg") | Problem::Malformed(_)) => ("003", "Invalid Message"),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => ("005", "Authorization failed"),
        Answer::Problem(Problem::Missing(_)) => ("008", "Empty Receiver"),
        Answer::Problem(Problem::BadSender(_)) => ("012", "Sender Id more than 13 Chars"),
        Answer::ServerError | Answer::HttpError(_) | Answer::Throttled => ("013", "Server Error"),
    }
}

pub(super) fn respond(ep: Endpoint, p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    match answer {
        // No documented throttle shape; a plain 429 is what a fronting proxy would send.
        Answer::Throttled => return text_response(429, "Too Many Requests"),
        Answer::HttpError(s) => return super::plain_http_error(*s),
        _ => {}
    }
    if ep == Endpoint::ShastraJson {
        let items: Vec<Value> = p
            .recipients
            .iter()
            .enumerate()
            .map(|(i, number)| {
                let item_answer = match answer {
                    Answer::Accepted(dests) if dests[i] == Dest::ServerError => Answer::ServerError,
                    Answer::Accepted(dests) if dests[i] != Dest::Ok => Answer::InvalidNumber(number),
                    Answer::Accepted(_) => Answer::Accepted(&[]),
                    Answer::InvalidNumber(_) => Answer::InvalidNumber(number),
                    Answer::Problem(pr) => Answer::Problem(pr),
                    Answer::AuthFailed => Answer::AuthFailed,
                    _ => Answer::ServerError,
                };
                let (c, text) = code(&item_answer);
                let msg_id = if c == "000" { rng.digits(10) } else { String::new() };
                json!({"msg_id": msg_id, "number": number, "str_response": text})
            })
            .collect();
        if items.is_empty() {
            let (_, text) = code(answer);
            return json_response(200, json!([{"msg_id": "", "number": "", "str_response": text}]));
        }
        return json_response(200, Value::Array(items));
    }
    let (c, text) = code(answer);
    let show_codes = p.body.get("ShowError").and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case("C"));
    text_response(200, if show_codes { format!("{c} - {text}") } else { text.to_owned() })
}
