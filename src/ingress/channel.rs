//! Which channel a send names, and whether this association can be delivered on it: the one
//! check every send path makes (single and bulk webhooks, the dashboard, gRPC), so a message
//! on a channel the engine cannot deliver is refused with a 400 naming the channel instead of
//! going out as something else. Depends on `domain` and `store`.

use crate::domain::{Channel, ProviderKind};
use crate::store::{SharedStore, StoreError};

/// Why a channel was refused: the message says what is wrong and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The channel named `name`, if the engine serves it and, for any channel but SMS, if the
/// association has a credential of a provider that delivers it. SMS is not looked up: every
/// provider delivers it (an association without any credential fails in dispatch, with the
/// reason on the message).
pub async fn deliverable(store: &SharedStore, association_id: i64, name: &str) -> Result<Channel, ChannelError> {
    let channel = Channel::parse(name)
        .ok_or_else(|| ChannelError::Refused(format!("channel `{name}` is not one of {}", Channel::names())))?;
    if channel == Channel::Sms {
        return Ok(channel);
    }
    let credentials = store.list_credentials(association_id).await?;
    let serves = credentials.iter().any(|c| ProviderKind::from_id(c.provider_id).is_some_and(|p| p.channels().contains(&channel)));
    if serves {
        return Ok(channel);
    }
    let providers: Vec<&str> = ProviderKind::ALL.iter().filter(|p| p.channels().contains(&channel)).map(|p| p.code()).collect();
    Err(ChannelError::Refused(format!(
        "channel `{name}`: association {association_id} has no provider credential that delivers {name} (add one of: {})",
        providers.join(", ")
    )))
}
