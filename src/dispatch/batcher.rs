//! Batching in the credential actor: campaign messages for a provider whose API takes
//! several per request (`providers::batch`) are gathered up to a size, waiting at most a
//! short linger for a batch to fill, and sent as one call; the answer is mapped back to each
//! message. Single sends are never gathered or held: the queue orders them first and they
//! go one per call, at once. A batch answer that refuses the request as a whole for a
//! recipient or content reason does not say which message was at fault, so its messages are
//! sent again one by one (never gathered again).
//!
//! Size and linger: `dispatch.batch` per provider, a credential's `batchSize` /
//! `batchLingerMs` fields over it, capped by what the provider takes.

use super::association::{AssocMsg, Verdict};
use super::credential::{outbound, CredMsg, CredState, CredentialArgs, Job, Pending};
use super::drain::{CallGuard, CallSlot};
use crate::domain::Channel;
use crate::providers::{self, BatchOutcome, OutboundMessage, SendOutcome};
use ractor::ActorRef;
use std::time::{Duration, Instant};

/// How one credential gathers campaign messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most messages per request; 1: no batching.
    pub max: usize,
    pub linger: Duration,
}

impl BatchPolicy {
    pub(super) fn of(a: &CredentialArgs) -> Self {
        let cfg = &a.ctx.config.batch;
        let Some(batcher) = providers::adapter(a.provider).batch() else { return Self { max: 1, linger: Duration::ZERO } };
        let field = |name: &str| a.fields.get(name).and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()));
        let max = field("batchSize").map(|n| n as usize).unwrap_or_else(|| cfg.max_messages.of(a.provider));
        let linger = field("batchLingerMs").unwrap_or(cfg.linger_ms);
        Self { max: max.clamp(1, batcher.max_messages()), linger: Duration::from_millis(linger.min(10_000)) }
    }
}

/// A batched call's answer, with what it carried.
pub struct BatchDone {
    items: Vec<(Box<Job>, u32, CallGuard)>,
    outcome: BatchOutcome,
    latency: Duration,
}

impl CredState {
    /// Whether this queued message may travel in a batch.
    pub(super) fn batchable(&self, p: &Pending) -> bool {
        self.batch.max > 1 && !p.solo && !p.is_single() && p.job.record.channel_kind() == Channel::Sms
    }

    /// How many messages the next call should carry, the top of the queue being batchable;
    /// `None`: wait (a wake-up is set). A full batch goes at once; a smaller one after the
    /// linger. When the rate limit is what holds a batch back, it waits for the tokens of a
    /// full one instead (the rate caps throughput anyway, and fewer requests carry it).
    pub(super) fn batch_size(&mut self, me: &ActorRef<CredMsg>, now: Instant) -> Option<usize> {
        // Single sends sort first, so with a batchable top every queued message is a campaign's.
        let want = self.queue.len().min(self.batch.max);
        let shared = self.permits > 0;
        let tokens = if shared { self.permits as usize } else { self.bucket.available(now) };
        if tokens < want && !shared {
            let target = want.min(self.bucket.burst_tokens());
            if tokens < target {
                let wait = self.bucket.wait_for(target, now);
                self.wake_in(me, wait);
                return None;
            }
        }
        let n = want.min(tokens).max(1);
        if n < self.batch.max && !self.batch.linger.is_zero() {
            let since = *self.linger_since.get_or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited < self.batch.linger {
                if !self.linger_pending {
                    self.linger_pending = true;
                    me.send_after(self.batch.linger - waited, || CredMsg::Linger);
                }
                return None;
            }
        }
        self.linger_since = None;
        Some(n)
    }

