//! CredentialActor: one per provider credential. Owns the credential's delivery policy:
//! a token bucket (messages/s), a bounded number of concurrent calls, retries with
//! exponential backoff and jitter that honour `Retry-After`, and a circuit breaker. Calls run
//! as tasks and report back as messages, so the mailbox never waits on the network.
//! Every call ends in a report to the association actor, which owns the message.
//!
//! With Redis configured the rate is shared by every engine sending through the credential:
//! permits come from the coordinator (asked for in batches by a task, answered as a
//! message); while Redis is unreachable, and without it, the in-process bucket decides.
//!
//! Campaign messages for providers whose API takes lists are gathered into one request
//! (`batcher`); single sends never wait for that. What an answer means for the credential
//! and for each message is in `settle`.

use super::association::{AssocMsg, AttemptReport, Verdict};
use super::policy::{Admission, Backoff, CircuitBreaker, Jitter, TokenBucket};
use super::DispatchContext;
use crate::coord::Permits;
use crate::domain::ProviderKind;
use crate::providers::{self, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::store::{AttemptRecord, CredentialRecord, MessageRecord};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{Map, Value};
use super::association::{queue_key, QueueKey};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct CredentialArgs {
    pub ctx: Arc<DispatchContext>,
    pub record: CredentialRecord,
    pub provider: ProviderKind,
    pub fields: Map<String, Value>,
}

/// One message handed to this credential.
pub struct Job {
    pub record: MessageRecord,
    /// Attempts the message had before it came here (attempt numbers continue from it).
    pub attempts_before: u32,
    /// Calls of this message deferred here by a per-recipient limit (see [`MAX_DEFERS`]).
    pub defers: u32,
    pub reply: ActorRef<AssocMsg>,
}

pub(super) struct Pending {
    pub(super) job: Box<Job>,
    /// Calls made on this credential so far.
    pub(super) tries: u32,
    key: QueueKey,
    /// Never gathered into a batch again: a batch answer refused it without saying which
    /// message was at fault, so it goes alone.
    pub(super) solo: bool,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    /// Single sends first (an OTP never waits behind a campaign, retries included), then
    /// retries (they waited already), then the association's queue order.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key.0, self.tries > 0, self.key).cmp(&(o.key.0, o.tries > 0, o.key))
    }
}

impl Pending {
    pub(super) fn new(job: Box<Job>, tries: u32, solo: bool) -> Self {
        let key = queue_key(&job.record);
        Self { job, tries, key, solo }
    }

    /// A single send (no campaign): never gathered, never held.
    pub(super) fn is_single(&self) -> bool {
        self.key.0
    }
}

pub enum CredMsg {
    Send(Box<Job>),
    /// Settings or secrets of the credential changed.
    Update(Box<CredentialArgs>),
    Done(Box<CallDone>),
    /// A batched call's answer (`batcher`).
    BatchDone(Box<super::batcher::BatchDone>),
    Retry(Box<Job>, u32),
    /// Again, alone: a batch answer refused it with the others (`batcher`).
    Split(Box<Job>, u32),
    Wake,
    /// A batch's linger is over (`batcher`).
    Linger,
    /// The shared limiter's answer to a request for permits.
    Permits(Permits),
    /// A finished call's outcome is durable: its slot in the in-flight window is free
    /// (`dispatch::drain::CallSlot`).
    SlotFree,
    /// A gateway's client-status poll (`dispatch::gateway_health`): `Some(reason)` while the
    /// client cannot send (not authenticated), `None` once it can.
    ClientHealth(Option<String>),
}

pub struct CallDone {
    job: Box<Job>,
    /// Held until the outcome is with the association actor (see `dispatch::drain`).
    guard: super::drain::CallGuard,
    tries: u32,
    outcome: SendOutcome,
    latency: Duration,
}

pub struct CredentialActor;

