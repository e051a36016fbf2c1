//! An association's SMS rules, as pure data and pure decisions: the segment limit
//! (`maxSegments`), opt-in smart encoding, the opt-out bypass for transactional sends, quiet
//! hours (an IANA time zone and a local window such as 21:00–08:00, DST-correct through
//! `chrono-tz`), the opt-out / opt-in keywords found in inbound messages, and the settable
//! clock quiet hours are decided by (tests move it; production reads the system time).
//! Stored on the association row (`AssociationRecord::sms`); no I/O here.

use chrono::{LocalResult, NaiveTime, TimeZone, Timelike};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};

/// `maxSegments` when the association sets none.
pub const DEFAULT_MAX_SEGMENTS: u32 = 10;
/// The highest `maxSegments` accepted (Twilio's 1,600-character cap is 11 GSM parts; UDH
/// reference numbers allow 255).
pub const MAX_SEGMENTS_LIMIT: u32 = 255;

/// Per-association SMS settings (all optional on old rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSettings {
    /// A text needing more parts is refused (400); `None`: [`DEFAULT_MAX_SEGMENTS`].
    #[serde(default)]
    pub max_segments: Option<u32>,
    /// Smart encoding on every send of the association (a send may also ask for it).
    #[serde(default)]
    pub smart_encoding: bool,
    /// Campaign messages due inside the window wait for its end.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Sends marked `transactional` go to opted-out recipients too (off unless set).
    #[serde(default)]
    pub opt_out_bypass_transactional: bool,
}

impl SmsSettings {
    pub fn max_segments(&self) -> u32 {
        self.max_segments.unwrap_or(DEFAULT_MAX_SEGMENTS)
    }
}

/// A change to [`SmsSettings`] (`PUT /api/v1/associations/{id}`): each field absent keeps
/// the setting; `quiet_hours: Some(None)` removes the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsPatch {
    pub max_segments: Option<u32>,
    pub smart_encoding: Option<bool>,
    pub quiet_hours: Option<Option<QuietHours>>,
    pub opt_out_bypass_transactional: Option<bool>,
}

impl SmsPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the values (the error names the field).
    pub fn validate(&self) -> Result<(), String> {
        match self.max_segments {
            Some(n) if n == 0 || n > MAX_SEGMENTS_LIMIT => Err(format!("maxSegments must be between 1 and {MAX_SEGMENTS_LIMIT}")),
            _ => Ok(()),
        }
    }

    pub fn apply(&self, s: &mut SmsSettings) {
        if let Some(n) = self.max_segments {
            s.max_segments = Some(n);
        }
        if let Some(b) = self.smart_encoding {
            s.smart_encoding = b;
        }
        if let Some(q) = &self.quiet_hours {
            s.quiet_hours = q.clone();
        }
        if let Some(b) = self.opt_out_bypass_transactional {
            s.opt_out_bypass_transactional = b;
        }
    }
}

/// A daily local window; `start > end` wraps midnight (21:00–08:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// IANA name (`Asia/Riyadh`, `America/New_York`).
    pub time_zone: String,
    /// Minutes after local midnight.
    pub start_minute: u16,
    pub end_minute: u16,
}

fn parse_hhmm(field: &str, s: &str) -> Result<u16, String> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| format!("{field} `{s}` is not a time like 21:00"))?;
    Ok((t.hour() * 60 + t.minute()) as u16)
}

