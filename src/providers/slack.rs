//! Slack (provider `slack`, channel `slack`): the Web API with a bot token, or an incoming
//! webhook. Transport only, like every adapter; the credential actor owns retries and pace.
//!
//! * Bot token (`credentials.botToken`, `xoxb-…`): `POST {base}/api/chat.postMessage` with
//!   `Authorization: Bearer`, JSON `{channel, text, blocks?}`. A user id (`U…`/`W…`) is first
//!   opened as a DM with `conversations.open` (`{users}` → `channel.id`, `D…`); the DM id is
//!   kept on the credential, so a user costs one `conversations.open` (a Tier 3 method, about
//!   50 a minute) however many messages follow. Opens beyond that tier's budget are not made:
//!   the call answers throttled with the wait, before Slack has to say `ratelimited`.
//! * Incoming webhook (`credentials.webhookUrl`, sealed at rest like every credential field
//!   and never returned): `POST` the same JSON to it; the recipient is the webhook's own
//!   channel, so the message's recipient is not sent. Slack answers `200 ok` or an HTTP error
//!   whose body is the error word (`invalid_token`, `channel_not_found`, `no_service`, …).
//!
//! The message is text, or Block Kit: a body that is a JSON object (a template rendered with
//! `data`, see `domain::slack`) goes out as its `blocks` (and `text` as the notification
//! fallback). Slack answers `200 {"ok":false,"error":…}` for most errors; they are classified
//! by their word ([`classify_error`]): `ratelimited` (or HTTP 429) with `Retry-After` →
//! throttled; `invalid_auth`, `token_revoked`, … → credential error; `channel_not_found`,
//! `user_not_found`, … → invalid recipient; content errors (`msg_too_long`, `invalid_blocks`)
//! → rejected content; `internal_error` / 5xx → transient. The provider id is `channel:ts`.

use super::wire::{base_url, json, retry_after, snippet};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Slack;

/// `conversations.open` is Tier 3: 50+ calls a minute. This many opens a minute per credential.
pub const OPEN_PER_MINUTE: f64 = 50.0;
/// Most DM channel ids remembered per credential (oldest forgotten first when full).
const MAX_DMS: usize = 10_000;

/// What a Slack credential keeps between calls: the DMs opened and the open budget.
#[derive(Debug)]
pub struct SlackState {
    dms: HashMap<String, String>,
    order: std::collections::VecDeque<String>,
    open_tokens: f64,
    refilled: Instant,
}

impl Default for SlackState {
    fn default() -> Self {
        Self { dms: HashMap::new(), order: Default::default(), open_tokens: OPEN_PER_MINUTE, refilled: Instant::now() }
    }
}

impl SlackState {
    /// Takes one `conversations.open` from the Tier 3 budget, or says how long until one is due.
    fn take_open(&mut self, now: Instant) -> Result<(), Duration> {
        let per_sec = OPEN_PER_MINUTE / 60.0;
        self.open_tokens = (self.open_tokens + now.duration_since(self.refilled).as_secs_f64() * per_sec).min(OPEN_PER_MINUTE);
        self.refilled = now;
        if self.open_tokens >= 1.0 {
            self.open_tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.open_tokens) / per_sec))
        }
    }

    fn remember(&mut self, user: &str, dm: &str) {
        if self.dms.len() >= MAX_DMS {
            if let Some(old) = self.order.pop_front() {
                self.dms.remove(&old);
            }
        }
        if self.dms.insert(user.to_owned(), dm.to_owned()).is_none() {
            self.order.push_back(user.to_owned());
        }
    }
}

impl ProviderAdapter for Slack {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Slack
    }

    fn default_base_url(&self) -> &'static str {
        "https://slack.com"
    }

    fn transport(&self) -> super::Transport<'_> {
        super::Transport::Slack(self)
    }

    /// The `chat.postMessage` (or webhook) request for a message whose conversation is known.
    fn build_request(&self, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage) -> Result<reqwest::RequestBuilder, BuildError> {
        post_message(self, client, cred, msg, &msg.recipient)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        classify_post(status, headers, body)
    }
}

/// The message's Slack JSON: `text`, plus `blocks` for Block Kit.
pub fn message_json(payload: &Payload) -> Result<Value, BuildError> {
    match payload {
        Payload::Slack { text, blocks } => {
            let mut v = json!({ "text": text });
            if let Some(b) = blocks {
                v["blocks"] = b.clone();
            }
            Ok(v)
        }
        other => Err(BuildError::payload(format!("slack does not deliver the {} channel", other.channel().as_str()))),
    }
}

fn bot_token(cred: &ProviderCredential) -> Option<&str> {
    Some(cred.field("botToken")).filter(|t| !t.trim().is_empty())
}

fn webhook_url(cred: &ProviderCredential) -> Option<&str> {
    Some(cred.field("webhookUrl")).filter(|t| !t.trim().is_empty())
}

