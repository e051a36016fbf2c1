//! Channel fallback: the next channels a message may try, in order, when it fails for good on
//! its own (every credential of the channel exhausted, or a permanent recipient error). Each
//! step carries what that channel needs: its recipient (a phone for SMS and WhatsApp, an
//! address for email) and its channel's payload. Dispatch applies a step by rewriting the
//! message's channel, recipient and payload and routing it again. Pure data, no I/O.

use super::{EmailContent, WhatsAppContent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FallbackStep {
    /// A channel name (`sms`, `whatsapp`, `email`) ingress accepted.
    pub channel: String,
    /// E.164 or an email address, normalised.
    pub recipient: String,
    #[serde(default)]
    pub country: Option<String>,
    /// The text on this channel, when it differs from the message's body.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content: Option<WhatsAppContent>,
    #[serde(default)]
    pub email: Option<EmailContent>,
}

/// The error text of the attempt row that records a fallback (`result: "fallback"`).
pub fn marker_text(from: &str, to: &str, reason: &str) -> String {
    format!("{from} failed: {reason}; falling back to {to}")
}

/// The channels a fallback row names: (from, to).
pub fn parse_marker(text: &str) -> Option<(&str, &str)> {
    let (from, _) = text.split_once(" failed: ")?;
    let (_, to) = text.rsplit_once("; falling back to ")?;
    Some((from, to))
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_name_both_channels() {
        let t = super::marker_text("whatsapp", "sms", "all 1 credential(s) failed; last error: x");
        assert_eq!(super::parse_marker(&t), Some(("whatsapp", "sms")));
        assert_eq!(super::parse_marker("nope"), None);
    }
}
