//! Infobip SMS v3 (`shared/providers/infobip.md`): JSON `POST /sms/3/messages`,
//! `Authorization: App <apiKey>`, `to` as international digits, our message id as the
//! destination's `messageId` (Infobip rejects a repeat as `REJECTED_DUPLICATE_MESSAGE_ID`, which
//! makes a resend after an ambiguous timeout safe). A 200 can still carry a per-destination
//! rejection, so the status of `messages[0]` decides.

use super::wire::{base_url, endpoint, http_level, id_string, intl_digits, json, required, snippet, unrecognised};
use super::batch::{not_in_answer, BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

pub struct Infobip;


/// Infobip's `validityPeriod` maximum (and default): 48 h, in minutes.
const INFOBIP_MAX_VALIDITY_MINUTES: u64 = 2_880;

impl ProviderAdapter for Infobip {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Infobip
    }

    /// Infobip gives each account its own `https://{x}.api.infobip.com`; set it as the
    /// credential's `apiUrl`. The generic host is only a fallback.
    fn default_base_url(&self) -> &'static str {
        "https://api.infobip.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let text = sms.sms_text(self.kind())?;
        let key = required(cred, "apiKey")?;
        post(self, client, cred, key, &WireRequest { messages: vec![wire_message(sms, text)] })
    }

    fn batch(&self) -> Option<&dyn BatchAdapter> {
        Some(self)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        if status.is_success() {
            if let Some(entries) = typed_entries(body) {
                return match entries.as_ref().and_then(|e| e.first()) {
                    Some(m) => m.outcome(),
                    None => unrecognised(status, body),
                };
            }
            return match json(body).as_ref().and_then(|v| v.get("messages")?.get(0).cloned()) {
                Some(m) => classify_message(&m),
                None => unrecognised(status, body),
            };
        }
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        let v = json(body);
        // Current shape `{errorCode, description, violations}`, legacy shape
        // `{requestError:{serviceException:{messageId, text, validationErrors}}}`.
        let (code, text, to_violation) = match &v {
            Some(v) if v.get("errorCode").is_some() => (
                v["errorCode"].as_str().unwrap_or("").to_owned(),
                v["description"].as_str().unwrap_or("").to_owned(),
                v["violations"].as_array().is_some_and(|a| {
                    a.iter().any(|x| x["property"].as_str().is_some_and(|p| p.ends_with(".to")))
                }),
            ),
            Some(v) if v.pointer("/requestError/serviceException").is_some() => {
                let e = &v["requestError"]["serviceException"];
                let to = e["validationErrors"].as_object().is_some_and(|m| m.keys().any(|k| k.ends_with(".to")));
                (e["messageId"].as_str().unwrap_or("").to_owned(), e["text"].as_str().unwrap_or("").to_owned(), to)
            }
            _ => (String::new(), snippet(body), false),
        };
        let reason = format!("HTTP {status} {code}: {text}");
        match code.as_str() {
            "E429" | "TOO_MANY_REQUESTS" => SendOutcome::Throttled { retry_after: super::wire::retry_after(headers) },
            "E500" | "GENERAL_ERROR" => SendOutcome::Transient { reason },
            "E401" | "E403" | "UNAUTHORIZED" | "FORBIDDEN" => SendOutcome::PermanentConfig { reason },
            _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => SendOutcome::PermanentConfig { reason },
            _ if to_violation => SendOutcome::PermanentRecipient { reason },
            _ => SendOutcome::PermanentContent { reason },
        }
    }
}

/// One `messages[i]` entry of a 200 answer: `{messageId, status:{groupName, name, …}}`.
fn classify_message(m: &Value) -> SendOutcome {
    let id = id_string(m.get("messageId")).unwrap_or_default();
    let group = m.pointer("/status/groupName").and_then(Value::as_str).unwrap_or("");
    let name = m.pointer("/status/name").and_then(Value::as_str).unwrap_or("");
    classify_status(&id, group, name)
}