impl QuietHours {
    /// From the API's `{timeZone, start, end}`; the error names the field.
    pub fn parse(time_zone: &str, start: &str, end: &str) -> Result<Self, String> {
        time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("quietHours.timeZone `{time_zone}` is not an IANA time zone (e.g. Asia/Riyadh)"))?;
        let (s, e) = (parse_hhmm("quietHours.start", start)?, parse_hhmm("quietHours.end", end)?);
        if s == e {
            return Err("quietHours.start and quietHours.end must differ".into());
        }
        Ok(Self { time_zone: time_zone.to_owned(), start_minute: s, end_minute: e })
    }

    pub fn start_text(&self) -> String {
        format!("{:02}:{:02}", self.start_minute / 60, self.start_minute % 60)
    }

    pub fn end_text(&self) -> String {
        format!("{:02}:{:02}", self.end_minute / 60, self.end_minute % 60)
    }

    fn tz(&self) -> Option<chrono_tz::Tz> {
        self.time_zone.parse().ok()
    }

    /// When `now_ms` (Unix ms) falls inside the window: the instant it ends (Unix ms),
    /// the next local `end` time. An end time skipped by a DST jump ends at the first local
    /// time after the gap; one that occurs twice (clocks going back) ends at the first still
    /// ahead.
    pub fn hold_until(&self, now_ms: i64) -> Option<i64> {
        let tz = self.tz()?;
        let now = chrono::DateTime::from_timestamp_millis(now_ms)?.with_timezone(&tz);
        let minute = (now.hour() * 60 + now.minute()) as u16;
        let (s, e) = (self.start_minute, self.end_minute);
        let inside = if s < e { minute >= s && minute < e } else { minute >= s || minute < e };
        if !inside {
            return None;
        }
        // Today's end if it is still ahead, else tomorrow's.
        let date = if minute < e { now.date_naive() } else { now.date_naive().succ_opt()? };
        let mut local = date.and_hms_opt((e / 60) as u32, (e % 60) as u32, 0)?;
        for _ in 0..=240 {
            match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => return Some(t.timestamp_millis()),
                // The first of the two, unless it is already past (now is in the repeated hour).
                LocalResult::Ambiguous(first, second) => {
                    let t = if first.timestamp_millis() > now_ms { first } else { second };
                    return Some(t.timestamp_millis());
                }
                LocalResult::None => local += chrono::Duration::minutes(1),
            }
        }
        None
    }
}

/// What an inbound message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
}

/// The opt-out keywords (carrier convention) and their Arabic equivalents, normalised as
/// [`normalise_keyword`] does (alef forms unified).
const OPT_OUT: &[&str] = &[
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT", "OPT-OUT",
    "ايقاف", "توقف", "وقف", "الغاء", "الغاء الاشتراك", "الغاء الاشتراك", "لا ترسل",
];
const OPT_IN: &[&str] = &["START", "UNSTOP", "ابدا", "بدء", "اشتراك", "استئناف"];

