//! Timestamps: stored as Unix milliseconds, shown as ISO 8601 with milliseconds and `Z`
//! (`2026-01-15T10:30:00.000Z`), the format the documented API uses everywhere.

use serde::{Serialize, Serializer};

/// Current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix milliseconds that serialise as an ISO 8601 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn to_iso(self) -> String {
        use chrono::Datelike;
        match chrono::DateTime::from_timestamp_millis(self.0) {
            // chrono's RFC 3339 writer, the same text for four-digit years: `format` parses
            // its pattern on every call, 3,800 instructions a timestamp (every callback body,
            // every row of a log page carries some).
            Some(dt) if (0..=9999).contains(&dt.year()) => dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => String::new(),
        }
    }

    /// Parses a `scheduledAt` field; the error is the message the API answers with.
    pub fn parse_scheduled_at(s: &str) -> Result<Self, String> {
        Self::parse_iso(s.trim()).ok_or_else(|| format!("scheduledAt `{s}` is not an ISO 8601 date-time (e.g. 2026-03-01T09:00:00Z)"))
    }

    /// Parses an ISO 8601 / RFC 3339 date-time (`2026-03-01T09:00:00Z`, offsets allowed).
    pub fn parse_iso(s: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| Self(d.timestamp_millis()))
    }
}

/// How far ahead a send may be scheduled: further is refused on every path (a far-future
/// time is a mistake, and one beyond the id space would never fire).
pub const MAX_SCHEDULE_AHEAD_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// The one scheduling rule of every send path (webhook, bulk, dashboard, gRPC): a time at or
/// before `now` sends at once (`None`), one within [`MAX_SCHEDULE_AHEAD_MS`] is scheduled,
/// anything later is refused with a message naming the limit.
pub fn schedule_at(at: Option<i64>, now: i64) -> Result<Option<i64>, String> {
    match at {
        Some(at) if at > now.saturating_add(MAX_SCHEDULE_AHEAD_MS) => {
            Err(format!("scheduledAt {} is more than 366 days ahead; the latest allowed is {}", Timestamp(at).to_iso(), Timestamp(now + MAX_SCHEDULE_AHEAD_MS).to_iso()))
        }
        Some(at) if at > now => Ok(Some(at)),
        _ => Ok(None),
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

/// Whole seconds left until `deadline_ms` (rounded up, at least 1), for providers that take
/// a validity period; `None` without a deadline.
pub fn seconds_left(deadline_ms: Option<i64>, now_ms: i64) -> Option<u64> {
    deadline_ms.map(|at| (at.saturating_sub(now_ms).max(0) as u64).div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_left_is_rounded_up_and_never_zero() {
        assert_eq!(super::seconds_left(Some(10_500), 0), Some(11));
        assert_eq!(super::seconds_left(Some(0), 5_000), Some(1));
        assert_eq!(super::seconds_left(None, 0), None);
    }

    use super::*;

    #[test]
    fn formats_like_the_documented_api() {
        let t = Timestamp::parse_iso("2026-01-15T10:30:00Z").unwrap();
        assert_eq!(t.to_iso(), "2026-01-15T10:30:00.000Z");
        assert_eq!(Timestamp::parse_iso("2026-01-15T12:30:00.250+02:00").unwrap().to_iso(), "2026-01-15T10:30:00.250Z");
        assert!(Timestamp::parse_iso("yesterday").is_none());
    }

    #[test]
    fn the_rfc3339_writer_and_the_pattern_agree() {
        let pattern = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        // Epoch, before it, a leap day, millisecond edges, the last four-digit year.
        for ms in [0, -1, 1, 999, 1_000, 951_782_400_123, 1_763_622_004_007, 4_102_444_799_999, 253_402_300_799_999, -62_167_219_200_000] {
            assert_eq!(Timestamp(ms).to_iso(), pattern(ms), "{ms}");
        }
        // Five-digit years still come out (through the pattern).
        assert_eq!(Timestamp(253_402_300_800_000).to_iso(), pattern(253_402_300_800_000));
    }

    #[test]
    fn one_scheduling_rule() {
        let now = 1_800_000_000_000;
        assert_eq!(schedule_at(None, now), Ok(None));
        assert_eq!(schedule_at(Some(now - 1), now), Ok(None), "the past sends at once");
        assert_eq!(schedule_at(Some(now), now), Ok(None));
        assert_eq!(schedule_at(Some(now + 1), now), Ok(Some(now + 1)));
        assert!(schedule_at(Some(now + MAX_SCHEDULE_AHEAD_MS + 1), now).unwrap_err().contains("366 days"));
        assert!(schedule_at(Some(i64::MAX), now).is_err(), "never a time that cannot fire");
    }
}
