//! Twilio Programmable Voice (provider `twiliovoice`, channel `voice`): a call placed with
//! the Calls resource, form-encoded `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`
//! (HTTP Basic `AccountSid:AuthToken`), `To` in E.164, `From` the credential's voice number
//! (its senderName), and the call's script inline as `Twiml`: the text in `<Say>`, said
//! `repeat` times with a `<Pause>` between. Digit runs (an OTP) are read out digit by digit
//! ("5, 4, 9, 9, 2, 1", Arabic-Indic digits too) rather than as one big number.
//!
//! `<Say>` takes the credential's `language` and `voice` (Twilio's names: `en-US` + `alice`,
//! `arb` + `Polly.Zeina`, `ar-XA` + `Google.ar-XA-Standard-A`, …); a text in Arabic script
//! with neither set is said with Polly's Arabic voice. `repeat` (1-5, default 2) and
//! `pauseSecs` (1-10, default 1) shape the script; `ringTimeoutSecs` is Twilio's `Timeout`.
//!
//! Status callbacks (`StatusCallback`, with `StatusCallbackEvent` = initiated, ringing,
//! answered, completed) come back to `/api/v1/callbacks/twiliovoice/{credentialId}`, signed
//! like Twilio's message callbacks (`inbound::twilio_voice`). Errors share Twilio's shapes and
//! codes, so the messaging adapter's classification is reused, plus the voice-only codes.

use super::wire::{base_url, basic_auth, e164_plus, endpoint, json, required};
use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;

pub struct TwilioVoice;

/// The call events Twilio is asked to report (each arrives as one status callback).
pub const CALL_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// How a call's script is shaped: from the credential, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SayOptions {
    pub language: Option<String>,
    pub voice: Option<String>,
    pub repeat: u32,
    pub pause_secs: u32,
}

impl SayOptions {
    pub fn of(cred: &ProviderCredential) -> Self {
        let num = |name: &str, lo: u32, hi: u32, default: u32| {
            let v = cred.fields.get(name);
            v.and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))).map_or(default, |n| (n as u32).clamp(lo, hi))
        };
        let text = |name: &str| Some(cred.field(name).trim().to_owned()).filter(|s| !s.is_empty());
        Self { language: text("language"), voice: text("voice"), repeat: num("repeat", 1, 5, 2), pause_secs: num("pauseSecs", 1, 10, 1) }
    }
}

impl ProviderAdapter for TwilioVoice {
    fn kind(&self) -> ProviderKind {
        ProviderKind::TwilioVoice
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.twilio.com"
    }

    fn build_request(&self, client: &reqwest::Client, cred: &ProviderCredential, msg: &OutboundMessage) -> Result<reqwest::RequestBuilder, BuildError> {
        let Payload::Voice { text } = &msg.payload else {
            return Err(BuildError::payload(format!("twiliovoice does not deliver the {} channel", msg.payload.channel().as_str())));
        };
        let sid = required(cred, "accountSid")?;
        let token = required(cred, "authToken")?;
        if msg.sender.trim().is_empty() {
            return Err(BuildError::credential("a twiliovoice credential needs its voice number as senderName (the call's From)"));
        }
        let url = format!("{}/2010-04-01/Accounts/{}/Calls.json", base_url(self, cred), urlencoding::encode(sid));
        let mut form: Vec<(&str, String)> = vec![
            ("To", e164_plus(&msg.recipient)),
            ("From", msg.sender.clone()),
            ("Twiml", twiml(text, &SayOptions::of(cred))),
        ];
        if let Some(secs) = cred.fields.get("ringTimeoutSecs").and_then(|v| v.as_u64()) {
            form.push(("Timeout", secs.clamp(5, 600).to_string()));
        }
        if let Some(callback) = &msg.status_callback_url {
            form.push(("StatusCallback", callback.clone()));
            form.push(("StatusCallbackMethod", "POST".into()));
            for event in CALL_EVENTS {
                form.push(("StatusCallbackEvent", event.into()));
            }
        }
        Ok(client.post(endpoint(cred, url)?).header(AUTHORIZATION, basic_auth(cred, sid, token)).header(ACCEPT, "application/json").form(&form))
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
        let code = json(body).and_then(|v| v.get("code").and_then(|c| c.as_u64()));
        let reason = || format!("twilio {}: {}", code.unwrap_or(0), super::wire::snippet(body));
        match code {
            // 21215 geo permissions, 21210 unverified caller id, 21212 invalid From, 13227 no
            // international permission: the account or number, not this recipient.
            Some(21215 | 21210 | 21212 | 13227) => SendOutcome::PermanentConfig { reason: reason() },
            // 21217 not a valid phone number, 13224 invalid number for calls, 21216 blocked.
            Some(21217 | 13224 | 21216) => SendOutcome::PermanentRecipient { reason: reason() },
            // 21218 / 11200-range: TwiML problems are ours (content).
            Some(21218 | 12100 | 12200) => SendOutcome::PermanentContent { reason: reason() },
            _ => super::Twilio.classify(status, headers, body),
        }
    }
}