    /// Pops up to `n` batchable messages that can share a request with the first, takes their
    /// permits, and calls (one message goes the single way).
    pub(super) fn gather_and_call(&mut self, me: &ActorRef<CredMsg>, n: usize) {
        let batcher = self.adapter.batch();
        let mut items: Vec<(Pending, OutboundMessage)> = Vec::with_capacity(n);
        while items.len() < n {
            let Some(top) = self.queue.peek() else { break };
            if !self.batchable(top) {
                break;
            }
            let cancelled = top.job.record.campaign_id.and_then(|c| self.ctx.campaigns.get(c)).is_some_and(|c| c.is_cancelled());
            if cancelled {
                let p = self.queue.pop().expect("peeked");
                self.report(&p.job, None, Verdict::Cancelled);
                continue;
            }
            let msg = outbound(&top.job.record, &self.sender, self.status_callback_url.as_ref());
            if let (Some(b), Some((_, first))) = (batcher, items.first()) {
                if !b.compatible(first, &msg) {
                    break; // the next batch starts with it
                }
            }
            items.push((self.queue.pop().expect("peeked"), msg));
        }
        let taken = items.len();
        if taken == 0 {
            return;
        }
        if self.permits > 0 {
            self.permits = self.permits.saturating_sub(taken as u32);
        } else {
            self.bucket.take(taken);
        }
        if taken == 1 {
            let (p, _) = items.pop().expect("one");
            return self.call(me, p);
        }
        self.call_batch(me, items);
    }

    fn call_batch(&mut self, me: &ActorRef<CredMsg>, items: Vec<(Pending, OutboundMessage)>) {
        self.in_flight += 1;
        metrics::histogram!(crate::telemetry::PROVIDER_BATCH_MESSAGES, "provider" => self.provider.code()).record(items.len() as f64);
        let (adapter, client, cred, me) = (self.adapter, self.ctx.http.clone(), self.cred.clone(), me.clone());
        let timeout = std::time::Duration::from_millis(self.ctx.config.provider_timeout_ms);
        let in_flight = self.in_flight_gauge.clone();
        in_flight.increment(1.0);
        let settling = self.settling_gauge.clone();
        let (mut jobs, msgs): (Vec<_>, Vec<_>) = items.into_iter().map(|(p, m)| ((p.job, p.tries + 1, self.ctx.calls.start()), m)).unzip();
        tokio::spawn(async move {
            let (outcome, latency) = providers::send_batch(adapter, &client, &cred, &msgs, timeout).await;
            in_flight.decrement(1.0);
            // One slot for the request, free once the last of its messages is recorded.
            let slot = CallSlot::settling(me.clone(), settling);
            for (_, _, guard) in &mut jobs {
                guard.hold_slot(slot.clone());
            }
            drop(slot);
            let _ = me.cast(CredMsg::BatchDone(Box::new(BatchDone { items: jobs, outcome, latency })));
        });
    }

    pub(super) fn on_batch_done(&mut self, me: &ActorRef<CredMsg>, d: BatchDone) {
        let now = Instant::now();
        let n = d.items.len();
        let request = match &d.outcome {
            BatchOutcome::Request(o) => o.clone(),
            BatchOutcome::PerMessage(v) => summary(v),
        };
        metrics::histogram!(crate::telemetry::PROVIDER_CALL_SECONDS, "provider" => self.provider.code(), "outcome" => super::settle::outcome_label(&request))
            .record(d.latency.as_secs_f64());
        // One provider call, whatever it carried: the console's per-credential latency.
        self.calls.record(d.latency.as_secs_f64() * 1000.0, matches!(request, SendOutcome::Accepted { .. }));
        if let Some((job, _, _)) = d.items.first() {
            self.gather_reports(&job.reply, n);
        }
        self.on_batch_answer(me, d, request, now);
        self.send_gathered();
    }