/// What an entry's `messageId` and `status` say of its message.
fn classify_status(id: &str, group: &str, name: &str) -> SendOutcome {
    let reason = || format!("infobip {group}/{name}");
    match group {
        "PENDING" | "ACCEPTED" | "DELIVERED" if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id.to_owned() },
        "UNDELIVERABLE" => SendOutcome::PermanentRecipient { reason: reason() },
        "REJECTED" => match name {
            // Our messageId was already accepted: the earlier attempt went through.
            "REJECTED_DUPLICATE_MESSAGE_ID" if !id.is_empty() => SendOutcome::Accepted { provider_message_id: id.to_owned() },
            "REJECTED_DESTINATION" | "REJECTED_PREFIX_MISSING" | "MISSING_TO" | "REJECTED_DND"
            | "REJECTED_DESTINATION_BLOCKLISTED" | "REJECTED_INVALID_DESTINATION_ADDRESS" => {
                SendOutcome::PermanentRecipient { reason: reason() }
            }
            "REJECTED_NOT_ENOUGH_CREDITS" | "REJECTED_SOURCE" | "REJECTED_SENDER" | "REJECTED_ROUTE_NOT_AVAILABLE"
            | "REJECTED_NETWORK" => SendOutcome::PermanentConfig { reason: reason() },
            // Both are "try again later": the system error soon, the per-recipient flooding
            // filter much later. Not Throttled: that would slow the whole credential for one number.
            "REJECTED_SYSTEM_ERROR" | "REJECTED_FLOODING_FILTER" => SendOutcome::Transient { reason: reason() },
            _ => SendOutcome::PermanentContent { reason: reason() },
        },
        _ => SendOutcome::Ambiguous { reason: format!("unrecognised status {}", reason()) },
    }
}

/// One `messages[]` entry: its own sender, text, report URL and validity, one destination
/// whose `messageId` is the engine's id (what maps a batch answer back, and what makes a
/// resend detectable as `REJECTED_DUPLICATE_MESSAGE_ID`). Serialised straight from borrowed
/// fields, in the order Infobip documents them (no `serde_json::Value` tree per message).
#[derive(Serialize)]
struct WireMessage<'a> {
    sender: &'a str,
    destinations: [Destination<'a>; 1],
    content: Content<'a>,
    /// Delivery reports for this message go to the engine's receiver (v3's per-message
    /// `webhooks.delivery.url`; v2 called it `notifyUrl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    webhooks: Option<Webhooks<'a>>,
    /// Infobip's default validity is its maximum, 48 h: only a shorter one is passed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Options>,
}

#[derive(Serialize)]
struct Destination<'a> {
    to: Cow<'a, str>,
    /// The engine's id, as a JSON string.
    #[serde(rename = "messageId")]
    message_id: AsString,
}

/// An id written as a JSON string without an intermediate `String`.
struct AsString(i64);

impl Serialize for AsString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct Content<'a> {
    // Infobip picks GSM-7 or UCS-2 from the UTF-8 text itself (no flag in the v3 API).
    text: &'a str,
}

#[derive(Serialize)]
struct Webhooks<'a> {
    delivery: Delivery<'a>,
    #[serde(rename = "contentType")]
    content_type: &'static str,
}

#[derive(Serialize)]
struct Delivery<'a> {
    url: &'a str,
    #[serde(rename = "intermediateReport")]
    intermediate_report: bool,
}

#[derive(Serialize)]
struct Options {
    #[serde(rename = "validityPeriod")]
    validity_period: Validity,
}

#[derive(Serialize)]
struct Validity {
    amount: u64,
    #[serde(rename = "timeUnit")]
    time_unit: &'static str,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    messages: Vec<WireMessage<'a>>,
}

