//! The email channel's share of ingress: a recipient is an email address on the `email`
//! channel and a phone number on the others (400 naming it either way), and an email gets a
//! subject (given, or the text's first line) and optionally an HTML part. Depends on `domain`.

use super::IngressError;
use crate::domain::{email, phone, Channel, EmailContent};

/// The recipient of a message on the channel named `channel`, normalised: an address for
/// email (domain lower-cased, `country` none), E.164 and its country otherwise.
pub fn recipient_for(channel: &str, recipient: &str) -> Result<phone::Recipient, IngressError> {
    if channel == Channel::Email.as_str() {
        let address = email::normalise(recipient).map_err(|why| IngressError::Invalid(format!("recipient `{recipient}` {why}")))?;
        return Ok(phone::Recipient { e164: address, country: None });
    }
    if channel == Channel::Slack.as_str() {
        let id = crate::domain::slack::normalise(recipient).map_err(|why| IngressError::Invalid(format!("recipient `{recipient}` {why}")))?;
        return Ok(phone::Recipient { e164: id, country: None });
    }
    phone::normalise(recipient).map_err(|why| IngressError::Invalid(format!("recipient `{recipient}` {why}")))
}

/// The stored email part of a message on `channel`: `None` off the email channel (where an
/// email part is refused), the checked subject (or the default) on it.
pub fn content_for(channel: Channel, given: Option<EmailContent>, body: &str) -> Result<Option<EmailContent>, IngressError> {
    if channel != Channel::Email {
        return match given {
            Some(_) => Err(IngressError::Invalid(format!("`subject` is for the email channel, not {}", channel.as_str()))),
            None => Ok(None),
        };
    }
    let (subject, html) = match given {
        Some(e) => (email::check_subject(&e.subject).map_err(IngressError::Invalid)?, e.html.filter(|h| !h.trim().is_empty())),
        None => (email::default_subject(body), None),
    };
    Ok(Some(EmailContent { subject, html }))
}
