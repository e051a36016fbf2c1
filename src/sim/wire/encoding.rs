//! What the simulated SMS providers check and count about encodings: the texts of a parsed
//! request (per endpoint's field names), the SMS segments they are billed as (the engine's own
//! `domain::sms` rules: GSM-7 160/153, UCS-2 70/67, pairs never split), and the encoding flag
//! the two providers that need one must carry for a text outside GSM-7: mShastra's
//! `language=Unicode`, Qyadat's `unicode=u`. A text sent without its flag is refused as the
//! provider would garble it (mShastra 003 Invalid Message; Qyadat's message error).

use super::{Endpoint, Parsed, Problem};
use crate::domain::sms;
use serde_json::Value;

/// The message texts of a request, in order.
pub(crate) fn texts(ep: Endpoint, body: &Value) -> Vec<String> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    match ep {
        Endpoint::Twilio | Endpoint::Unifonic | Endpoint::UnifonicBulk => s(body, "Body").into_iter().collect(),
        Endpoint::InfobipV3 => list(body.get("messages")).iter().filter_map(|m| m.get("content").and_then(|c| s(c, "text"))).collect(),
        Endpoint::InfobipV2 => list(body.get("messages")).iter().filter_map(|m| s(m, "text")).collect(),
        Endpoint::FourJawaly => list(body.get("messages")).iter().filter_map(|m| s(m, "text")).collect(),
        Endpoint::YamamahJson | Endpoint::YamamahQuery => {
            body.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("message"))).and_then(|(_, v)| v.as_str().map(str::to_owned)).into_iter().collect()
        }
        Endpoint::ShastraUrl | Endpoint::ShastraUrlComma => s(body, "msgtext").into_iter().collect(),
        Endpoint::ShastraJson => list(Some(body)).iter().filter_map(|m| s(m, "msg")).collect(),
        Endpoint::Qyadat => s(body, "message").into_iter().collect(),
        Endpoint::MetaMessages => Vec::new(),
    }
}

/// Segments a request is billed for: one text to every recipient, or (several texts, as in
/// mShastra's JSON array) each text once per element.
pub(crate) fn billed_segments(texts: &[String], recipients: usize) -> u64 {
    match texts {
        [one] => sms::analyse(one).segments as u64 * recipients as u64,
        many => many.iter().map(|t| sms::analyse(t).segments as u64).sum(),
    }
}

/// Refuses a text outside GSM-7 sent without the provider's Unicode flag.
pub(crate) fn check_flag(ep: Endpoint, p: &mut Parsed) {
    let missing = |text: Option<&str>, flag: Option<&str>, wanted: &[&str]| {
        text.is_some_and(|t| !sms::is_gsm7(t)) && !flag.is_some_and(|f| wanted.iter().any(|w| f.eq_ignore_ascii_case(w)))
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let bad = match ep {
        Endpoint::ShastraUrl | Endpoint::ShastraUrlComma => missing(s(&p.body, "msgtext").as_deref(), s(&p.body, "language").as_deref(), &["Unicode"]),
        Endpoint::ShastraJson => p
            .body
            .as_array()
            .is_some_and(|items| items.iter().any(|m| missing(s(m, "msg").as_deref(), s(m, "language").as_deref(), &["Unicode"]))),
        Endpoint::Qyadat => missing(s(&p.body, "message").as_deref(), s(&p.body, "unicode").as_deref(), &["u", "utf8"]),
        _ => false,
    };
    if bad {
        p.fail(Problem::Malformed("a text outside GSM-7 needs the provider's Unicode flag".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_are_required_for_ucs2_only() {
        let parsed = |body: Value| {
            let mut p = Parsed::new("u", body);
            p.recipients = vec!["966500000001".into()];
            p
        };
        let mut p = parsed(json!([{"msg": "مرحبا", "language": "English"}]));
        check_flag(Endpoint::ShastraJson, &mut p);
        assert!(p.problem.is_some());
        let mut p = parsed(json!([{"msg": "مرحبا", "language": "Unicode"}]));
        check_flag(Endpoint::ShastraJson, &mut p);
        assert!(p.problem.is_none());
        let mut p = parsed(json!({"message": "Ça va é", "unicode": "e"}));
        check_flag(Endpoint::Qyadat, &mut p);
        assert!(p.problem.is_none(), "GSM-7 text needs no flag");
        let mut p = parsed(json!({"message": "😀", "unicode": "e"}));
        check_flag(Endpoint::Qyadat, &mut p);
        assert!(p.problem.is_some());
        assert_eq!(billed_segments(&["ر".repeat(71)], 3), 6);
        assert_eq!(texts(Endpoint::InfobipV3, &json!({"messages":[{"content":{"text":"a"}}]})), vec!["a".to_string()]);
    }
}
