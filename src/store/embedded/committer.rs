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
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
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

/// The committed value of every counter this thread has written lately. The committer is
/// the only writer of counters, so a cached value is the stored one, and a group's counter
/// update needs no store read (one `get` per counter per group was 7% of the engine's
/// instructions). Bounded: past `CAP` entries it starts again empty (counter keys are per
/// day, so the set of live ones is small; a miss only costs the read it used to).
#[derive(Default)]
struct CounterCache {
    /// By keyspace id, then key (two levels, so a lookup needs no copy of the key).
    values: HashMap<u64, HashMap<Vec<u8>, i64>>,
    len: usize,
}

impl CounterCache {
    const CAP: usize = 1 << 16;

    fn get(&self, id: u64, key: &[u8]) -> Option<i64> {
        self.values.get(&id).and_then(|m| m.get(key)).copied()
    }

    /// A `Put` or `Delete` of a counter's row makes its cached value stale.
    fn forget(&mut self, ks: &Keyspace, key: &[u8]) {
        if let Some(m) = self.values.get_mut(&ks.id()) {
            if m.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    fn remember(&mut self, written: Vec<((u64, Vec<u8>), i64)>) {
        if self.len + written.len() > Self::CAP {
            self.values.clear();
            self.len = 0;
        }
        for ((id, key), value) in written {
            if self.values.entry(id).or_default().insert(key, value).is_none() {
                self.len += 1;
            }
        }
    }
}

fn run(db: Database, rx: Receiver<Command>, opts: CommitterOptions, counters: &Counters) {
    let mut cache = CounterCache::default();
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
        let outcome = commit_group(&db, &mut group, opts.fsync, &mut cache);
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
fn commit_group(db: &Database, group: &mut [WriteRequest], fsync: bool, cache: &mut CounterCache) -> fjall::Result<Vec<StoreResult<()>>> {
    let mut results = Vec::with_capacity(group.len());
    let items = group.iter().flat_map(|r| &r.mutations).map(|m| if let Mutation::PutRows { rows, .. } = m { rows.len() } else { 1 }).sum();
    let mut batch = fjall::OwnedWriteBatch::with_capacity(db.clone(), items);
    // Keys written by this group but not yet committed, in the keyspaces some precondition
    // looks at, so two inserts of one key in one group cannot both pass.
    let checked: HashSet<String> =
        group.iter().flat_map(|r| r.require_absent.iter().map(|(ks, _, _)| ks.name().to_string())).collect();
    let mut pending_keys: HashSet<(String, Vec<u8>)> = Default::default();
    // With a guard in the group, single-row writes are remembered so later guards see them.
    let guarded = group.iter().any(|r| r.guard.is_some());
    let mut pending_rows: Pending = Default::default();
    // Keyed by keyspace id, not name: a name would cost an allocation per counter update.
    let mut counters: HashMap<(u64, Vec<u8>), (Keyspace, i64)> = Default::default();
    // Pending point writes, kept only when some request reads them back.
    let overlay: HashSet<u64> =
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
                    cache.forget(&ks, &key);
                    batch.insert(&ks, key, value)
                }
                Mutation::PutRows { ks, rows } => {
                    let check = !checked.is_empty() && checked.contains(ks.name().as_ref() as &str);
                    for (key, value) in rows {
                        if check {
                            pending_keys.insert((ks.name().to_string(), key.to_vec()));
                        }
                        cache.forget(&ks, &key);
                        batch.insert(&ks, key, value);
                    }
                }
                Mutation::Delete { ks, key } => {
                    if guarded || overlay.contains(&ks.id()) {
                        pending_rows.entry(ks.id()).or_default().insert(key.clone(), None);
                    }
                    cache.forget(&ks, &key);
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
    let mut written = Vec::with_capacity(counters.len());
    for ((id, key), (ks, delta)) in counters {
        let current = match cache.get(id, &key) {
            Some(v) => v,
            None => ks.get(&key)?.and_then(|v| v.as_ref().try_into().ok()).map(i64::from_le_bytes).unwrap_or(0),
        };
        batch.insert(&ks, key.clone(), (current + delta).to_le_bytes().to_vec());
        written.push(((id, key), current + delta));
    }
    if !batch.is_empty() {
        batch.commit()?;
    }
    // Only a committed value may be cached (a failed commit poisons the store anyway).
    cache.remember(written);
    if fsync {
        db.persist(PersistMode::SyncAll)?;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjall::KeyspaceCreateOptions;

    fn value(ks: &Keyspace, key: &[u8]) -> Option<i64> {
        ks.get(key).unwrap().map(|v| i64::from_le_bytes(v.as_ref().try_into().unwrap()))
    }

    /// The cached counter value must follow every committed write of its row: adds across
    /// groups, an overwrite (`Put`) and a `Delete` in between, and a restart.
    #[tokio::test]
    async fn counters_follow_adds_puts_and_deletes_across_groups() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).manual_journal_persist(true).open().unwrap();
        let ks = db.keyspace("stats", KeyspaceCreateOptions::default).unwrap();
        let c = CommitterHandle::spawn(db.clone(), CommitterOptions { max_batch: 64, queue: 512, fsync: true });
        let add = |delta| Mutation::Add { ks: ks.clone(), key: b"k".to_vec(), delta };
        c.write(vec![add(2), add(3)], vec![]).await.unwrap();
        c.write(vec![add(5)], vec![]).await.unwrap();
        assert_eq!(value(&ks, b"k"), Some(10));
        c.write(vec![Mutation::Put { ks: ks.clone(), key: b"k".to_vec(), value: 100i64.to_le_bytes().to_vec() }], vec![]).await.unwrap();
        c.write(vec![add(1)], vec![]).await.unwrap();
        assert_eq!(value(&ks, b"k"), Some(101), "an add after a put starts from the put, not the cached sum");
        c.write(vec![Mutation::Delete { ks: ks.clone(), key: b"k".to_vec() }], vec![]).await.unwrap();
        c.write(vec![add(7)], vec![]).await.unwrap();
        assert_eq!(value(&ks, b"k"), Some(7), "an add after a delete starts from zero");
        // Many writers at once: every delta counts once, whatever the grouping.
        let writes = (0..200).map(|_| c.write(vec![add(1)], vec![]));
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
        assert_eq!(value(&ks, b"k"), Some(207));
        c.close_blocking();
        drop(c);
        // A new committer (a restart) reads the stored value, then keeps adding.
        let c = CommitterHandle::spawn(db.clone(), CommitterOptions { max_batch: 64, queue: 512, fsync: true });
        c.write(vec![add(3)], vec![]).await.unwrap();
        assert_eq!(value(&ks, b"k"), Some(210));
    }

    #[test]
    fn the_cache_starts_again_past_its_bound() {
        let mut cache = CounterCache::default();
        let many: Vec<_> = (0..CounterCache::CAP as u64).map(|i| ((1, i.to_le_bytes().to_vec()), i as i64)).collect();
        cache.remember(many);
        assert_eq!(cache.len, CounterCache::CAP);
        cache.remember(vec![((1, b"new".to_vec()), 9)]);
        assert_eq!(cache.len, 1, "past the bound the cache is emptied, not grown");
        assert_eq!(cache.get(1, b"new"), Some(9));
        assert_eq!(cache.get(1, &0u64.to_le_bytes()), None);
    }
}
