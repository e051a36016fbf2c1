//! The providers' wire formats as the simulator speaks them: for each endpoint, `parse` reads a
//! request the way the provider would (auth, fields, recipients) and `respond` renders an
//! [`Answer`] in the provider's own shapes. Shared request/response helpers live here; the
//! policy (faults, invalid numbers, duplicates, counting) lives in `sim::server`.

mod encoding;
mod fourjawaly;
mod infobip;
pub(crate) mod meta;
mod qyadat;
mod shastra;
mod twilio;
mod unifonic;
mod yamamah;

use super::state::{Reason, Rng};
use crate::domain::ProviderKind;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::body::Bytes;
use serde_json::{Map, Value};

/// Every send endpoint the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Twilio,
    InfobipV3,
    InfobipV2,
    Unifonic,
    /// Unifonic's `POST /rest/Messages/SendBulk` (one text, a comma list of numbers).
    UnifonicBulk,
    FourJawaly,
    YamamahJson,
    YamamahQuery,
    ShastraUrl,
    ShastraUrlComma,
    ShastraJson,
    Qyadat,
    /// Meta's Graph API `/{version}/{phone-number-id}/messages`.
    MetaMessages,
}

impl Endpoint {
    pub(crate) fn provider(self) -> ProviderKind {
        match self {
            Endpoint::Twilio => ProviderKind::Twilio,
            Endpoint::InfobipV3 | Endpoint::InfobipV2 => ProviderKind::Infobip,
            Endpoint::Unifonic | Endpoint::UnifonicBulk => ProviderKind::Unifonic,
            Endpoint::FourJawaly => ProviderKind::FourJawaly,
            Endpoint::YamamahJson | Endpoint::YamamahQuery => ProviderKind::Yamamah,
            Endpoint::ShastraUrl | Endpoint::ShastraUrlComma | Endpoint::ShastraJson => ProviderKind::Shastra,
            Endpoint::Qyadat => ProviderKind::Qyadat,
            Endpoint::MetaMessages => ProviderKind::MetaWhatsapp,
        }
    }
}

/// A request as it arrived.
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the provider would object to before looking at the numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// No credentials at all (missing header / fields).
    NoCredentials,
    /// A required field is missing or empty.
    Missing(&'static str),
    /// The body could not be parsed.
    Malformed(String),
    /// A recipient is not a number in the provider's format.
    BadNumber(String),
    /// The sender name breaks a provider rule.
    BadSender(String),
}

impl Problem {
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Problem::NoCredentials => Reason::Auth,
            Problem::BadNumber(_) => Reason::InvalidNumber,
            _ => Reason::BadRequest,
        }
    }
}

/// What `parse` extracted.
pub(crate) struct Parsed {
    /// The credential identity (username, apiKey, accountSid, appSid, appKey); empty if absent.
    pub identity: String,
    /// Recipients as sent, in order.
    pub recipients: Vec<String>,
    /// Per recipient, the client's own id when the provider supports one (for duplicates).
    pub client_ids: Vec<Option<String>>,
    pub problem: Option<Problem>,
    /// The parsed body (also what `/_sim/requests` shows).
    pub body: Value,
}

impl Parsed {
    fn new(identity: impl Into<String>, body: Value) -> Self {
        Parsed { identity: identity.into(), recipients: Vec::new(), client_ids: Vec::new(), problem: None, body }
    }

    /// Keeps the first problem found, as a provider reports the first failed check.
    fn fail(&mut self, p: Problem) {
        self.problem.get_or_insert(p);
    }
}

/// Per-recipient verdict of an otherwise valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    Ok,
    Invalid,
    Duplicate,
    /// The provider's per-message server error (a partial failure of a batch).
    ServerError,
}

/// Whether the endpoint's answer has a per-message status that can say "server error" for
/// one message (Infobip's per-destination status, mShastra's per-element code).
pub(crate) fn has_item_errors(ep: Endpoint) -> bool {
    matches!(ep, Endpoint::InfobipV3 | Endpoint::InfobipV2 | Endpoint::ShastraJson)
}

