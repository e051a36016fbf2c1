//! The ScyllaDB backend's plumbing: one driver `Session` per process, every statement
//! prepared once (on first use, then cached by its CQL text) with the configured consistency
//! and its idempotence marked, keyspace-qualified table names, and the few helpers every
//! table file uses (point reads, paged partition reads, logged batches, LWT results).
//! Depends on the `scylla` driver and the store's error type only.

use crate::store::{StoreError, StoreResult};
use tokio_stream::StreamExt;
use parking_lot::RwLock;
use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::deserialize::row::DeserializeRow;
use ::scylla::frame::types::{Consistency, SerialConsistency};
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::batch::{Batch, BatchType};
use ::scylla::statement::prepared::PreparedStatement;
use std::collections::HashMap;
use std::time::Duration;

/// How the backend talks to the cluster (from `store.scylla` in the config).
#[derive(Debug, Clone)]
pub struct ScyllaOptions {
    /// Contact points, `host:port`.
    pub uris: Vec<String>,
    pub keyspace: String,
    /// The replication clause of `CREATE KEYSPACE` (the migration's first step).
    pub replication: String,
    /// `one`, `local_one`, `quorum`, `local_quorum` (default), `all`, …
    pub consistency: String,
    /// `local_serial` (default) or `serial`: the consistency of LWT's Paxos round.
    pub serial_consistency: String,
    /// Compare-and-set through lightweight transactions (`IF …`). Off only for servers that
    /// ignore `IF` (the in-memory test server): the decisions are then made in this process
    /// alone, which is only correct with a single engine node.
    pub lwt: bool,
    /// This engine's node id: the row its statistics and click totals go to.
    pub node: i32,
    pub request_timeout_ms: u64,
}

impl Default for ScyllaOptions {
    fn default() -> Self {
        Self {
            uris: vec!["127.0.0.1:9042".into()],
            keyspace: "jood".into(),
            replication: "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}".into(),
            consistency: "local_quorum".into(),
            serial_consistency: "local_serial".into(),
            lwt: true,
            node: 0,
            request_timeout_ms: 5_000,
        }
    }
}

pub fn parse_consistency(s: &str) -> Option<Consistency> {
    Some(match s.to_ascii_lowercase().as_str() {
        "any" => Consistency::Any,
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        _ => return None,
    })
}

pub fn parse_serial(s: &str) -> Option<SerialConsistency> {
    match s.to_ascii_lowercase().as_str() {
        "serial" => Some(SerialConsistency::Serial),
        "local_serial" => Some(SerialConsistency::LocalSerial),
        _ => None,
    }
}

/// A driver error as the layers above see it: the cluster could not do it.
pub fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Unavailable(format!("scylla: {e}"))
}

/// A row whose `data` blob does not decode.
pub fn corrupt<E: std::fmt::Display>(table: &'static str, e: E) -> StoreError {
    StoreError::Corrupt { table, detail: e.to_string() }
}

pub fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).unwrap_or_default()
}

pub fn decode<T: serde::de::DeserializeOwned>(table: &'static str, b: &[u8]) -> StoreResult<T> {
    rmp_serde::from_slice(b).map_err(|e| corrupt(table, e))
}

/// Values of one statement of a batch (the statements of a batch bind different types).
pub type Row = Box<dyn SerializeRow + Send + Sync>;

pub fn row<T: SerializeRow + Send + Sync + 'static>(v: T) -> Row {
    Box::new(v)
}

/// The session and the statement cache.
pub struct Db {
    pub session: Session,
    pub opts: ScyllaOptions,
    consistency: Consistency,
    serial: SerialConsistency,
    prepared: RwLock<HashMap<&'static str, PreparedStatement>>,
}

impl Db {
    pub async fn connect(opts: ScyllaOptions) -> StoreResult<Self> {
        let consistency = parse_consistency(&opts.consistency).ok_or_else(|| StoreError::Unavailable(format!("unknown consistency `{}`", opts.consistency)))?;
        let serial = parse_serial(&opts.serial_consistency).ok_or_else(|| StoreError::Unavailable(format!("unknown serial consistency `{}`", opts.serial_consistency)))?;
        let session = SessionBuilder::new()
            .known_nodes(&opts.uris)
            .connection_timeout(Duration::from_millis(opts.request_timeout_ms.max(1)))
            // The migration awaits schema agreement itself, once, after its DDL.
            .auto_await_schema_agreement(false)
            .build()
            .await
            .map_err(db)?;
        Ok(Self { session, opts, consistency, serial, prepared: RwLock::new(HashMap::new()) })
    }

    /// `cql` with `{ks}` replaced by the keyspace: every table name fully qualified.
    pub fn qualify(&self, cql: &str) -> String {
        cql.replace("{ks}", &self.opts.keyspace)
    }

