//! The group committer: one thread that owns every write to the embedded store.
//!
//! Writers hand it a batch of mutations and wait on a oneshot. The thread takes everything
//! queued (up to `max_batch` requests), applies it as one atomic fjall batch, fsyncs the
//! journal once, and only then answers every writer. While one fsync runs, the next group
//! gathers in the queue, so the cost of an fsync is shared by as many writers as arrive
//! during it. Being the only writer also makes insert-if-absent checks serialisable, and
//! compare-and-set too: a [`Guard`] reads the rows it depends on and decides its mutations on
//! this thread, seeing every earlier write of its group, so no other write can come between
//! its read and its write (the management tables' version checks live there).
//!
//! If an fsync fails the committer poisons itself: the failed group and every later write
//! are refused, since the journal's state on disk is unknown (the lesson of PostgreSQL's
//! fsyncgate). A restart recovers from the journal.
//!
//! A [`Mutation::Compute`] is a read-modify-write run on this thread, in order with every
//! other write: it reads through a [`GroupView`] (the rows already written by earlier
//! requests of its group, then the committed ones) and answers the mutations to apply. The
//! message status rules use it, so two writers of one message (dispatch's `sent`, a
//! provider's `delivered`) can never both decide from the same stale row.

use crate::store::{StoreError, StoreResult};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use fjall::{Database, Keyspace, PersistMode, Slice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

pub enum Mutation {
    Put { ks: Keyspace, key: Vec<u8>, value: Vec<u8> },
    Delete { ks: Keyspace, key: Vec<u8> },
    /// Adds to a little-endian i64 counter. The committer is the only writer, so a
    /// read-add-write here never loses an update; deltas to one key within a group are
    /// summed first.
    Add { ks: Keyspace, key: Vec<u8>, delta: i64 },
    /// Many rows of one table, already in the store's own byte type (bulk inserts: no
    /// per-row keyspace handle or copy on the committer thread).
    PutRows { ks: Keyspace, rows: Vec<(Slice, Slice)> },
    /// A read-modify-write decided on the committer thread (see the module comment). It
    /// sees the group's pending `Put`s and `Delete`s of `reads` only (other tables, and bulk
    /// `PutRows`: committed rows; nothing updates a row before its insert is durable).
    Compute { reads: Keyspace, f: ComputeFn },
}

pub type ComputeFn = Box<dyn FnOnce(&mut GroupView<'_>) -> Vec<Mutation> + Send>;

/// The group's pending single-row writes, by keyspace id then key (two levels so a read
/// looks a key up by reference, without copying it into a tuple first).
type Pending = HashMap<u64, HashMap<Vec<u8>, Option<Vec<u8>>>>;

fn pending_get<'p>(pending: &'p Pending, ks: &Keyspace, key: &[u8]) -> Option<&'p Option<Vec<u8>>> {
    pending.get(&ks.id()).and_then(|rows| rows.get(key))
}

/// What a [`Mutation::Compute`] sees: committed rows overlaid with the group's pending
/// writes to the tables the group's computes read (`reads`).
pub struct GroupView<'a> {
    pending: &'a Pending,
}

impl GroupView<'_> {
    pub fn get(&self, ks: &Keyspace, key: &[u8]) -> fjall::Result<Option<Vec<u8>>> {
        if let Some(v) = pending_get(self.pending, ks, key) {
            return Ok(v.clone());
        }
        Ok(ks.get(key)?.map(|v| v.to_vec()))
    }

    /// A sequence number larger than every one handed out before, in this process or an
    /// earlier one (microseconds since the epoch, bumped past the last: a hybrid clock, as a
    /// timeuuid clustering column would be on ScyllaDB). Orders a message's events as they
    /// were committed, with no read of the partition.
    pub fn next_seq(&mut self) -> i64 {
        static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        let prev = LAST.load(Ordering::Relaxed);
        let next = now.max(prev + 1);
        LAST.store(next, Ordering::Relaxed);
        next
    }
}

/// A check-and-write run on the committer thread, atomically with its group: it reads what
/// it depends on through the [`GuardView`] and returns the mutations to apply, or an error
/// that fails only its own request. Guards read single rows written with `Put`/`Delete`
/// (not `PutRows` tables).
pub type Guard = Box<dyn FnOnce(&GuardView<'_>) -> StoreResult<Vec<Mutation>> + Send>;

/// The store as a guard sees it: committed rows overlaid with its group's earlier writes.
pub struct GuardView<'a> {
    pending: &'a Pending,
}

impl GuardView<'_> {
    pub fn get(&self, ks: &Keyspace, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(v) = pending_get(self.pending, ks, key) {
            return Ok(v.clone());
        }
        ks.get(key).map(|v| v.map(|v| v.to_vec())).map_err(|e| StoreError::Io(e.to_string()))
    }
}

