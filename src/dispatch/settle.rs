//! What a provider's answer means, in two steps: for the credential, once per request
//! (circuit breaker, pace after a 429, a broken credential), and for each message the
//! request carried (sent, retried here later, failed, or handed back to fail over). A single
//! send takes both steps for its one message; a batched request takes the first once and the
//! second per message. Part of the credential actor (`credential.rs`).

use super::association::Verdict;
use super::credential::{CredMsg, CredState, Job, MAX_DEFERS};
use super::drain::CallGuard;
use super::policy::BreakerState;
use crate::domain::now_ms;
use crate::providers::SendOutcome;
use crate::store::AttemptRecord;
use ractor::ActorRef;
use std::time::{Duration, Instant};

impl CredState {
    /// The credential's side of an answer: applied once per provider request.
    pub(super) fn request_effects(&mut self, outcome: &SendOutcome, now: Instant) {
        match outcome {
            // The provider answered (a refusal of one number or text proves it is up).
            SendOutcome::Accepted { .. } | SendOutcome::PermanentRecipient { .. } | SendOutcome::PermanentContent { .. } => {
                self.breaker.record_success()
            }
            // Only one recipient must wait: no bucket drain, and the provider is healthy.
            SendOutcome::Deferred { .. } => self.breaker.record_success(),
            SendOutcome::Throttled { .. } => {
                // A 429 proves the provider is up; it only asks us to slow down.
                self.breaker.record_success();
                self.bucket.drain();
                self.permits = 0;
            }
            SendOutcome::Transient { .. } | SendOutcome::Ambiguous { .. } => {
                if self.breaker.record_failure(now) {
                    tracing::warn!(credential = self.credential_id, provider = self.provider.code(), "circuit opened");
                }
            }
            SendOutcome::PermanentConfig { reason } => {
                tracing::warn!(credential = self.credential_id, provider = self.provider.code(), %reason, "credential marked broken");
                self.broken = Some(reason.clone());
            }
        }
        // A gateway client the poll found down holds every call back like an open breaker
        // (`pump` fails them over), so it keeps the gauge open whatever this call's outcome
        // did to the breaker: a call in flight when the poll's verdict came (or the send that
        // started the actor, answered after the first poll) must not close it again.
        let open = self.client_down.is_some() || self.breaker.state(now) != BreakerState::Closed;
        crate::telemetry::circuit_state(self.provider.code(), self.credential_id, open);
    }

    /// One message's side of an answer (the request's effects already applied): records the
    /// attempt and reports the verdict to the association.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn settle(
        &mut self,
        me: &ActorRef<CredMsg>,
        job: Box<Job>,
        tries: u32,
        outcome: SendOutcome,
        latency: Duration,
        guard: Option<CallGuard>,
        now: Instant,
    ) {
        let attempt = self.attempt(&job, tries, &outcome, latency);
        let verdict = self.verdict(me, &job, tries, outcome, attempt.error.clone(), now);
        if matches!(verdict, Verdict::Retrying) {
            let channel = crate::telemetry::channel_label(&job.record.channel);
            metrics::counter!(crate::telemetry::DISPATCH_RETRIES_TOTAL, "provider" => self.provider.code(), "channel" => channel).increment(1);
        }
        self.report_call(&job, Some(attempt), verdict, guard);
    }

    pub(super) fn attempt(&self, job: &Job, tries: u32, outcome: &SendOutcome, latency: Duration) -> AttemptRecord {
        let (pmid, error) = match outcome {
            SendOutcome::Accepted { provider_message_id } => (Some(provider_message_id.clone()), None),
            SendOutcome::Throttled { retry_after } => {
                (None, Some(format!("throttled by provider{}", retry_after.map(|r| format!(" (Retry-After {}s)", r.as_secs())).unwrap_or_default())))
            }
            SendOutcome::Transient { reason }
            | SendOutcome::Deferred { reason, .. }
            | SendOutcome::Ambiguous { reason }
            | SendOutcome::PermanentRecipient { reason }
            | SendOutcome::PermanentContent { reason }
            | SendOutcome::PermanentConfig { reason } => (None, Some(reason.clone())),
        };
        AttemptRecord {
            message_id: job.record.id,
            attempt: job.attempts_before + job.defers + tries,
            credential_id: self.credential_id,
            provider: self.provider.code().to_string(),
            result: outcome_label(outcome).to_string(),
            provider_message_id: pmid,
            error,
            latency_ms: latency.as_millis() as u64,
            at: now_ms(),
        }
    }

    fn verdict(&mut self, me: &ActorRef<CredMsg>, job: &Job, tries: u32, outcome: SendOutcome, error: Option<String>, now: Instant) -> Verdict {
        let max = self.ctx.config.max_attempts_per_credential;
        match outcome {
            SendOutcome::Accepted { provider_message_id } => {
                super::gateway_health::follow(&self.ctx, self.provider, self.credential_id, job.record.id, &provider_message_id);
                Verdict::Sent { provider: self.provider.code().to_string(), provider_message_id }
            }
            SendOutcome::Throttled { retry_after } => {
                if tries < max {
                    let delay = retry_after.unwrap_or_else(|| self.backoff.delay(tries - 1, self.jitter.unit()));
                    self.retry_later(me, job, tries, delay);
                    Verdict::Retrying
                } else {
                    Verdict::Failover { reason: error.unwrap_or_default() }
                }
            }
            SendOutcome::Deferred { retry_after, reason } => {
                // The call does not count as a try (nothing failed); defers have their own bound.
                if job.defers < MAX_DEFERS {
                    let next = Job { record: job.record.clone(), attempts_before: job.attempts_before, defers: job.defers + 1, reply: job.reply.clone() };
                    me.send_after(retry_after, move || CredMsg::Retry(Box::new(next), tries - 1));
                    Verdict::Retrying
                } else {
                    Verdict::Failover { reason }
                }
            }
            SendOutcome::Transient { reason } | SendOutcome::Ambiguous { reason } => {
                if tries < max && self.breaker.state(now) == BreakerState::Closed {
                    let delay = self.backoff.delay(tries - 1, self.jitter.unit());
                    self.retry_later(me, job, tries, delay);
                    Verdict::Retrying
                } else {
                    Verdict::Failover { reason }
                }
            }
            SendOutcome::PermanentRecipient { reason } | SendOutcome::PermanentContent { reason } => Verdict::Permanent { reason },
            SendOutcome::PermanentConfig { reason } => Verdict::Failover { reason },
        }
    }
}

pub(super) fn outcome_label(o: &SendOutcome) -> &'static str {
    match o {
        SendOutcome::Accepted { .. } => "sent",
        SendOutcome::Throttled { .. } => "throttled",
        SendOutcome::Deferred { .. } => "deferred",
        SendOutcome::Transient { .. } => "transient",
        SendOutcome::Ambiguous { .. } => "ambiguous",
        SendOutcome::PermanentRecipient { .. } => "invalid_recipient",
        SendOutcome::PermanentContent { .. } => "rejected_content",
        SendOutcome::PermanentConfig { .. } => "credential_error",
    }
}
