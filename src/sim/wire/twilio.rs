//! Twilio as simulated: `POST /2010-04-01/Accounts/{Sid}/Messages.json`, form body, HTTP Basic
//! (`AccountSid:AuthToken`, or an `SK…` API key with the AccountSid in the path). Success is
//! `201` + the Message resource with `sid` = `SM` + 32 hex; errors are `{code, message,
//! more_info, status}` (21604 no To, 21603 no From, 21602 no Body, 21211 invalid To,
//! 20003 auth, 20429 throttle).

use super::{basic_auth, form_pairs, json_response, non_empty, now_rfc2822, pairs_json, param, segments, Answer, Incoming, Parsed, Problem};
use crate::sim::state::Rng;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn parse(req: &Incoming) -> Parsed {
    // /2010-04-01/Accounts/{Sid}/Messages.json
    let path_sid = req.path.split('/').nth(3).unwrap_or("").to_owned();
    let pairs = form_pairs(&req.body);
    let mut p = Parsed::new(path_sid.clone(), pairs_json(&pairs));
    match basic_auth(&req.headers) {
        Some((user, pass)) if !pass.is_empty() && (user == path_sid || user.starts_with("SK")) => {}
        _ => p.fail(Problem::NoCredentials),
    }
    let to = non_empty(param(&pairs, "To", false));
    match to {
        None => p.fail(Problem::Missing("To")),
        Some(to) => {
            let number = to.strip_prefix("whatsapp:").unwrap_or(to);
            let ok = number.strip_prefix('+').is_some_and(|d| (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                p.fail(Problem::BadNumber(to.to_owned()));
            }
            p.recipients.push(number.trim_start_matches('+').to_owned());
            p.client_ids.push(None);
        }
    }
    if non_empty(param(&pairs, "From", false)).is_none() && non_empty(param(&pairs, "MessagingServiceSid", false)).is_none() {
        p.fail(Problem::Missing("From"));
    }
    let has_content = ["Body", "MediaUrl", "ContentSid"].iter().any(|f| non_empty(param(&pairs, f, false)).is_some());
    if !has_content {
        p.fail(Problem::Missing("Body"));
    }
    p
}

fn error(status: u16, code: u32, message: &str) -> Response {
    json_response(
        status,
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

pub(super) fn respond(p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    let field = |name: &str| p.body.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    match answer {
        Answer::Accepted(_) | Answer::Duplicate => {
            let sid = format!("SM{}", rng.hex(32));
            let account = &p.identity;
            let now = now_rfc2822();
            let body = field("Body");
            let service = p.body.get("MessagingServiceSid").cloned().unwrap_or(Value::Null);
            let uri = format!("/2010-04-01/Accounts/{account}/Messages/{sid}");
            json_response(
                201,
                json!({
                    "sid": sid, "account_sid": account, "messaging_service_sid": service,
                    "from": p.body.get("From").cloned().unwrap_or(Value::Null), "to": field("To"), "body": body,
                    "status": if service.is_null() { "queued" } else { "accepted" },
                    "num_segments": segments(&body).to_string(), "num_media": "0",
                    "direction": "outbound-api", "api_version": "2010-04-01",
                    "price": null, "price_unit": "USD", "error_code": null, "error_message": null,
                    "date_created": now, "date_updated": now, "date_sent": null,
                    "uri": format!("{uri}.json"),
                    "subresource_uris": {"media": format!("{uri}/Media.json")},
                }),
            )
        }
        Answer::InvalidNumber(n) => error(400, 21211, &format!("The 'To' number +{n} is not a valid phone number.")),
        Answer::Problem(Problem::BadNumber(n)) => error(400, 21211, &format!("The 'To' number {n} is not a valid phone number.")),
        Answer::Problem(Problem::Missing("To")) => error(400, 21604, "A 'To' phone number is required."),
        Answer::Problem(Problem::Missing("From")) => error(400, 21603, "A 'From' phone number is required."),
        Answer::Problem(Problem::Missing(_)) => error(400, 21602, "Message body is required."),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => error(401, 20003, "Authenticate"),
        Answer::Problem(Problem::Malformed(m) | Problem::BadSender(m)) => error(400, 21606, m),
        Answer::Throttled => error(429, 20429, "Too Many Requests"),
        Answer::HttpError(s) => error(*s, 20500, "An internal server error has occurred"),
        Answer::ServerError => error(500, 20500, "An internal server error has occurred"),
    }
}