/// One writer's request: applied atomically with its group, after its preconditions hold.
pub struct WriteRequest {
    pub mutations: Vec<Mutation>,
    /// Keys that must be absent; otherwise the request fails with `Conflict(label)` and
    /// none of its mutations are applied.
    pub require_absent: Vec<(Keyspace, Vec<u8>, String)>,
    /// Decides further mutations on the committer thread (compare-and-set).
    pub guard: Option<Guard>,
    pub done: oneshot::Sender<StoreResult<()>>,
}

enum Command {
    Write(WriteRequest),
    /// Commit what is queued before it, fsync, answer, and stop the thread.
    Stop(std::sync::mpsc::Sender<()>),
}

/// Counters of the committer's work, for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommitStats {
    /// Groups committed, i.e. fsyncs made.
    pub groups: u64,
    /// Write requests committed.
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    groups: std::sync::atomic::AtomicU64,
    requests: std::sync::atomic::AtomicU64,
}

pub struct CommitterHandle {
    counters: Arc<Counters>,
    tx: Sender<Command>,
    closed: Arc<AtomicBool>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

pub struct CommitterOptions {
    pub max_batch: usize,
    pub queue: usize,
    pub fsync: bool,
}

impl CommitterHandle {
    pub fn spawn(db: Database, opts: CommitterOptions) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(opts.queue);
        let closed = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("jood-store-commit".into())
            .spawn(move || run(db, rx, opts, &c))
            .expect("spawn committer thread");
        Self { counters, tx, closed, thread: parking_lot::Mutex::new(Some(thread)) }
    }

    pub fn stats(&self) -> CommitStats {
        CommitStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// Queues a write and waits until it is durable (or refused).
    pub async fn write(&self, mutations: Vec<Mutation>, require_absent: Vec<(Keyspace, Vec<u8>, String)>) -> StoreResult<()> {
        self.submit(WriteRequest { mutations, require_absent, guard: None, done: oneshot::channel().0 }).await
    }

    /// Queues a compare-and-set write (see [`Guard`]) and waits until it is durable, or
    /// refused by its guard.
    pub async fn write_guarded(&self, guard: Guard) -> StoreResult<()> {
        self.submit(WriteRequest { mutations: Vec::new(), require_absent: Vec::new(), guard: Some(guard), done: oneshot::channel().0 }).await
    }

    async fn submit(&self, mut req: WriteRequest) -> StoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("store is closed".into()));
        }
        let (done, wait) = oneshot::channel();
        req.done = done;
        match self.tx.try_send(Command::Write(req)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Unavailable("committer stopped".into())),
        }
        metrics::gauge!(crate::telemetry::STORE_COMMIT_QUEUE).set(self.tx.len() as f64);
        wait.await.unwrap_or_else(|_| Err(StoreError::Unavailable("committer stopped".into())))
    }

    /// Stops taking writes, lets the thread commit what is queued, and joins it. Blocking;
    /// idempotent.
    pub fn close_blocking(&self) {
        self.closed.store(true, Ordering::Release);
        let Some(thread) = self.thread.lock().take() else { return };
        let (ack, acked) = std::sync::mpsc::channel();
        if self.tx.send(Command::Stop(ack)).is_ok() {
            let _ = acked.recv();
        }
        let _ = thread.join();
    }

    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

impl Drop for CommitterHandle {
    fn drop(&mut self) {
        self.close_blocking();
    }
}

