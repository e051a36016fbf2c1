//! The outbox sender: one task that reads each association's due outbox rows (a bounded
//! batch per association per scan) into that association's lane, and POSTs each one signed
//! exactly like the documented webhooks, at most `callbacks.per_association_concurrency` at
//! once per association, so one slow endpoint delays no one else's callbacks. A lane's
//! workers take the next row as soon as their attempt ends, and ask for a scan when the lane
//! runs low, so an endpoint that answers quickly gets its callbacks back to back rather than
//! a permit's worth per scan.
//!
//! Each attempt is recorded in the commit that settles its row: a 2xx deletes it
//! (delivered); a 410 deletes it (the endpoint asked to stop); anything else (another status,
//! a timeout, a refused connection) writes it back due after an exponential backoff with
//! jitter, or the `Retry-After` the endpoint asked for, until `callbacks.max_age_ms` after
//! the status change. A row leaves the outbox only in the commit recording its last attempt,
//! so a crash at any point repeats at most the attempts in flight (at-least-once, the event id
//! stays the same). On start the sender simply reads the outbox again: nothing is lost.
//! Depends on `store`, `directory` (the secret), `auth::webhook` (the signature), `telemetry`.

use super::target::TargetPolicy;
use crate::net::{CallError, ClientOptions, HttpClient};
use crate::config::CallbacksConfig;
use crate::coord::lease::Ownership;
use crate::directory::{Directory, DirectoryError};
use crate::domain::now_ms;
use crate::store::{CallbackAttempt, CallbackOutcome, OutboxEntry, SharedStore};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// How often the outbox is scanned when nothing wakes the sender.
const POLL: Duration = Duration::from_millis(250);
/// How often a scan reads every association's outbox from its start, not on from where
/// the lane stopped: for rows no wake told of (another engine's, written before this one
/// started, after a clock step) and rows whose settle failed.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// How often the outbox depth gauge is refreshed from the rows added and settled.
const DEPTH_EVERY: Duration = Duration::from_secs(5);
/// How often it is counted exactly instead. Counting walks the whole outbox, over the
/// tombstones of every row delivered since the last compaction: at 20,000 callbacks a second
/// that walk every 5 s was 1.3% of the engine's CPU.
const DEPTH_COUNT_EVERY: Duration = Duration::from_secs(60);
/// How often attempts older than `callbacks.attempts_retention_ms` are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Attempt rows deleted per association per commit while pruning.
const PRUNE_BATCH: usize = 1_000;
/// The longest error text kept in an attempt row.
const MAX_ERROR_CHARS: usize = 200;

pub struct Sender {
    cfg: CallbacksConfig,
    policy: TargetPolicy,
    store: SharedStore,
    directory: Arc<Directory>,
    client: HttpClient,
    /// Rung by the status observer when it adds a row (the commit is still under way).
    wake: Arc<super::Wake>,
    /// Rung by a lane that ran low while rows may be due: scan at once.
    refill: Notify,
    /// Rows read into a lane or being attempted: the next scan reads past them.
    in_flight: Mutex<HashSet<String>>,
    lanes: Mutex<HashMap<i64, Arc<Lane>>>,
    /// The partitions whose messages' callbacks this engine delivers.
    owned: Arc<Ownership>,
    /// URLs already put to `policy.check_form`, with its verdict: the check is pure (the
    /// policy is fixed for the sender's life; names are resolved, and their addresses checked,
    /// on every connection), and parsing the URL again was 6% of a callback's instructions.
    checked: Mutex<HashMap<String, Result<(), String>>>,
    /// Rows this sender took out of the outbox (delivered or given up) since the gauge was
    /// last refreshed.
    removed: std::sync::atomic::AtomicI64,
}

/// The outbox depth as the gauge shows it: counted exactly now and then, moved in between by
/// the rows added (the observer's) and removed (the sender's settled attempts). Rows another
/// engine adds or removes show at the next count.
#[derive(Debug, Default)]
struct Depth {
    rows: i64,
}

