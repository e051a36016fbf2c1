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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub ids: IdsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub http_addr: String,
    /// Largest request body accepted on ordinary routes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// Largest request body accepted on bulk routes (campaign recipient lists).
    pub bulk_body_limit_bytes: usize,
    /// A request that takes longer than this is answered 503.
    pub request_timeout_ms: u64,
    /// Time given to in-flight requests on shutdown before they are cut.
    pub shutdown_grace_ms: u64,
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
    /// Do not fsync (tests and benchmarks of everything but durability only). Never in production.
    pub unsafe_no_fsync: bool,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `jood=debug,tower_http=info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            ids: IdsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            bulk_body_limit_bytes: 64 * 1024 * 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
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
            cache_mib: 64,
            unsafe_no_fsync: false,
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
        Self { node_id: 0 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
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
        if self.server.body_limit_bytes < 1024 {
            problems.push("server.body_limit_bytes: must be at least 1024".into());
        }
        if self.server.bulk_body_limit_bytes < self.server.body_limit_bytes {
            problems.push("server.bulk_body_limit_bytes: must be at least server.body_limit_bytes".into());
        }
        if self.server.request_timeout_ms == 0 {
            problems.push("server.request_timeout_ms: must be greater than 0".into());
        }
        if !matches!(self.store.backend.as_str(), "embedded" | "scylla") {
            problems.push(format!("store.backend: `{}` is not one of embedded, scylla", self.store.backend));
        }
        if self.store.backend == "scylla" {
            problems.push("store.backend: the scylla backend is not built yet; use `embedded`".into());
        }
        if self.store.data_dir.as_os_str().is_empty() {
            problems.push("store.data_dir: must not be empty".into());
        }
        if self.store.group_commit_max_batch == 0 {
            problems.push("store.group_commit_max_batch: must be greater than 0".into());
        }
        if self.store.group_commit_queue == 0 {
            problems.push("store.group_commit_queue: must be greater than 0".into());
        }
        if self.ids.node_id > crate::domain::ids::MAX_NODE_ID {
            problems.push(format!("ids.node_id: {} is out of range 0..={}", self.ids.node_id, crate::domain::ids::MAX_NODE_ID));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(format!("log.format: `{}` is not one of text, json", self.log.format));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            problems.push(format!("log.level: `{}` is not a valid filter", self.log.level));
        }
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
    fn default_toml_equals_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let from_file: Config = toml::from_str(&text).unwrap();
        assert_eq!(from_file, Config::default());
        // And every key of the defaults is written in the file (the file is the documentation).
        let file_value: toml::Value = toml::from_str(&text).unwrap();
        let default_value = toml::Value::try_from(Config::default()).unwrap();
        for (section, table) in default_value.as_table().unwrap() {
            for key in table.as_table().unwrap().keys() {
                assert!(
                    file_value.get(section).and_then(|s| s.get(key)).is_some()
                        || matches!(key.as_str(), "admin_key_file" | "master_key_file"),
                    "config/default.toml lacks {section}.{key}"
                );
            }
        }
        Config::default().validate().unwrap();
    }

    #[test]
    fn validate_names_every_bad_key() {
        let mut c = Config::default();
        c.server.http_addr = "nowhere".into();
        c.log.format = "xml".into();
        c.ids.node_id = 9;
        let msg = c.validate().unwrap_err().to_string();
        for key in ["server.http_addr", "log.format", "ids.node_id"] {
            assert!(msg.contains(key), "{msg} lacks {key}");
        }
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