fn wire_message<'a>(sms: &'a OutboundMessage, text: &'a str) -> WireMessage<'a> {
    let to = match sms.recipient.strip_prefix('+').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        Some(digits) => Cow::Borrowed(digits),
        None => Cow::Owned(intl_digits(&sms.recipient)),
    };
    WireMessage {
        sender: &sms.sender,
        destinations: [Destination { to, message_id: AsString(sms.message_id) }],
        content: Content { text },
        webhooks: sms.status_callback_url.as_deref().map(|url| Webhooks {
            delivery: Delivery { url, intermediate_report: false },
            content_type: "application/json",
        }),
        options: sms
            .validity_secs
            .map(|s| s.div_ceil(60).max(1))
            .filter(|m| *m < INFOBIP_MAX_VALIDITY_MINUTES)
            .map(|amount| Options { validity_period: Validity { amount, time_unit: "MINUTES" } }),
    }
}

fn post(adapter: &Infobip, client: &reqwest::Client, cred: &ProviderCredential, key: &str, body: &WireRequest<'_>) -> Result<reqwest::RequestBuilder, BuildError> {
    Ok(client
        .post(endpoint(cred, format!("{}/sms/3/messages", base_url(adapter, cred)))?)
        .header(AUTHORIZATION, format!("App {key}"))
        .header(ACCEPT, "application/json")
        .json(body))
}

/// A 200 answer read into borrowed fields: `{messages:[{messageId, status:{groupName, name}}]}`.
/// Objects only, as the `Value` reading takes them (a derived `Deserialize` would also take an
/// array for a struct). Any other shape (a field of another type, an entry that is no object,
/// a repeated key) fails, and the answer is read again as a `serde_json::Value`, which
/// tolerates those: both readings give the same outcomes.
struct Answer<'a> {
    messages: Option<Vec<AnswerMessage<'a>>>,
}

struct AnswerMessage<'a> {
    message_id: Option<WireId<'a>>,
    status: Option<AnswerStatus<'a>>,
}

struct AnswerStatus<'a> {
    group_name: Option<Str<'a>>,
    name: Option<Str<'a>>,
}

/// A JSON string, borrowed from the answer unless it has escapes (serde's own `Cow<str>`
/// always copies).
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a JSON object field by field: `field` takes each key and its value and names the
/// field read (`Ok(None)`: not a field we read, skipped); a field seen twice is an error.
fn visit_object<'de, A: serde::de::MapAccess<'de>>(
    mut a: A,
    mut field: impl FnMut(&str, &mut A) -> Result<Option<u8>, A::Error>,
) -> Result<(), A::Error> {
    let mut seen = 0u8;
    while let Some(Str(key)) = a.next_key::<Str<'de>>()? {
        match field(&key, &mut a)? {
            Some(bit) if seen & (1 << bit) != 0 => return Err(serde::de::Error::custom("repeated key")),
            Some(bit) => seen |= 1 << bit,
            None => {
                a.next_value::<serde::de::IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

macro_rules! object_visitor {
    ($ty:ident, $what:literal, |$key:ident, $a:ident, $out:ident| $body:block) => {
        impl<'de: 'a, 'a> Deserialize<'de> for $ty<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                        let mut $out = $ty::default();
                        visit_object(a, |$key, $a| $body)?;
                        Ok($out)
                    }
                }
                d.deserialize_map(V)
            }
        }
        impl Default for $ty<'_> {
            fn default() -> Self {
                $ty::empty()
            }
        }
    };
}

impl Answer<'_> {
    fn empty() -> Self {
        Self { messages: None }
    }
}
impl AnswerMessage<'_> {
    fn empty() -> Self {
        Self { message_id: None, status: None }
    }
}
impl AnswerStatus<'_> {
    fn empty() -> Self {
        Self { group_name: None, name: None }
    }
}

object_visitor!(Answer, "an Infobip answer", |key, a, out| {
    Ok(match key {
        "messages" => {
            out.messages = a.next_value()?;
            Some(0)
        }
        _ => None,
    })
});
object_visitor!(AnswerMessage, "an Infobip message entry", |key, a, out| {
    Ok(match key {
        "messageId" => {
            out.message_id = a.next_value()?;
            Some(0)
        }
        "status" => {
            out.status = a.next_value()?;
            Some(1)
        }
        _ => None,
    })
});
object_visitor!(AnswerStatus, "an Infobip status", |key, a, out| {
    Ok(match key {
        "groupName" => {
            out.group_name = a.next_value()?;
            Some(0)
        }
        "name" => {
            out.name = a.next_value()?;
            Some(1)
        }
        _ => None,
    })
});