pub struct CredState {
    pub(super) ctx: Arc<DispatchContext>,
    pub(super) credential_id: i64,
    pub(super) provider: ProviderKind,
    pub(super) adapter: &'static dyn ProviderAdapter,
    pub(super) cred: Arc<ProviderCredential>,
    pub(super) sender: Arc<str>,
    /// Messages per second: the credential's own `messagesPerSecond` (a WhatsApp number's
    /// throughput, up to [`MAX_CREDENTIAL_RATE`]), else `dispatch.rate_per_second.<provider>`.
    pub(super) rate: f64,
    pub(super) bucket: TokenBucket,
    pub(super) breaker: CircuitBreaker,
    pub(super) backoff: Backoff,
    pub(super) jitter: Jitter,
    /// Waiting calls, single sends before campaign messages: an OTP never queues behind a
    /// campaign here.
    pub(super) queue: BinaryHeap<Pending>,
    /// Slots of the in-flight window taken: calls (a batched request is one) at the provider,
    /// and calls that returned whose outcome is not yet durable (freed by `SlotFree`).
    pub(super) in_flight: usize,
    /// Set by an authentication/configuration error: everything fails over until the
    /// credential is updated.
    pub(super) broken: Option<String>,
    pub(super) wake_pending: bool,
    /// Calls the shared (Redis) limiter has allowed and that have not started yet.
    pub(super) permits: u32,
    /// A request for shared permits is out.
    pub(super) asking: bool,
    /// The shared limiter said to wait until then before asking again.
    pub(super) ask_after: Option<Instant>,
    /// This credential's in-flight gauge, looked up once (a lookup per call built its labels).
    pub(super) in_flight_gauge: metrics::Gauge,
    /// Calls returned, outcome not yet durable (`jood_credential_calls_settling`).
    pub(super) settling_gauge: metrics::Gauge,
    /// Where the provider sends this credential's delivery reports
    /// (`{server.public_url}/api/v1/callbacks/{provider}/{credential id}`), if a public URL is set.
    pub(super) status_callback_url: Option<Arc<str>>,
    /// Why the gateway's client cannot send now (polled): the breaker stays open meanwhile.
    pub(super) client_down: Option<String>,
    /// How campaign messages are gathered into batched requests (`batcher`).
    pub(super) batch: super::batcher::BatchPolicy,
    /// Since when a batch has been waiting to fill.
    pub(super) linger_since: Option<Instant>,
    pub(super) linger_pending: bool,
    /// This credential's recent calls, readable by the console (`dispatch::latency`).
    pub(super) calls: Arc<super::latency::CallRing>,
    /// Reports being gathered for one message to their association (a batched call's
    /// answer: one actor message per request instead of one per message carried).
    pub(super) gathered: Option<(ActorRef<AssocMsg>, Vec<AttemptReport>)>,
}

impl Actor for CredentialActor {
    type Msg = CredMsg;
    type State = CredState;
    type Arguments = CredentialArgs;

    async fn pre_start(&self, me: ActorRef<Self::Msg>, a: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        super::gateway_health::spawn_poll(&a.ctx, a.provider, provider_credential(&a), me);
        let c = &a.ctx.config;
        let now = Instant::now();
        // Starts closed, whatever a failed predecessor left in the circuit gauge.
        crate::telemetry::circuit_started(a.provider.code(), a.record.id);
        Ok(CredState {
            credential_id: a.record.id,
            provider: a.provider,
            adapter: providers::adapter(a.provider),
            cred: Arc::new(provider_credential(&a)),
            sender: a.record.sender_name.as_str().into(),
            rate: credential_rate(&a),
            bucket: TokenBucket::new(credential_rate(&a), now),
            breaker: CircuitBreaker::new(c.breaker_failures, Duration::from_millis(c.breaker_open_ms)),
            backoff: Backoff { base: Duration::from_millis(c.backoff_base_ms), max: Duration::from_millis(c.backoff_max_ms) },
            jitter: Jitter::new(),
            queue: BinaryHeap::new(),
            in_flight: 0,
            broken: None,
            wake_pending: false,
            permits: 0,
            asking: false,
            ask_after: None,
            in_flight_gauge: crate::telemetry::credential_in_flight(a.provider.code(), a.record.id),
            settling_gauge: crate::telemetry::credential_settling(a.provider.code(), a.record.id),
            status_callback_url: status_callback_url(&a.ctx.public_url, a.provider, a.record.id),
            client_down: None,
            batch: super::batcher::BatchPolicy::of(&a),
            linger_since: None,
            linger_pending: false,
            calls: a.ctx.latency.ring(a.record.id),
            gathered: None,
            ctx: a.ctx,
        })
    }

