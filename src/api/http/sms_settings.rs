//! The SMS settings of an association as the API shows and takes them (flattened into the
//! association's view and `PUT /api/v1/associations/{id}` body): `maxSegments`,
//! `smartEncoding`, `quietHours` (`{timeZone, start, end}`, `null` removes it) and
//! `optOutBypassTransactional`; and `POST /api/v1/sms/segments`, what a text costs as an SMS.
//! Translation only; the rules live in `domain::sms` and `domain::sms_policy`.

use super::ApiError;
use crate::domain::sms_policy::{QuietHours, SmsPatch, SmsSettings};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuietHoursView {
    time_zone: String,
    /// Local `HH:MM`.
    start: String,
    end: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsSettingsView {
    max_segments: u32,
    smart_encoding: bool,
    quiet_hours: Option<QuietHoursView>,
    opt_out_bypass_transactional: bool,
}

impl From<&SmsSettings> for SmsSettingsView {
    fn from(s: &SmsSettings) -> Self {
        Self {
            max_segments: s.max_segments(),
            smart_encoding: s.smart_encoding,
            quiet_hours: s.quiet_hours.as_ref().map(|q| QuietHoursView { time_zone: q.time_zone.clone(), start: q.start_text(), end: q.end_text() }),
            opt_out_bypass_transactional: s.opt_out_bypass_transactional,
        }
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsSettingsBody {
    #[serde(default)]
    max_segments: Option<u32>,
    #[serde(default)]
    smart_encoding: Option<bool>,
    /// Absent: unchanged; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    quiet_hours: Option<Option<QuietHoursView>>,
    #[serde(default)]
    opt_out_bypass_transactional: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<QuietHoursView>>, D::Error> {
    Option::<QuietHoursView>::deserialize(d).map(Some)
}

impl SmsSettingsBody {
    /// The patch, with `quietHours` checked (a 400 naming the field).
    pub fn into_patch(self) -> Result<SmsPatch, ApiError> {
        let quiet_hours = match self.quiet_hours {
            Some(Some(q)) => Some(Some(QuietHours::parse(&q.time_zone, &q.start, &q.end).map_err(ApiError::invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        let patch = SmsPatch {
            max_segments: self.max_segments,
            smart_encoding: self.smart_encoding,
            quiet_hours,
            opt_out_bypass_transactional: self.opt_out_bypass_transactional,
        };
        patch.validate().map_err(ApiError::invalid)?;
        Ok(patch)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewBody {
    message: String,
    #[serde(default)]
    smart_encoding: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewView {
    /// The text as it would be sent (smart encoding applied when asked and useful).
    message: String,
    encoding: &'static str,
    segments: u32,
    /// Septets (GSM7) or UTF-16 units (UCS2).
    units: usize,
    /// Capacity of each part: 160 / 70 for one part, 153 / 67 when concatenated.
    per_segment: usize,
    smart_encoding_applied: bool,
}

/// `POST /api/v1/sms/segments` (X-API-Key): what a text costs as an SMS, for the console's
/// counter and for clients checking before they send. No message is stored.
pub async fn preview(
    super::extract::AnyKeyAuth(_caller): super::extract::AnyKeyAuth,
    super::extract::JsonBody(b): super::extract::JsonBody<PreviewBody>,
) -> Result<super::Envelope<PreviewView>, ApiError> {
    use crate::domain::sms;
    let (text, applied) = if b.smart_encoding { sms::smart_encode(&b.message) } else { (std::borrow::Cow::Borrowed(b.message.as_str()), false) };
    let info = sms::analyse(&text);
    let (single, multi) = info.encoding.part_sizes();
    Ok(super::Envelope::ok(PreviewView {
        message: text.into_owned(),
        encoding: info.encoding.as_str(),
        segments: info.segments,
        units: info.units,
        per_segment: if info.segments > 1 { multi } else { single },
        smart_encoding_applied: applied,
    }))
}
