//! Loading and validation of the configuration: the layers (defaults, file, environment)
//! merged by figment, and `validate()` reporting every problem at once. Kept apart from
//! `config.rs` only for size.

use super::{callbacks, delivery, gateways, observability, protection, Config};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
        if !d.provider_ca_file.as_os_str().is_empty() {
            if let Err(e) = crate::net::load_pem_certificates(&d.provider_ca_file) {
                problems.push(format!("dispatch.provider_ca_file: {e}"));
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
    fn a_provider_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.dispatch.provider_ca_file = dir.path().join("missing.pem");
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("dispatch.provider_ca_file") && msg.contains("missing.pem"), "{msg}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        c.dispatch.provider_ca_file = empty;
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("no PEM certificate"), "{msg}");
        let garbled = dir.path().join("garbled.pem");
        std::fs::write(&garbled, "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n").unwrap();
        c.dispatch.provider_ca_file = garbled;
        assert!(c.validate().unwrap_err().to_string().contains("is not base64"));
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