/// The call's TwiML: `<Say>` of the spoken text, `repeat` times, `<Pause>` between.
pub fn twiml(text: &str, o: &SayOptions) -> String {
    let arabic = text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
    let (language, voice) = match (&o.language, &o.voice) {
        (None, None) if arabic => (Some("arb".to_owned()), Some("Polly.Zeina".to_owned())),
        (l, v) => (l.clone(), v.clone()),
    };
    let mut attrs = String::new();
    if let Some(l) = &language {
        attrs.push_str(&format!(" language=\"{}\"", xml_escape(l)));
    }
    if let Some(v) = &voice {
        attrs.push_str(&format!(" voice=\"{}\"", xml_escape(v)));
    }
    let said = xml_escape(&spoken(text, arabic));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for i in 0..o.repeat.max(1) {
        if i > 0 {
            out.push_str(&format!("<Pause length=\"{}\"/>", o.pause_secs));
        }
        out.push_str(&format!("<Say{attrs}>{said}</Say>"));
    }
    out.push_str("</Response>");
    out
}

/// The text as said: every run of two or more digits read one digit at a time, separated
/// by the script's comma (a short pause in every TTS voice). Arabic-Indic digits count too.
pub fn spoken(text: &str, arabic: bool) -> String {
    let sep = if arabic { "، " } else { ", " };
    let is_digit = |c: char| c.is_ascii_digit() || ('\u{0660}'..='\u{0669}').contains(&c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        if is_digit(chars[i]) {
            let start = i;
            while i < chars.len() && is_digit(chars[i]) {
                i += 1;
            }
            if i - start >= 2 {
                let digits: Vec<String> = chars[start..i].iter().map(|c| c.to_string()).collect();
                out.push_str(&digits.join(sep));
            } else {
                out.push(chars[start]);
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SayOptions {
        SayOptions { language: None, voice: None, repeat: 2, pause_secs: 1 }
    }

    #[test]
    fn otps_are_read_digit_by_digit_and_repeated() {
        let t = twiml("Your OTP is 549921", &opts());
        assert_eq!(
            t,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Your OTP is 5, 4, 9, 9, 2, 1</Say><Pause length=\"1\"/><Say>Your OTP is 5, 4, 9, 9, 2, 1</Say></Response>"
        );
        let ar = twiml("رمز التحقق ٥٤٩٩", &opts());
        assert!(ar.contains("<Say language=\"arb\" voice=\"Polly.Zeina\">رمز التحقق ٥، ٤، ٩، ٩</Say>"), "{ar}");
        let set = SayOptions { language: Some("ar-XA".into()), voice: Some("Google.ar-XA-Standard-A".into()), repeat: 3, pause_secs: 2 };
        let t = twiml("code 12 & <b>", &set);
        assert_eq!(t.matches("<Say language=\"ar-XA\" voice=\"Google.ar-XA-Standard-A\">code 1, 2 &amp; &lt;b&gt;</Say>").count(), 3, "{t}");
        assert_eq!(t.matches("<Pause length=\"2\"/>").count(), 2);
        assert_eq!(spoken("room 7", false), "room 7");
    }

    #[test]
    fn voice_only_codes_are_classified() {
        let c = |code: u32| TwilioVoice.classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), format!(r#"{{"code":{code},"message":"m"}}"#).as_bytes());
        assert!(matches!(c(21215), SendOutcome::PermanentConfig { .. }));
        assert!(matches!(c(21217), SendOutcome::PermanentRecipient { .. }));
        assert!(matches!(c(20003), SendOutcome::PermanentConfig { .. }));
        let ok = TwilioVoice.classify(StatusCode::CREATED, &HeaderMap::new(), br#"{"sid":"CA0123","status":"queued"}"#);
        assert_eq!(ok, SendOutcome::Accepted { provider_message_id: "CA0123".into() });
    }
}
