//! The opt-out list of an association: added and removed through `/api/v1/opt-outs`, and
//! from inbound messages that are exactly an opt-out keyword (STOP, UNSUBSCRIBE, إيقاف, …:
//! an opt-out of that channel) or an opt-in keyword (START, UNSTOP, …: the recipient's rows
//! for that channel and for all channels go). Ingress reads the list on every send
//! (`ingress::sms_rules`), the campaign pump before each message. Depends on `store`, `domain`.

use super::{DirResult, DirectoryError};
use crate::domain::sms_policy::{keyword, Keyword};
use crate::domain::{now_ms, phone, Channel};
use crate::store::opt_outs::ALL_CHANNELS;
use crate::store::{OptOutRecord, Store};

/// Most rows a listing returns at once.
pub const MAX_PAGE: usize = 500;

/// A channel name the list takes: a channel, or `all`; absent means all.
pub fn channel_name(channel: Option<&str>) -> DirResult<String> {
    match channel.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(ALL_CHANNELS.to_owned()),
        Some(c) if c == ALL_CHANNELS || Channel::parse(c).is_some() => Ok(c.to_owned()),
        Some(c) => Err(DirectoryError::Invalid(format!("channel `{c}` is not one of {}, {ALL_CHANNELS}", Channel::names()))),
    }
}

/// A recipient as the list keys it (E.164); the error names the field.
pub fn recipient(raw: &str) -> DirResult<String> {
    phone::normalise(raw).map(|r| r.e164).map_err(|why| DirectoryError::Invalid(format!("recipient `{raw}` {why}")))
}

/// Adds (or replaces) an opt-out.
pub async fn add(store: &dyn Store, association_id: i64, recipient_raw: &str, channel: Option<&str>, reason: Option<String>, source: &str) -> DirResult<OptOutRecord> {
    let rec = OptOutRecord {
        association_id,
        recipient: recipient(recipient_raw)?,
        channel: channel_name(channel)?,
        reason: reason.map(|r| r.trim().chars().take(500).collect()).filter(|r: &String| !r.is_empty()),
        source: source.to_owned(),
        created_at: now_ms(),
    };
    store.put_opt_out(&rec).await?;
    tracing::info!(association = association_id, channel = %rec.channel, source, "recipient opted out");
    Ok(rec)
}

/// Removes the recipient's row for `channel`, or every row with `None`; how many went.
pub async fn remove(store: &dyn Store, association_id: i64, recipient_raw: &str, channel: Option<&str>) -> DirResult<usize> {
    let who = recipient(recipient_raw)?;
    let channel = match channel.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(channel_name(Some(c))?),
        None => None,
    };
    Ok(store.delete_opt_outs(association_id, &who, channel.as_deref()).await?)
}

/// What an inbound message did to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordEffect {
    OptedOut,
    OptedIn,
}

/// Applies an inbound message from `from` on `channel` if it is exactly a keyword.
pub async fn apply_inbound(store: &dyn Store, association_id: i64, from: &str, channel: Channel, text: &str, provider: &str) -> DirResult<Option<KeywordEffect>> {
    let Some(k) = keyword(text) else { return Ok(None) };
    let who = recipient(from)?;
    match k {
        Keyword::OptOut => {
            let reason = Some(format!("inbound keyword `{}`", text.trim().chars().take(40).collect::<String>()));
            add(store, association_id, &who, Some(channel.as_str()), reason, &format!("keyword:{provider}")).await?;
            metrics::counter!(crate::telemetry::OPT_OUTS_TOTAL, "channel" => channel.as_str(), "change" => "opt_out").increment(1);
            Ok(Some(KeywordEffect::OptedOut))
        }
        Keyword::OptIn => {
            store.delete_opt_outs(association_id, &who, Some(channel.as_str())).await?;
            store.delete_opt_outs(association_id, &who, Some(ALL_CHANNELS)).await?;
            tracing::info!(association = association_id, channel = channel.as_str(), "recipient opted back in");
            metrics::counter!(crate::telemetry::OPT_OUTS_TOTAL, "channel" => channel.as_str(), "change" => "opt_in").increment(1);
            Ok(Some(KeywordEffect::OptedIn))
        }
    }
}