    async fn handle(&self, me: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            CredMsg::Send(job) => st.queue.push(Pending::new(job, 0, false)),
            CredMsg::Retry(job, tries) => st.queue.push(Pending::new(job, tries, false)),
            CredMsg::Split(job, tries) => st.queue.push(Pending::new(job, tries, true)),
            CredMsg::Wake => st.wake_pending = false,
            CredMsg::Linger => st.linger_pending = false,
            CredMsg::Update(a) => {
                st.cred = Arc::new(provider_credential(&a));
                st.sender = a.record.sender_name.as_str().into();
                st.rate = credential_rate(&a);
                st.bucket = TokenBucket::new(st.rate, Instant::now());
                st.broken = None;
                st.batch = super::batcher::BatchPolicy::of(&a);
            }
            CredMsg::Done(done) => st.on_done(&me, *done),
            CredMsg::BatchDone(done) => st.on_batch_done(&me, *done),
            CredMsg::Permits(p) => st.on_permits(&me, p),
            CredMsg::ClientHealth(down) => st.on_client_health(down),
            CredMsg::SlotFree => st.in_flight = st.in_flight.saturating_sub(1),
        }
        st.pump(&me);
        Ok(())
    }

    async fn post_stop(&self, _me: ActorRef<Self::Msg>, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        crate::telemetry::circuit_state(st.provider.code(), st.credential_id, false);
        Ok(())
    }
}

/// The receiver URL of a credential's delivery reports; `None` without a public base URL
/// (providers then report nowhere, and `sent` stays the last status).
pub fn status_callback_url(public_url: &str, provider: ProviderKind, credential_id: i64) -> Option<Arc<str>> {
    let base = public_url.trim().trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}/api/v1/callbacks/{}/{credential_id}", provider.code()).into())
}

/// What the provider is handed for a stored message: its channel's payload.
pub(super) fn outbound(record: &MessageRecord, sender: &str, callback: Option<&Arc<str>>) -> OutboundMessage {
    let payload = match record.channel_kind() {
        crate::domain::Channel::Sms => Payload::Sms { text: record.body.clone() },
        crate::domain::Channel::Whatsapp => Payload::WhatsApp(
            record.content.clone().unwrap_or_else(|| crate::domain::WhatsAppContent::Text { body: record.body.clone(), preview_url: false }),
        ),
        crate::domain::Channel::Email => {
            let email = record.email.clone();
            Payload::Email {
                subject: email.as_ref().map(|e| e.subject.clone()).unwrap_or_else(|| crate::domain::email::default_subject(&record.body)),
                text: record.body.clone(),
                html: email.and_then(|e| e.html),
            }
        }
        crate::domain::Channel::Slack => {
            let (text, blocks) = crate::domain::slack::parts(&record.body);
            Payload::Slack { text, blocks }
        }
        crate::domain::Channel::Voice => Payload::Voice { text: record.body.clone() },
    };
    OutboundMessage {
        message_id: record.id,
        recipient: record.recipient.clone(),
        sender: sender.to_owned(),
        payload,
        status_callback_url: callback.map(|u| u.to_string()),
        validity_secs: crate::domain::time::seconds_left(record.expires_at, crate::domain::now_ms()),
    }
}

/// The most a credential's own `messagesPerSecond` may ask (Meta's highest per-number tier).
pub const MAX_CREDENTIAL_RATE: f64 = 1000.0;

/// Calls deferred by a per-recipient limit (Meta's 131056 pair rate) before the message
/// fails over: they do not use up `max_attempts_per_credential`, which is for failures.
/// 30 at ~6 s each: a recipient may wait three minutes for its turn.
pub const MAX_DEFERS: u32 = 30;

/// The credential's rate: its own `messagesPerSecond` field when set (1 to 1,000), else the
/// provider's configured rate.
pub(super) fn credential_rate(a: &CredentialArgs) -> f64 {
    match a.fields.get("messagesPerSecond").and_then(Value::as_f64) {
        Some(r) if r.is_finite() && r > 0.0 => r.min(MAX_CREDENTIAL_RATE),
        _ => a.ctx.config.rate_per_second.of(a.provider),
    }
}

