//! The rows the store keeps, one struct per table of `schema.cql`.

use serde::{Deserialize, Serialize};

mod message;

pub use message::*;

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
