//! Typed configuration: one serde struct with a working default for every setting.
//!
//! Layers, later wins: built-in defaults (`Config::default()`, mirrored line for line by
//! `config/default.toml`), the file given with `--config`, environment variables
//! `JOOD__SECTION__KEY`, then command-line flags. `validate()` reports every problem at once,
//! each naming its key. Secrets never live here: they come from the environment or files
//! named here (see `auth::secrets`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

mod batching;
mod callbacks;
mod delivery;
mod gateways;
mod load;
mod observability;
mod protection;
mod server;
mod store;
pub use batching::{BatchConfig, BatchSizes};
pub use callbacks::CallbacksConfig;
pub use delivery::DeliveryConfig;
pub use gateways::GatewaysConfig;
pub use load::ConfigError;
pub use observability::{LogConfig, MetricsConfig};
pub use protection::{IdempotencyConfig, RateLimitConfig, RedisConfig};
pub use server::ServerConfig;
pub use store::{ScyllaConfig, StoreConfig};

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
    /// A PEM file of CA certificates trusted for provider calls beside the Mozilla roots
    /// (a self-hosted gateway behind a private CA); empty = none.
    pub provider_ca_file: std::path::PathBuf,
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
            provider_ca_file: std::path::PathBuf::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
}
