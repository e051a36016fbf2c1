//! The rows the store keeps, one struct per table of `schema.cql`.

use super::callbacks::OutboxEntry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationRecord {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    pub is_active: bool,
    /// SHA-256 of the public `apiKey`.
    pub api_key_hash: Vec<u8>,
    /// SHA-256 of the `adminApiKey`.
    pub admin_key_hash: Vec<u8>,
    /// The `secretKey`, sealed with the master key (the server needs it back for HMAC).
    pub secret_key_sealed: Vec<u8>,
    /// Addresses and CIDR ranges allowed to call; empty means any.
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write; management writes are compare-and-set on it (0: a row written
    /// before versions existed).
    #[serde(default)]
    pub version: u64,
    /// Where status callbacks of its messages go (a send's `callbackUrl` wins).
    #[serde(default)]
    pub status_callback_url: Option<String>,
    /// Default validity period of its messages, in seconds (`validityPeriod`); the engine's
    /// `delivery.default_validity_secs` when `None`.
    #[serde(default)]
    pub validity_period_secs: Option<u32>,
    /// SMS rules: `maxSegments`, smart encoding, quiet hours, the opt-out bypass.
    #[serde(default)]
    pub sms: crate::domain::sms_policy::SmsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// The association's public `apiKey` (only valid together with its `secretKey`).
    Public,
    /// The association's `adminApiKey` (valid on its own).
    Admin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyIndexEntry {
    pub key_hash: Vec<u8>,
    pub association_id: i64,
    pub kind: KeyKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub association_id: i64,
    pub id: i64,
    pub provider_id: i64,
    pub sender_name: String,
    /// The provider credentials object (JSON), sealed with the master key.
    pub credentials_sealed: Vec<u8>,
    pub api_url: Option<String>,
    pub is_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write; management writes are compare-and-set on it (0: a row written
    /// before versions existed).
    #[serde(default)]
    pub version: u64,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingType {
    /// Route one country to the credential.
    Include,
    /// Route every country except the listed ones to the credential.
    Exclude,
}

/// A country routing allocation (documented under "Create Allocation").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationRecord {
    pub association_id: i64,
    pub id: i64,
    pub credential_id: i64,
    pub routing_type: RoutingType,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub country_name: Option<String>,
    #[serde(default)]
    pub excluded_countries: Vec<String>,
    #[serde(default)]
    pub priority: i32,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write; management writes are compare-and-set on it (0: a row written
    /// before versions existed).
    #[serde(default)]
    pub version: u64,
}

/// One message row change, with the attempt that caused it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageUpdate {
    pub message: MessageRecord,
    pub attempt: Option<AttemptRecord>,
}

/// A message template of an association, addressed by its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub association_id: i64,
    pub code: String,
    #[serde(default)]
    pub name: Option<String>,
    pub content: String,
    pub channel: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write; management writes are compare-and-set on it (0: a row written
    /// before versions existed).
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Scheduled,
    Processing,
    Completed,
    Cancelled,
    /// Its recipients are being written; not acknowledged yet. The row comes first so that
    /// messages of an ingest that dies (a crash, a broken stream, a refused chunk) always
    /// belong to a campaign that says so, and are cancelled rather than left orphaned.
    Ingesting,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Ingesting => "ingesting",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

/// A bulk campaign. Its recipients are ordinary messages carrying its id, indexed by
/// `campaign_messages`; the counters are kept by the campaign service as messages finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: i64,
    pub association_id: i64,
    pub name: String,
    pub channel: String,
    pub status: CampaignStatus,
    pub total_recipients: u64,
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub cancelled: u64,
    #[serde(default)]
    pub invalid_recipients: u64,
    #[serde(default)]
    pub duplicates_removed: u64,
    #[serde(default)]
    pub scheduled_at: Option<i64>,
    /// Pacing beyond the document: messages per second handed to dispatch.
    #[serde(default)]
    pub send_rate: Option<f64>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub credential_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The bulk send's `callbackUrl` for status callbacks of its messages.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// While quiet hours hold its messages: when they end (Unix ms).
    #[serde(default)]
    pub paused_until: Option<i64>,
    /// SMS parts of its rendered messages, summed at creation.
    #[serde(default)]
    pub segments: u64,
}

/// What a schedule entry fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduledKind {
    Message,
    Campaign,
}

/// What a conditional (compare-and-set) write expects of the row it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Insert only: the row must not exist (`Conflict` otherwise).
    Absent,
    /// The row must exist with this version (`VersionMismatch` otherwise, also when it is gone).
    Version(u64),
}

impl Expect {
    /// The version the written row gets.
    pub fn next_version(self) -> u64 {
        match self {
            Expect::Absent => 1,
            Expect::Version(v) => v.saturating_add(1),
        }
    }
}

/// One row of the schedule index: fire `id` (a message or a campaign) at `at` (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleEntry {
    pub at: i64,
    pub kind: ScheduledKind,
    pub id: i64,
}

/// A dashboard operator: a super operator (every association) or bound to one association.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorRecord {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `None`: super operator.
    pub association_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write; management writes are compare-and-set on it (0: a row written
    /// before versions existed).
    #[serde(default)]
    pub version: u64,
    /// Drawn at random on every password change, disable and (re)creation: a session is
    /// valid only while it carries the operator's current epoch (0 for rows before epochs).
    #[serde(default)]
    pub session_epoch: u64,
    /// A disabled operator cannot log in, and its sessions stop working.
    #[serde(default)]
    pub disabled: bool,
}

/// A dashboard session, stored by the hash of its cookie token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub token_hash: Vec<u8>,
    pub username: String,
    /// Required in `X-CSRF-Token` on state-changing requests.
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The operator's `session_epoch` at login (see [`OperatorRecord::session_epoch`]).
    #[serde(default)]
    pub operator_epoch: u64,
}

/// Which statistics a counter row holds: all-time or one UTC day, for one association or
/// all of them (`association_id` 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterScope {
    pub association_id: i64,
    /// Days since the Unix epoch (UTC); 0 = all time; [`CounterScope::CAMPAIGN`] = the
    /// scope of one campaign, whose id then stands in `association_id`.
    pub day: i64,
}

impl CounterScope {
    /// The `day` that marks a campaign's scope (days are never negative).
    pub const CAMPAIGN: i64 = -1;

    /// The counters of one campaign's messages (`delivered`, `undelivered`, `read`), all time.
    pub fn campaign(campaign_id: i64) -> Self {
        Self { association_id: campaign_id, day: Self::CAMPAIGN }
    }
}

/// A counter increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub scope: CounterScope,
    /// `accepted`, `sent`, `failed`, `cancelled`, `delivered`, `undelivered`, `read`, and
    /// `<outcome>:<provider>` for `sent`, `failed`, `delivered`, `undelivered`.
    pub name: String,
    pub delta: i64,
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
