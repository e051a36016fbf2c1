//! The rows of a message's life: the message itself, its status rules, its attempts and
//! history events, and the observer hook that turns a status change into a callback.

use crate::store::callbacks::OutboxEntry;
use serde::{Deserialize, Serialize};

/// A message's lifecycle: `queued` (or `scheduled`) → `dispatching` → `sent` → `delivered` |
/// `undelivered` | `read`; `failed` at any step; `cancelled`; `expired`. Status events may
/// arrive late or twice: [`MessageStatus::rank`] orders them so that none moves a message back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Scheduled,
    Dispatching,
    Sent,
    Delivered,
    Failed,
    Cancelled,
    Expired,
    /// The provider accepted it but the handset was not reached.
    Undelivered,
    /// Read by the recipient (channels that report it, e.g. WhatsApp).
    Read,
}

impl MessageStatus {
    /// Terminal states leave the unfinished index; nothing moves a message out of them
    /// except a delivery report (`sent` is terminal for dispatch, `delivered` may follow).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Scheduled | Self::Dispatching)
    }

    /// Precedence of a status: a status event never moves a message to a lower rank.
    /// `queued`/`scheduled`/`dispatching` 0 < `sent` 1 < the outcomes (`delivered`,
    /// `undelivered`, `failed`, `expired`, `cancelled`) 2 < `read` 3.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued | Self::Scheduled | Self::Dispatching => 0,
            Self::Sent => 1,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Expired | Self::Cancelled => 2,
            Self::Read => 3,
        }
    }

    /// Whether a report of `self` changes a message now in `current`: only a higher rank
    /// does, so a repeated report changes nothing, a late `sent` never undoes `delivered`,
    /// and of two outcomes the first one recorded stands.
    pub fn report_supersedes(self, current: MessageStatus) -> bool {
        self.rank() > current.rank()
    }

    /// Whether the engine's own write of `self` (dispatch's `dispatching`, `sent`, `failed`;
    /// a cancel) replaces `current`. Dispatch moves freely below `sent` (a retry goes back
    /// to `queued`) and may rewrite `sent` (a repeated call after a crash records its new
    /// provider id); it never overwrites a higher rank, so its late `sent` cannot undo a
    /// `delivered` report. `cancelled` stays overridable as before (a cancel racing a
    /// provider call that was sent anyway ends `sent`).
    pub fn engine_supersedes(self, current: MessageStatus) -> bool {
        self == current
            || current == Self::Cancelled
            || self.rank() > current.rank()
            || (self.rank() == current.rank() && current.rank() < 2)
    }

    /// [`Self::engine_supersedes`] for a whole row: also a report-driven channel fallback,
    /// which moves a `sent` message (its delivery report said undelivered or failed) back to
    /// `dispatching` on another channel (`status::fallback`).
    pub fn engine_row_supersedes(new: &MessageRecord, current: &MessageRecord) -> bool {
        new.status.engine_supersedes(current.status)
            || (current.status == Self::Sent && new.status == Self::Dispatching && new.channel != current.channel)
    }

    /// Counts among the messages a provider accepted (campaign `sent`, stats `sent`).
    pub fn was_sent(self) -> bool {
        matches!(self, Self::Sent | Self::Delivered | Self::Undelivered | Self::Read)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Scheduled => "scheduled",
            Self::Dispatching => "dispatching",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Undelivered => "undelivered",
            Self::Read => "read",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: i64,
    pub association_id: i64,
    #[serde(default)]
    pub campaign_id: Option<i64>,
    /// E.164.
    pub recipient: String,
    /// ISO 3166-1 alpha-2 of the recipient, for routing.
    #[serde(default)]
    pub country: Option<String>,
    pub body: String,
    pub channel: String,
    #[serde(default)]
    pub priority: i32,
    pub status: MessageStatus,
    #[serde(default)]
    pub scheduled_at: Option<i64>,
    /// A credential the sender asked for (dashboard sends); routing otherwise.
    #[serde(default)]
    pub credential_id: Option<i64>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: i64,
    pub updated_at: i64,
    /// What a WhatsApp message carries beyond `body` (a template, media); `None` for SMS and
    /// for a WhatsApp session text, whose text is `body`.
    #[serde(default)]
    pub content: Option<crate::domain::WhatsAppContent>,
    /// The send's own `callbackUrl` (status callbacks go there rather than to the
    /// association's `statusCallbackUrl`).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Unix ms: the end of its validity period. Not sent by then, it is not sent at all;
    /// sent and not delivered by then, it ends `expired`. `None`: rows from before validity
    /// periods existed (never expire).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// How the text travels as an SMS (`None` on rows written before encodings were kept,
    /// and on channels without one).
    #[serde(default)]
    pub encoding: Option<crate::domain::sms::Encoding>,
    /// SMS parts the text is sent in (what providers bill); 0 on older rows and non-SMS.
    #[serde(default)]
    pub segments: u32,
    /// An email's subject and HTML part (`body` is its text part); `None` on other channels.
    #[serde(default)]
    pub email: Option<crate::domain::EmailContent>,
    /// Channel fallback: where to go next, in order, when this message fails for good on its
    /// channel (seed 003's ordered `channels`, the webhook's `fallbackChannels`).
    #[serde(default)]
    pub fallback: Vec<crate::domain::FallbackStep>,
}