impl Depth {
    fn counted(&mut self, rows: u64) {
        self.rows = rows.min(i64::MAX as u64) as i64;
    }

    fn moved(&mut self, added: i64, removed: i64) {
        self.rows = self.rows.saturating_add(added).saturating_sub(removed).max(0);
    }
}

/// URLs whose verdict is kept; past it the cache starts over.
const CHECKED_URLS: usize = 1_024;

/// One association's due rows and the permits of its concurrent attempts.
struct Lane {
    permits: Arc<Semaphore>,
    queue: Mutex<VecDeque<OutboxEntry>>,
    /// Attempts made whose record is not committed yet (see `attempt`).
    settling: Arc<Semaphore>,
    /// The `next_at` of the last row read: the next read starts there. The rows before it
    /// are settled (tombstones at the front of the queue) or claimed; rows of that same
    /// millisecond are read again and the claimed ones skipped.
    cursor: Mutex<Option<i64>>,
}

/// Attempts of one association whose records may be in commit at once.
const SETTLING_PER_LANE: usize = 64;

/// What one POST came to.
enum Answer {
    Status { code: u16, retry_after_ms: Option<u64> },
    /// No answer (timeout, refused connection, refused target); the text says which.
    Unanswered(String),
    /// Cannot ever be delivered as it stands (the association is gone, the URL is refused).
    Permanent(String),
}

impl Sender {
    pub fn new(cfg: CallbacksConfig, store: SharedStore, directory: Arc<Directory>, wake: Arc<super::Wake>, owned: Arc<Ownership>) -> anyhow::Result<Self> {
        let policy = TargetPolicy { allow_private: cfg.allow_private_targets };
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let client = HttpClient::new(ClientOptions {
            connect_timeout: timeout,
            user_agent: concat!("jood-callbacks/", env!("CARGO_PKG_VERSION")),
            resolver: (!policy.allow_private).then(super::target::guarded_resolver),
            extra_roots: Vec::new(),
            env_proxy: false,
        })?;
        Ok(Self { cfg, policy, store, directory, client, wake, refill: Notify::new(), in_flight: Mutex::default(), lanes: Mutex::default(), owned, checked: Mutex::default(), removed: Default::default() })
    }

