//! Typed configuration: one serde struct with a working default for every setting.
//!
//! Layers, later wins: built-in defaults (`Config::default()`, mirrored line for line by
//! `config/default.toml`), the file given with `--config`, environment variables
//! `JOOD__SECTION__KEY`, then command-line flags. `validate()` reports every problem at once,
//! each naming its key. Secrets never live here: they come from the environment or files
//! named here (see `auth::secrets`).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod batching;
mod callbacks;
mod delivery;
mod gateways;
mod observability;
mod protection;
pub use batching::{BatchConfig, BatchSizes};
pub use callbacks::CallbacksConfig;
pub use delivery::DeliveryConfig;
pub use gateways::GatewaysConfig;
pub use observability::{LogConfig, MetricsConfig};
pub use protection::{IdempotencyConfig, RateLimitConfig, RedisConfig};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub ids: IdsConfig,
    pub dispatch: DispatchConfig,
    pub campaigns: CampaignsConfig,
    pub dashboard: DashboardConfig,
    pub webhook: WebhookConfig,
    pub rate_limit: RateLimitConfig,
    pub redis: RedisConfig,
    pub idempotency: IdempotencyConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub callbacks: CallbacksConfig,
    pub delivery: DeliveryConfig,
    pub gateways: GatewaysConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Messages held in memory across all associations; beyond it ingress answers 503.
    pub max_in_memory: usize,
    /// Messages of one association handed to its credentials at once (the rest wait, by priority).
    pub association_window: usize,
    /// An association actor with nothing to do stops after this long (milliseconds).
    pub association_idle_ms: u64,
    /// How often an association re-reads its credentials and allocations (milliseconds).
    pub route_refresh_ms: u64,
    /// Concurrent provider calls per credential.
    pub credential_in_flight: usize,
    /// Calls of one message on one credential before failing over (first try included).
    pub max_attempts_per_credential: u32,
    /// First retry delay; doubles per retry, with jitter (milliseconds).
    pub backoff_base_ms: u64,
    /// Longest retry delay (milliseconds).
    pub backoff_max_ms: u64,
    /// Consecutive failures that open a credential's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open circuit rejects calls before one probe (milliseconds).
    pub breaker_open_ms: u64,
    /// Timeout of one provider HTTP call (milliseconds); a timeout is an ambiguous failure.
    pub provider_timeout_ms: u64,
    /// Restarts of failed actors allowed per `restart_window_ms` before restarts are delayed.
    pub restart_max: u32,
    pub restart_window_ms: u64,
    /// How long the `dispatching` status waits before it is written (milliseconds). A
    /// message whose provider answers sooner goes from `queued` straight to its final row:
    /// one durable write instead of two. 0 writes every `dispatching` at once. Recovery
    /// treats `queued` and `dispatching` alike, so the delay risks nothing.
    pub dispatching_write_delay_ms: u64,
    /// Messages per second per credential, by provider (token bucket; one second of burst).
    pub rate_per_second: ProviderRates,
    /// Campaign messages per provider request, for providers that take lists.
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderRates {
    pub yamamah: f64,
    pub shastra: f64,
    pub qyadat: f64,
    pub unifonic: f64,
    #[serde(rename = "4jawaly")]
    pub fourjawaly: f64,
    pub infobip: f64,
    pub twilio: f64,
    /// Meta's WhatsApp Cloud API: a business number's default throughput is 80 msg/s.
    pub meta: f64,
    /// Sidobe: no published limit (it varies with load); one WhatsApp device behind it.
    pub sidobe: f64,
    /// The WA-Web gateway documents 100 requests per 15 minutes per key.
    pub wawebgw: f64,
    /// An SMTP relay (per credential); relays' own limits vary widely, so set yours.
    pub smtp: f64,
    /// Slack's chat.postMessage: about 1 message per second per channel (its "special" tier).
    pub slack: f64,
    /// Twilio Programmable Voice: 1 call per second (CPS) per account unless Twilio raised it.
    pub twiliovoice: f64,
}