fn post_message(adapter: &Slack, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage, channel: &str) -> Result<reqwest::RequestBuilder, BuildError> {
    let mut body = message_json(&msg.payload)?;
    if let Some(url) = webhook_url(cred) {
        let url = reqwest::Url::parse(url).map_err(|e| BuildError::credential(format!("credentials.webhookUrl is not a URL: {e}")))?;
        return Ok(client.post(url).json(&body));
    }
    let token = bot_token(cred).ok_or_else(|| BuildError::credential("the slack credential has neither botToken nor webhookUrl"))?;
    body["channel"] = Value::String(channel.to_owned());
    Ok(client
        .post(format!("{}/api/chat.postMessage", base_url(adapter, cred)))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body.to_string()))
}

/// A user id (`U…`, `W…` on Enterprise Grid), which is opened as a DM before posting.
pub fn is_user_id(recipient: &str) -> bool {
    recipient.starts_with('U') || recipient.starts_with('W')
}

/// Sends one message: opens the DM first when the recipient is a user (bot tokens only),
/// then posts. Called by `providers::send`; never sleeps or retries.
pub(super) async fn deliver(adapter: &Slack, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage, timeout: Duration) -> SendOutcome {
    let mut channel = msg.recipient.clone();
    if webhook_url(cred).is_none() && is_user_id(&msg.recipient) {
        match open_dm(adapter, client, cred, &msg.recipient, timeout).await {
            Ok(dm) => channel = dm,
            Err(outcome) => return outcome,
        }
    }
    let request = match post_message(adapter, client, cred, msg, &channel) {
        Ok(r) => r.timeout(timeout),
        Err(BuildError::Credential(reason)) => return SendOutcome::PermanentConfig { reason },
        Err(BuildError::Payload(reason)) => return SendOutcome::PermanentContent { reason },
    };
    let (status, headers, body) = match call(request).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if webhook_url(cred).is_some() {
        return classify_webhook(status, &headers, &body);
    }
    classify_post(status, &headers, &body)
}

fn state(cred: &ProviderCredential) -> &Mutex<SlackState> {
    cred.slack.get_or_init(Default::default)
}

/// The DM channel of a user: remembered, or opened with `conversations.open`.
async fn open_dm(adapter: &Slack, client: &reqwest::Client, cred: &ProviderCredential, user: &str, timeout: Duration) -> Result<String, SendOutcome> {
    {
        let mut st = state(cred).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dm) = st.dms.get(user) {
            return Ok(dm.clone());
        }
        st.take_open(Instant::now()).map_err(|wait| SendOutcome::Throttled { retry_after: Some(wait) })?;
    }
    let token = bot_token(cred).ok_or_else(|| SendOutcome::PermanentConfig { reason: "the slack credential has no botToken".into() })?;
    let request = client
        .post(format!("{}/api/conversations.open", base_url(adapter, cred)))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(json!({ "users": user }).to_string())
        .timeout(timeout);
    let (status, headers, body) = call(request).await?;
    let v = json(&body);
    if let Some(dm) = v.as_ref().filter(|v| v["ok"] == true).and_then(|v| v["channel"]["id"].as_str()) {
        state(cred).lock().unwrap_or_else(|p| p.into_inner()).remember(user, dm);
        return Ok(dm.to_owned());
    }
    // An open that did not open is classified like a post (its errors are the same words);
    // a 200 without a channel is not something Slack sends.
    match classify_post(status, &headers, &body) {
        SendOutcome::Accepted { .. } => Err(SendOutcome::Ambiguous { reason: format!("conversations.open answered without a channel: {}", snippet(&body)) }),
        other => Err(match other {
            SendOutcome::PermanentContent { reason } => SendOutcome::PermanentRecipient { reason },
            o => o,
        }),
    }
}

