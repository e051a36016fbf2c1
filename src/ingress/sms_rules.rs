//! The SMS rules ingress applies to every send (single, dashboard, gRPC, and each bulk
//! recipient): smart encoding when asked for, encoding and segment count (stored on the
//! message), the association's `maxSegments` (a 400 saying how many the text needs), and the
//! opt-out list (a 422 "recipient opted out" unless a transactional send may bypass it).
//! Kept apart from `ingress/mod.rs` so the accept path stays one call per rule. Depends on
//! `domain` and `store`.

use super::IngressError;
use crate::domain::sms::{self, Encoding};
use crate::domain::sms_policy::SmsSettings;
use crate::domain::Channel;
use crate::store::{OptOutRecord, Store, StoreResult};

/// What a send asks of the SMS rules beyond the document (all off by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// `smartEncoding` on the send: wins over the association's setting when given.
    pub smart_encoding: Option<bool>,
    /// `respectQuietHours`: a single send inside the association's quiet hours waits for their end.
    pub respect_quiet_hours: bool,
    /// `transactional`: may reach an opted-out recipient if the association allows it.
    pub transactional: bool,
}

/// The text as it will be sent and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub body: String,
    /// `None` for channels other than SMS.
    pub encoding: Option<Encoding>,
    pub segments: u32,
    /// Whether smart encoding replaced look-alike characters.
    pub smart_encoding_applied: bool,
}

/// The refusal of a text above `maxSegments`, naming what it needs.
pub fn too_many_segments(needed: u32, encoding: Encoding, units: usize, limit: u32) -> String {
    let unit = if encoding == Encoding::Gsm7 { "septets" } else { "UTF-16 units" };
    format!("message needs {needed} SMS segments ({}, {units} {unit}); the association's maxSegments is {limit}", encoding.as_str())
}

/// Smart encoding (when asked), encoding, segments and the `maxSegments` check. Other
/// channels pass through unchanged, with no encoding.
pub fn shape(settings: &SmsSettings, channel: Channel, body: String, opts: &SendOptions) -> Result<Shaped, String> {
    if channel != Channel::Sms {
        return Ok(Shaped { body, encoding: None, segments: 0, smart_encoding_applied: false });
    }
    let (body, applied) = if opts.smart_encoding.unwrap_or(settings.smart_encoding) {
        match sms::smart_encode(&body) {
            (std::borrow::Cow::Owned(s), true) => (s, true),
            _ => (body, false),
        }
    } else {
        (body, false)
    };
    let info = sms::analyse(&body);
    let limit = settings.max_segments();
    if info.segments > limit {
        return Err(too_many_segments(info.segments, info.encoding, info.units, limit));
    }
    Ok(Shaped { body, encoding: Some(info.encoding), segments: info.segments, smart_encoding_applied: applied })
}

/// The opt-out row that blocks `recipient` on `channel`, if any.
pub async fn blocking_opt_out(store: &dyn Store, association_id: i64, recipient: &str, channel: &str) -> StoreResult<Option<OptOutRecord>> {
    Ok(store.opt_outs_of(association_id, recipient).await?.into_iter().find(|r| r.covers(channel)))
}

/// The reason every path gives (the 422's text; a bulk's invalid-recipient reason).
pub const OPTED_OUT: &str = "recipient opted out";

/// Refuses a send to an opted-out recipient, unless it is transactional and the
/// association allows transactional sends to bypass the list.
pub async fn check_opt_out(
    store: &dyn Store,
    settings: &SmsSettings,
    association_id: i64,
    recipient: &str,
    channel: &str,
    opts: &SendOptions,
) -> Result<(), IngressError> {
    if opts.transactional && settings.opt_out_bypass_transactional {
        return Ok(());
    }
    match blocking_opt_out(store, association_id, recipient, channel).await? {
        Some(_) => {
            metrics::counter!(crate::telemetry::INGRESS_REJECTED_TOTAL, "reason" => "opted_out").increment(1);
            Err(IngressError::OptedOut(OPTED_OUT.into()))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_sms_only_and_enforces_max_segments() {
        let s = SmsSettings::default();
        let o = SendOptions::default();
        let got = shape(&s, Channel::Sms, "Hello".into(), &o).unwrap();
        assert_eq!((got.encoding, got.segments, got.smart_encoding_applied), (Some(Encoding::Gsm7), 1, false));
        let wa = shape(&s, Channel::Whatsapp, "x".repeat(5000), &o).unwrap();
        assert_eq!((wa.encoding, wa.segments), (None, 0));
        // 1,530 GSM characters are ten parts: allowed; 1,531 need eleven.
        assert_eq!(shape(&s, Channel::Sms, "a".repeat(1530), &o).unwrap().segments, 10);
        let e = shape(&s, Channel::Sms, "a".repeat(1531), &o).unwrap_err();
        assert!(e.contains("needs 11 SMS segments") && e.contains("maxSegments is 10"), "{e}");
        let two = SmsSettings { max_segments: Some(1), ..Default::default() };
        assert!(shape(&two, Channel::Sms, "ر".repeat(71), &o).unwrap_err().contains("needs 2 SMS segments (UCS2, 71 UTF-16 units)"));
    }

    #[test]
    fn smart_encoding_per_association_or_per_send() {
        let text = "It\u{2019}s done \u{2014} thanks";
        let off = SmsSettings::default();
        let on = SmsSettings { smart_encoding: true, ..Default::default() };
        let plain = shape(&off, Channel::Sms, text.into(), &SendOptions::default()).unwrap();
        assert_eq!((plain.encoding, plain.smart_encoding_applied), (Some(Encoding::Ucs2), false));
        let assoc = shape(&on, Channel::Sms, text.into(), &SendOptions::default()).unwrap();
        assert_eq!((assoc.body.as_str(), assoc.encoding, assoc.smart_encoding_applied), ("It's done - thanks", Some(Encoding::Gsm7), true));
        let send = shape(&off, Channel::Sms, text.into(), &SendOptions { smart_encoding: Some(true), ..Default::default() }).unwrap();
        assert!(send.smart_encoding_applied);
        let refused = shape(&on, Channel::Sms, text.into(), &SendOptions { smart_encoding: Some(false), ..Default::default() }).unwrap();
        assert!(!refused.smart_encoding_applied);
    }
}
