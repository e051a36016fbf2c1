//! Delivery reports the simulator sends back, as the real providers do, to the callback URL
//! the send request named:
//! * Twilio: the form param `StatusCallback`; form POSTs `sent` then `delivered` (or
//!   `undelivered` with `ErrorCode=30003`), signed with `X-Twilio-Signature` under the auth
//!   token of the request's Basic credentials (see `auth::twilio`).
//! * Infobip: `messages[].webhooks.delivery.url` (v3) or `messages[].notifyUrl` (v2); one JSON
//!   POST `{"results":[…]}` with the final report (`DELIVERED_TO_HANDSET`, or
//!   `UNDELIVERABLE_NOT_DELIVERED` with an `EC_ABSENT_SUBSCRIBER` error); unsigned, as Infobip's
//!   per-message webhooks are.
//!
//! After `dlr_delay_ms` plus up to `dlr_jitter_ms`, with the settable rates of
//! [`SimConfig`]: `dlr_undelivered_rate` (final outcome), `dlr_loss_rate` (no report at all
//! for the message), `dlr_duplicate_rate` (the final report twice), `dlr_reorder_rate` (Twilio:
//! the final report before `sent`). At most `MAX_PENDING` messages wait for their reports;
//! beyond that a report is dropped and counted lost. Each report is tried once: a refused or
//! failed POST is counted, not retried (Twilio retries only on connection failure).
//!
//! Infobip batches reports that fall due together ("possibly several per call", its notes):
//! with `dlr_batch_max` above 1, a due Infobip report waits up to `dlr_batch_linger_ms` for
//! others to the same URL and they go in one `results[]` POST of at most `dlr_batch_max`.

use super::config::SimConfig;
use super::state::Rng;
use crate::domain::ProviderKind;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MAX_PENDING: u64 = 100_000;

/// One accepted message whose reports are due.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    pub kind: ProviderKind,
    pub callback_url: String,
    pub provider_message_id: String,
    /// Twilio: the auth token that signs; the account sid.
    pub auth_token: String,
    pub account: String,
    pub from: String,
    pub to: String,
}

#[derive(Default)]
pub(crate) struct DlrCounters {
    /// Messages whose reports are not all posted yet.
    pending: AtomicU64,
    /// POSTs answered 2xx.
    posted: AtomicU64,
    /// Reports in those POSTs (more than `posted` when Infobip reports are batched).
    reports: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
}

/// Infobip reports waiting to be posted together, per callback URL. Each entry's weight is 1
/// for a message's last report (it ends the message's `pending`), else 0.
type Batches = parking_lot::Mutex<std::collections::HashMap<String, Vec<(Value, u64)>>>;

pub(crate) struct Dlr {
    client: reqwest::Client,
    pub counters: DlrCounters,
    batches: Batches,
}

impl Dlr {
    pub fn new() -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { client, counters: DlrCounters::default(), batches: Batches::default() }
    }

    pub fn stats_json(&self) -> Value {
        let c = &self.counters;
        json!({
            "pending": c.pending.load(Ordering::Relaxed),
            "posted": c.posted.load(Ordering::Relaxed),
            "reports": c.reports.load(Ordering::Relaxed),
            "refused": c.refused.load(Ordering::Relaxed),
            "lost": c.lost.load(Ordering::Relaxed),
        })
    }

    /// Schedules the reports of `accepted` messages according to `config`.
    pub fn schedule(self: &Arc<Self>, config: &SimConfig, rng: &Rng, shutdown: &CancellationToken, accepted: Vec<Accepted>) {
        for a in accepted {
            if !config.dlr_enabled || a.callback_url.is_empty() || !(a.callback_url.starts_with("http://") || a.callback_url.starts_with("https://")) {
                continue;
            }
            if rng.unit() < config.dlr_loss_rate || self.counters.pending.load(Ordering::Relaxed) >= MAX_PENDING {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let undelivered = rng.unit() < config.dlr_undelivered_rate;
            let duplicate = rng.unit() < config.dlr_duplicate_rate;
            let reorder = rng.unit() < config.dlr_reorder_rate;
            let delay = config.dlr_delay_ms + rng.below(config.dlr_jitter_ms + 1);
            let reports = reports(&a, undelivered, duplicate, reorder);
            self.counters.pending.fetch_add(1, Ordering::Relaxed);
            let (me, stop) = (self.clone(), shutdown.clone());
            let batch = (a.kind == ProviderKind::Infobip && config.dlr_batch_max > 1).then_some((config.dlr_batch_max, config.dlr_batch_linger_ms));
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(delay)) => {
                        if let Some((max, linger)) = batch {
                            me.enqueue(&a.callback_url, reports, max, linger, &stop);
                            return;
                        }
                        for r in reports {
                            me.post(&a, r).await;
                        }
                    }
                    _ = stop.cancelled() => {}
                }
                me.counters.pending.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }

    /// Adds a message's Infobip reports to its URL's batch: a full batch is posted at once,
    /// the first report of a new batch starts its linger.
    fn enqueue(self: &Arc<Self>, url: &str, reports: Vec<Report>, max: usize, linger: u64, stop: &CancellationToken) {
        let n = reports.len();
        let entries = reports.into_iter().enumerate().filter_map(|(i, r)| match r {
            Report::InfobipJson(mut v) => Some((v["results"][0].take(), u64::from(i + 1 == n))),
            Report::TwilioForm(_) => None,
        });
        let mut full = Vec::new();
        let first = {
            let mut batches = self.batches.lock();
            let batch = batches.entry(url.to_owned()).or_default();
            let first = batch.is_empty();
            for e in entries {
                batch.push(e);
                if batch.len() >= max {
                    full.push(std::mem::take(batch));
                }
            }
            first && !batch.is_empty()
        };
        for b in full {
            let (me, url) = (self.clone(), url.to_owned());
            tokio::spawn(async move { me.post_batch(&url, b).await });
        }
        if first {
            let (me, url, stop) = (self.clone(), url.to_owned(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(linger)) => {
                        let batch = me.batches.lock().remove(&url).unwrap_or_default();
                        if !batch.is_empty() {
                            me.post_batch(&url, batch).await;
                        }
                    }
                    _ = stop.cancelled() => {}
                }
            });
        }
    }

    async fn post_batch(&self, url: &str, batch: Vec<(Value, u64)>) {
        let done: u64 = batch.iter().map(|(_, w)| w).sum();
        let n = batch.len() as u64;
        let body = json!({"results": batch.into_iter().map(|(v, _)| v).collect::<Vec<_>>()});
        self.count(self.client.post(url).json(&body).send().await, n);
        self.counters.pending.fetch_sub(done, Ordering::Relaxed);
    }

    /// Counts one POST of `reports` reports by its answer.
    fn count(&self, answer: reqwest::Result<reqwest::Response>, reports: u64) {
        match answer {
            Ok(resp) if resp.status().is_success() => {
                self.counters.posted.fetch_add(1, Ordering::Relaxed);
                self.counters.reports.fetch_add(reports, Ordering::Relaxed);
            }
            _ => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn post(&self, a: &Accepted, r: Report) {
        let req = match r {
            Report::TwilioForm(pairs) => {
                let signature = crate::auth::twilio::signature(&a.auth_token, &a.callback_url, &pairs);
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v))).collect();
                self.client
                    .post(&a.callback_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(body.join("&"))
            }
            Report::InfobipJson(v) => self.client.post(&a.callback_url).json(&v),
        };
        self.count(req.send().await, 1);
    }
}

