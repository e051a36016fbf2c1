//! Twilio `StatusCallback`: a form POST per status change, signed with `X-Twilio-Signature`
//! (see `auth::twilio`) under the credential's `authToken`. Fields: `MessageSid` (legacy
//! `SmsSid`), `MessageStatus` (legacy `SmsStatus`), `ErrorCode` on failures (no error text:
//! Twilio sends none; the text here comes from the error catalogue in the provider notes).

use super::{Callback, InboundError, Receipt, Receivers, MAX_REPORTS};
use crate::domain::ProviderKind;
use crate::status::{ReportStatus, StatusEvent, StatusService};

/// Form pairs of a urlencoded body (`+` is a space), at most `MAX_REPORTS * 4` of them.
pub(super) fn form_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, InboundError> {
    let text = std::str::from_utf8(raw).map_err(|_| InboundError::Malformed("form body is not UTF-8".into()))?;
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        urlencoding::decode(&s).map(|c| c.into_owned()).map_err(|_| InboundError::Malformed("bad percent-encoding".into()))
    };
    let mut out = Vec::new();
    for kv in text.split('&').filter(|kv| !kv.is_empty()) {
        if out.len() >= MAX_REPORTS * 4 {
            return Err(InboundError::Malformed("too many form fields".into()));
        }
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

/// Twilio's status word, normalised.
pub(super) fn map_status(s: &str) -> ReportStatus {
    match s {
        "sent" => ReportStatus::Sent,
        "delivered" => ReportStatus::Delivered,
        "undelivered" => ReportStatus::Undelivered,
        "failed" => ReportStatus::Failed,
        "read" => ReportStatus::Read,
        // queued, accepted, scheduled, sending, canceled, partially_delivered, …
        _ => ReportStatus::Pending,
    }
}

/// The meaning of the asynchronous error codes listed in the provider notes.
fn error_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow",
        "30002" => "Account suspended",
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Carrier filtering",
        "30008" => "Unknown error",
        _ => return None,
    })
}

/// The normalised event of a callback's fields.
pub(super) fn event(pairs: &[(String, String)], credential_id: i64) -> Result<StatusEvent, InboundError> {
    let field = |names: &[&str]| names.iter().find_map(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim().to_owned()));
    let sid = field(&["MessageSid", "SmsSid"]).filter(|s| !s.is_empty()).ok_or_else(|| InboundError::Malformed("MessageSid missing".into()))?;
    let raw = field(&["MessageStatus", "SmsStatus"]).ok_or_else(|| InboundError::Malformed("MessageStatus missing".into()))?;
    let error_code = field(&["ErrorCode"]).filter(|c| !c.is_empty() && c != "0");
    Ok(StatusEvent {
        provider: ProviderKind::Twilio,
        credential_id: Some(credential_id),
        provider_message_id: sid,
        status: map_status(&raw.to_ascii_lowercase()),
        error_text: error_code.as_deref().and_then(error_text).map(str::to_owned),
        error_code,
        raw_status: raw,
        at: crate::domain::now_ms(),
    })
}

pub(super) async fn receive(r: &Receivers, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
    let pairs = form_pairs(cb.body)?;
    if super::sms_keywords::is_twilio_inbound(&pairs) {
        return super::sms_keywords::twilio_inbound(r, cb, &pairs).await;
    }
    let ev = event(&pairs, cb.credential_id)?;
    let Some(located) = r.locate(ProviderKind::Twilio, cb.credential_id, &ev).await? else {
        // Not known yet: verified with the URL's credential, then kept until it is.
        let Some(cred) = r.url_credential(ProviderKind::Twilio, cb.credential_id).await? else {
            StatusService::count_unknown(ProviderKind::Twilio);
            return Ok(Receipt { unknown: 1, ..Receipt::default() });
        };
        let token = r.credential_field(&cred, "authToken").ok_or(InboundError::Forbidden("the credential has no authToken"))?;
        let signature = cb.twilio_signature.ok_or(InboundError::Forbidden("X-Twilio-Signature missing"))?;
        if !crate::auth::twilio::verify(&token, &r.callback_urls(cb), &pairs, signature) {
            return Err(InboundError::Forbidden("X-Twilio-Signature does not verify"));
        }
        let parked = r.early.park(r, ProviderKind::Twilio, vec![ev]).await?;
        return Ok(Receipt { unknown: 1 - parked, parked, ..Receipt::default() });
    };
    let token = r.credential_field(&located.credential, "authToken").ok_or(InboundError::Forbidden("the credential has no authToken"))?;
    let signature = cb.twilio_signature.ok_or(InboundError::Forbidden("X-Twilio-Signature missing"))?;
    if !crate::auth::twilio::verify(&token, &r.callback_urls(cb), &pairs, signature) {
        return Err(InboundError::Forbidden("X-Twilio-Signature does not verify"));
    }
    r.apply_all(vec![(located, ev)], 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_callback_is_normalised() {
        let pairs = form_pairs(b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003&To=%2B966500000000").unwrap();
        let ev = event(&pairs, 7).unwrap();
        assert_eq!(ev.provider_message_id, "SM1");
        assert_eq!(ev.status, ReportStatus::Undelivered);
        assert_eq!(ev.error_code.as_deref(), Some("30003"));
        assert_eq!(ev.error_text.as_deref(), Some("Unreachable destination handset"));
        assert_eq!(pairs[3].1, "+966500000000");
        let legacy = event(&form_pairs(b"SmsSid=SM2&SmsStatus=sending").unwrap(), 7).unwrap();
        assert_eq!((legacy.provider_message_id.as_str(), legacy.status), ("SM2", ReportStatus::Pending));
        assert!(event(&form_pairs(b"MessageStatus=sent").unwrap(), 7).is_err());
        assert!(form_pairs(&[0xff, 0xfe]).is_err());
    }
}
