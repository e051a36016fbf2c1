//! The `[store]` section: the embedded store's settings and the ScyllaDB backend's
//! (`[store.scylla]`). Kept apart from `config.rs` only for size.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// Threads of the embedded store's background work (memtable flushes, compactions);
    /// 0 = one (see `store::embedded::background_workers` for why not one per core).
    pub background_workers: usize,
    /// Do not fsync (tests and benchmarks of everything but durability only). Never in production.
    pub unsafe_no_fsync: bool,
    /// New messages are refused (503 with Retry-After) while the data directory's filesystem
    /// has fewer free bytes than this, so the store never runs out mid-commit; 0 = no check.
    pub min_free_bytes: u64,
    /// The ScyllaDB backend (`backend = "scylla"`).
    pub scylla: ScyllaConfig,
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
            background_workers: 0,
            min_free_bytes: 256 * 1024 * 1024,
            unsafe_no_fsync: false,
            scylla: ScyllaConfig::default(),
        }
    }
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
