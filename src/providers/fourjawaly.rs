//! 4jawaly v1 (`shared/providers/4jawaly.md`): JSON `POST /api/v1/account/area/sms/send`,
//! HTTP Basic `appKey:appSecret`, body `{"messages":[{"text","numbers":[…],"sender"}]}` with
//! international digits. Success is a `job_id` (UUID, one per request); a rejected message is
//! `200` with `messages[0].err_text` (Arabic free text, so it is classified by keywords).

use super::wire::{base_url, endpoint, http_level, intl_digits, json, required, snippet, unrecognised};
use super::batch::{not_in_answer, BatchAdapter, BatchOutcome};
use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT, USER_AGENT};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct FourJawaly;

impl ProviderAdapter for FourJawaly {
    fn kind(&self) -> ProviderKind {
        ProviderKind::FourJawaly
    }

    fn default_base_url(&self) -> &'static str {
        "https://api-sms.4jawaly.com"
    }

    fn build_request(
        &self,
        client: &reqwest::Client,
        cred: &ProviderCredential,
        sms: &OutboundMessage,
    ) -> Result<reqwest::RequestBuilder, BuildError> {
        let text = sms.sms_text(self.kind())?;
        // 4jawaly detects the encoding from the UTF-8 text (its answer reports `encoding` and `messages`): no flag.
        let key = required(cred, "appKey")?;
        let secret = required(cred, "appSecret")?;
        let body = json!({
            "messages": [{ "text": text, "numbers": [intl_digits(&sms.recipient)], "sender": sms.sender }]
        });
        post(self, client, cred, key, secret, &body)
    }

    fn batch(&self) -> Option<&dyn BatchAdapter> {
        Some(self)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        if let Some(o) = http_level(status, headers) {
            return o;
        }
        let v = json(body);
        let message = v.as_ref().and_then(|v| v.get("message")?.as_str().map(str::to_owned)).unwrap_or_else(|| snippet(body));
        match status.as_u16() {
            200 | 201 => {}
            401 => return SendOutcome::PermanentConfig { reason: format!("4jawaly 401: {message}") },
            // A firewall block: needs a human (UA / IP allow-list), so stop the credential and alert.
            403 => return SendOutcome::PermanentConfig { reason: format!("4jawaly 403 (firewall block?): {message}") },
            422 => return SendOutcome::PermanentContent { reason: format!("4jawaly 422: {message}") },
            s => return SendOutcome::PermanentConfig { reason: format!("4jawaly HTTP {s}: {message}") },
        }
        let Some(v) = v else { return unrecognised(status, body) };
        let first = v.pointer("/messages/0").cloned().unwrap_or(Value::Null);
        if let Some(err) = first.get("err_text").and_then(Value::as_str) {
            return classify_err_text(err);
        }
        let Some(job_id) = v.get("job_id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            return unrecognised(status, body);
        };
        // A job with no inserted number: the number was refused (listed in `no_package` /
        // `has_more_iso_code`, whose exact meaning is unconfirmed).
        if first.get("inserted_numbers").and_then(Value::as_u64) == Some(0) {
            return SendOutcome::PermanentRecipient { reason: format!("4jawaly accepted no number: {}", snippet(body)) };
        }
        SendOutcome::Accepted { provider_message_id: job_id.to_owned() }
    }
}

fn post(adapter: &FourJawaly, client: &reqwest::Client, cred: &ProviderCredential, key: &str, secret: &str, body: &Value) -> Result<reqwest::RequestBuilder, BuildError> {
    // The docs give `…/api/v1` as the base URL; accept an override written that way too.
    let base = base_url(adapter, cred);
    let base = base.strip_suffix("/api/v1").unwrap_or(&base);
    Ok(client
        .post(endpoint(cred, format!("{base}/api/v1/account/area/sms/send"))?)
        .header(reqwest::header::AUTHORIZATION, super::wire::basic_auth(cred, key, secret))
        .header(ACCEPT, "application/json")
        // The samples blame 403s on a firewall that dislikes requests without a User-Agent.
        .header(USER_AGENT, concat!("jood/", env!("CARGO_PKG_VERSION")))
        .json(body))
}

/// The messages grouped as 4jawaly's `messages[]` wants them: one entry per (text, sender),
/// in first-seen order, with the indexes of its messages (their numbers, in order).
fn groups<'a>(kind: ProviderKind, msgs: &'a [OutboundMessage]) -> Result<Vec<(&'a str, &'a str, Vec<usize>)>, BuildError> {
    let mut out: Vec<(&str, &str, Vec<usize>)> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let text = m.sms_text(kind)?;
        match out.iter_mut().find(|(t, s, _)| *t == text && *s == m.sender) {
            Some(g) => g.2.push(i),
            None => out.push((text, &m.sender, vec![i])),
        }
    }
    Ok(out)
}

/// `messages[].numbers[]`: campaign messages sharing a text travel as one entry with many
/// numbers. No hard limit is documented; the official SDKs send at most 100 numbers a request.
/// The answer has one `job_id` for the request (every message's provider id) and, per entry,
/// `inserted_numbers` and the numbers refused (`no_package`, `has_more_iso_code`), or an
/// `err_text` for the whole entry.
impl BatchAdapter for FourJawaly {
    fn max_messages(&self) -> usize {
        100
    }