fn run(db: Database, rx: Receiver<Command>, opts: CommitterOptions, counters: &Counters) {
    let mut poisoned: Option<String> = None;
    let mut group: Vec<WriteRequest> = Vec::with_capacity(opts.max_batch);
    let mut stop: Option<std::sync::mpsc::Sender<()>> = None;
    while stop.is_none() {
        match rx.recv() {
            Ok(Command::Write(first)) => group.push(first),
            Ok(Command::Stop(ack)) => {
                stop = Some(ack);
                break;
            }
            Err(_) => break,
        }
        while group.len() < opts.max_batch {
            match rx.try_recv() {
                Ok(Command::Write(req)) => group.push(req),
                Ok(Command::Stop(ack)) => {
                    stop = Some(ack);
                    break;
                }
                Err(_) => break,
            }
        }
        if let Some(reason) = &poisoned {
            for req in group.drain(..) {
                let _ = req.done.send(Err(StoreError::Unavailable(reason.clone())));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let size = group.len();
        let outcome = commit_group(&db, &mut group, opts.fsync);
        metrics::histogram!(crate::telemetry::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::histogram!(crate::telemetry::STORE_COMMIT_BATCH_SIZE).record(size as f64);
        match outcome {
            Ok(results) => {
                counters.groups.fetch_add(1, Ordering::Relaxed);
                counters.requests.fetch_add(size as u64, Ordering::Relaxed);
                for (req, res) in group.drain(..).zip(results) {
                    let _ = req.done.send(res);
                }
            }
            Err(e) => {
                let reason = format!("commit failed, store refuses writes until restart: {e}");
                tracing::error!(error = %e, "store commit failed; refusing further writes");
                for req in group.drain(..) {
                    let _ = req.done.send(Err(StoreError::Unavailable(reason.clone())));
                }
                poisoned = Some(reason);
            }
        }
    }
    if poisoned.is_none() {
        let _ = db.persist(PersistMode::SyncAll);
    }
    if let Some(ack) = stop {
        let _ = ack.send(());
    }
}

/// Applies a group as few atomic batches as its preconditions allow, then one fsync.
/// Returns each request's own result (a failed precondition fails only its request).
fn commit_group(db: &Database, group: &mut [WriteRequest], fsync: bool) -> fjall::Result<Vec<StoreResult<()>>> {
    let mut results = Vec::with_capacity(group.len());
    let items = group.iter().flat_map(|r| &r.mutations).map(|m| if let Mutation::PutRows { rows, .. } = m { rows.len() } else { 1 }).sum();
    let mut batch = fjall::OwnedWriteBatch::with_capacity(db.clone(), items);
    // Keys written by this group but not yet committed, in the keyspaces some precondition
    // looks at, so two inserts of one key in one group cannot both pass.
    let checked: std::collections::HashSet<String> =
        group.iter().flat_map(|r| r.require_absent.iter().map(|(ks, _, _)| ks.name().to_string())).collect();
    let mut pending_keys: std::collections::HashSet<(String, Vec<u8>)> = Default::default();
    // With a guard in the group, single-row writes are remembered so later guards see them.
    let guarded = group.iter().any(|r| r.guard.is_some());
    let mut pending_rows: Pending = Default::default();
    // Keyed by keyspace id, not name: a name would cost an allocation per counter update.
    let mut counters: std::collections::HashMap<(u64, Vec<u8>), (Keyspace, i64)> = Default::default();
    // Pending point writes, kept only when some request reads them back.
    let overlay: std::collections::HashSet<u64> =
        group.iter().flat_map(|r| r.mutations.iter()).filter_map(|m| if let Mutation::Compute { reads, .. } = m { Some(reads.id()) } else { None }).collect();
    for req in group.iter_mut() {
        let mut conflict = None;
        for (ks, key, label) in &req.require_absent {
            let taken = pending_keys.contains(&(ks.name().to_string(), key.clone())) || ks.contains_key(key)?;
            if taken {
                conflict = Some(label.clone());
                break;
            }
        }
        if let Some(label) = conflict {
            results.push(Err(StoreError::Conflict(label)));
            continue;
        }
        if let Some(guard) = req.guard.take() {
            match guard(&GuardView { pending: &pending_rows }) {
                Ok(muts) => req.mutations.extend(muts),
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            }
        }
        let mut queue: std::collections::VecDeque<Mutation> = req.mutations.drain(..).collect();
        while let Some(m) = queue.pop_front() {
            match m {
                Mutation::Put { ks, key, value } => {
                    if !checked.is_empty() && checked.contains(ks.name().as_ref() as &str) {
                        pending_keys.insert((ks.name().to_string(), key.clone()));
                    }
                    if guarded || overlay.contains(&ks.id()) {
                        pending_rows.entry(ks.id()).or_default().insert(key.clone(), Some(value.clone()));
                    }
                    batch.insert(&ks, key, value)
                }
                Mutation::PutRows { ks, rows } => {
                    let check = !checked.is_empty() && checked.contains(ks.name().as_ref() as &str);
                    for (key, value) in rows {
                        if check {
                            pending_keys.insert((ks.name().to_string(), key.to_vec()));
                        }
                        batch.insert(&ks, key, value);
                    }
                }
                Mutation::Delete { ks, key } => {
                    if guarded || overlay.contains(&ks.id()) {
                        pending_rows.entry(ks.id()).or_default().insert(key.clone(), None);
                    }
                    batch.remove(&ks, key)
                }
                Mutation::Add { ks, key, delta } => {
                    counters.entry((ks.id(), key)).or_insert((ks, 0)).1 += delta;
                }
                Mutation::Compute { f, .. } => {
                    let mut view = GroupView { pending: &pending_rows };
                    let produced = f(&mut view);
                    for p in produced.into_iter().rev() {
                        queue.push_front(p);
                    }
                }
            }
        }
        results.push(Ok(()));
    }
    for ((_, key), (ks, delta)) in counters {
        let current = ks.get(&key)?.and_then(|v| v.as_ref().try_into().ok()).map(i64::from_le_bytes).unwrap_or(0);
        batch.insert(&ks, key, (current + delta).to_le_bytes().to_vec());
    }
    if !batch.is_empty() {
        batch.commit()?;
    }
    if fsync {
        db.persist(PersistMode::SyncAll)?;
    }
    Ok(results)
}
