//! The observability sections of the configuration: logging and metrics. Kept apart from
//! `config.rs` only for size; `Config` holds them like any section.

use super::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Label per-credential series (in-flight calls, circuit state) with the credential id as
    /// well as the provider. Off by default: series then grow with the number of credentials.
    pub per_credential_labels: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `jood=debug,tower_http=info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), level: "info,fjall=warn,lsm_tree=warn".into() }
    }
}

/// Problems of the logging settings, each naming its key.
pub(super) fn validate(c: &Config, problems: &mut Vec<String>) {
    if !matches!(c.log.format.as_str(), "text" | "json") {
        problems.push(format!("log.format: `{}` is not one of text, json", c.log.format));
    }
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        problems.push(format!("log.level: `{}` is not a valid filter", c.log.level));
    }
}