    fn build_batch(&self, client: &reqwest::Client, cred: &ProviderCredential, msgs: &[OutboundMessage]) -> Result<reqwest::RequestBuilder, BuildError> {
        let groups = groups(self.kind(), msgs)?;
        let key = required(cred, "appKey")?;
        let secret = required(cred, "appSecret")?;
        let entries: Vec<Value> = groups
            .iter()
            .map(|(text, sender, ix)| json!({ "text": text, "numbers": ix.iter().map(|i| intl_digits(&msgs[*i].recipient)).collect::<Vec<_>>(), "sender": sender }))
            .collect();
        post(self, client, cred, key, secret, &json!({ "messages": entries }))
    }

    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome {
        let v = match json(body) {
            Some(v) if matches!(status.as_u16(), 200 | 201) => v,
            _ => return BatchOutcome::Request(self.classify(status, headers, body)),
        };
        let Ok(groups) = groups(self.kind(), msgs) else { return BatchOutcome::Request(unrecognised(status, body)) };
        // No job: nothing was sent, and an `err_text` about a number does not say reliably
        // which one, so the request's outcome stands for all (the actor resends them singly).
        let Some(job_id) = v.get("job_id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            return BatchOutcome::Request(self.classify(status, headers, body));
        };
        let entries = v.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut outcomes = vec![None; msgs.len()];
        for (g, (_, _, ix)) in groups.iter().enumerate() {
            let entry = entries.get(g);
            let refused: Vec<String> = entry
                .into_iter()
                .flat_map(|e| ["no_package", "has_more_iso_code"].map(|k| e.get(k).and_then(Value::as_array).cloned().unwrap_or_default()))
                .flatten()
                .filter_map(|n| super::wire::id_string(Some(&n)))
                .collect();
            for i in ix {
                let number = intl_digits(&msgs[*i].recipient);
                outcomes[*i] = Some(match entry {
                    None => not_in_answer("4jawaly"),
                    Some(e) if e.get("err_text").is_some() => classify_err_text(e["err_text"].as_str().unwrap_or("")),
                    Some(e) => {
                        if refused.iter().any(|r| intl_digits(r) == number) || e.get("inserted_numbers").and_then(Value::as_u64) == Some(0) {
                            SendOutcome::PermanentRecipient { reason: format!("4jawaly refused the number {number}") }
                        } else {
                            SendOutcome::Accepted { provider_message_id: job_id.to_owned() }
                        }
                    }
                });
            }
        }
        BatchOutcome::PerMessage(outcomes.into_iter().map(|o| o.unwrap_or_else(|| not_in_answer("4jawaly"))).collect())
    }
}

/// `err_text` is free text, mostly Arabic. Account problems (balance, package, sender name) are
/// checked before number problems because their texts can also mention the number.
fn classify_err_text(err: &str) -> SendOutcome {
    let lower = err.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let reason = format!("4jawaly: {err}");
    if has(&["رصيد", "باقة", "balance", "credit", "package", "مرسل", "sender", "مفعل", "active", "blocked", "محظور"]) {
        SendOutcome::PermanentConfig { reason }
    } else if has(&["رقم", "جوال", "number", "mobile", "recipient"]) {
        SendOutcome::PermanentRecipient { reason }
    } else {
        SendOutcome::PermanentContent { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> SendOutcome {
        FourJawaly.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn job_id_is_the_provider_id() {
        let ok = r#"{"job_id":"4b29af40-d10b-11ef-84d6-0242592ee337","messages":[{"inserted_numbers":1,
            "message":{"account_id":16448,"job_id":"4b29af40-d10b-11ef-84d6-0242592ee337","id":59041643},
            "no_package":[],"has_more_iso_code":[]}],"code":200,"message":"تمت العملية بنجاح"}"#;
        assert_eq!(classify(200, ok), SendOutcome::Accepted { provider_message_id: "4b29af40-d10b-11ef-84d6-0242592ee337".into() });
        let none = r#"{"job_id":"4b29af40-d10b-11ef-84d6-0242592ee337","messages":[{"inserted_numbers":0,"no_package":[],"has_more_iso_code":["966500000000"]}],"code":200}"#;
        assert!(matches!(classify(200, none), SendOutcome::PermanentRecipient { .. }));
    }

    #[test]
    fn err_text_is_classified_by_meaning() {
        let e = |t: &str| classify(200, &format!(r#"{{"code":400,"message":"m","messages":[{{"err_text":"{t}"}}]}}"#));
        assert!(matches!(e("لا يوجد رصيد كافي"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("اسم المرسل غير معتمد"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(e("رقم الجوال غير صحيح 966500000000"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e("Invalid number"), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(e("نص غير مقبول"), SendOutcome::PermanentContent { .. }));
    }

    #[test]
    fn http_errors() {
        assert!(matches!(classify(401, r#"{"code":401,"message":"Unauthenticated."}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(400, r#"{"code":400,"message":"bad"}"#), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(403, "<html>blocked</html>"), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(classify(422, r#"{"code":0,"message":"text required"}"#), SendOutcome::PermanentContent { .. }));
        assert_eq!(classify(429, r#"{"code":429}"#), SendOutcome::Throttled { retry_after: None });
        assert!(matches!(classify(502, "Bad Gateway"), SendOutcome::Transient { .. }));
        assert!(matches!(classify(200, "not json"), SendOutcome::Ambiguous { .. }));
    }
}
