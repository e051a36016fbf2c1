//! Helpers the adapters share: base URLs, credential fields, recipient formats, `Retry-After`,
//! and the HTTP-level classification every provider agrees on (429, 5xx).
//! Depends only on `providers` types; no I/O.

use super::{BuildError, ProviderAdapter, ProviderCredential, SendOutcome};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use std::time::Duration;

/// The credential's base URL override, else the provider's production URL; no trailing slash.
pub(super) fn base_url(adapter: &dyn ProviderAdapter, cred: &ProviderCredential) -> String {
    let base = cred.base_url.trim();
    let base = if base.is_empty() { adapter.default_base_url() } else { base };
    base.trim_end_matches('/').to_owned()
}

/// The endpoint URL, parsed. An adapter builds the same URL for every call of a credential,
/// and parsing it (with IDNA host checks) cost more per call than the rest of the request;
/// the first URL is kept parsed on the credential and reused while the text is the same.
pub(super) fn endpoint(cred: &ProviderCredential, url: String) -> Result<reqwest::Url, BuildError> {
    if let Some((text, parsed)) = cred.endpoint.get() {
        if *text == url {
            return Ok(parsed.clone());
        }
    }
    let parsed = reqwest::Url::parse(&url).map_err(|e| BuildError::credential(format!("credential {}: invalid URL `{url}`: {e}", cred.credential_id)))?;
    let _ = cred.endpoint.set((url, parsed.clone()));
    Ok(parsed)
}

/// `Authorization: Basic …` for `user:password`, marked sensitive (never logged). Kept on
/// the credential, like its endpoint: encoding it (a formatted string through a base64
/// writer) cost a fifth of building a Twilio request.
pub(super) fn basic_auth(cred: &ProviderCredential, user: &str, password: &str) -> HeaderValue {
    if let Some((u, p, value)) = cred.basic_auth.get() {
        if u == user && p == password {
            return value.clone();
        }
    }
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    let _ = cred.basic_auth.set((user.to_owned(), password.to_owned(), value.clone()));
    value
}

/// A credential field that must be present and non-empty.
pub(super) fn required<'a>(cred: &'a ProviderCredential, field: &str) -> Result<&'a str, BuildError> {
    let v = cred.field(field);
    if v.trim().is_empty() {
        Err(BuildError::credential(format!("credential {} has no {field}", cred.credential_id)))
    } else {
        Ok(v)
    }
}

/// International digits without `+` or `00` (`+966500000000` → `966500000000`), the format
/// every provider here except Twilio documents.
pub(super) fn intl_digits(recipient: &str) -> String {
    // Recipients arrive normalised to E.164 by ingress: `+` and digits, taken as they are.
    if let Some(digits) = recipient.strip_prefix('+').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return digits.to_owned();
    }
    let r = recipient.trim();
    let r = r.strip_prefix('+').or_else(|| r.strip_prefix("00")).unwrap_or(r);
    r.chars().filter(char::is_ascii_digit).collect()
}

/// E.164 with the leading `+` (Twilio).
pub(super) fn e164_plus(recipient: &str) -> String {
    if recipient.len() > 1 && recipient.starts_with('+') && recipient.bytes().skip(1).all(|b| b.is_ascii_digit()) {
        return recipient.to_owned();
    }
    format!("+{}", intl_digits(recipient))
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 allows both).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

/// What every provider's HTTP layer means regardless of body: 429 is a throttle, 5xx a
/// server-side failure. `None` means "look at the body".
pub(super) fn http_level(status: StatusCode, headers: &HeaderMap) -> Option<SendOutcome> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some(SendOutcome::Throttled { retry_after: retry_after(headers) });
    }
    if status.is_server_error() {
        return Some(SendOutcome::Transient { reason: format!("HTTP {status}") });
    }
    None
}

/// The start of a body, for reasons and logs (never a whole body: some echo the message text).
pub(super) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

