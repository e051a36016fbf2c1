//! The provider catalogue: the seven SMS providers of the documented "Providers List", their
//! numeric ids (the order of that list, matching the document's examples: 1 = yamamah,
//! 4 = unifonic), then the WhatsApp providers beyond that list (8 = Meta's Cloud API,
//! 9 = Sidobe, 10 = the WA-Web multi-client gateway of seed 001); the
//! channels each serves and the credential fields each one requires.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Whatsapp,
    Email,
    /// Slack messages (seed 003): a user id (`U…`, opened as a DM) or a channel id.
    Slack,
    /// Phone calls that speak the text (seed 003; OTP digits read out one by one).
    Voice,
}

impl Channel {
    pub const ALL: [Channel; 5] = [Channel::Sms, Channel::Whatsapp, Channel::Email, Channel::Slack, Channel::Voice];

    /// A channel by its API name (`"sms"`, `"whatsapp"`), as sent: case matters.
    pub fn parse(s: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The names the API accepts, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Channel::as_str).join(", ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Slack => "slack",
            Channel::Voice => "voice",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Yamamah,
    Shastra,
    Qyadat,
    Unifonic,
    FourJawaly,
    Infobip,
    Twilio,
    /// Meta's WhatsApp Cloud API (Graph API), beyond the documented list.
    MetaWhatsapp,
    /// Sidobe's WhatsApp API (seed 002): an unofficial WhatsApp-device gateway.
    Sidobe,
    /// The self-hosted WhatsApp-Web multi-client gateway of seed 001.
    WaWebGateway,
    /// Email over SMTP (any relay: implicit TLS, STARTTLS, or none for loopback tests).
    Smtp,
    /// Slack's Web API (`chat.postMessage`) with a bot token, or an incoming webhook.
    Slack,
    /// Twilio Programmable Voice (the Calls resource with TwiML `<Say>`).
    TwilioVoice,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 13] = [
        ProviderKind::Yamamah,
        ProviderKind::Shastra,
        ProviderKind::Qyadat,
        ProviderKind::Unifonic,
        ProviderKind::FourJawaly,
        ProviderKind::Infobip,
        ProviderKind::Twilio,
        ProviderKind::MetaWhatsapp,
        ProviderKind::Sidobe,
        ProviderKind::WaWebGateway,
        ProviderKind::Smtp,
        ProviderKind::Slack,
        ProviderKind::TwilioVoice,
    ];

    /// The documented `providerId`.
    pub fn id(self) -> i64 {
        Self::ALL.iter().position(|p| *p == self).map(|i| i as i64 + 1).unwrap_or(0)
    }