fn provider_credential(a: &CredentialArgs) -> ProviderCredential {
    let adapter = providers::adapter(a.provider);
    let base = a.record.api_url.as_deref().unwrap_or(adapter.default_base_url()).trim_end_matches('/').to_string();
    ProviderCredential::new(a.record.id, a.fields.clone(), base)
}

impl CredState {
    /// Starts calls while the window, the token bucket and the breaker allow.
    fn pump(&mut self, me: &ActorRef<CredMsg>) {
        while !self.queue.is_empty() {
            if self.ctx.calls.is_draining() {
                return; // a graceful stop: what is queued stays durable for the next start
            }
            if let Some(reason) = self.client_down.clone() {
                self.fail_over_all(&format!("circuit open for credential {}: {reason}", self.credential_id));
                return;
            }
            if let Some(reason) = self.broken.clone() {
                self.fail_over_all(&format!("credential {} is broken: {reason}", self.credential_id));
                return;
            }
            if self.in_flight >= self.ctx.config.credential_in_flight {
                return;
            }
            let now = Instant::now();
            if !self.rate_allows(me, now) {
                return;
            }
            // Decided before the breaker's admission: a half-open probe is never held back.
            let batch = match self.queue.peek().is_some_and(|p| self.batchable(p)) {
                true => match self.batch_size(me, now) {
                    Some(n) => n,
                    None => return, // lingering, or waiting for the tokens of a full batch
                },
                false => 1,
            };
            match self.breaker.admit(now) {
                Admission::Reject => {
                    self.fail_over_all(&format!("circuit open for credential {}", self.credential_id));
                    return;
                }
                Admission::Wait => return,
                Admission::Allow => {}
            }
            if batch > 1 {
                self.gather_and_call(me, batch);
                continue;
            }
            let p = self.queue.pop().expect("non-empty");
            let cancelled = p.job.record.campaign_id.and_then(|c| self.ctx.campaigns.get(c)).is_some_and(|c| c.is_cancelled());
            if cancelled {
                self.report(&p.job, None, Verdict::Cancelled);
                continue;
            }
            if self.permits > 0 {
                self.permits -= 1;
            } else {
                self.bucket.try_take(now);
            }
            self.call(me, p);
        }
    }

    /// Whether the rate limit lets one more call start now (without taking the permit).
    fn rate_allows(&mut self, me: &ActorRef<CredMsg>, now: Instant) -> bool {
        if self.permits > 0 {
            return true;
        }
        if self.ctx.coord.shares_credential_limits() {
            if !self.asking {
                match self.ask_after {
                    // Told to wait: make sure something wakes the actor then.
                    Some(t) if now < t => self.wake_in(me, t - now),
                    _ => self.ask_permits(me),
                }
            }
            return false;
        }
        let wait = self.bucket.wait_time(now);
        if wait.is_zero() {
            return true;
        }
        self.wake_in(me, wait);
        false
    }

    pub(super) fn wake_in(&mut self, me: &ActorRef<CredMsg>, wait: Duration) {
        if !self.wake_pending {
            self.wake_pending = true;
            me.send_after(wait, || CredMsg::Wake);
        }
    }

    /// Asks the shared limiter for as many permits as calls could start now.
    fn ask_permits(&mut self, me: &ActorRef<CredMsg>) {
        self.asking = true;
        let room = self.ctx.config.credential_in_flight.saturating_sub(self.in_flight);
        // A batched call needs one permit per message.
        let want = (room * self.batch.max).min(self.queue.len()).clamp(1, u32::MAX as usize) as u32;
        let (coord, id, me) = (self.ctx.coord.clone(), self.credential_id, me.clone());
        let rate = self.rate;
        tokio::spawn(async move {
            let permits = coord.acquire_credential(id, rate, want).await;
            let _ = me.cast(CredMsg::Permits(permits));
        });
    }

    fn on_permits(&mut self, me: &ActorRef<CredMsg>, p: Permits) {
        self.asking = false;
        match p {
            Permits::Granted(n) => {
                self.permits += n;
                self.ask_after = None;
            }
            Permits::Wait(d) => {
                self.ask_after = Some(Instant::now() + d);
                self.wake_in(me, d);
            }
            // Redis is unreachable: the coordinator now says so, and the next pump uses
            // the in-process bucket.
            Permits::Local => self.ask_after = None,
        }
    }

