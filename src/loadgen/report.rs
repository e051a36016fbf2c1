//! What a run measured, merged over the workers, and how it is printed.

use std::collections::BTreeMap;
use std::time::Duration;

/// A request sent this much after its intended time counts as late (rate mode).
pub(super) const LATE: Duration = Duration::from_millis(1);

#[derive(Debug, Default)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub elapsed: Duration,
    /// Sorted after the run. In rate mode measured from each request's intended send time.
    pub latencies_us: Vec<u32>,
    pub delivered: Option<(u64, Duration)>,
    /// Rate mode only: the schedule and how well it was kept.
    pub schedule: Option<Schedule>,
}

/// How well the generator kept an open-loop schedule.
#[derive(Debug, Default, Clone)]
pub struct Schedule {
    pub target_rate: f64,
    /// Requests the schedule held for the run.
    pub planned: u64,
    /// Sent late while the connection was still waiting for its previous answer: the engine
    /// answered too slowly for this many connections at this rate.
    pub late_busy: u64,
    /// Sent late with the connection idle: the generator itself fell behind (CPU, timer).
    pub late_idle: u64,
    pub max_lateness: Duration,
}

impl LoadReport {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    pub(super) fn record(&mut self, status: Option<u16>, latency: Duration) {
        self.sent += 1;
        match status {
            Some(status) => {
                self.latencies_us.push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
                *self.statuses.entry(status).or_default() += 1;
                if status == 200 {
                    self.ok += 1;
                }
            }
            None => self.transport_errors += 1,
        }
    }

    pub(super) fn merge(&mut self, r: LoadReport) {
        self.sent += r.sent;
        self.ok += r.ok;
        self.transport_errors += r.transport_errors;
        for (k, v) in r.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.latencies_us.extend(r.latencies_us);
        if let (Some(total), Some(s)) = (self.schedule.as_mut(), r.schedule) {
            total.late_busy += s.late_busy;
            total.late_idle += s.late_idle;
            total.max_lateness = total.max_lateness.max(s.max_lateness);
        }
    }

    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        println!("requests: {} in {:.1}s = {:.0} req/s; accepted (200): {} = {:.0}/s", self.sent, secs, self.sent as f64 / secs, self.ok, self.ok as f64 / secs);
        if let Some(s) = &self.schedule {
            s.print(self.sent, secs);
        }
        println!("statuses: {:?}; transport errors: {}", self.statuses, self.transport_errors);
        let since = if self.schedule.is_some() { " (from the intended send time)" } else { "" };
        println!(
            "latency ms{since}: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.percentile_ms(0.5),
            self.percentile_ms(0.9),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.percentile_ms(1.0)
        );
        if let Some(cpu) = own_cpu_secs() {
            let per_req = if self.sent > 0 { cpu * 1e6 / self.sent as f64 } else { 0.0 };
            println!("load generator CPU: {cpu:.1}s (user + system) = {per_req:.1} µs per request");
        }
        if let Some((n, d)) = self.delivered {
            println!("delivered to the simulator: {} in {:.1}s = {:.0} msg/s (from its counters)", n, d.as_secs_f64(), n as f64 / d.as_secs_f64());
        }
    }
}

impl Schedule {
    fn print(&self, sent: u64, secs: f64) {
        println!(
            "open loop: target {:.0} req/s, achieved {:.0} req/s; {} of {} scheduled requests sent",
            self.target_rate,
            sent as f64 / secs,
            sent,
            self.planned
        );
        let late = self.late_busy + self.late_idle;
        if late == 0 && sent >= self.planned {
            println!("schedule kept: no request sent more than {} ms late", LATE.as_millis());
            return;
        }
        println!(
            "BEHIND SCHEDULE: {late} requests sent more than {} ms late (max {:.1} ms): {} waiting for the previous answer on their connection (engine too slow for this rate and concurrency), {} with the connection idle (the generator itself was late)",
            LATE.as_millis(),
            self.max_lateness.as_secs_f64() * 1000.0,
            self.late_busy,
            self.late_idle
        );
        if sent < self.planned {
            println!("BEHIND SCHEDULE: {} scheduled requests were not sent before the end", self.planned - sent);
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
