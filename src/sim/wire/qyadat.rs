//! Qyadat as simulated (provisional: the answer format is unconfirmed, modelled on the legacy
//! 4jawaly.net platform it white-labels): `GET|POST /sms/api/sendsms.php` with `username`,
//! `password`, `numbers` (comma list), `sender`, `message`, `unicode`, `return`. `return=json`
//! answers `{"Code":N,"MessageIs":"…"}`, anything else a bare code; code 100 is success and the
//! other codes are the simulator's own choice (adapters rely on the text).

use super::{non_empty, pairs_json, param, query_and_form, split_numbers, text_response, Answer, Incoming, Parsed, Problem};
use axum::response::Response;
use serde_json::json;

pub(super) fn parse(req: &Incoming) -> Parsed {
    let pairs = query_and_form(req);
    let get = |name: &str| non_empty(param(&pairs, name, false));
    let mut p = Parsed::new(get("username").unwrap_or(""), pairs_json(&pairs));
    if get("username").is_none() || get("password").is_none() {
        p.fail(Problem::NoCredentials);
    }
    match get("numbers") {
        None => p.fail(Problem::Missing("numbers")),
        Some(list) => {
            p.recipients = split_numbers(list);
            p.client_ids = vec![None; p.recipients.len()];
        }
    }
    if get("sender").is_none() {
        p.fail(Problem::BadSender(String::new()));
    }
    if get("message").is_none() {
        p.fail(Problem::Missing("message"));
    }
    p
}

pub(super) fn respond(format: &str, answer: &Answer) -> Response {
    let (code, text) = match answer {
        Answer::Accepted(_) | Answer::Duplicate => (100, "تم استلام الارقام بنجاح".to_owned()),
        Answer::Problem(Problem::NoCredentials) | Answer::AuthFailed => (103, "اسم المستخدم أو كلمة المرور غير صحيحة".to_owned()),
        Answer::InvalidNumber(n) => (108, format!("الرقم غير صحيح: {n}")),
        Answer::Problem(Problem::BadNumber(_) | Problem::Missing("numbers")) => (108, "لم يتم تحديد الارقام".to_owned()),
        Answer::Problem(Problem::BadSender(_)) => (106, "اسم المرسل غير معتمد".to_owned()),
        Answer::Problem(Problem::Missing(_) | Problem::Malformed(_)) => (109, "نص الرسالة فارغ".to_owned()),
        Answer::ServerError => (110, "خطأ في الخادم، حاول مرة أخرى".to_owned()),
        Answer::Throttled => return text_response(429, "Too Many Requests"),
        Answer::HttpError(s) => return super::plain_http_error(*s),
    };
    if format == "json" {
        super::json_response(200, json!({"Code": code, "MessageIs": text}))
    } else {
        text_response(200, code.to_string())
    }
}