/// A `messageId` as [`id_string`] reads it: a non-empty string, or a number's digits.
struct WireId<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for WireId<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WireId<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(WireId((!v.is_empty()).then_some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WireId((!v.is_empty()).then(|| Cow::Owned(v.to_owned()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(WireId(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(WireId(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(WireId(serde_json::Number::from_f64(v).map(|n| Cow::Owned(n.to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(WireId(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(WireId(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(WireId(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(WireId(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl AnswerMessage<'_> {
    fn id(&self) -> Option<Cow<'_, str>> {
        self.message_id.as_ref().and_then(|i| i.0.as_deref()).map(Cow::Borrowed)
    }

    fn outcome(&self) -> SendOutcome {
        let id = self.message_id.as_ref().and_then(|i| i.0.as_deref()).unwrap_or_default();
        let status = self.status.as_ref();
        let group = status.and_then(|s| s.group_name.as_ref()).map_or("", |s| &s.0);
        let name = status.and_then(|s| s.name.as_ref()).map_or("", |s| &s.0);
        classify_status(id, group, name)
    }
}

/// A typed read of a 200 answer's `messages`; `None`: not that shape (see [`Answer`]).
fn typed_entries(body: &[u8]) -> Option<Option<Vec<AnswerMessage<'_>>>> {
    serde_json::from_slice::<Answer<'_>>(body).ok().map(|a| a.messages)
}

/// `messages[]` × `destinations[]` in one request (the max per request is unconfirmed; the
/// configured batch size, 100 by default, stays well under this cap). The answer lists one
/// entry per destination, found by the `messageId` we gave it.
impl BatchAdapter for Infobip {
    fn max_messages(&self) -> usize {
        1000
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        let key = required(cred, "apiKey")?;
        let messages = msgs.iter().map(|m| Ok(wire_message(m, m.sms_text(self.kind())?))).collect::<Result<Vec<_>, BuildError>>()?;
        post(self, client, cred, key, &WireRequest { messages })
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome {
        if !status.is_success() {
            return BatchOutcome::Request(self.classify(status, headers, body));
        }
        if let Some(entries) = typed_entries(body) {
            let Some(entries) = entries else { return BatchOutcome::Request(unrecognised(status, body)) };
            return BatchOutcome::PerMessage(per_message(&entries, msgs, AnswerMessage::id, AnswerMessage::outcome));
        }
        let Some(entries) = json(body).and_then(|v| v.get("messages")?.as_array().cloned()) else {
            return BatchOutcome::Request(unrecognised(status, body));
        };
        BatchOutcome::PerMessage(per_message(&entries, msgs, |e| id_string(e.get("messageId")).map(Cow::Owned), classify_message))
    }
}

/// Each message's entry of a batch answer, by our id (the last entry naming an id wins); by
/// position only when the answer carries no ids we gave.
fn per_message<'e, E>(
    entries: &'e [E],
    msgs: &[OutboundMessage],
    id_of: impl Fn(&'e E) -> Option<Cow<'e, str>>,
    outcome: impl Fn(&E) -> SendOutcome,
) -> Vec<SendOutcome> {
    let ids: Vec<Option<Cow<'e, str>>> = entries.iter().map(id_of).collect();
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            by_id.insert(id, i);
        }
    }
    let mut key = String::with_capacity(20);
    msgs.iter()
        .enumerate()
        .map(|(i, m)| {
            use std::fmt::Write;
            key.clear();
            let _ = write!(key, "{}", m.message_id);
            let entry = by_id.get(key.as_str()).copied().or_else(|| by_id.is_empty().then_some(i)).and_then(|i| entries.get(i));
            entry.map(&outcome).unwrap_or_else(|| not_in_answer("infobip"))
        })
        .collect()
}

#[cfg(test)]
#[path = "infobip_tests.rs"]
mod tests;
