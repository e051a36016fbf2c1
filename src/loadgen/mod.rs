//! `jood loadgen`: a small load generator for the signed webhook. Each request carries a
//! unique body (a counter in the message) and a fresh timestamp, so each is uniquely signed
//! and passes replay protection, like real traffic. It runs on the same 2-core machine as the
//! engine and the simulator, so it is kept lean: one keep-alive hyper connection per worker on
//! a single-threaded runtime, reused buffers, a pre-keyed HMAC. Reports throughput, status
//! counts, latency percentiles and its own CPU, and, given the simulator's address, the
//! messages delivered to it per second over the same window.
//!
//! Two modes:
//! * closed loop (default): each worker sends its next request when the previous answer
//!   arrives, which finds the engine's maximum throughput;
//! * open loop (`rate`): requests go out on a fixed schedule whatever the answers do, and each
//!   latency is measured from the request's intended send time, so a stalled engine shows as
//!   latency instead of silently lowering the offered load (no coordinated omission).

mod conn;
mod report;
mod request;

pub use report::{LoadReport, Schedule};

use conn::{Conn, Target};
use report::LATE;
use request::RequestMaker;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Engine base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub association_id: i64,
    pub secret: String,
    /// Connections (one worker each).
    pub concurrency: usize,
    pub duration: Duration,
    /// Requests per second over all connections (open loop); `None` for the closed loop.
    pub rate: Option<f64>,
    /// Simulator base URL; when given, delivered/s is read from its counters.
    pub sim_url: Option<String>,
    /// After the send window, wait up to this long for the simulator to catch up.
    pub drain: Duration,
}

/// An answer slower than this counts as a transport error and the connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// When a worker's requests are due.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// The next request as soon as the previous answer arrives.
    Closed,
    /// Request `i` of the run is due at `start + i / rate`; worker `w` of `W` sends
    /// `i = w, w + W, w + 2W, …`, so the schedule is spread evenly over the connections.
    Open { rate: f64, worker: u64, workers: u64 },
}

impl Pace {
    fn due(self, start: Instant, k: u64) -> Option<Instant> {
        match self {
            Pace::Closed => None,
            Pace::Open { rate, worker, workers } => Some(start + Duration::from_secs_f64((worker + k * workers) as f64 / rate)),
        }
    }
}

struct Worker {
    id: u64,
    workers: u64,
    pace: Pace,
    target: Target,
    maker: RequestMaker,
    conn: Option<Conn>,
    report: LoadReport,
}

impl Worker {
    async fn new(spec: &LoadSpec, target: &Target, id: u64) -> anyhow::Result<Worker> {
        let workers = spec.concurrency as u64;
        let pace = match spec.rate {
            Some(rate) => Pace::Open { rate, worker: id, workers },
            None => Pace::Closed,
        };
        Ok(Worker {
            id,
            workers,
            pace,
            target: target.clone(),
            maker: RequestMaker::new(target, spec.association_id, &spec.secret)?,
            // Connected before the clock starts, so the first requests don't pay for it.
            conn: Some(Conn::open(target).await?),
            report: LoadReport { schedule: spec.rate.map(|_| Schedule::default()), ..LoadReport::default() },
        })
    }

    async fn run(mut self, start: Instant, deadline: Instant) -> anyhow::Result<LoadReport> {
        let mut prev_done = start;
        for k in 0.. {
            let due = self.pace.due(start, k);
            if Instant::now() >= deadline || due.is_some_and(|d| d >= deadline) {
                break;
            }
            if let Some(due) = due {
                wait_until(due).await;
            }
            let sent_at = Instant::now();
            if let Some(due) = due {
                self.note_lateness(due, sent_at, prev_done);
            }
            let status = self.exchange(self.id + k * self.workers).await?;
            let done = Instant::now();
            // From the intended time when late (queueing counts), from the send when early.
            let from = due.map_or(sent_at, |d| d.min(sent_at));
            self.report.record(status, done - from);
            prev_done = done;
        }
        Ok(self.report)
    }

    fn note_lateness(&mut self, due: Instant, sent_at: Instant, prev_done: Instant) {
        let Some(s) = self.report.schedule.as_mut() else { return };
        let late = sent_at.saturating_duration_since(due);
        s.max_lateness = s.max_lateness.max(late);
        if late > LATE {
            if prev_done > due {
                s.late_busy += 1;
            } else {
                s.late_idle += 1;
            }
        }
    }