enum Report {
    TwilioForm(Vec<(String, String)>),
    InfobipJson(Value),
}

/// The reports of one message, in the order they will be sent.
fn reports(a: &Accepted, undelivered: bool, duplicate: bool, reorder: bool) -> Vec<Report> {
    match a.kind {
        ProviderKind::Twilio => {
            let form = |status: &str| {
                let mut p: Vec<(String, String)> = [
                    ("AccountSid", a.account.as_str()),
                    ("ApiVersion", "2010-04-01"),
                    ("From", a.from.as_str()),
                    ("MessageSid", a.provider_message_id.as_str()),
                    ("MessageStatus", status),
                    ("SmsSid", a.provider_message_id.as_str()),
                    ("SmsStatus", status),
                    ("To", a.to.as_str()),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                if status == "undelivered" {
                    p.push(("ErrorCode".into(), "30003".into()));
                }
                Report::TwilioForm(p)
            };
            let last = if undelivered { "undelivered" } else { "delivered" };
            let mut out = if reorder { vec![form(last), form("sent")] } else { vec![form("sent"), form(last)] };
            if duplicate {
                out.push(form(last));
            }
            out
        }
        _ => {
            let (status, error) = if undelivered {
                (
                    json!({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED", "description": "Message sent not delivered"}),
                    json!({"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER", "description": "Absent Subscriber", "permanent": false}),
                )
            } else {
                (
                    json!({"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "Message delivered to handset"}),
                    json!({"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false}),
                )
            };
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
            let report = json!({"results": [{
                "messageId": a.provider_message_id, "to": a.to, "sender": a.from,
                "sentAt": now, "doneAt": now, "messageCount": 1, "status": status, "error": error,
            }]});
            let n = if duplicate { 2 } else { 1 };
            (0..n).map(|_| Report::InfobipJson(report.clone())).collect()
        }
    }
}

/// The messages of an accepted send whose reports are due: the callback URLs of the request
/// matched with the provider ids of the answer (`body` is the answer's JSON).
pub(crate) fn accepted(kind: ProviderKind, request_form: &[(String, String)], request_json: &Value, basic: Option<(String, String)>, answer: &Value) -> Vec<Accepted> {
    match kind {
        ProviderKind::Twilio => {
            let field = |n: &str| request_form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
            let (account, token) = basic.unwrap_or_default();
            let Some(sid) = answer["sid"].as_str() else { return Vec::new() };
            vec![Accepted {
                kind,
                callback_url: field("StatusCallback"),
                provider_message_id: sid.to_owned(),
                auth_token: token,
                account,
                from: field("From"),
                to: field("To"),
            }]
        }
        ProviderKind::Infobip => {
            // One URL per destination, in request order, as the answer lists them.
            let mut urls = Vec::new();
            for m in request_json["messages"].as_array().into_iter().flatten() {
                let url = m["webhooks"]["delivery"]["url"].as_str().or(m["notifyUrl"].as_str()).unwrap_or("").to_owned();
                let from = m["sender"].as_str().or(m["from"].as_str()).unwrap_or("").to_owned();
                for _ in m["destinations"].as_array().into_iter().flatten() {
                    urls.push((url.clone(), from.clone()));
                }
            }
            answer["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(urls)
                .filter(|(m, _)| m["status"]["groupId"].as_i64() == Some(1))
                .filter_map(|(m, (url, from))| {
                    Some(Accepted {
                        kind,
                        callback_url: url,
                        provider_message_id: m["messageId"].as_str()?.to_owned(),
                        auth_token: String::new(),
                        account: String::new(),
                        from,
                        to: m["destination"].as_str().or(m["to"].as_str()).unwrap_or("").to_owned(),
                    })
                })
                .collect()
        }
        _ => Vec::new(),
    }
}
