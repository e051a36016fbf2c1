//! The webhooks the Graph API simulator sends, signed as Meta signs them
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`): message statuses
//! (sent / delivered / read / failed with `errors[]`), inbound `messages`, and
//! `message_template_status_update`. One bounded queue ordered by due time holds them (and the
//! template reviews); one task started with the router pops what is due and POSTs it with at
//! most `webhook_concurrency` in flight, retrying non-2xx answers with doubling backoff, and
//! stops when the simulator stops. A message's next status is scheduled only once the previous
//! one was delivered (or given up), so statuses arrive in plan order (see `send::plan`).

use super::templates::StatusChange;
use crate::sim::config::SimConfig;
use crate::sim::state::SimState;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::Sha256;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Sent,
    Delivered,
    Read,
    /// With this error code.
    Failed(u32),
}

impl StatusKind {
    fn as_str(self) -> &'static str {
        match self {
            StatusKind::Sent => "sent",
            StatusKind::Delivered => "delivered",
            StatusKind::Read => "read",
            StatusKind::Failed(_) => "failed",
        }
    }
}

pub(crate) enum Payload {
    /// One status of an outbound message; `rest` follow it.
    Status {
        wamid: String,
        recipient: String,
        biz: Option<String>,
        /// `conversation.origin.type` / `pricing.category`: the template category or `service`.
        category: String,
        status: StatusKind,
        rest: VecDeque<StatusKind>,
    },
    /// A prebuilt `value` (inbound messages, template status updates) on `field`.
    Value { waba_id: String, field: &'static str, value: Value },
    /// Not a webhook: a template review ends (which may queue a template webhook).
    Review { template_id: String },
}

pub(crate) struct Job {
    due: Instant,
    seq: u64,
    attempt: u32,
    /// Whose webhook target and metadata apply.
    number: String,
    payload: Payload,
}

impl Job {
    /// The first status of a planned message and the rest to follow (`plan` is never empty).
    pub(crate) fn status_chain(number: &str, wamid: &str, to: &str, biz: Option<String>, category: String, plan: Vec<StatusKind>) -> Job {
        let mut rest: VecDeque<StatusKind> = plan.into();
        let status = rest.pop_front().unwrap_or(StatusKind::Sent);
        Job {
            due: Instant::now(),
            seq: 0,
            attempt: 0,
            number: number.to_owned(),
            payload: Payload::Status { wamid: wamid.to_owned(), recipient: to.to_owned(), biz, category, status, rest },
        }
    }
}

// Min-heap on (due, seq).
impl PartialEq for Job {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Default)]
struct Stats {
    queued_total: AtomicU64,
    delivered: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    failed_attempts: AtomicU64,
    gave_up: AtomicU64,
    dropped_queue_full: AtomicU64,
    no_target: AtomicU64,
    in_flight: AtomicU64,
    sent: AtomicU64,
    delivered_status: AtomicU64,
    read: AtomicU64,
    failed: AtomicU64,
    inbound: AtomicU64,
    template_updates: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Queue {
    heap: Mutex<BinaryHeap<Job>>,
    notify: Notify,
    seq: AtomicU64,
    stats: Stats,
}

impl Queue {
    /// Queues a job unless `cap` jobs wait already (reviews and retries always fit).
    fn push(&self, mut job: Job, cap: usize) -> bool {
        let always = matches!(job.payload, Payload::Review { .. }) || job.attempt > 0;
        let mut heap = self.heap.lock();
        if !always && heap.len() >= cap {
            drop(heap);
            self.stats.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        job.seq = self.seq.fetch_add(1, Relaxed);
        if job.attempt == 0 && !matches!(job.payload, Payload::Review { .. }) {
            self.stats.queued_total.fetch_add(1, Relaxed);
        }
        heap.push(job);
        drop(heap);
        self.notify.notify_one();
        true
    }

    fn pop_due(&self, now: Instant) -> Option<Job> {
        let mut heap = self.heap.lock();
        if heap.peek().is_some_and(|j| j.due <= now) {
            heap.pop()
        } else {
            None
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.heap.lock().peek().map(|j| j.due)
    }

    pub(crate) fn clear(&self) {
        self.heap.lock().clear();
        let s = &self.stats;
        for c in [
            &s.queued_total, &s.delivered, &s.attempts, &s.retries, &s.failed_attempts, &s.gave_up, &s.dropped_queue_full,
            &s.no_target, &s.sent, &s.delivered_status, &s.read, &s.failed, &s.inbound, &s.template_updates,
        ] {
            c.store(0, Relaxed);
        }
    }

    pub(crate) fn stats_json(&self) -> Value {
        let s = &self.stats;
        let waiting = self.heap.lock().iter().filter(|j| !matches!(j.payload, Payload::Review { .. })).count();
        json!({
            "queued": waiting,
            "in_flight": s.in_flight.load(Relaxed),
            "queued_total": s.queued_total.load(Relaxed),
            "delivered": s.delivered.load(Relaxed),
            "attempts": s.attempts.load(Relaxed),
            "retries": s.retries.load(Relaxed),
            "failed_attempts": s.failed_attempts.load(Relaxed),
            "gave_up": s.gave_up.load(Relaxed),
            "dropped_queue_full": s.dropped_queue_full.load(Relaxed),
            "no_target": s.no_target.load(Relaxed),
            "by_kind": {
                "sent": s.sent.load(Relaxed), "delivered": s.delivered_status.load(Relaxed),
                "read": s.read.load(Relaxed), "failed": s.failed.load(Relaxed),
                "inbound": s.inbound.load(Relaxed), "template_status": s.template_updates.load(Relaxed),
            },
        })
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn delay(state: &SimState, config: &SimConfig, kind: StatusKind) -> Duration {
    let wa = &config.whatsapp;
    let base = match kind {
        StatusKind::Sent | StatusKind::Failed(_) => wa.sent_delay_ms,
        StatusKind::Delivered => wa.delivered_delay_ms,
        StatusKind::Read => wa.read_delay_ms,
    };
    Duration::from_millis(base + state.rng.below(wa.status_jitter_ms + 1))
}

/// Queues the first status of an accepted message (nothing when its number has no target).
pub(crate) fn enqueue_chain(state: &SimState, config: &SimConfig, mut job: Job) {
    if config.whatsapp.target(&job.number).is_none() {
        state.graph.webhooks.stats.no_target.fetch_add(1, Relaxed);
        return;
    }
    if let Payload::Status { status, .. } = &job.payload {
        job.due = Instant::now() + delay(state, config, *status);
    }
    state.graph.webhooks.push(job, config.whatsapp.webhook_queue_cap);
}

/// Queues a `value` webhook (inbound message) for a number, due now.
pub(crate) fn enqueue_value(state: &SimState, config: &SimConfig, number: &str, field: &'static str, value: Value) -> bool {
    if config.whatsapp.target(number).is_none() {
        state.graph.webhooks.stats.no_target.fetch_add(1, Relaxed);
        return false;
    }
    let job = Job {
        due: Instant::now(),
        seq: 0,
        attempt: 0,
        number: number.to_owned(),
        payload: Payload::Value { waba_id: config.whatsapp.waba_of(number), field, value },
    };
    state.graph.webhooks.push(job, config.whatsapp.webhook_queue_cap)
}

/// A template's review ends at `due`.
pub(crate) fn schedule_review(state: &SimState, template_id: &str, due: Instant) {
    let job = Job { due, seq: 0, attempt: 0, number: String::new(), payload: Payload::Review { template_id: template_id.to_owned() } };
    state.graph.webhooks.push(job, usize::MAX);
}

/// `message_template_status_update` to every target of the WABA's numbers.
pub(crate) fn template_changed(state: &SimState, config: &SimConfig, change: StatusChange) {
    let targets = config.whatsapp.waba_targets(&change.waba_id);
    if targets.is_empty() {
        state.graph.webhooks.stats.no_target.fetch_add(1, Relaxed);
    }
    for (_, _, number) in targets {
        let job = Job {
            due: Instant::now(),
            seq: 0,
            attempt: 0,
            number,
            payload: Payload::Value { waba_id: change.waba_id.clone(), field: "message_template_status_update", value: change.value.clone() },
        };
        state.graph.webhooks.push(job, config.whatsapp.webhook_queue_cap);
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The envelope around one change.
fn envelope(waba_id: &str, field: &str, value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}]})
}

pub(crate) fn metadata(config: &SimConfig, number: &str) -> Value {
    json!({"display_phone_number": config.whatsapp.display_number(number), "phone_number_id": number})
}

fn body(state: &SimState, config: &SimConfig, job: &Job) -> Option<Vec<u8>> {
    let v = match &job.payload {
        Payload::Status { wamid, recipient, biz, category, status, .. } => {
            let now = unix_now();
            let mut s = json!({"id": wamid, "status": status.as_str(), "timestamp": now.to_string(), "recipient_id": recipient});
            if let Some(b) = biz {
                s["biz_opaque_callback_data"] = b.as_str().into();
            }
            match status {
                StatusKind::Failed(code) => {
                    let (title, details) = super::error_text(*code);
                    s["errors"] = json!([{"code": code, "title": title, "message": title, "error_data": {"details": details},
                                          "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]);
                }
                StatusKind::Sent | StatusKind::Delivered => {
                    // One conversation id per message keeps it simple; Meta reuses it for 24 h.
                    let mut conversation = json!({"id": format!("conv{}", &wamid[wamid.len().saturating_sub(24)..]), "origin": {"type": category}});
                    if *status == StatusKind::Sent {
                        conversation["expiration_timestamp"] = (now + 24 * 3600).to_string().into();
                    }
                    s["conversation"] = conversation;
                    s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "category": category});
                }
                StatusKind::Read => {}
            }
            let value = json!({"messaging_product": "whatsapp", "metadata": metadata(config, &job.number), "statuses": [s]});
            envelope(&config.whatsapp.waba_of(&job.number), "messages", value)
        }
        Payload::Value { waba_id, field, value } => {
            let mut e = envelope(waba_id, field, value.clone());
            if *field == "message_template_status_update" {
                e["entry"][0]["time"] = unix_now().into();
            }
            e
        }
        Payload::Review { .. } => return None,
    };
    let _ = state;
    serde_json::to_vec(&v).ok()
}

fn count_kind(stats: &Stats, job: &Job) {
    let c = match &job.payload {
        Payload::Status { status: StatusKind::Sent, .. } => &stats.sent,
        Payload::Status { status: StatusKind::Delivered, .. } => &stats.delivered_status,
        Payload::Status { status: StatusKind::Read, .. } => &stats.read,
        Payload::Status { status: StatusKind::Failed(_), .. } => &stats.failed,
        Payload::Value { field: "messages", .. } => &stats.inbound,
        Payload::Value { .. } => &stats.template_updates,
        Payload::Review { .. } => return,
    };
    c.fetch_add(1, Relaxed);
}

/// Schedules the status after this one, if any.
fn follow(state: &SimState, config: &SimConfig, job: Job) {
    let Payload::Status { wamid, recipient, biz, category, mut rest, .. } = job.payload else { return };
    let Some(next) = rest.pop_front() else { return };
    let due = Instant::now() + delay(state, config, next);
    let job = Job { due, seq: 0, attempt: 0, number: job.number, payload: Payload::Status { wamid, recipient, biz, category, status: next, rest } };
    state.graph.webhooks.push(job, config.whatsapp.webhook_queue_cap);
}

/// One attempt; a retry is queued on failure, the next status on success or when giving up.
async fn deliver(state: Arc<SimState>, client: reqwest::Client, mut job: Job, shutdown: CancellationToken) {
    let config = state.config();
    let stats = &state.graph.webhooks.stats;
    let Some((url, secret)) = config.whatsapp.target(&job.number) else {
        stats.no_target.fetch_add(1, Relaxed);
        return;
    };
    let Some(body) = body(&state, &config, &job) else { return };
    let sig = signature(&secret, &body);
    stats.attempts.fetch_add(1, Relaxed);
    let request = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Hub-Signature-256", sig)
        .timeout(Duration::from_millis(config.whatsapp.webhook_timeout_ms.max(1)))
        .body(body)
        .send();
    let ok = tokio::select! {
        _ = shutdown.cancelled() => return,
        r = request => r.is_ok_and(|r| r.status().is_success()),
    };
    if ok {
        stats.delivered.fetch_add(1, Relaxed);
        count_kind(stats, &job);
        if let Payload::Status { wamid, status, .. } = &job.payload {
            state.graph.messages.lock().note_status(wamid, status.as_str());
        }
        follow(&state, &config, job);
        return;
    }
    stats.failed_attempts.fetch_add(1, Relaxed);
    if job.attempt + 1 < config.whatsapp.webhook_max_attempts {
        stats.retries.fetch_add(1, Relaxed);
        let backoff = config.whatsapp.webhook_retry_ms.saturating_mul(1 << job.attempt.min(16)).min(30_000);
        job.attempt += 1;
        job.due = Instant::now() + Duration::from_millis(backoff);
        state.graph.webhooks.push(job, usize::MAX);
    } else {
        stats.gave_up.fetch_add(1, Relaxed);
        follow(&state, &config, job);
    }
}

/// Starts the task that sends what is due; it ends when `shutdown` is cancelled.
pub(crate) fn spawn(state: Arc<SimState>, shutdown: CancellationToken) {
    let Ok(client) = reqwest::Client::builder().no_proxy().build() else {
        tracing::warn!("simulator: no HTTP client for webhooks; none will be sent");
        return;
    };
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(state.config().whatsapp.webhook_concurrency.clamp(1, 1024)));
        loop {
            let wake = state.graph.webhooks.next_due().map(|d| d.max(Instant::now())).unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = state.graph.webhooks.notify.notified() => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            while let Some(job) = state.graph.webhooks.pop_due(Instant::now()) {
                if let Payload::Review { template_id } = &job.payload {
                    let change = state.graph.templates.lock().settle_one(template_id, Instant::now());
                    if let Some(c) = change {
                        template_changed(&state, &state.config(), c);
                    }
                    continue;
                }
                let permit = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                };
                let (state, client, shutdown) = (state.clone(), client.clone(), shutdown.clone());
                state.graph.webhooks.stats.in_flight.fetch_add(1, Relaxed);
                tokio::spawn(async move {
                    deliver(state.clone(), client, job, shutdown).await;
                    state.graph.webhooks.stats.in_flight.fetch_sub(1, Relaxed);
                    drop(permit);
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_vector() {
        assert_eq!(
            signature("test_app_secret", br#"{"object":"whatsapp_business_account","entry":[]}"#),
            "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
        );
    }
}