    /// Request `n` on this worker's connection, reconnecting if it was lost; the status, or
    /// `None` on a transport error.
    async fn exchange(&mut self, n: u64) -> anyhow::Result<Option<u16>> {
        let req = self.maker.make(n)?;
        if self.conn.is_none() {
            match Conn::open(&self.target).await {
                Ok(c) => self.conn = Some(c),
                Err(_) => {
                    // The engine is down or refusing: don't spin on connect.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return Ok(None);
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else { return Ok(None) };
        match tokio::time::timeout(REQUEST_TIMEOUT, conn.send(req)).await {
            Ok(Ok(status)) => Ok(Some(status.as_u16())),
            _ => {
                self.conn = None;
                Ok(None)
            }
        }
    }
}

/// Tokio's timer ticks in milliseconds and rounds a deadline up to the next tick, so sleeping
/// until `due` wakes up to a millisecond late. Aiming one millisecond early wakes within about
/// a millisecond either side of `due`; an early request is timed from its actual send.
async fn wait_until(due: Instant) {
    if let Some(early) = due.checked_sub(Duration::from_millis(1)) {
        if early > Instant::now() {
            tokio::time::sleep_until(early.into()).await;
        }
    }
}

/// The simulator's total accepted count, on a fresh connection (called a few times a run).
async fn sim_accepted(sim: &Target) -> anyhow::Result<u64> {
    let (status, body) = Conn::open(sim).await?.fetch(request::get(sim, "/_sim/stats")?).await?;
    anyhow::ensure!(status.is_success(), "simulator stats: HTTP {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["total"]["accepted"].as_u64().unwrap_or(0))
}

pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadReport> {
    if let Some(rate) = spec.rate {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "the rate must be a positive number of requests per second");
    }
    let target = Target::parse(&spec.url)?;
    let sim = spec.sim_url.as_deref().map(Target::parse).transpose()?;
    let sim_start = match &sim {
        Some(t) => Some(sim_accepted(t).await?),
        None => None,
    };
    let mut workers = Vec::with_capacity(spec.concurrency);
    for id in 0..spec.concurrency as u64 {
        workers.push(Worker::new(&spec, &target, id).await?);
    }
    let started = Instant::now();
    let deadline = started + spec.duration;
    let handles: Vec<_> = workers.into_iter().map(|w| tokio::spawn(w.run(started, deadline))).collect();
    let mut total = LoadReport {
        schedule: spec.rate.map(|rate| Schedule {
            target_rate: rate,
            planned: (rate * spec.duration.as_secs_f64()).ceil() as u64,
            ..Schedule::default()
        }),
        ..LoadReport::default()
    };
    for h in handles {
        total.merge(h.await??);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    if let (Some(sim), Some(start)) = (&sim, sim_start) {
        // Delivery lags acceptance: wait for the simulator to receive what was accepted.
        let drain_until = Instant::now() + spec.drain;
        let mut now_count = sim_accepted(sim).await?;
        while now_count.saturating_sub(start) < total.ok && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            now_count = sim_accepted(sim).await?;
        }
        total.delivered = Some((now_count.saturating_sub(start), started.elapsed()));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_spreads_the_schedule_over_the_workers() {
        let start = Instant::now();
        let due = |worker, k| Pace::Open { rate: 1000.0, worker, workers: 4 }.due(start, k).unwrap() - start;
        // Request i of the run is due at i ms: worker 1 sends i = 1, 5, 9, …
        assert_eq!(due(0, 0), Duration::ZERO);
        assert_eq!(due(1, 0), Duration::from_millis(1));
        assert_eq!(due(1, 2), Duration::from_millis(9));
        assert_eq!(due(3, 1), Duration::from_millis(7));
        assert!(Pace::Closed.due(start, 5).is_none());
    }

    #[test]
    fn targets_parse_from_base_urls() {
        let t = Target::parse("http://127.0.0.1:18080/").unwrap();
        assert_eq!((t.addr.as_str(), t.host.as_str(), t.base_path.as_str()), ("127.0.0.1:18080", "127.0.0.1:18080", ""));
        let t = Target::parse("http://localhost/jood").unwrap();
        assert_eq!((t.addr.as_str(), t.base_path.as_str()), ("localhost:80", "/jood"));
        assert!(Target::parse("https://example.com").is_err());
    }

    #[tokio::test]
    async fn requests_are_uniquely_signed() {
        use http_body_util::BodyExt;
        let target = Target::parse("http://127.0.0.1:1").unwrap();
        let mut maker = RequestMaker::new(&target, 7, "secret").unwrap();
        let (a, b) = (maker.make(1).unwrap(), maker.make(2).unwrap());
        assert_eq!(a.uri().path(), "/api/v1/webhook/notification");
        assert_ne!(a.headers()["x-webhook-signature"], b.headers()["x-webhook-signature"]);
        let ts = a.headers()["x-webhook-timestamp"].to_str().unwrap().to_owned();
        let sig = a.headers()["x-webhook-signature"].to_str().unwrap().to_owned();
        let body = a.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains(r#""associationId":7,"#));
        assert_eq!(sig, crate::auth::webhook::sign(b"secret", &ts, &body));
    }
}