    pub(super) fn call(&mut self, me: &ActorRef<CredMsg>, p: Pending) {
        self.in_flight += 1;
        let sms = outbound(&p.job.record, &self.sender, self.status_callback_url.as_ref());
        let (adapter, client, cred, me) = (self.adapter, self.ctx.http.clone(), self.cred.clone(), me.clone());
        let timeout = Duration::from_millis(self.ctx.config.provider_timeout_ms);
        // Counted by the call itself, so a call outliving its actor still leaves the gauge.
        let in_flight = self.in_flight_gauge.clone();
        in_flight.increment(1.0);
        let settling = self.settling_gauge.clone();
        let mut guard = self.ctx.calls.start();
        tokio::spawn(async move {
            let (outcome, latency) = providers::send(adapter, &client, &cred, &sms, timeout).await;
            in_flight.decrement(1.0);
            // The slot stays taken until the outcome is durable.
            guard.hold_slot(super::drain::CallSlot::settling(me.clone(), settling));
            let _ = me.cast(CredMsg::Done(Box::new(CallDone { job: p.job, tries: p.tries + 1, outcome, latency, guard })));
        });
    }

    fn on_done(&mut self, me: &ActorRef<CredMsg>, d: CallDone) {
        let now = Instant::now();
        let label = super::settle::outcome_label(&d.outcome);
        metrics::histogram!(crate::telemetry::PROVIDER_CALL_SECONDS, "provider" => self.provider.code(), "outcome" => label)
            .record(d.latency.as_secs_f64());
        self.calls.record(d.latency.as_secs_f64() * 1000.0, matches!(d.outcome, SendOutcome::Accepted { .. }));
        self.request_effects(&d.outcome, now);
        self.settle(me, d.job, d.tries, d.outcome, d.latency, Some(d.guard), now);
    }

    pub(super) fn report(&mut self, job: &Job, attempt: Option<AttemptRecord>, verdict: Verdict) {
        self.report_call(job, attempt, verdict, None)
    }

    pub(super) fn report_call(&mut self, job: &Job, attempt: Option<AttemptRecord>, verdict: Verdict, call: Option<super::drain::CallGuard>) {
        if matches!(verdict, Verdict::Failover { .. }) {
            let channel = crate::telemetry::channel_label(&job.record.channel);
            metrics::counter!(crate::telemetry::DISPATCH_FAILOVERS_TOTAL, "provider" => self.provider.code(), "channel" => channel).increment(1);
        }
        let report = AttemptReport { message_id: job.record.id, credential_id: self.credential_id, attempt, verdict, call };
        match self.gathered.as_mut() {
            Some((to, reports)) if to.get_id() == job.reply.get_id() => reports.push(report),
            Some(_) => {
                // Another association's message (never the case today): what is gathered
                // goes first, in order.
                self.send_gathered();
                self.gathered = Some((job.reply.clone(), vec![report]));
            }
            None => {
                let _ = job.reply.cast(AssocMsg::Report(report));
            }
        }
    }

    pub(super) fn retry_later(&self, me: &ActorRef<CredMsg>, job: &Job, tries: u32, delay: Duration) {
        let job = Job { record: job.record.clone(), attempts_before: job.attempts_before, defers: job.defers, reply: job.reply.clone() };
        me.send_after(delay, move || CredMsg::Retry(Box::new(job), tries));
    }

    fn on_client_health(&mut self, down: Option<String>) {
        if self.client_down != down {
            match &down {
                Some(reason) => tracing::warn!(credential = self.credential_id, provider = self.provider.code(), %reason, "gateway client cannot send: circuit opened"),
                None => tracing::info!(credential = self.credential_id, provider = self.provider.code(), "gateway client authenticated again: circuit closed"),
            }
        }
        super::gateway_health::record(&self.ctx, self.credential_id, down.clone());
        self.client_down = down;
        let open = self.client_down.is_some() || self.breaker.state(Instant::now()) != super::policy::BreakerState::Closed;
        crate::telemetry::circuit_state(self.provider.code(), self.credential_id, open);
    }

    fn fail_over_all(&mut self, reason: &str) {
        for p in std::mem::take(&mut self.queue).into_vec() {
            self.report(&p.job, None, Verdict::Failover { reason: reason.to_string() });
        }
    }
}