/// One HTTP call: the answer, or its transport failure classified as `providers::send` does.
async fn call(request: reqwest::RequestBuilder) -> Result<(StatusCode, HeaderMap, Vec<u8>), SendOutcome> {
    let response = request.send().await.map_err(|e| super::transport_outcome(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(b) => Ok((status, headers, b.to_vec())),
        Err(e) => Err(SendOutcome::Ambiguous { reason: format!("HTTP {status}, reading the body failed: {}", super::error_chain(&e)) }),
    }
}

/// A Web API answer: `{"ok":true,"channel":…,"ts":…}`, or `{"ok":false,"error":…}`.
pub fn classify_post(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
    let v = json(body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return SendOutcome::Throttled { retry_after: retry_after(headers) };
    }
    if status.is_server_error() {
        return SendOutcome::Transient { reason: format!("slack HTTP {status}: {}", snippet(body)) };
    }
    match v {
        Some(v) if v["ok"] == true => {
            let channel = v["channel"].as_str().unwrap_or_default();
            match v["ts"].as_str() {
                Some(ts) => SendOutcome::Accepted { provider_message_id: format!("{channel}:{ts}") },
                None => SendOutcome::Ambiguous { reason: format!("slack answered ok without a ts: {}", snippet(body)) },
            }
        }
        Some(v) if v["ok"] == false => {
            let error = v["error"].as_str().unwrap_or("unknown_error");
            classify_error(error, retry_after(headers))
        }
        _ => SendOutcome::Ambiguous { reason: format!("slack HTTP {status}, unrecognised answer: {}", snippet(body)) },
    }
}

/// An incoming webhook's answer: `200 ok`, or an HTTP error whose body is the error word.
pub fn classify_webhook(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
    let text = String::from_utf8_lossy(body).trim().to_owned();
    if status.is_success() {
        // Webhook posts have no ts; the message id is unique per engine message anyway.
        return SendOutcome::Accepted { provider_message_id: String::new() };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return SendOutcome::Throttled { retry_after: retry_after(headers) };
    }
    if status.is_server_error() {
        return SendOutcome::Transient { reason: format!("slack webhook HTTP {status}: {text}") };
    }
    let word = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
    match classify_error(word, None) {
        // A webhook URL that no longer exists breaks the credential, whatever the word.
        _ if status == StatusCode::NOT_FOUND && word != "channel_not_found" => SendOutcome::PermanentConfig { reason: format!("slack webhook HTTP 404: {text}") },
        _ if status == StatusCode::GONE => SendOutcome::PermanentRecipient { reason: format!("slack webhook HTTP 410: {text}") },
        o => o,
    }
}

/// Slack's error words, as its API documents them, onto the engine's outcomes.
pub fn classify_error(error: &str, retry_after: Option<Duration>) -> SendOutcome {
    let reason = format!("slack {error}");
    match error {
        "ratelimited" | "rate_limited" => SendOutcome::Throttled { retry_after },
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" | "missing_scope" | "no_permission"
        | "not_allowed_token_type" | "invalid_token" | "no_service" | "action_prohibited" | "ekm_access_denied" | "team_access_not_granted"
        | "two_factor_setup_required" | "org_login_required" => SendOutcome::PermanentConfig { reason },
        "channel_not_found" | "user_not_found" | "users_not_found" | "is_archived" | "channel_is_archived" | "not_in_channel"
        | "cannot_dm_bot" | "user_disabled" | "restricted_action" | "user_not_visible" | "no_service_id" => {
            SendOutcome::PermanentRecipient { reason }
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" | "team_added_to_org" => SendOutcome::Transient { reason },
        // msg_too_long, no_text, invalid_blocks, invalid_blocks_format, too_many_attachments,
        // invalid_payload, invalid_arguments, …: what we sent; the same payload won't pass.
        _ => SendOutcome::PermanentContent { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn post(body: &str) -> SendOutcome {
        classify_post(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn documented_answers_are_classified() {
        assert_eq!(post(r#"{"ok":true,"channel":"C123","ts":"1503435956.000247"}"#), SendOutcome::Accepted { provider_message_id: "C123:1503435956.000247".into() });
        assert!(matches!(post(r#"{"ok":false,"error":"invalid_auth"}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(post(r#"{"ok":false,"error":"token_revoked"}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(post(r#"{"ok":false,"error":"channel_not_found"}"#), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(post(r#"{"ok":false,"error":"user_not_found"}"#), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(post(r#"{"ok":false,"error":"msg_too_long"}"#), SendOutcome::PermanentContent { .. }));
        assert!(matches!(post(r#"{"ok":false,"error":"internal_error"}"#), SendOutcome::Transient { .. }));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(
            classify_post(StatusCode::TOO_MANY_REQUESTS, &h, br#"{"ok":false,"error":"ratelimited"}"#),
            SendOutcome::Throttled { retry_after: Some(Duration::from_secs(2)) }
        );
        assert!(matches!(post("<html>"), SendOutcome::Ambiguous { .. }));
        assert!(matches!(classify_webhook(StatusCode::OK, &HeaderMap::new(), b"ok"), SendOutcome::Accepted { .. }));
        assert!(matches!(classify_webhook(StatusCode::FORBIDDEN, &HeaderMap::new(), b"invalid_token"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify_webhook(StatusCode::NOT_FOUND, &HeaderMap::new(), b"no_service"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify_webhook(StatusCode::NOT_FOUND, &HeaderMap::new(), b"channel_not_found"), SendOutcome::PermanentRecipient { .. }));
    }

    #[test]
    fn the_open_budget_is_tier_3() {
        let mut st = SlackState::default();
        let now = Instant::now();
        for _ in 0..50 {
            st.take_open(now).unwrap();
        }
        let wait = st.take_open(now).unwrap_err();
        assert!(wait > Duration::from_millis(1000) && wait <= Duration::from_millis(1300), "{wait:?}");
        st.remember("U1", "D1");
        assert_eq!(st.dms.get("U1").map(String::as_str), Some("D1"));
    }
}