/// Upper-cased, trimmed of spaces and trailing punctuation, Arabic alef forms and hamza
/// seats unified and tatweel dropped: "Stop!", " stop " and "إيقاف" match their keyword.
pub fn normalise_keyword(text: &str) -> String {
    let t = text.trim().trim_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '?' | '؟' | '،' | ','));
    t.chars()
        .filter(|c| *c != '\u{0640}')
        .map(|c| match c {
            'أ' | 'إ' | 'آ' => 'ا',
            'ى' => 'ي',
            _ => c,
        })
        .flat_map(char::to_uppercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an inbound text is exactly an opt-out or opt-in keyword (as carriers decide:
/// the whole message, so "please stop by tomorrow" opts nobody out).
pub fn keyword(text: &str) -> Option<Keyword> {
    let n = normalise_keyword(text);
    if OPT_OUT.contains(&n.as_str()) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&n.as_str()) {
        Some(Keyword::OptIn)
    } else {
        None
    }
}

/// The time quiet hours are decided by: the system clock unless a test set it.
#[derive(Debug)]
pub struct Clock {
    /// Unix ms the clock is frozen at; `i64::MIN`: the system time.
    fixed: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Self { fixed: AtomicI64::new(i64::MIN) }
    }
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        match self.fixed.load(Ordering::Relaxed) {
            i64::MIN => super::now_ms(),
            t => t,
        }
    }

    /// Freezes the clock at `at` (Unix ms); `None` goes back to the system time.
    pub fn set(&self, at: Option<i64>) {
        self.fixed.store(at.unwrap_or(i64::MIN), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    #[test]
    fn a_window_across_midnight() {
        let q = QuietHours::parse("Asia/Riyadh", "21:00", "08:00").unwrap();
        // Riyadh is UTC+3 all year.
        assert_eq!(q.hold_until(ms("2026-06-01T17:59:59Z")), None, "20:59:59 local");
        assert_eq!(q.hold_until(ms("2026-06-01T18:00:00Z")).map(iso).as_deref(), Some("2026-06-02T05:00:00Z"));
        assert_eq!(q.hold_until(ms("2026-06-01T23:30:00Z")).map(iso).as_deref(), Some("2026-06-02T05:00:00Z"), "02:30 local");
        assert_eq!(q.hold_until(ms("2026-06-02T04:59:59Z")).map(iso).as_deref(), Some("2026-06-02T05:00:00Z"));
        assert_eq!(q.hold_until(ms("2026-06-02T05:00:00Z")), None, "08:00 local: the window has ended");
        let day = QuietHours::parse("Asia/Riyadh", "12:00", "13:30").unwrap();
        assert_eq!(day.hold_until(ms("2026-06-01T09:15:00Z")).map(iso).as_deref(), Some("2026-06-01T10:30:00Z"));
        assert_eq!(day.hold_until(ms("2026-06-01T08:59:00Z")), None);
    }

    #[test]
    fn dst_edges() {
        let ny = QuietHours::parse("America/New_York", "21:00", "08:00").unwrap();
        // The night clocks spring forward (2026-03-08 02:00 EST -> 03:00 EDT): the window
        // ends at 08:00 EDT, 12:00Z, ten hours after 22:00 EST.
        assert_eq!(ny.hold_until(ms("2026-03-08T03:00:00Z")).map(iso).as_deref(), Some("2026-03-08T12:00:00Z"));
        // The night they fall back (2026-11-01 02:00 EDT -> 01:00 EST): 08:00 EST, 13:00Z.
        assert_eq!(ny.hold_until(ms("2026-11-01T02:00:00Z")).map(iso).as_deref(), Some("2026-11-01T13:00:00Z"));
        // 21:00 local is 01:00Z in summer and 02:00Z in winter.
        assert_eq!(ny.hold_until(ms("2026-07-01T00:59:00Z")), None);
        assert!(ny.hold_until(ms("2026-07-01T01:00:00Z")).is_some());
        assert_eq!(ny.hold_until(ms("2026-12-01T01:30:00Z")), None, "20:30 EST");
        assert!(ny.hold_until(ms("2026-12-01T02:00:00Z")).is_some());
        // An end time the spring jump skips (02:30 does not exist on 2026-03-08): 03:00 EDT.
        let gap = QuietHours::parse("America/New_York", "01:00", "02:30").unwrap();
        assert_eq!(gap.hold_until(ms("2026-03-08T06:30:00Z")).map(iso).as_deref(), Some("2026-03-08T07:00:00Z"));
        // An end time that happens twice (01:30 on 2026-11-01): the first, 01:30 EDT.
        let twice = QuietHours::parse("America/New_York", "00:30", "01:30").unwrap();
        assert_eq!(twice.hold_until(ms("2026-11-01T04:45:00Z")).map(iso).as_deref(), Some("2026-11-01T05:30:00Z"));
        // In the repeated hour's second pass (01:10 EST, 06:10Z) the first 01:30 is past:
        // the window ends at 01:30 EST.
        assert_eq!(twice.hold_until(ms("2026-11-01T06:10:00Z")).map(iso).as_deref(), Some("2026-11-01T06:30:00Z"));
    }

    #[test]
    fn bad_settings_name_the_field() {
        assert!(QuietHours::parse("Mars/Olympus", "21:00", "08:00").unwrap_err().contains("quietHours.timeZone"));
        assert!(QuietHours::parse("UTC", "25:00", "08:00").unwrap_err().contains("quietHours.start"));
        assert!(QuietHours::parse("UTC", "21:00", "8pm").unwrap_err().contains("quietHours.end"));
        assert!(QuietHours::parse("UTC", "08:00", "08:00").is_err());
        assert_eq!(QuietHours::parse("UTC", "21:00", "08:05").unwrap().end_text(), "08:05");
    }

    #[test]
    fn keywords_in_english_and_arabic() {
        for t in ["STOP", "stop", " Stop! ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "REVOKE", "OPTOUT", "إيقاف", "ايقاف", "إلغاء الاشتراك", "الغاء", "توقف"] {
            assert_eq!(keyword(t), Some(Keyword::OptOut), "{t}");
        }
        for t in ["START", "start", "UNSTOP", "ابدأ", "اشتراك"] {
            assert_eq!(keyword(t), Some(Keyword::OptIn), "{t}");
        }
        for t in ["please stop by tomorrow", "stopp", "", "مرحبا"] {
            assert_eq!(keyword(t), None, "{t}");
        }
    }

    #[test]
    fn the_clock_can_be_set() {
        let c = Clock::default();
        assert!((c.now_ms() - super::super::now_ms()).abs() < 5_000);
        c.set(Some(42));
        assert_eq!(c.now_ms(), 42);
        c.set(None);
        assert!(c.now_ms() > 42);
    }
}
