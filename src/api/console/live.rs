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
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
    /// The time of the last sample and every association listed then (beyond the sampling
    /// cap too), to tell an association created since from one sampled for the first time.
    last: Option<(i64, HashSet<i64>)>,
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
        let listed: HashSet<i64> = directory.list_associations().await?.into_iter().map(|a| a.id).collect();
        let mut scopes = vec![0i64];
        let mut ids: Vec<i64> = listed.iter().copied().collect();
        ids.sort_unstable();
        scopes.extend(ids.into_iter().take(MAX_ASSOCIATIONS));
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
        inner.record(at_ms, samples, listed);
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

impl Inner {
    /// Appends a tick's samples. The window's increase is measured from a ring's first sample,
    /// so a ring must not start after its association's first messages: an association that
    /// was not listed at the previous tick did not exist then, and its counters were all 0 at
    /// that time, so its ring starts with that zero sample. (Without it a message accepted
    /// between the association's creation and its first sample sat in the ring's baseline and
    /// was never counted: a console opened on a new association showed 0 accepted after a
    /// send, for the ring's whole 15 minutes.) An association listed before but sampled only
    /// now (it was beyond the sampling cap), and every association at the engine's first
    /// tick, start from their counters as they are: their history before is unknown here.
    fn record(&mut self, at_ms: i64, samples: Vec<(i64, Sample)>, listed: HashSet<i64>) {
        let previous = self.last.take();
        for (id, s) in samples {
            let ring = self.rings.entry(id).or_default();
            if ring.is_empty() && id != 0 {
                if let Some((prev_at, prev_listed)) = &previous {
                    if !prev_listed.contains(&id) {
                        ring.push_back(Sample { at_ms: *prev_at, counters: BTreeMap::new() });
                    }
                }
            }
            ring.push_back(s);
            while ring.len() > SAMPLES {
                ring.pop_front();
            }
        }
        self.last = Some((at_ms, listed));
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

    fn tick(inner: &mut Inner, at_ms: i64, listed: &[i64], counters: &[(i64, &[(&str, i64)])]) {
        let samples = counters.iter().map(|(id, pairs)| (*id, s(at_ms, pairs))).collect();
        inner.record(at_ms, samples, listed.iter().copied().collect());
    }

    #[test]
    fn a_new_associations_messages_before_its_first_sample_are_in_the_window() {
        let mut inner = Inner::default();
        // The engine's first tick: association 1 exists with its history, 2 does not yet.
        tick(&mut inner, 0, &[1], &[(0, &[("accepted", 7)]), (1, &[("accepted", 7)])]);
        // Association 2 is created and accepts a message before the next tick samples it.
        tick(&mut inner, 5_000, &[1, 2], &[(0, &[("accepted", 8)]), (1, &[("accepted", 7)]), (2, &[("accepted", 1)])]);
        let ring = |id: i64| inner.rings[&id].iter().cloned().collect::<Vec<_>>();
        assert_eq!(increase(&ring(2), "accepted"), 1, "the message accepted before the first sample counts");
        assert_eq!(ring(2)[0].at_ms, 0, "the zero sample is the previous tick's");
        // Associations present at the first tick start from their counters (no spike of history).
        assert_eq!(increase(&ring(1), "accepted"), 0);
        assert_eq!(increase(&ring(0), "accepted"), 1);
    }

    #[test]
    fn an_association_listed_before_but_sampled_only_now_starts_from_its_counters() {
        let mut inner = Inner::default();
        // Listed at the first tick but not sampled (beyond the cap), sampled at the second.
        tick(&mut inner, 0, &[1, 3], &[(0, &[]), (1, &[])]);
        tick(&mut inner, 5_000, &[3], &[(0, &[]), (3, &[("accepted", 500)])]);
        assert_eq!(inner.rings[&3].len(), 1);
        assert_eq!(increase(&inner.rings[&3].iter().cloned().collect::<Vec<_>>(), "accepted"), 0);
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