    fn on_batch_answer(&mut self, me: &ActorRef<CredMsg>, d: BatchDone, request: SendOutcome, now: Instant) {
        let n = d.items.len();
        match d.outcome {
            BatchOutcome::Request(o @ (SendOutcome::PermanentRecipient { .. } | SendOutcome::PermanentContent { .. })) if n > 1 => {
                self.request_effects(&o, now);
                self.split(me, d.items, &o, d.latency);
            }
            BatchOutcome::Request(o) => {
                self.request_effects(&o, now);
                for (job, tries, guard) in d.items {
                    self.settle(me, job, tries, o.clone(), d.latency, Some(guard), now);
                }
            }
            BatchOutcome::PerMessage(outcomes) => {
                self.request_effects(&request, now);
                for ((job, tries, guard), o) in d.items.into_iter().zip(outcomes) {
                    self.settle(me, job, tries, o, d.latency, Some(guard), now);
                }
            }
        }
    }

    /// Sends each message of a refused batch again, alone and at once. The batch call is
    /// recorded as an attempt of each; it uses up none of its tries (nothing says the message
    /// failed), so it counts as a defer, which also numbers the next attempt after it.
    fn split(&mut self, me: &ActorRef<CredMsg>, items: Vec<(Box<Job>, u32, CallGuard)>, o: &SendOutcome, latency: Duration) {
        tracing::info!(credential = self.credential_id, provider = self.provider.code(), messages = items.len(), outcome = ?o, "batch refused as a whole: resending its messages one by one");
        for (job, tries, guard) in items {
            let mut attempt = self.attempt(&job, tries, o, latency);
            attempt.error = attempt.error.map(|e| format!("{e} (batch refused as a whole; resent alone)"));
            let next = Job { record: job.record.clone(), attempts_before: job.attempts_before, defers: job.defers + 1, reply: job.reply.clone() };
            let _ = me.cast(CredMsg::Split(Box::new(next), tries - 1));
            self.report_call(&job, Some(attempt), Verdict::Retrying, Some(guard));
        }
    }

    /// From now on reports are gathered (the answer of a batched call), to go to the
    /// association as one message by [`Self::send_gathered`].
    pub(super) fn gather_reports(&mut self, reply: &ActorRef<AssocMsg>, capacity: usize) {
        self.send_gathered();
        self.gathered = Some((reply.clone(), Vec::with_capacity(capacity)));
    }

    /// Sends the gathered reports, in the order they were made; reports go one by one again.
    pub(super) fn send_gathered(&mut self) {
        if let Some((to, reports)) = self.gathered.take() {
            if !reports.is_empty() {
                let _ = to.cast(AssocMsg::Reports(reports));
            }
        }
    }
}

/// The request-level reading of a per-message answer: the provider answered, so any
/// accepted message proves it up; a broken credential wins next; a request whose every
/// message failed transiently counts as one failure of the provider.
fn summary(outcomes: &[SendOutcome]) -> SendOutcome {
    if let Some(o) = outcomes.iter().find(|o| matches!(o, SendOutcome::PermanentConfig { .. })) {
        return o.clone();
    }
    if let Some(o) = outcomes.iter().find(|o| !matches!(o, SendOutcome::Transient { .. } | SendOutcome::Ambiguous { .. })) {
        return match o {
            SendOutcome::Throttled { .. } | SendOutcome::Deferred { .. } => SendOutcome::Accepted { provider_message_id: String::new() },
            other => other.clone(),
        };
    }
    outcomes.first().cloned().unwrap_or(SendOutcome::Ambiguous { reason: "empty batch answer".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_the_request() {
        let t = SendOutcome::Transient { reason: "x".into() };
        let ok = SendOutcome::Accepted { provider_message_id: "1".into() };
        let cfg = SendOutcome::PermanentConfig { reason: "credit".into() };
        assert_eq!(summary(&[t.clone(), t.clone()]), t, "all failed: one provider failure");
        assert_eq!(summary(&[t.clone(), ok.clone()]), ok, "one accepted: the provider is up");
        assert_eq!(summary(&[ok.clone(), cfg.clone()]), cfg, "a broken credential wins");
    }
}
