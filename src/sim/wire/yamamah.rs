//! Yamamah as simulated (provisional: the real answer format is mostly unconfirmed):
//! `POST /SendSMS` with a JSON body and `GET|POST /SendSMSV2` with query parameters, both with
//! `Username`, `Password`, `Tagname`, `RecepientNumber` (comma list), `Message` (names matched
//! ignoring case). Always HTTP 200 with `{"StatusCode", "StatusDescription"}`; success is
//! `StatusCode` 1 plus a numeric `MessageID`. The failure codes below are the simulator's own
//! choice; adapters must rely on the description text, as they do.

use super::{json_response, non_empty, pairs_json, param, query_and_form, split_numbers, Answer, Endpoint, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn parse(ep: Endpoint, req: &Incoming) -> Parsed {
    let pairs: Vec<(String, String)> = if ep == Endpoint::YamamahJson {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(o)) => o
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            _ => {
                let mut p = Parsed::new("", Value::Null);
                p.fail(Problem::Malformed("Invalid JSON".into()));
                return p;
            }
        }
    } else {
        query_and_form(req)
    };
    let body = if ep == Endpoint::YamamahJson { serde_json::from_slice(&req.body).unwrap_or(Value::Null) } else { pairs_json(&pairs) };
    let get = |name: &str| non_empty(param(&pairs, name, true));
    let mut p = Parsed::new(get("Username").unwrap_or(""), body);
    if get("Username").is_none() || get("Password").is_none() {
        p.fail(Problem::NoCredentials);
    }
    if get("Tagname").is_none() {
        p.fail(Problem::BadSender(String::new()));
    }
    match get("RecepientNumber") {
        None => p.fail(Problem::Missing("RecepientNumber")),
        Some(list) => {
            p.recipients = split_numbers(list);
            p.client_ids = vec![None; p.recipients.len()];
        }
    }
    if get("Message").is_none() {
        p.fail(Problem::Missing("Message"));
    }
    p
}

fn status(code: i64, description: &str) -> Response {
    json_response(200, json!({"StatusCode": code, "StatusDescription": description}))
}

pub(super) fn respond(answer: &Answer, rng: &Rng) -> Response {
    match answer {
        Answer::Accepted(_) | Answer::Duplicate => {
            json_response(200, json!({"StatusCode": 1, "StatusDescription": "Success", "MessageID": rng.digits(10)}))
        }
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => status(2, "Invalid username or password"),
        Answer::InvalidNumber(_) | Answer::Problem(Problem::BadNumber(_) | Problem::Missing("RecepientNumber")) => {
            status(3, "Invalid recipient number")
        }
        Answer::Problem(Problem::BadSender(_)) => status(4, "Invalid sender name (Tagname)"),
        Answer::Problem(Problem::Missing(_)) => status(5, "Empty message text"),
        Answer::Problem(Problem::Malformed(m)) => status(6, m),
        Answer::ServerError => status(7, "Server error, please try again"),
        Answer::Throttled => json_response(429, json!({"StatusCode": 0, "StatusDescription": "Too many requests"})),
        Answer::HttpError(s) => super::plain_http_error(*s),
    }
}