pub(super) fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// One top-level field of a JSON object as a string id, without building the document:
/// success answers (Twilio's message resource) run to dozens of fields and only the id
/// matters, so the rest is skipped unparsed into values.
pub(super) fn top_level_id(body: &[u8], field: &str) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;

    struct Seek<'f>(&'f str);
    impl<'de> Visitor<'de> for Seek<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == self.0 && found.is_none() {
                    found = id_string(Some(&map.next_value::<serde_json::Value>()?));
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de> DeserializeSeed<'de> for Seek<'_> {
        type Value = Option<String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let id = Seek(field).deserialize(&mut de).ok()??;
    de.end().ok()?;
    Some(id)
}

/// A JSON value as a string id: providers send ids as strings or numbers.
pub(super) fn id_string(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The unrecognised-answer outcome: an answer we cannot read may or may not have queued the
/// message, so it is neither a success nor safe to resend blindly.
pub(super) fn unrecognised(status: StatusCode, body: &[u8]) -> SendOutcome {
    SendOutcome::Ambiguous { reason: format!("unrecognised answer (HTTP {status}): {}", snippet(body)) }
}

/// Classifies a provider's free-text error (Yamamah `StatusDescription`, mShastra texts, Qyadat
/// messages), English or Arabic, for the providers whose code lists are unconfirmed. Server
/// errors first, then account problems (their texts may also mention numbers), then numbers,
/// then content. `None`: the text says nothing we recognise.
pub(super) fn classify_text(provider: &str, text: &str) -> Option<SendOutcome> {
    let lower = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let reason = format!("{provider}: {}", text.trim());
    if has(&["server error", "internal error", "try again", "خطأ في الخادم"]) {
        Some(SendOutcome::Transient { reason })
    } else if has(&[
        "password", "username", "user name", "login", "auth", "profile", "credit", "balance", "sender", "tagname",
        "blocked", "expired", "not active", "inactive", "كلمة المرور", "اسم المستخدم", "رصيد", "مرسل", "الحساب",
    ]) {
        Some(SendOutcome::PermanentConfig { reason })
    } else if has(&["number", "receiver", "recipient", "mobile", "dnd", "country code", "destination", "رقم", "جوال", "الارقام"]) {
        Some(SendOutcome::PermanentRecipient { reason })
    } else if has(&["message", "text", "رسالة", "نص"]) {
        Some(SendOutcome::PermanentContent { reason })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn recipient_formats() {
        assert_eq!(intl_digits("+966500000001"), "966500000001");
        assert_eq!(intl_digits("00966500000001"), "966500000001");
        assert_eq!(intl_digits("966 500 000 001"), "966500000001");
        assert_eq!(e164_plus("00966500000001"), "+966500000001");
        assert_eq!(e164_plus("+966500000001"), "+966500000001");
        assert_eq!(intl_digits("+966500000001"), "966500000001");
        assert_eq!(intl_digits("+966 500"), "966500", "the slow path still strips what is not a digit");
        assert_eq!(e164_plus("+"), "+");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a past date means retry now");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn free_text_errors() {
        let k = |t: &str| classify_text("p", t).map(|o| std::mem::discriminant(&o));
        let d = std::mem::discriminant;
        let recipient = Some(d(&SendOutcome::PermanentRecipient { reason: String::new() }));
        let config = Some(d(&SendOutcome::PermanentConfig { reason: String::new() }));
        assert_eq!(k("Invalid Receiver"), recipient);
        assert_eq!(k("Invalid Mobile No"), recipient);
        assert_eq!(k("DND Number"), recipient);
        assert_eq!(k("Invalid username or password"), config);
        assert_eq!(k("No more credits"), config);
        assert_eq!(k("Sender Id more than 13 Chars"), config);
        assert_eq!(k("رصيدك غير كافي"), config);
        assert!(matches!(classify_text("p", "Server Error"), Some(SendOutcome::Transient { .. })));
        assert!(matches!(classify_text("p", "Invalid Message"), Some(SendOutcome::PermanentContent { .. })));
        assert_eq!(k("???"), None);
    }

    #[test]
    fn snippets_are_bounded() {
        let long = "x".repeat(1000);
        assert!(snippet(long.as_bytes()).chars().count() <= 161);
        assert_eq!(snippet("  رمز  ".as_bytes()), "رمز");
    }
}

#[cfg(test)]
mod top_level_id_tests {
    use super::top_level_id;

    #[test]
    fn finds_the_field_among_others_and_ignores_nested_ones() {
        let body = br#"{"account_sid":"AC1","subresource_uris":{"sid":"nested"},"sid":"SM9","num_segments":"1","price":null}"#;
        assert_eq!(top_level_id(body, "sid").as_deref(), Some("SM9"));
        assert_eq!(top_level_id(br#"{"id":12345}"#, "id").as_deref(), Some("12345"));
        assert_eq!(top_level_id(br#"{"sid":""}"#, "sid"), None, "an empty id is no id");
        assert_eq!(top_level_id(br#"{"other":1}"#, "sid"), None);
        assert_eq!(top_level_id(br#"["sid"]"#, "sid"), None, "not an object");
        assert_eq!(top_level_id(br#"{"sid":"SM1"} trailing"#, "sid"), None, "not one JSON document");
        assert_eq!(top_level_id(b"<xml/>", "sid"), None);
    }
}
