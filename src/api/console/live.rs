//! The overview's short memory: every few seconds the engine's own statistics counters (the
//! store's all-time `accepted`/`sent`/`delivered`/`failed` per association and overall, the
//! same counters `/dashboard/stats` reads) are sampled into a ring covering the last 15
//! minutes, with the queue and schedule figures beside them. The overview endpoint turns
//! differences of neighbouring samples into rates per second.
//!
//! One task samples whether or not a console is open, so a console opened now still shows
//! the last 15 minutes, and any number of open consoles cost the engine nothing more: the
//! endpoint reads this memory, never the store's messages. Each tick costs one counter read
//! per association (at most [`MAX_ASSOCIATIONS`]) and two bounded index reads.

use crate::directory::Directory;
use crate::domain::now_ms;
use crate::store::{CounterScope, MessageStatus, SharedStore};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the counters are sampled.
pub const SAMPLE_INTERVAL_MS: u64 = 5_000;
/// 15 minutes of samples (one more than the intervals they bound).
pub const SAMPLES: usize = (15 * 60 * 1000 / SAMPLE_INTERVAL_MS as usize) + 1;
/// Associations sampled one by one at most; beyond, bound operators' figures are engine-wide only.
pub const MAX_ASSOCIATIONS: usize = 1_000;
/// Queued single messages and schedule entries counted per tick at most.
pub const COUNT_CAP: usize = 1_000;

/// The counters the overview charts (and `<outcome>:<provider>` beside them).
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub at_ms: i64,
    pub counters: BTreeMap<String, i64>,
}

/// Queue figures of one scope at the last tick.
#[derive(Clone, Debug, Default)]
pub struct QueueFigures {
    /// Single messages accepted and not yet final (counted up to [`COUNT_CAP`]).
    pub queued: u64,
    /// Scheduled single messages not yet due.
    pub scheduled: u64,
    /// Creation time of the oldest queued (not scheduled) message.
    pub oldest_queued_at: Option<i64>,
}

#[derive(Default)]
struct Inner {
    /// By association id; 0 is every association together (the store's own convention).
    rings: HashMap<i64, VecDeque<Sample>>,
    queues: HashMap<i64, QueueFigures>,
    /// Schedule entries (single messages and campaigns) not yet fired, engine-wide.
    schedule_backlog: u64,
    backlog_capped: bool,
}

pub struct Live {
    inner: Mutex<Inner>,
    /// The time of the last sample, for the overview streams to wait on.
    ticks: tokio::sync::watch::Sender<i64>,
    /// The overview streams' bounds and log-out notices.
    pub streams: Arc<super::streams::Streams>,
    /// Cancelled when the engine stops: the streams end then (a graceful stop waits for
    /// open connections).
    pub stop: CancellationToken,
}

impl Live {
    /// Starts the sampling task; it ends with `stop`.
    pub fn start(store: SharedStore, directory: Arc<Directory>, stop: CancellationToken) -> Arc<Self> {
        let live = Arc::new(Self { inner: Mutex::new(Inner::default()), ticks: tokio::sync::watch::channel(0).0, streams: Default::default(), stop: stop.clone() });
        let me = live.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(SAMPLE_INTERVAL_MS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = me.sample(&store, &directory).await {
                            tracing::debug!(error = %e, "console sampler: skipped a tick");
                        }
                    }
                }
            }
        });
        live
    }

    async fn sample(&self, store: &SharedStore, directory: &Directory) -> anyhow::Result<()> {
        let at_ms = now_ms();
        let mut scopes = vec![0i64];
        scopes.extend(directory.list_associations().await?.into_iter().take(MAX_ASSOCIATIONS).map(|a| a.id));
        let mut samples = Vec::with_capacity(scopes.len());
        for id in scopes {
            let counters = store.get_counters(CounterScope { association_id: id, day: 0 }).await?;
            samples.push((id, Sample { at_ms, counters }));
        }
        let mut queues: HashMap<i64, QueueFigures> = HashMap::new();
        for m in store.list_queue(COUNT_CAP).await?.into_iter().filter(|m| !m.status.is_terminal()) {
            for scope in [0, m.association_id] {
                let q = queues.entry(scope).or_default();
                if m.status == MessageStatus::Scheduled {
                    q.scheduled += 1;
                } else {
                    q.queued += 1;
                    q.oldest_queued_at = Some(q.oldest_queued_at.map_or(m.created_at, |o| o.min(m.created_at)));
                }
            }
        }
        let backlog = store.due_schedule(i64::MAX, COUNT_CAP).await?.len();
        let mut inner = self.inner.lock();
        for (id, s) in samples {
            let ring = inner.rings.entry(id).or_default();
            ring.push_back(s);
            while ring.len() > SAMPLES {
                ring.pop_front();
            }
        }
        inner.queues = queues;
        inner.schedule_backlog = backlog as u64;
        inner.backlog_capped = backlog >= COUNT_CAP;
        drop(inner);
        self.ticks.send_replace(at_ms);
        Ok(())
    }

    /// Changes after every sample (its value is the sample's time).
    pub fn ticks(&self) -> tokio::sync::watch::Receiver<i64> {
        self.ticks.subscribe()
    }

    /// The samples of a scope (0: all associations), oldest first.
    pub fn samples(&self, scope: i64) -> Vec<Sample> {
        self.inner.lock().rings.get(&scope).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn queue(&self, scope: i64) -> QueueFigures {
        self.inner.lock().queues.get(&scope).cloned().unwrap_or_default()
    }

    /// Engine-wide schedule backlog and whether it reached the count cap.
    pub fn schedule_backlog(&self) -> (u64, bool) {
        let i = self.inner.lock();
        (i.schedule_backlog, i.backlog_capped)
    }
}

/// Rates per second between neighbouring samples, for the named counters.
pub fn rates(samples: &[Sample], names: &[&str]) -> Vec<(i64, Vec<f64>)> {
    samples
        .windows(2)
        .map(|w| {
            let secs = ((w[1].at_ms - w[0].at_ms) as f64 / 1000.0).max(0.001);
            let get = |s: &Sample, k: &str| s.counters.get(k).copied().unwrap_or(0);
            (w[1].at_ms, names.iter().map(|k| ((get(&w[1], k) - get(&w[0], k)).max(0) as f64 / secs * 100.0).round() / 100.0).collect())
        })
        .collect()
}

/// The increase of a counter from the first to the last sample (0 with fewer than two).
pub fn increase(samples: &[Sample], name: &str) -> i64 {
    match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => (b.counters.get(name).copied().unwrap_or(0) - a.counters.get(name).copied().unwrap_or(0)).max(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: i64, pairs: &[(&str, i64)]) -> Sample {
        Sample { at_ms, counters: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
    }

    #[test]
    fn rates_are_per_second_between_neighbours_and_never_negative() {
        let v = vec![s(0, &[("sent", 0)]), s(5_000, &[("sent", 50)]), s(10_000, &[("sent", 40)])];
        let r = rates(&v, &["sent", "failed"]);
        assert_eq!(r, vec![(5_000, vec![10.0, 0.0]), (10_000, vec![0.0, 0.0])]);
        assert_eq!(increase(&v, "sent"), 40);
        assert_eq!(increase(&v[..1], "sent"), 0);
        assert_eq!(SAMPLES, 181);
    }
}