    /// `None` for any id that is not one of ours, `i64::MIN` included (schemathesis found
    /// `id - 1` overflowing there: a panic, answered 500).
    pub fn from_id(id: i64) -> Option<Self> {
        usize::try_from(id.checked_sub(1)?).ok().and_then(|i| Self::ALL.get(i).copied())
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            ProviderKind::Yamamah => "yamamah",
            ProviderKind::Shastra => "shastra",
            ProviderKind::Qyadat => "qyadat",
            ProviderKind::Unifonic => "unifonic",
            ProviderKind::FourJawaly => "4jawaly",
            ProviderKind::Infobip => "infobip",
            ProviderKind::Twilio => "twilio",
            ProviderKind::MetaWhatsapp => "meta",
            ProviderKind::Sidobe => "sidobe",
            ProviderKind::WaWebGateway => "wawebgw",
            ProviderKind::Smtp => "smtp",
            ProviderKind::Slack => "slack",
            ProviderKind::TwilioVoice => "twiliovoice",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Yamamah => "Yamamah",
            ProviderKind::Shastra => "Shastra",
            ProviderKind::Qyadat => "Qyadat",
            ProviderKind::Unifonic => "Unifonic",
            ProviderKind::FourJawaly => "4Jawaly",
            ProviderKind::Infobip => "Infobip",
            ProviderKind::Twilio => "Twilio",
            ProviderKind::MetaWhatsapp => "Meta WhatsApp Cloud API",
            ProviderKind::Sidobe => "Sidobe WhatsApp API",
            ProviderKind::WaWebGateway => "WA-Web multi-client gateway",
            ProviderKind::Smtp => "SMTP (email)",
            ProviderKind::Slack => "Slack",
            ProviderKind::TwilioVoice => "Twilio Programmable Voice",
        }
    }

    /// The channels this provider delivers, the primary one first.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            ProviderKind::Twilio => &[Channel::Sms, Channel::Whatsapp],
            ProviderKind::MetaWhatsapp | ProviderKind::Sidobe | ProviderKind::WaWebGateway => &[Channel::Whatsapp],
            ProviderKind::Smtp => &[Channel::Email],
            ProviderKind::Slack => &[Channel::Slack],
            ProviderKind::TwilioVoice => &[Channel::Voice],
            _ => &[Channel::Sms],
        }
    }

    /// The keys the `credentials` object must carry, as documented.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Yamamah | ProviderKind::Shastra | ProviderKind::Qyadat => &["username", "password"],
            ProviderKind::Unifonic => &["appSid"],
            ProviderKind::FourJawaly => &["appKey", "appSecret"],
            ProviderKind::Infobip => &["apiKey"],
            ProviderKind::Twilio => &["accountSid", "authToken"],
            // `businessAccountId` (templates), `appSecret` (webhook signatures) and
            // `webhookVerifyToken` are optional for sending.
            ProviderKind::MetaWhatsapp => &["phoneNumberId", "accessToken"],
            // The dashboard's Secret Key: sends (`X-Secret-Key`) and webhook signatures alike.
            ProviderKind::Sidobe => &["secretKey"],
            // The account key sends; the client's own key is what its webhooks carry in
            // `X-Api-Key`. The deployment's base URL is the credential's `apiUrl` (required:
            // the gateway is self-hosted, there is no public default).
            ProviderKind::WaWebGateway => &["apiKey", "clientId", "clientApiKey"],
            // `port` (by TLS mode: 465, 587, 25), `tls` (`implicit` | `starttls` | `none`),
            // `username` + `password` (AUTH; sealed like every credential), `fromName`.
            ProviderKind::Smtp => &["host", "fromAddress"],
            // `botToken` (xoxb-…) or `webhookUrl` (an incoming webhook): one of them, checked
            // by `check_credentials` through `one_of_fields`.
            ProviderKind::Slack => &[],
            // The call's `From` is the credential's senderName (a Twilio voice number).
            // Optional: `language` (`ar-SA`, `en-US`, …), `voice` (`alice`, `Polly.Zeina`, …),
            // `repeat` (times the text is said), `pauseSecs` (between repetitions).
            ProviderKind::TwilioVoice => &["accountSid", "authToken"],
        }
    }

    /// Fields of which exactly one must be given (besides [`Self::required_fields`]).
    pub fn one_of_fields(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Slack => &["botToken", "webhookUrl"],
            _ => &[],
        }
    }

    /// Checks a credentials object against the schema: every required field present as a
    /// non-empty string. Returns the problems found, naming each field.
    pub fn check_credentials(self, creds: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
        let mut problems = Vec::new();
        for field in self.required_fields() {
            match creds.get(*field) {
                None | Some(serde_json::Value::Null) => problems.push(format!("credentials.{field} is required")),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                    problems.push(format!("credentials.{field} must not be empty"))
                }
                Some(serde_json::Value::String(_)) => {}
                Some(_) => problems.push(format!("credentials.{field} must be a string")),
            }
        }
        let one_of = self.one_of_fields();
        if !one_of.is_empty() {
            let given: Vec<&str> = one_of
                .iter()
                .copied()
                .filter(|f| creds.get(*f).and_then(|v| v.as_str()).is_some_and(|s| !s.trim().is_empty()))
                .collect();
            if given.len() != 1 {
                problems.push(format!("exactly one of credentials.{} is required", one_of.join(", credentials.")));
            }
            if let Some(url) = creds.get("webhookUrl").and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty()) {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push("credentials.webhookUrl must be an http(s) URL".into());
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let mut needs: Vec<String> = self.required_fields().iter().map(|f| f.to_string()).collect();
            if !self.one_of_fields().is_empty() {
                needs.push(format!("one of {}", self.one_of_fields().join(" or ")));
            }
            Err(format!("{} requires {}: {}", self.code(), needs.join(", "), problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_id_refuses_every_other_id() {
        for id in [i64::MIN, -1, 0, ProviderKind::ALL.len() as i64 + 1, i64::MAX] {
            assert_eq!(ProviderKind::from_id(id), None, "{id}");
        }
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_id(p.id()), Some(p));
        }
    }

    #[test]
    fn ids_match_the_documented_examples() {
        assert_eq!(ProviderKind::from_id(1), Some(ProviderKind::Yamamah));
        assert_eq!(ProviderKind::from_id(4), Some(ProviderKind::Unifonic));
        assert_eq!(ProviderKind::from_id(7), Some(ProviderKind::Twilio));
        assert_eq!(ProviderKind::from_id(0), None);
        assert_eq!(ProviderKind::from_id(8), Some(ProviderKind::MetaWhatsapp));
        assert_eq!(ProviderKind::from_id(9), Some(ProviderKind::Sidobe));
        assert_eq!(ProviderKind::from_id(10), Some(ProviderKind::WaWebGateway));
        assert_eq!(ProviderKind::from_code("wawebgw"), Some(ProviderKind::WaWebGateway));
        assert_eq!(ProviderKind::from_id(11), Some(ProviderKind::Smtp));
        assert_eq!(ProviderKind::from_id(ProviderKind::ALL.len() as i64 + 1), None);
        assert_eq!(ProviderKind::Smtp.channels(), &[Channel::Email]);
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_id(p.id()), Some(p));
            assert_eq!(ProviderKind::from_code(p.code()), Some(p));
        }
    }

    #[test]
    fn channels_parse_by_their_api_names() {
        assert_eq!(Channel::parse("sms"), Some(Channel::Sms));
        assert_eq!(Channel::parse("whatsapp"), Some(Channel::Whatsapp));
        assert_eq!(Channel::parse("fax"), None);
        assert_eq!(Channel::parse("SMS"), None);
        assert_eq!(Channel::parse("email"), Some(Channel::Email));
        assert_eq!(Channel::names(), "sms, whatsapp, email, slack, voice");
        assert_eq!(Channel::parse("voice"), Some(Channel::Voice));
        assert_eq!(ProviderKind::from_code("slack"), Some(ProviderKind::Slack));
        assert_eq!(ProviderKind::TwilioVoice.channels(), &[Channel::Voice]);
        // Every provider's primary channel is listed first, and Meta serves WhatsApp only.
        assert_eq!(ProviderKind::MetaWhatsapp.channels(), &[Channel::Whatsapp]);
        assert!(ProviderKind::ALL.iter().all(|p| !p.channels().is_empty()));
    }

    #[test]
    fn credential_schema_names_missing_fields() {
        let creds = serde_json::json!({"accountSid": "AC1", "authToken": ""});
        let err = ProviderKind::Twilio.check_credentials(creds.as_object().unwrap()).unwrap_err();
        assert!(err.contains("credentials.authToken must not be empty"), "{err}");
        let err = ProviderKind::FourJawaly.check_credentials(&serde_json::Map::new()).unwrap_err();
        assert!(err.contains("credentials.appKey is required") && err.contains("credentials.appSecret is required"), "{err}");
        let err = ProviderKind::Slack.check_credentials(&serde_json::Map::new()).unwrap_err();
        assert!(err.contains("exactly one of credentials.botToken, credentials.webhookUrl"), "{err}");
        let both = serde_json::json!({"botToken": "xoxb-1", "webhookUrl": "https://hooks.slack.com/services/T/B/x"});
        assert!(ProviderKind::Slack.check_credentials(both.as_object().unwrap()).is_err());
        let bot = serde_json::json!({"botToken": "xoxb-1"});
        assert!(ProviderKind::Slack.check_credentials(bot.as_object().unwrap()).is_ok());
        let ok = serde_json::json!({"apiKey": "k"});
        assert!(ProviderKind::Infobip.check_credentials(ok.as_object().unwrap()).is_ok());
    }
}
