//! The SMS settings of an association as the API shows and takes them (flattened into the
//! association's view and `PUT /api/v1/associations/{id}` body): `maxSegments`,
//! `smartEncoding`, `quietHours` (`{timeZone, start, end}`, `null` removes it) and
//! `optOutBypassTransactional`. Translation only; the rules live in `domain::sms_policy`.

use super::ApiError;
use crate::domain::sms_policy::{QuietHours, SmsPatch, SmsSettings};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct QuietHoursView {
    time_zone: String,
    /// Local `HH:MM`.
    start: String,
    end: String,
}

#[derive(Serialize)]
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

#[derive(Deserialize, Default)]
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