impl ProviderRates {
    pub fn of(&self, p: crate::domain::ProviderKind) -> f64 {
        use crate::domain::ProviderKind::*;
        match p {
            Yamamah => self.yamamah,
            Shastra => self.shastra,
            Qyadat => self.qyadat,
            Unifonic => self.unifonic,
            FourJawaly => self.fourjawaly,
            Infobip => self.infobip,
            Twilio => self.twilio,
            MetaWhatsapp => self.meta,
            Sidobe => self.sidobe,
            WaWebGateway => self.wawebgw,
            Smtp => self.smtp,
            Slack => self.slack,
            TwilioVoice => self.twiliovoice,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignsConfig {
    /// Most recipients one bulk request may list.
    pub max_recipients_per_request: usize,
    /// Messages of one campaign held by dispatch at once (the rest wait in the store).
    pub window: usize,
    /// Messages per durable write while a bulk request is stored.
    pub write_chunk: usize,
    /// Invalid recipients listed (with reasons) in a bulk answer; all are counted.
    pub invalid_report_limit: usize,
    /// How often a running campaign's counters are written to its row (milliseconds).
    pub progress_flush_ms: u64,
    /// Most recipients one gRPC `SendBulk` stream may carry (de-duplication keeps about 16
    /// bytes per recipient in memory while the stream is stored).
    pub max_recipients_per_stream: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// The first super operator (JOOD_OPERATOR_USERNAME overrides it).
    pub operator_username: Option<String>,
    /// File holding that operator's password (JOOD_OPERATOR_PASSWORD overrides it).
    pub operator_password_file: Option<std::path::PathBuf>,
    /// Session lifetime, in seconds.
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (serve the dashboard over HTTPS).
    pub secure_cookie: bool,
    /// Longest wait of `send-sms` for the delivery result, in milliseconds.
    pub send_timeout_ms: u64,
    /// Most messages a filtered or searched log request reads.
    pub logs_max_scan: usize,
    /// Most pending messages the queue view reads.
    pub queue_max_items: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Largest accepted distance between X-Webhook-Timestamp and server time (documented: 5 minutes).
    pub max_skew_ms: i64,
    /// Accept each signature once within its window (replay protection).
    pub reject_replays: bool,
    /// Longest message body, in characters.
    pub max_message_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub http_addr: String,
    /// Address the gRPC API listens on; port 0 picks a free port; empty turns gRPC off.
    pub grpc_addr: String,
    /// Largest request body accepted on ordinary routes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// Largest request body accepted on bulk routes (campaign recipient lists).
    pub bulk_body_limit_bytes: usize,
    /// A request that takes longer than this is answered 503.
    pub request_timeout_ms: u64,
    /// Time given to in-flight requests on shutdown before they are cut.
    pub shutdown_grace_ms: u64,
    /// Which address a request comes from: `peer` (the TCP peer) or `x-forwarded-for` (the
    /// client named by X-Forwarded-For, believed only from `trusted_proxies`).
    pub client_ip: String,
    /// Proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<String>,
    /// The engine's public base URL (`https://jood.example.com`), from which providers and
    /// customers reach it: delivery-report URLs handed to providers are built on it. Empty:
    /// no report URL is given to any provider.
    pub public_url: String,
    /// A connection that has not sent a whole request head this long after it began is closed.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// Most HTTP connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `embedded` (default; a data directory, nothing to install) or `scylla`.
    pub backend: String,
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// Most write requests folded into one group commit (one fsync).
    pub group_commit_max_batch: usize,
    /// Bound of the queue in front of the group committer; writers wait when it is full.
    pub group_commit_queue: usize,
    /// Block cache of the embedded store, in MiB.
    pub cache_mib: u64,
    /// Largest in-memory write buffer (memtable) of one table, in MiB; bounds the store's
    /// memory under heavy writes.
    pub memtable_mib: u64,
    /// Do not fsync (tests and benchmarks of everything but durability only). Never in production.
    pub unsafe_no_fsync: bool,
    /// New messages are refused (503 with Retry-After) while the data directory's filesystem
    /// has fewer free bytes than this, so the store never runs out mid-commit; 0 = no check.
    pub min_free_bytes: u64,
    /// The ScyllaDB backend (`backend = "scylla"`).
    pub scylla: ScyllaConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScyllaConfig {
    /// Contact points, `host:port`.
    pub uris: Vec<String>,
    pub keyspace: String,
    /// The replication clause `jood migrate` creates the keyspace with.
    pub replication: String,
    /// Consistency of every read and write (`local_quorum`, `quorum`, `one`, ...).
    pub consistency: String,
    /// Consistency of LWT's Paxos round: `local_serial` or `serial`.
    pub serial_consistency: String,
    /// Compare-and-set through lightweight transactions. Turn off only for a single engine
    /// node on a server that ignores `IF` (decisions are then made in that one process).
    pub lwt: bool,
    /// Apply missing schema migrations at start (else run `jood migrate`).
    pub auto_migrate: bool,
    pub request_timeout_ms: u64,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        let o = crate::store::scylla::ScyllaOptions::default();
        Self {
            uris: o.uris,
            keyspace: o.keyspace,
            replication: o.replication,
            consistency: o.consistency,
            serial_consistency: o.serial_consistency,
            lwt: o.lwt,
            auto_migrate: true,
            request_timeout_ms: o.request_timeout_ms,
        }
    }
}

impl ScyllaConfig {
    /// The backend's options, with this engine's node id (its rows of per-node totals).
    pub fn options(&self, node: u8) -> crate::store::scylla::ScyllaOptions {
        crate::store::scylla::ScyllaOptions {
            uris: self.uris.clone(),
            keyspace: self.keyspace.clone(),
            replication: self.replication.clone(),
            consistency: self.consistency.clone(),
            serial_consistency: self.serial_consistency.clone(),
            lwt: self.lwt,
            node: i32::from(node),
            request_timeout_ms: self.request_timeout_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// File holding the super-admin key (used when `JOOD_ADMIN_KEY` is not set).
    pub admin_key_file: Option<PathBuf>,
    /// File holding the 32-byte master key, hex or base64 (used when `JOOD_MASTER_KEY` is not set).
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    /// Node id (0..=7) written into every id; distinct per engine sharing one ScyllaDB cluster.
    pub node_id: u8,
    /// Take the node id from a Redis lease instead (needs `redis.url`; `node_id` is then
    /// ignored): several engines on one cluster, each owning the work of its node id, a live
    /// node taking over the work of one whose lease expired (`cluster`).
    pub lease_from_redis: bool,
    /// How long a node id lease (and a takeover) lasts unless renewed (milliseconds).
    pub lease_ttl_ms: u64,
    /// How often leases are renewed and expired ones looked for (milliseconds).
    pub lease_renew_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            ids: IdsConfig::default(),
            dispatch: DispatchConfig::default(),
            campaigns: CampaignsConfig::default(),
            dashboard: DashboardConfig::default(),
            webhook: WebhookConfig::default(),
            rate_limit: RateLimitConfig::default(),
            redis: RedisConfig::default(),
            idempotency: IdempotencyConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            callbacks: CallbacksConfig::default(),
            delivery: DeliveryConfig::default(),
            gateways: GatewaysConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            grpc_addr: "127.0.0.1:50051".into(),
            body_limit_bytes: 1024 * 1024,
            bulk_body_limit_bytes: 64 * 1024 * 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            client_ip: "peer".into(),
            trusted_proxies: Vec::new(),
            public_url: String::new(),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            data_dir: PathBuf::from("./data"),
            group_commit_max_batch: 8192,
            group_commit_queue: 65_536,
            cache_mib: 32,
            memtable_mib: 8,
            min_free_bytes: 256 * 1024 * 1024,
            unsafe_no_fsync: false,
            scylla: ScyllaConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { admin_key_file: None, master_key_file: None }
    }
}

impl Default for IdsConfig {
    fn default() -> Self {
        Self { node_id: 0, lease_from_redis: false, lease_ttl_ms: 10_000, lease_renew_ms: 2_000 }
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            max_in_memory: 200_000,
            association_window: 20_000,
            association_idle_ms: 60_000,
            route_refresh_ms: 2_000,
            credential_in_flight: 256,
            max_attempts_per_credential: 3,
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
            breaker_failures: 5,
            breaker_open_ms: 10_000,
            provider_timeout_ms: 10_000,
            restart_max: 10,
            restart_window_ms: 60_000,
            dispatching_write_delay_ms: 1_000,
            rate_per_second: ProviderRates::default(),
            batch: BatchConfig::default(),
        }
    }
}

impl Default for ProviderRates {
    fn default() -> Self {
        Self { yamamah: 100.0, shastra: 100.0, qyadat: 100.0, unifonic: 100.0, fourjawaly: 100.0, infobip: 500.0, twilio: 100.0, meta: 80.0, sidobe: 5.0, wawebgw: 0.11, smtp: 100.0 , slack: 1.0, twiliovoice: 1.0 }
    }
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        Self {
            max_recipients_per_request: 1_000_000,
            window: 10_000,
            write_chunk: 10_000,
            invalid_report_limit: 100,
            progress_flush_ms: 500,
            max_recipients_per_stream: 5_000_000,
        }
    }
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            operator_username: None,
            operator_password_file: None,
            session_ttl_secs: 8 * 3600,
            secure_cookie: false,
            send_timeout_ms: 15_000,
            logs_max_scan: 20_000,
            queue_max_items: 10_000,
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { max_skew_ms: 300_000, reject_replays: true, max_message_chars: 2_000 }
    }
}

/// Why a configuration could not be loaded; every message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Defaults, then the optional file, then `JOOD__SECTION__KEY` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(Env::prefixed("JOOD__").split("__"));
        let config: Config = fig.extract().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(describe_figment_error).collect();
            ConfigError::Parse(msgs.join("; "))
        })?;
        Ok(config)
    }

    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.server.http_addr.parse::<SocketAddr>().is_err() {
            problems.push(format!("server.http_addr: `{}` is not a HOST:PORT socket address", self.server.http_addr));
        }
        if !self.server.grpc_addr.is_empty() && self.server.grpc_addr.parse::<SocketAddr>().is_err() {
            problems.push(format!("server.grpc_addr: `{}` is not a HOST:PORT socket address (or empty to turn gRPC off)", self.server.grpc_addr));
        }
        if self.server.body_limit_bytes < 1024 {
            problems.push("server.body_limit_bytes: must be at least 1024".into());
        }
        if self.server.bulk_body_limit_bytes < self.server.body_limit_bytes {
            problems.push("server.bulk_body_limit_bytes: must be at least server.body_limit_bytes".into());
        }
        if self.server.header_read_timeout_ms == 0 || self.server.idle_timeout_ms == 0 {
            problems.push("server.header_read_timeout_ms and server.idle_timeout_ms: must be greater than 0".into());
        }
        if self.server.max_connections == 0 {
            problems.push("server.max_connections: must be at least 1".into());
        }
        if self.server.request_timeout_ms == 0 {
            problems.push("server.request_timeout_ms: must be greater than 0".into());
        }
        if !self.server.public_url.is_empty() {
            let ok = reqwest::Url::parse(&self.server.public_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none() && u.fragment().is_none());
            if !ok {
                problems.push(format!(
                    "server.public_url: `{}` is not an http(s) base URL without query or fragment (e.g. https://jood.example.com)",
                    self.server.public_url
                ));
            }
        }
        if !matches!(self.store.backend.as_str(), "embedded" | "scylla") {
            problems.push(format!("store.backend: `{}` is not one of embedded, scylla", self.store.backend));
        }
        if self.store.backend == "scylla" {
            let sc = &self.store.scylla;
            if sc.uris.is_empty() {
                problems.push("store.scylla.uris: at least one contact point is needed".into());
            }
            if sc.keyspace.is_empty() || !sc.keyspace.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                problems.push(format!("store.scylla.keyspace: `{}` must be letters, digits and underscores", sc.keyspace));
            }
            if crate::store::scylla::session_parse::consistency(&sc.consistency).is_none() {
                problems.push(format!("store.scylla.consistency: `{}` is not a consistency level", sc.consistency));
            }
            if crate::store::scylla::session_parse::serial(&sc.serial_consistency).is_none() {
                problems.push(format!("store.scylla.serial_consistency: `{}` is not one of serial, local_serial", sc.serial_consistency));
            }
            if sc.request_timeout_ms == 0 {
                problems.push("store.scylla.request_timeout_ms: must be greater than 0".into());
            }
        }
        if self.store.data_dir.as_os_str().is_empty() {
            problems.push("store.data_dir: must not be empty".into());
        }
        if self.store.group_commit_max_batch == 0 {
            problems.push("store.group_commit_max_batch: must be greater than 0".into());
        }
        if self.store.memtable_mib == 0 {
            problems.push("store.memtable_mib: must be greater than 0".into());
        }
        if self.store.group_commit_queue == 0 {
            problems.push("store.group_commit_queue: must be greater than 0".into());
        }
        if self.ids.node_id > crate::domain::ids::MAX_NODE_ID {
            problems.push(format!("ids.node_id: {} is out of range 0..={}", self.ids.node_id, crate::domain::ids::MAX_NODE_ID));
        }
        if self.ids.lease_from_redis && self.redis.url.is_empty() {
            problems.push("ids.lease_from_redis: needs redis.url".into());
        }
        if self.ids.lease_from_redis && (self.ids.lease_renew_ms == 0 || self.ids.lease_renew_ms * 3 > self.ids.lease_ttl_ms) {
            problems.push(format!("ids.lease_renew_ms: {} must be above 0 and at most a third of ids.lease_ttl_ms ({})", self.ids.lease_renew_ms, self.ids.lease_ttl_ms));
        }
        let d = &self.dispatch;
        for (key, v) in [
            ("dispatch.max_in_memory", d.max_in_memory),
            ("dispatch.association_window", d.association_window),
            ("dispatch.credential_in_flight", d.credential_in_flight),
        ] {
            if v == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        for (key, v) in [
            ("dispatch.route_refresh_ms", d.route_refresh_ms),
            ("dispatch.provider_timeout_ms", d.provider_timeout_ms),
            ("dispatch.backoff_base_ms", d.backoff_base_ms),
            ("dispatch.association_idle_ms", d.association_idle_ms),
        ] {
            if v == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        if d.max_attempts_per_credential == 0 {
            problems.push("dispatch.max_attempts_per_credential: must be at least 1".into());
        }
        if d.backoff_max_ms < d.backoff_base_ms {
            problems.push("dispatch.backoff_max_ms: must be at least dispatch.backoff_base_ms".into());
        }
        d.batch.max_messages.problems(&mut problems);
        for p in crate::domain::ProviderKind::ALL {
            let r = d.rate_per_second.of(p);
            if !(r.is_finite() && r > 0.0) {
                problems.push(format!("dispatch.rate_per_second.{}: must be a positive number", p.code()));
            }
        }
        for (key, v) in [
            ("campaigns.max_recipients_per_request", self.campaigns.max_recipients_per_request),
            ("campaigns.window", self.campaigns.window),
            ("campaigns.write_chunk", self.campaigns.write_chunk),
            ("campaigns.max_recipients_per_stream", self.campaigns.max_recipients_per_stream),
        ] {
            if v == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        if self.dashboard.session_ttl_secs == 0 {
            problems.push("dashboard.session_ttl_secs: must be greater than 0".into());
        }
        if self.dashboard.logs_max_scan == 0 || self.dashboard.queue_max_items == 0 {
            problems.push("dashboard.logs_max_scan and dashboard.queue_max_items: must be greater than 0".into());
        }
        if self.webhook.max_skew_ms <= 0 {
            problems.push("webhook.max_skew_ms: must be greater than 0".into());
        }
        if self.webhook.max_message_chars == 0 {
            problems.push("webhook.max_message_chars: must be greater than 0".into());
        }
        protection::validate(self, &mut problems);
        callbacks::validate(self, &mut problems);
        delivery::validate(self, &mut problems);
        gateways::validate(self, &mut problems);
        observability::validate(self, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

fn describe_figment_error(e: figment::Error) -> String {
    let key = e.path.join(".");
    let kind = e.kind.to_string();
    let source = match &e.metadata {
        Some(md) => match &md.source {
            Some(src) => format!(" (from {src})"),
            None => format!(" (from {})", md.name),
        },
        None => String::new(),
    };
    if key.is_empty() {
        format!("{kind}{source}")
    } else {
        format!("{key}: {kind}{source}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scylla_settings_are_validated_together() {
        let mut c = Config::default();
        c.store.backend = "scylla".into();
        assert!(c.validate().is_ok(), "the defaults are a working scylla configuration");
        c.store.scylla.uris.clear();
        c.store.scylla.keyspace = "bad-name".into();
        c.store.scylla.consistency = "most".into();
        let Err(ConfigError::Invalid(p)) = c.validate() else { panic!("invalid settings accepted") };
        for key in ["store.scylla.uris", "store.scylla.keyspace", "store.scylla.consistency"] {
            assert!(p.iter().any(|m| m.starts_with(key)), "{key} missing from {p:?}");
        }
    }

    #[test]
    fn default_toml_equals_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let from_file: Config = toml::from_str(&text).unwrap();
        assert_eq!(from_file, Config::default());
        // And every key of the defaults is written in the file (the file is the documentation).
        let file_value: toml::Value = toml::from_str(&text).unwrap();
        let default_value = toml::Value::try_from(Config::default()).unwrap();
        fn walk(path: &str, defaults: &toml::Value, file: Option<&toml::Value>) {
            if let Some(table) = defaults.as_table() {
                for (k, v) in table {
                    walk(&format!("{path}.{k}"), v, file.and_then(|f| f.get(k)));
                }
            } else {
                assert!(file.is_some(), "config/default.toml lacks {}", &path[1..]);
            }
        }
        walk("", &default_value, Some(&file_value));
        Config::default().validate().unwrap();
    }

    #[test]
    fn validate_names_every_bad_key() {
        let mut c = Config::default();
        c.server.http_addr = "nowhere".into();
        c.server.grpc_addr = "also nowhere".into();
        c.campaigns.max_recipients_per_stream = 0;
        c.log.format = "xml".into();
        c.ids.node_id = 9;
        c.server.trusted_proxies = vec!["10.0.0.0/40".into()];
        c.rate_limit.bulk_per_minute = 0;
        c.redis.url = "http://nope".into();
        c.redis.timeout_ms = 0;
        let msg = c.validate().unwrap_err().to_string();
        for key in [
            "server.http_addr",
            "server.grpc_addr",
            "campaigns.max_recipients_per_stream",
            "log.format",
            "ids.node_id",
            "server.trusted_proxies[0]",
            "rate_limit.bulk_per_minute",
            "redis.url",
            "redis.timeout_ms",
        ] {
            assert!(msg.contains(key), "{msg} lacks {key}");
        }
    }

    #[test]
    fn redis_password_stays_out_of_debug_output() {
        let mut c = Config::default();
        c.redis.url = "redis://:s3cret@cache:6379/0".into();
        let d = format!("{c:?}");
        assert!(!d.contains("s3cret") && d.contains("redis://***@cache:6379/0"), "{d}");
        c.validate().unwrap();
    }

    #[test]
    fn file_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nbody_limit_bytes = \"lots\"\n").unwrap();
        let msg = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(msg.contains("server.body_limit_bytes"), "{msg}");
        std::fs::write(&f, "[server]\nhttp_adr = \"127.0.0.1:1\"\n").unwrap();
        let msg = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(msg.contains("http_adr"), "{msg}");
    }
}
