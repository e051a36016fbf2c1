//! `jood loadgen`: a small load generator for the signed webhook. Each request carries a
//! unique body (a counter in the message), so each is uniquely signed and passes replay
//! protection, like real traffic. Lighter than k6 on a 2-core machine, so it can drive the
//! engine to its limit; reports throughput, status counts and latency percentiles, and, given
//! the simulator's address, the messages delivered to it per second over the same window.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Engine base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub association_id: i64,
    pub secret: String,
    pub concurrency: usize,
    pub duration: Duration,
    /// Simulator base URL; when given, delivered/s is read from its counters.
    pub sim_url: Option<String>,
    /// After the send window, wait up to this long for the simulator to catch up.
    pub drain: Duration,
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
    pub delivered: Option<(u64, Duration)>,
}

impl LoadReport {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        println!("requests: {} in {:.1}s = {:.0} req/s; accepted (200): {} = {:.0}/s", self.sent, secs, self.sent as f64 / secs, self.ok, self.ok as f64 / secs);
        println!("statuses: {:?}; transport errors: {}", self.statuses, self.transport_errors);
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.percentile_ms(0.5),
            self.percentile_ms(0.9),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        if let Some(cpu) = own_cpu_secs() {
            println!("load generator CPU: {cpu:.1}s (user + system)");
        }
        if let Some((n, d)) = self.delivered {
            println!("delivered to the simulator: {} in {:.1}s = {:.0} msg/s (from its counters)", n, d.as_secs_f64(), n as f64 / d.as_secs_f64());
        }
    }
}

/// CPU seconds this process has used, from /proc (Linux only): on a 2-core machine the
/// generator's own share is part of the figure.
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn sim_accepted(client: &reqwest::Client, sim: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = client.get(format!("{sim}/_sim/stats")).send().await?.json().await?;
    Ok(v["total"]["accepted"].as_u64().unwrap_or(0))
}

pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadReport> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(spec.concurrency).tcp_nodelay(true).build()?;
    let sim_start = match &spec.sim_url {
        Some(s) => Some(sim_accepted(&client, s).await?),
        None => None,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + spec.duration;
    let url = Arc::new(format!("{}/api/v1/webhook/notification", spec.url.trim_end_matches('/')));
    let secret = Arc::new(spec.secret.clone());
    let workers: Vec<_> = (0..spec.concurrency)
        .map(|_| {
            let (client, counter, url, secret) = (client.clone(), counter.clone(), url.clone(), secret.clone());
            let association_id = spec.association_id;
            tokio::spawn(async move {
                let mut r = LoadReport::default();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    // Valid Saudi mobile numbers that never end in 0000 (the simulator's invalid rule).
                    let recipient = format!("+96650{:06}{}", n % 1_000_000, 1 + n % 9);
                    let body = format!(r#"{{"associationId":{association_id},"recipient":"{recipient}","message":"Your code is {n}"}}"#);
                    let ts = crate::domain::now_ms().to_string();
                    let sig = crate::auth::webhook::sign(secret.as_bytes(), &ts, body.as_bytes());
                    let t0 = Instant::now();
                    let res = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .header("x-webhook-timestamp", ts)
                        .header("x-webhook-signature", sig)
                        .body(body)
                        .send()
                        .await;
                    r.sent += 1;
                    match res {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let _ = resp.bytes().await;
                            r.latencies_us.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                            *r.statuses.entry(status).or_default() += 1;
                            if status == 200 {
                                r.ok += 1;
                            }
                        }
                        Err(_) => r.transport_errors += 1,
                    }
                }
                r
            })
        })
        .collect();
    let mut total = LoadReport::default();
    for w in workers {
        let r = w.await?;
        total.sent += r.sent;
        total.ok += r.ok;
        total.transport_errors += r.transport_errors;
        for (k, v) in r.statuses {
            *total.statuses.entry(k).or_default() += v;
        }
        total.latencies_us.extend(r.latencies_us);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    if let (Some(sim), Some(start)) = (&spec.sim_url, sim_start) {
        // Delivery lags acceptance: wait for the simulator to receive what was accepted.
        let drain_until = Instant::now() + spec.drain;
        let mut now_count = sim_accepted(&client, sim).await?;
        while now_count - start < total.ok && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            now_count = sim_accepted(&client, sim).await?;
        }
        total.delivered = Some((now_count - start, started.elapsed()));
    }
    Ok(total)
}
