//! Twilio Programmable Voice call status callbacks, at
//! `/api/v1/callbacks/twiliovoice/{credentialId}`: a form POST per call event asked for
//! (`initiated`, `ringing`, `answered`, `completed`), signed with `X-Twilio-Signature` under
//! the credential's `authToken` exactly like message callbacks (`auth::twilio`). Fields:
//! `CallSid`, `CallStatus` (`queued`, `initiated`, `ringing`, `in-progress` for answered,
//! `completed`, `busy`, `no-answer`, `failed`, `canceled`), `CallDuration`, `ErrorCode`.
//!
//! Onto the one status path: a call placed but not yet over is pending (`queued`,
//! `initiated`, `ringing`: acknowledged, the message stays `sent`); answered is `sent`; a
//! `completed` call was answered and said its text: `delivered`; `busy` and `no-answer`
//! reached nobody: `undelivered` (which is what moves an OTP on to its next channel, if any);
//! `failed` and `canceled`: `failed`.

use super::twilio::form_pairs;
use super::{Callback, InboundError, Receipt, Receivers};
use crate::domain::ProviderKind;
use crate::status::{ReportStatus, StatusEvent, StatusService};

/// Twilio's call status, normalised.
pub(super) fn map_status(s: &str) -> ReportStatus {
    match s {
        "in-progress" | "answered" => ReportStatus::Sent,
        "completed" => ReportStatus::Delivered,
        "busy" | "no-answer" => ReportStatus::Undelivered,
        "failed" | "canceled" => ReportStatus::Failed,
        // queued, initiated, ringing
        _ => ReportStatus::Pending,
    }
}

/// The normalised event of a call callback's fields.
pub(super) fn event(pairs: &[(String, String)], credential_id: i64) -> Result<StatusEvent, InboundError> {
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
    let sid = field("CallSid").filter(|s| !s.is_empty()).ok_or_else(|| InboundError::Malformed("CallSid missing".into()))?;
    let raw = field("CallStatus").filter(|s| !s.is_empty()).ok_or_else(|| InboundError::Malformed("CallStatus missing".into()))?;
    let status = map_status(&raw.to_ascii_lowercase());
    let error_code = field("ErrorCode").filter(|c| !c.is_empty() && c != "0");
    let error_text = match raw.as_str() {
        "busy" => Some("the line was busy".to_owned()),
        "no-answer" => Some("the call was not answered".to_owned()),
        "failed" => Some("the call could not be placed".to_owned()),
        "canceled" => Some("the call was canceled".to_owned()),
        _ => None,
    };
    Ok(StatusEvent {
        provider: ProviderKind::TwilioVoice,
        credential_id: Some(credential_id),
        provider_message_id: sid,
        status,
        error_text,
        error_code,
        raw_status: raw,
        at: crate::domain::now_ms(),
    })
}

pub(super) async fn receive(r: &Receivers, cb: &Callback<'_>) -> Result<Receipt, InboundError> {
    let kind = ProviderKind::TwilioVoice;
    let pairs = form_pairs(cb.body)?;
    let ev = event(&pairs, cb.credential_id)?;
    let located = r.locate(kind, cb.credential_id, &ev).await?;
    let credential = match &located {
        Some(l) => l.credential.clone(),
        None => match r.url_credential(kind, cb.credential_id).await? {
            Some(c) => c,
            None => {
                StatusService::count_unknown(kind);
                return Ok(Receipt { unknown: 1, ..Receipt::default() });
            }
        },
    };
    let token = r.credential_field(&credential, "authToken").ok_or(InboundError::Forbidden("the credential has no authToken"))?;
    let signature = cb.twilio_signature.ok_or(InboundError::Forbidden("X-Twilio-Signature missing"))?;
    if !crate::auth::twilio::verify(&token, &r.callback_urls(cb), &pairs, signature) {
        return Err(InboundError::Forbidden("X-Twilio-Signature does not verify"));
    }
    match located {
        Some(l) => r.apply_all(vec![(l, ev)], 0).await,
        None => {
            // Not known yet (the callback overtook the engine's `sent`): kept until it is.
            let parked = r.early.park(r, kind, vec![ev]).await?;
            Ok(Receipt { unknown: 1 - parked, parked, ..Receipt::default() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_statuses_map_onto_the_one_status_path() {
        let ev = |body: &str| event(&form_pairs(body.as_bytes()).unwrap(), 3);
        let done = ev("CallSid=CA1&CallStatus=completed&CallDuration=12").unwrap();
        assert_eq!((done.provider_message_id.as_str(), done.status), ("CA1", ReportStatus::Delivered));
        assert_eq!(ev("CallSid=CA1&CallStatus=initiated").unwrap().status, ReportStatus::Pending);
        assert_eq!(ev("CallSid=CA1&CallStatus=ringing").unwrap().status, ReportStatus::Pending);
        assert_eq!(ev("CallSid=CA1&CallStatus=in-progress").unwrap().status, ReportStatus::Sent);
        let busy = ev("CallSid=CA1&CallStatus=busy").unwrap();
        assert_eq!((busy.status, busy.error_text.as_deref()), (ReportStatus::Undelivered, Some("the line was busy")));
        assert_eq!(ev("CallSid=CA1&CallStatus=no-answer").unwrap().status, ReportStatus::Undelivered);
        assert_eq!(ev("CallSid=CA1&CallStatus=failed&ErrorCode=13224").unwrap().error_code.as_deref(), Some("13224"));
        assert!(ev("CallStatus=completed").is_err());
        assert!(ev("CallSid=CA1").is_err());
    }
}