    /// The statement prepared once per process. Plain upserts and reads are idempotent (the
    /// driver may retry and speculate them); conditional writes are not.
    pub async fn stmt(&self, cql: &'static str) -> StoreResult<PreparedStatement> {
        if let Some(p) = self.prepared.read().get(cql) {
            return Ok(p.clone());
        }
        let mut p = self.session.prepare(self.qualify(cql)).await.map_err(db)?;
        p.set_consistency(self.consistency);
        p.set_serial_consistency(Some(self.serial));
        p.set_is_idempotent(!cql.contains(" IF "));
        self.prepared.write().insert(cql, p.clone());
        Ok(p)
    }

    /// Executes a statement whose result is not read.
    pub async fn exec(&self, cql: &'static str, values: impl SerializeRow) -> StoreResult<()> {
        let p = self.stmt(cql).await?;
        self.session.execute_unpaged(&p, values).await.map_err(db)?;
        Ok(())
    }

    /// At most one row (a read by the whole primary key).
    pub async fn one<R>(&self, cql: &'static str, values: impl SerializeRow) -> StoreResult<Option<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let p = self.stmt(cql).await?;
        let res = self.session.execute_unpaged(&p, values).await.map_err(db)?;
        let rows = res.into_rows_result().map_err(db)?;
        rows.maybe_first_row::<R>().map_err(db)
    }

    /// Up to `limit` rows, read through the driver's pages (never one unbounded response).
    pub async fn many<R>(&self, cql: &'static str, values: impl SerializeRow, limit: usize) -> StoreResult<Vec<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm> + Send + 'static,
    {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut p = self.stmt(cql).await?;
        p.set_page_size(limit.clamp(1, 5_000) as i32);
        let pager = self.session.execute_iter(p, values).await.map_err(db)?;
        let mut stream = pager.rows_stream::<R>().map_err(db)?;
        let mut out = Vec::new();
        while out.len() < limit {
            match stream.next().await {
                Some(r) => out.push(r.map_err(db)?),
                None => break,
            }
        }
        Ok(out)
    }

    /// A conditional statement: whether it was applied (the first column of an LWT's answer).
    pub async fn lwt(&self, cql: &'static str, values: impl SerializeRow) -> StoreResult<bool> {
        let p = self.stmt(cql).await?;
        let res = self.session.execute_unpaged(&p, values).await.map_err(db)?;
        let rows = res.into_rows_result().map_err(db)?;
        let first = rows.maybe_first_row::<::scylla::value::Row>().map_err(db)?;
        Ok(matches!(first.and_then(|r| r.columns.into_iter().next().flatten()), Some(::scylla::value::CqlValue::Boolean(true))))
    }

    /// Writes the statements atomically (a logged batch: all or none, whatever fails).
    pub async fn batch(&self, writes: Writes) -> StoreResult<()> {
        if writes.stmts.is_empty() {
            return Ok(());
        }
        let mut b = Batch::new(BatchType::Logged);
        for s in writes.stmts {
            b.append_statement(s);
        }
        b.set_consistency(self.consistency);
        b.set_is_idempotent(true);
        self.session.batch(&b, writes.values).await.map_err(db)?;
        Ok(())
    }
}

/// Statements collected for one logged batch.
#[derive(Default)]
pub struct Writes {
    stmts: Vec<PreparedStatement>,
    values: Vec<Row>,
}

impl Writes {
    pub async fn add<T: SerializeRow + Send + Sync + 'static>(&mut self, db: &Db, cql: &'static str, v: T) -> StoreResult<()> {
        self.stmts.push(db.stmt(cql).await?);
        self.values.push(row(v));
        Ok(())
    }

    /// Both sets of statements, in order, for one batch.
    pub fn join(mut self, other: Writes) -> Writes {
        self.stmts.extend(other.stmts);
        self.values.extend(other.values);
        self
    }

    pub fn len(&self) -> usize {
        self.stmts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }
}

/// Commit order for rows clustered by a sequence (message events, callback attempts):
/// microseconds, strictly increasing within this process.
pub fn next_seq() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::domain::now_ms().saturating_mul(1000);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// Striped in-process locks: the read-decide-write of one row never races another task of
/// this process (across processes, LWT decides).
pub struct Stripes(Vec<tokio::sync::Mutex<()>>);

impl Stripes {
    pub fn new(n: usize) -> Self {
        Self((0..n.max(1)).map(|_| tokio::sync::Mutex::new(())).collect())
    }

    pub async fn lock(&self, key: u64) -> tokio::sync::MutexGuard<'_, ()> {
        let i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % self.0.len();
        self.0[i].lock().await
    }
}

pub fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}