/// What the simulator decided to answer; `respond` renders it in the provider's format.
pub(crate) enum Answer<'a> {
    /// At least one recipient is OK (others may be invalid or duplicates).
    Accepted(&'a [Dest]),
    /// Every recipient is invalid (the invalid-number rule).
    InvalidNumber(&'a str),
    /// The single message is a repeat of a client id already accepted.
    Duplicate,
    Problem(&'a Problem),
    /// A scripted authentication failure.
    AuthFailed,
    Throttled,
    /// An HTTP-level server failure with this status.
    HttpError(u16),
    /// The provider's body-level server error.
    ServerError,
}

impl Answer<'_> {
    pub(crate) fn reason(&self) -> Option<Reason> {
        Some(match self {
            Answer::Accepted(_) => return None,
            Answer::InvalidNumber(_) => Reason::InvalidNumber,
            Answer::Duplicate => Reason::Duplicate,
            Answer::Problem(p) => p.reason(),
            Answer::AuthFailed => Reason::Auth,
            Answer::Throttled => Reason::Throttled,
            Answer::HttpError(_) | Answer::ServerError => Reason::ServerError,
        })
    }
}

pub(crate) fn parse(ep: Endpoint, req: &Incoming) -> Parsed {
    let mut p = parse_fields(ep, req);
    encoding::check_flag(ep, &mut p);
    p
}

/// SMS segments an accepted request is billed for (0 for WhatsApp).
pub(crate) fn billed_segments(ep: Endpoint, p: &Parsed) -> u64 {
    encoding::billed_segments(&encoding::texts(ep, &p.body), p.recipients.len())
}

fn parse_fields(ep: Endpoint, req: &Incoming) -> Parsed {
    match ep {
        Endpoint::Twilio => twilio::parse(req),
        Endpoint::InfobipV3 | Endpoint::InfobipV2 => infobip::parse(ep, req),
        Endpoint::Unifonic => unifonic::parse(req, false),
        Endpoint::UnifonicBulk => unifonic::parse(req, true),
        Endpoint::FourJawaly => fourjawaly::parse(req),
        Endpoint::YamamahJson | Endpoint::YamamahQuery => yamamah::parse(ep, req),
        Endpoint::ShastraUrl | Endpoint::ShastraUrlComma | Endpoint::ShastraJson => shastra::parse(ep, req),
        Endpoint::Qyadat => qyadat::parse(req),
        Endpoint::MetaMessages => meta::parse(req),
    }
}

pub(crate) fn respond(ep: Endpoint, p: &Parsed, answer: &Answer, rng: &Rng) -> Response {
    match ep {
        Endpoint::Twilio => twilio::respond(p, answer, rng),
        Endpoint::InfobipV3 | Endpoint::InfobipV2 => infobip::respond(ep, p, answer, rng),
        Endpoint::Unifonic => unifonic::respond(p, answer, rng),
        Endpoint::UnifonicBulk => unifonic::respond_bulk(p, answer, rng),
        Endpoint::FourJawaly => fourjawaly::respond(p, answer, rng),
        Endpoint::YamamahJson | Endpoint::YamamahQuery => yamamah::respond(answer, rng),
        Endpoint::ShastraUrl | Endpoint::ShastraUrlComma | Endpoint::ShastraJson => shastra::respond(ep, p, answer, rng),
        Endpoint::Qyadat => qyadat::respond(&return_format(p), answer),
        Endpoint::MetaMessages => meta::respond(p, answer, rng),
    }
}

/// Qyadat's `return` parameter picks the answer format.
fn return_format(p: &Parsed) -> String {
    p.body.get("return").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase()
}

// ---- request helpers --------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` (also query strings) into ordered pairs.
pub(crate) fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        urlencoding::decode(&s).map(|c| c.into_owned()).unwrap_or(s)
    };
    String::from_utf8_lossy(raw)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// Pairs as a JSON object; a repeated name becomes an array.
pub(crate) fn pairs_json(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        match map.get_mut(k) {
            None => {
                map.insert(k.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(a)) => a.push(Value::String(v.clone())),
            Some(prev) => *prev = Value::Array(vec![prev.take(), Value::String(v.clone())]),
        }
    }
    Value::Object(map)
}

/// The query parameters followed by the form body (when it is one), so a later lookup of the
/// form wins; several providers accept parameters in either place.
fn query_and_form(req: &Incoming) -> Vec<(String, String)> {
    let mut pairs = req.query.clone();
    let is_form = req
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        pairs.extend(form_pairs(&req.body));
    }
    pairs
}

/// The last value of a parameter, matching the name exactly or ignoring case.
fn param<'a>(pairs: &'a [(String, String)], name: &str, ignore_case: bool) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| if ignore_case { k.eq_ignore_ascii_case(name) } else { k == name })
        .map(|(_, v)| v.as_str())
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// HTTP Basic credentials.
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let (user, pass) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// International digits, the format every provider here but Twilio takes: 6–15 digits, a
/// leading `00` tolerated (Yamamah/Qyadat clients send it).
fn digits_ok(s: &str) -> bool {
    let s = s.strip_prefix("00").unwrap_or(s);
    (6..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Comma-separated recipient lists (Yamamah, Qyadat, mShastra comma API).
fn split_numbers(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
}

/// SMS segments of a text, by the engine's own GSM 03.38 / UCS-2 rules (`domain::sms`).
fn segments(text: &str) -> u64 {
    crate::domain::sms::analyse(text).segments as u64
}

// ---- response helpers -------------------------------------------------------------------------

fn json_response(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response()
}

fn text_response(status: u16, body: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

/// What a load balancer in front of a provider answers on a 5xx: a short text.
fn plain_http_error(status: u16) -> Response {
    let text = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Server Error");
    text_response(status, text)
}

fn now_rfc2822() -> String {
    chrono::Utc::now().to_rfc2822()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent() {
        let pairs = form_pairs(b"To=%2B966500000001&Body=Hello+there&Body=%D8%B1&Empty");
        assert_eq!(pairs[0], ("To".into(), "+966500000001".into()));
        assert_eq!(pairs[1], ("Body".into(), "Hello there".into()));
        assert_eq!(pairs_json(&pairs)["Body"], serde_json::json!(["Hello there", "ر"]));
        assert_eq!(pairs[3], ("Empty".into(), String::new()));
    }

    #[test]
    fn segments_follow_gsm_and_ucs2_sizes() {
        assert_eq!(segments("hi"), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"ر".repeat(70)), 1);
        assert_eq!(segments(&"ر".repeat(71)), 2);
        // The extension table costs two septets; a grave accent forces UCS-2.
        assert_eq!(segments(&"€".repeat(81)), 2);
        assert_eq!(segments(&"`".repeat(71)), 2);
    }

    #[test]
    fn number_formats() {
        assert!(digits_ok("966500000001"));
        assert!(digits_ok("00966500000001"));
        assert!(!digits_ok("+966500000001"));
        assert!(!digits_ok("12ab"));
    }
}
