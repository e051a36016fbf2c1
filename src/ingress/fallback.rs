//! Channel fallback at ingress: checks the channels a message may fall back to (each one
//! served by the association, each with a recipient of its kind, none repeated) and turns
//! them into the stored [`FallbackStep`]s dispatch follows. Used by the Jood webhook's
//! `fallbackChannels` and by the notifications API's ordered `channels`.

use super::{channel, email, IngressError};
use crate::domain::{Channel, EmailContent, FallbackStep};
use crate::store::SharedStore;

/// One channel to fall back to, as a caller names it.
pub struct FallbackRequest {
    pub channel: String,
    /// The recipient on that channel (a phone number or an email address), as given.
    pub recipient: String,
    pub body: Option<String>,
    pub email: Option<EmailContent>,
}

/// Most channels after the first (there are only so many).
pub const MAX_FALLBACKS: usize = 4;

/// The checked steps, in order. `primary` is the message's own channel; `field` names the
/// request field in error messages.
pub async fn steps(
    store: &SharedStore,
    association_id: i64,
    primary: &str,
    field: &str,
    body: &str,
    requests: Vec<FallbackRequest>,
) -> Result<Vec<FallbackStep>, IngressError> {
    if requests.len() > MAX_FALLBACKS {
        return Err(IngressError::Invalid(format!("{field}: at most {MAX_FALLBACKS} fallback channels")));
    }
    let mut seen = vec![primary.to_string()];
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.into_iter().enumerate() {
        if seen.contains(&r.channel) {
            return Err(IngressError::Invalid(format!("{field}[{i}]: channel `{}` is listed twice", r.channel)));
        }
        seen.push(r.channel.clone());
        let ch = channel::deliverable(store, association_id, &r.channel).await.map_err(|e| match e {
            channel::ChannelError::Refused(why) => IngressError::Invalid(format!("{field}[{i}]: {why}")),
            channel::ChannelError::Store(e) => IngressError::Store(e),
        })?;
        let recipient = email::recipient_for(&r.channel, &r.recipient).map_err(|e| match e {
            IngressError::Invalid(m) => IngressError::Invalid(format!("{field}[{i}] ({}): {m}", r.channel)),
            other => other,
        })?;
        let text = r.body.as_deref().unwrap_or(body);
        let email = email::content_for(ch, r.email.filter(|_| ch == Channel::Email), text)?;
        out.push(FallbackStep { channel: r.channel, recipient: recipient.e164, country: recipient.country, body: r.body, content: None, email });
    }
    Ok(out)
}