    /// Runs until `stop`; attempts in flight then are abandoned (their rows stay in the
    /// outbox and are sent again on the next start).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut depth_at = Instant::now() - DEPTH_EVERY;
        let mut counted_at: Option<Instant> = None;
        let mut depth = Depth::default();
        let mut prune_at = Instant::now();
        let mut sweep_at: Option<Instant> = None;
        loop {
            let sweep = sweep_at.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
            if sweep {
                sweep_at = Some(Instant::now());
            }
            if let Err(e) = self.scan(&mut tasks, sweep).await {
                tracing::warn!(error = %e, "callback outbox scan failed; retrying");
            }
            while tasks.try_join_next().is_some() {}
            if depth_at.elapsed() >= DEPTH_EVERY {
                depth_at = Instant::now();
                let (added, removed) = (self.wake.take_added(), self.removed.swap(0, std::sync::atomic::Ordering::Relaxed));
                depth.moved(added, removed);
                if counted_at.is_none_or(|at| at.elapsed() >= DEPTH_COUNT_EVERY) {
                    if let Ok(n) = self.store.outbox_len().await {
                        counted_at = Some(Instant::now());
                        depth.counted(n);
                    }
                }
                metrics::gauge!(crate::telemetry::CALLBACKS_OUTBOX_DEPTH).set(depth.rows as f64);
            }
            if prune_at.elapsed() >= PRUNE_EVERY {
                prune_at = Instant::now();
                match self.prune_attempts(&stop).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "pruned old callback attempts"),
                    Err(e) => tracing::warn!(error = %e, "pruning callback attempts failed; trying again in a minute"),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                // The observer wakes us before its commit is durable: give it a moment.
                _ = self.wake.notified() => tokio::time::sleep(Duration::from_millis(20)).await,
                _ = self.refill.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Deletes every association's attempts older than the retention, a bounded commit at a
    /// time so a large backlog never holds up the outbox for long.
    async fn prune_attempts(&self, stop: &CancellationToken) -> anyhow::Result<usize> {
        let before = now_ms().saturating_sub(self.cfg.attempts_retention_ms.min(i64::MAX as u64) as i64);
        let mut total = 0;
        for a in self.directory.list_associations().await? {
            loop {
                if stop.is_cancelled() {
                    return Ok(total);
                }
                let n = self.store.prune_callback_attempts(a.id, before, PRUNE_BATCH).await?;
                total += n;
                if n < PRUNE_BATCH {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(total)
    }

    /// Reads due rows into lanes and starts their workers: on a sweep, every association's
    /// from the start of its outbox; otherwise the lanes known and the associations the
    /// observer told of, each on from its cursor.
    async fn scan(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>, sweep: bool) -> crate::store::StoreResult<()> {
        let now = now_ms();
        let batch = self.lane_batch();
        let mut associations: Vec<i64> = self.lanes.lock().keys().copied().collect();
        associations.extend(self.wake.take());
        if sweep {
            associations.extend(self.store.outbox_associations().await?);
        }
        associations.sort_unstable();
        associations.dedup();
        for association_id in associations {
            let lane = self
                .lanes
                .lock()
                .entry(association_id)
                .or_insert_with(|| {
                    Arc::new(Lane {
                        permits: Arc::new(Semaphore::new(self.cfg.per_association_concurrency)),
                        queue: Mutex::default(),
                        settling: Arc::new(Semaphore::new(SETTLING_PER_LANE)),
                        cursor: Mutex::default(),
                    })
                })
                .clone();
            let queued = lane.queue.lock().len();
            if queued < batch / 2 {
                // Rows in lanes or in flight are still in the outbox (at the front on a
                // sweep, in the cursor's millisecond otherwise): read past them. Rows busy
                // when the read starts are skipped even if their attempt ends while it runs:
                // the read may still hold a row that attempt has just settled.
                let busy: HashSet<String> = self.in_flight.lock().clone();
                let limit = batch - queued + busy.len();
                let after = if sweep { None } else { *lane.cursor.lock() };
                let rows = self.store.due_callbacks(association_id, after.map(|at| (at, "")), now, limit).await?;
                if let Some(last) = rows.last() {
                    *lane.cursor.lock() = Some(last.next_at);
                }
                let mut fresh = Vec::new();
                for entry in rows {
                    // Another engine's message: its owner sends it. (Rows of other partitions
                    // ahead of ours only shrink the batch; their owners delete them as they go.)
                    if busy.contains(&entry.event_id) || !self.owned.owns(entry.message_id) {
                        continue;
                    }
                    if self.in_flight.lock().insert(entry.event_id.clone()) {
                        fresh.push(entry);
                    }
                }
                lane.queue.lock().extend(fresh);
            }
            // A worker per free permit while rows wait; each works the lane until it is empty.
            while !lane.queue.lock().is_empty() {
                let Ok(permit) = lane.permits.clone().try_acquire_owned() else { break };
                let (me, lane) = (self.clone(), lane.clone());
                tasks.spawn(async move { me.work(lane, permit).await });
            }
        }
        Ok(())
    }

    /// How many rows a lane is filled to (refilled below half of it).
    fn lane_batch(&self) -> usize {
        self.cfg.batch.max(self.cfg.per_association_concurrency * 2)
    }

    /// Attempts a lane's rows one after another while it has any; asks for a scan when it
    /// runs low, so the next rows are read before the lane is dry.
    async fn work(self: Arc<Self>, lane: Arc<Lane>, _permit: OwnedSemaphorePermit) {
        let low = self.lane_batch() / 4;
        loop {
            let (next, left) = {
                let mut q = lane.queue.lock();
                let next = q.pop_front();
                (next, q.len())
            };
            let Some(entry) = next else { break };
            if left == low {
                self.refill.notify_one();
            }
            self.attempt(&lane, entry).await;
        }
        self.refill.notify_one();
    }

    async fn attempt(self: &Arc<Self>, lane: &Lane, entry: OutboxEntry) {
        let started = Instant::now();
        let answer = self.post(&entry).await;
        let latency = started.elapsed();
        let now = now_ms();
        let n = entry.attempt.saturating_add(1);
        let too_old = now.saturating_sub(entry.created_at) >= self.cfg.max_age_ms as i64;
        let (outcome, status_code, error, wait_ms) = match answer {
            Answer::Status { code, .. } if (200..300).contains(&code) => (CallbackOutcome::Delivered, Some(code), None, None),
            Answer::Status { code: 410, .. } => (CallbackOutcome::Failed, Some(410), Some("410 Gone: the endpoint asked to stop".to_string()), None),
            Answer::Permanent(why) => (CallbackOutcome::Failed, None, Some(why), None),
            Answer::Status { code, retry_after_ms } => {
                let wait = self.backoff_ms(n).max(retry_after_ms.unwrap_or(0)).min(self.cfg.backoff_max_ms);
                (CallbackOutcome::Pending, Some(code), Some(format!("answered {code}")), Some(wait))
            }
            Answer::Unanswered(why) => (CallbackOutcome::Pending, None, Some(why), Some(self.backoff_ms(n))),
        };
        let (outcome, error) = match outcome {
            CallbackOutcome::Pending if too_old => (CallbackOutcome::Failed, Some(format!("{}; given up after callbacks.max_age_ms", error.unwrap_or_default()))),
            o => (o, error),
        };
        let next = wait_ms.filter(|_| outcome == CallbackOutcome::Pending).map(|w| OutboxEntry { attempt: n, next_at: now.saturating_add(w as i64), ..entry.clone() });
        let record = CallbackAttempt {
            event_id: entry.event_id.clone(),
            association_id: entry.association_id,
            message_id: entry.message_id,
            url: entry.url.clone(),
            attempt: n,
            at: now,
            status_code,
            latency_ms: latency.as_millis() as u64,
            outcome,
            next_at: next.as_ref().map(|e| e.next_at),
            error: error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
        };
        metrics::counter!(crate::telemetry::CALLBACKS_TOTAL, "result" => outcome.as_str()).increment(1);
        metrics::histogram!(crate::telemetry::CALLBACKS_SECONDS).record(latency.as_secs_f64());
        if outcome == CallbackOutcome::Failed {
            tracing::info!(event = %entry.event_id, association = entry.association_id, "callback given up");
        }
        // The attempt is recorded while the lane goes on to its next row: waiting for the
        // commit here would hold a permit for an fsync per callback. Until the commit lands
        // the row stays claimed (`in_flight`), and a crash before it repeats only this
        // attempt (at-least-once, same event id). `settling` bounds the unrecorded ones.
        let Ok(permit) = lane.settling.clone().acquire_owned().await else { return };
        let me = self.clone();
        tokio::spawn(async move {
            match me.store.settle_callback(&entry, &record, next.as_ref()).await {
                Ok(()) if next.is_none() => {
                    me.removed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(()) => {}
                // The row stays as it was: the next scan tries it again (at-least-once).
                Err(e) => tracing::warn!(event = %entry.event_id, error = %e, "callback attempt not recorded"),
            }
            me.in_flight.lock().remove(&entry.event_id);
            drop(permit);
        });
    }

    /// One signed POST (see the module comment).
    async fn post(&self, entry: &OutboxEntry) -> Answer {
        if let Err(e) = self.check_url(&entry.url) {
            return Answer::Permanent(format!("callback URL refused: {e}"));
        }
        let identity = match self.directory.signing_identity(entry.association_id).await {
            Ok(i) => i,
            Err(DirectoryError::NotFound(m)) => return Answer::Permanent(m),
            Err(e) => return Answer::Unanswered(format!("signing key unavailable: {e}")),
        };
        let ts = now_ms().to_string();
        let signature = crate::auth::webhook::sign(&identity.secret, &ts, &entry.payload);
        let request = http::Request::post(entry.url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("X-Webhook-Timestamp", ts)
            .header("X-Webhook-Signature", signature)
            .header("X-Jood-Event-Id", entry.event_id.as_str())
            .body(bytes::Bytes::from(entry.payload.clone()));
        let request = match request {
            Ok(r) => r,
            Err(e) => return Answer::Permanent(format!("callback URL refused: {e}")),
        };
        // The body is read (up to a bound) so the connection goes back to the pool; its
        // content means nothing to the contract.
        match self.client.call(request, Duration::from_millis(self.cfg.timeout_ms), ANSWER_BYTES_READ).await {
            Ok(answer) => Answer::Status { code: answer.status.as_u16(), retry_after_ms: answer.retry_after.as_ref().and_then(|v| v.to_str().ok()).and_then(retry_after_ms) },
            Err(CallError::TooLarge { status, .. }) => Answer::Status { code: status.as_u16(), retry_after_ms: None },
            Err(CallError::Timeout(_)) => Answer::Unanswered("timed out".into()),
            Err(CallError::Connect(e)) => Answer::Unanswered(format!("could not connect: {}", last_cause(&e))),
            Err(e) => Answer::Unanswered(format!("request failed: {}", last_cause(&e.to_string()))),
        }
    }

    /// `policy.check_form` of `url`, remembered.
    fn check_url(&self, url: &str) -> Result<(), String> {
        if let Some(verdict) = self.checked.lock().get(url) {
            return verdict.clone();
        }
        let verdict = self.policy.check_form(url).map(drop).map_err(|e| e.to_string());
        let mut checked = self.checked.lock();
        if checked.len() >= CHECKED_URLS {
            checked.clear();
        }
        checked.insert(url.to_owned(), verdict.clone());
        verdict
    }

    /// The delay before attempt `n + 1`: base × 2^(n−1), capped, with jitter in [d/2, d].
    fn backoff_ms(&self, n: u32) -> u64 {
        let exp = self.cfg.backoff_base_ms.saturating_mul(1u64 << n.saturating_sub(1).min(30));
        let d = exp.min(self.cfg.backoff_max_ms).max(1);
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        d / 2 + u64::from_le_bytes(b) % (d / 2 + 1)
    }
}

/// `Retry-After` as seconds or an HTTP date, in milliseconds from now.
fn retry_after_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(s.saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?.timestamp_millis();
    Some(at.saturating_sub(now_ms()).max(0) as u64)
}

/// The innermost cause of an error chain ("Connection refused (os error 111)"), which is
/// what an attempt's listing shows.
fn last_cause(chain: &str) -> String {
    chain.rsplit(": ").next().unwrap_or(chain).to_owned()
}

/// How much of a customer's answer is read: enough for any sensible acknowledgement; a larger
/// body is not read (its status still counts) and its connection is not reused.
const ANSWER_BYTES_READ: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    #[test]
    fn the_depth_moves_with_rows_added_and_removed_between_counts() {
        let mut d = super::Depth::default();
        d.counted(10);
        d.moved(5, 3);
        assert_eq!(d.rows, 12);
        // Another engine settled rows this one added: never below zero, and the next count
        // puts it right.
        d.moved(0, 20);
        assert_eq!(d.rows, 0);
        d.counted(4);
        assert_eq!(d.rows, 4);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(super::retry_after_ms("7"), Some(7000));
        assert_eq!(super::retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(super::retry_after_ms("soon"), None);
    }
}