impl MessageRecord {
    /// A message as accepted, before any attempt: `scheduled` when `scheduled_at` is given,
    /// `queued` otherwise; outside any campaign, priority 0, routed by the association.
    pub fn accepted(
        id: i64,
        association_id: i64,
        recipient: crate::domain::phone::Recipient,
        body: String,
        channel: String,
        scheduled_at: Option<i64>,
        now: i64,
    ) -> Self {
        Self {
            id,
            association_id,
            campaign_id: None,
            recipient: recipient.e164,
            country: recipient.country,
            body,
            channel,
            priority: 0,
            status: if scheduled_at.is_some() { MessageStatus::Scheduled } else { MessageStatus::Queued },
            scheduled_at,
            credential_id: None,
            provider: None,
            provider_message_id: None,
            error: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
            content: None,
            callback_url: None,
            expires_at: None,
            encoding: None,
            segments: 0,
            email: None,
            fallback: Vec::new(),
        }
    }

    /// The message's channel; rows only ever hold names ingress accepted, and anything else
    /// reads as SMS (the channel every provider serves).
    pub fn channel_kind(&self) -> crate::domain::Channel {
        crate::domain::Channel::parse(&self.channel).unwrap_or(crate::domain::Channel::Sms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub message_id: i64,
    /// 1-based, in order.
    pub attempt: u32,
    pub credential_id: i64,
    pub provider: String,
    /// `sent`, `retryable`, `permanent`, …
    pub result: String,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub at: i64,
}

/// One message row change, with the attempt that caused it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageUpdate {
    pub message: MessageRecord,
    pub attempt: Option<AttemptRecord>,
}

/// One event of a message's history (table `message_events`, clustered by `seq`): the
/// engine's own status changes and every provider report that changed the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    pub message_id: i64,
    /// Commit order within the message, assigned by the store when the event is written.
    #[serde(default)]
    pub seq: i64,
    pub status: MessageStatus,
    /// Unix ms: when the provider says it happened (reports) or when the engine did it.
    pub at: i64,
    /// `engine`, or the code of the provider whose report it was (`twilio`, `infobip`, …).
    pub source: String,
    /// The provider's own status word (`DELIVERED_TO_HANDSET`, `undelivered`, …).
    #[serde(default)]
    pub raw_status: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_text: Option<String>,
}

/// What [`Store::apply_status`](super::Store::apply_status) did with one status event.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// The message moved; the event joined its history.
    Applied { before: MessageRecord, after: MessageRecord },
    /// The event would not move the message (a repeat, or a lower rank arriving late).
    Unchanged(MessageRecord),
    /// No such message.
    Missing,
}

/// The hook the callbacks layer plugs into the store: asked on every status change the
/// store commits (dispatch's and reports' alike) and, when it answers an entry, the entry is
/// written to `callback_outbox` in the same commit as the change, so a crash loses no
/// customer callback. Called on the store's writer thread: keep it cheap and non-blocking.
pub trait StatusObserver: Send + Sync + 'static {
    fn on_change(&self, before: &MessageRecord, after: &MessageRecord, event: &MessageEvent) -> Option<OutboxEntry>;
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::{self, *};

    const ALL: [MessageStatus; 10] = [Queued, Scheduled, Dispatching, Sent, Delivered, Failed, Cancelled, Expired, Undelivered, Read];

    #[test]
    fn reports_only_move_a_message_up() {
        for s in ALL {
            assert!(!s.report_supersedes(s), "a repeated {s:?} changes nothing");
        }
        assert!(Delivered.report_supersedes(Sent) && Undelivered.report_supersedes(Sent) && Failed.report_supersedes(Sent));
        assert!(Delivered.report_supersedes(Dispatching), "delivered before sent was recorded");
        assert!(!Sent.report_supersedes(Delivered), "a late sent");
        assert!(!Delivered.report_supersedes(Undelivered) && !Undelivered.report_supersedes(Delivered), "the first outcome stands");
        assert!(Read.report_supersedes(Delivered) && Read.report_supersedes(Sent) && !Delivered.report_supersedes(Read));
    }

    #[test]
    fn dispatch_moves_freely_below_sent_and_never_undoes_a_report() {
        assert!(Queued.engine_supersedes(Dispatching), "a retry goes back to queued");
        assert!(Dispatching.engine_supersedes(Queued) && Sent.engine_supersedes(Dispatching) && Failed.engine_supersedes(Dispatching));
        assert!(Sent.engine_supersedes(Sent), "a repeated call records its new provider id");
        assert!(Sent.engine_supersedes(Cancelled), "a cancel racing a call that was sent anyway");
        for report in [Delivered, Undelivered, Read] {
            for engine in [Queued, Dispatching, Sent, Failed] {
                assert!(!engine.engine_supersedes(report), "dispatch's {engine:?} must not undo {report:?}");
            }
        }
        for s in ALL {
            assert_eq!(s.is_terminal(), s.rank() > 0, "{s:?}");
        }
    }
}
