//! AssociationActor: one per association. Holds the association's messages in memory (a
//! priority queue and a bounded window), decides each message's route, hands it to the
//! credential actor of the route's current credential, fails over along the route, and
//! writes every status change through the status writer.

use super::credential::{CredMsg, CredentialActor, CredentialArgs, Job};
use super::supervisor::SupervisorMsg;
use super::{routing, DispatchContext};
use crate::domain::{now_ms, ProviderKind};
use crate::store::{AllocationRecord, AttemptRecord, CredentialRecord, MessageRecord, MessageStatus, MessageUpdate};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::cmp::Reverse;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum AssocMsg {
    Submit(MessageRecord),
    Report(AttemptReport),
    /// The reports of the messages of one batched call, in order.
    Reports(Vec<AttemptReport>),
    Tick,
    /// Test hook for supervision: panics in the handler.
    Panic,
}

/// What a credential actor says about one call of one message.
pub struct AttemptReport {
    pub message_id: i64,
    pub credential_id: i64,
    pub attempt: Option<AttemptRecord>,
    pub verdict: Verdict,
    /// The provider call this reports, counted until the report is handled (a graceful stop
    /// waits for it: see `dispatch::drain`), and carrying the call's slot.
    pub call: Option<super::drain::CallGuard>,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    /// The provider took it: done.
    Sent { provider: String, provider_message_id: String },
    /// This credential will call again later.
    Retrying,
    /// No retry anywhere (invalid number, rejected content).
    Permanent { reason: String },
    /// This credential gave up (retries exhausted, circuit open, broken credential).
    Failover { reason: String },
    /// Its campaign was cancelled before the call: not sent.
    Cancelled,
}

/// Queue order: single sends (the documented high-priority queue) before campaign messages,
/// then higher `priority`, then older first.
pub type QueueKey = (bool, i32, Reverse<i64>);

pub fn queue_key(m: &MessageRecord) -> QueueKey {
    (m.campaign_id.is_none(), m.priority, Reverse(m.id))
}

pub struct AssociationArgs {
    pub association_id: i64,
    pub ctx: Arc<DispatchContext>,
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Submissions this actor has settled (finished or dropped as duplicates), shared with
    /// the supervisor so it can correct the in-memory count if this actor fails.
    pub settled: Arc<AtomicU64>,
}

pub struct AssociationActor;

struct Work {
    record: MessageRecord,
    route: Vec<i64>,
    pos: usize,
    /// The credential currently holding it, when in flight.
    at: Option<i64>,
    last_error: Option<String>,
}

struct CredSlot {
    actor: ActorRef<CredMsg>,
    updated_at: i64,
}

pub struct AssocState {
    id: i64,
    ctx: Arc<DispatchContext>,
    supervisor: ActorRef<SupervisorMsg>,
    settled: Arc<AtomicU64>,
    queue: BinaryHeap<QueueKey>,
    work: HashMap<i64, Work>,
    in_flight: usize,
    received: u64,
    credentials: Vec<CredentialRecord>,
    allocations: Vec<AllocationRecord>,
    routes_loaded: Option<Instant>,
    cred_actors: HashMap<i64, CredSlot>,
    cred_by_actor: HashMap<ActorId, i64>,
    last_active: Instant,
}

impl Actor for AssociationActor {
    type Msg = AssocMsg;
    type State = AssocState;
    type Arguments = AssociationArgs;

    async fn pre_start(&self, me: ActorRef<Self::Msg>, a: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        me.send_interval(Duration::from_millis(500), || AssocMsg::Tick);
        Ok(AssocState {
            id: a.association_id,
            ctx: a.ctx,
            supervisor: a.supervisor,
            settled: a.settled,
            queue: BinaryHeap::new(),
            work: HashMap::default(),
            in_flight: 0,
            received: 0,
            credentials: Vec::new(),
            allocations: Vec::new(),
            routes_loaded: None,
            cred_actors: HashMap::default(),
            cred_by_actor: HashMap::default(),
            last_active: Instant::now(),
        })
    }

    async fn handle(&self, me: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            AssocMsg::Submit(m) => {
                st.received += 1;
                st.last_active = Instant::now();
                if m.status.is_terminal() || st.work.contains_key(&m.id) {
                    st.settle_without_write();
                } else {
                    st.queue.push(queue_key(&m));
                    st.work.insert(m.id, Work { record: m, route: Vec::new(), pos: 0, at: None, last_error: None });
                }
                st.pump(&me).await;
            }
            AssocMsg::Report(r) => {
                st.last_active = Instant::now();
                st.on_report(&me, r).await;
                st.pump(&me).await;
            }
            AssocMsg::Reports(reports) => {
                st.last_active = Instant::now();
                st.on_reports(&me, reports).await;
                st.pump(&me).await;
            }
            AssocMsg::Tick => {
                let idle = Duration::from_millis(st.ctx.config.association_idle_ms);
                if st.work.is_empty() && st.last_active.elapsed() >= idle {
                    let _ = st.supervisor.cast(SupervisorMsg::Idle { association_id: st.id, received: st.received });
                } else if !st.queue.is_empty() {
                    st.pump(&me).await;
                }
            }
            AssocMsg::Panic => panic!("injected panic in the actor of association {}", st.id),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failed) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(association = st.id, error = %err, "credential actor failed; restarting it");
                metrics::counter!(crate::telemetry::DISPATCH_ACTOR_RESTARTS_TOTAL, "actor" => "credential").increment(1);
                (cell, true)
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, false),
            _ => return Ok(()),
        };
        let Some(cred_id) = st.cred_by_actor.remove(&cell.get_id()) else { return Ok(()) };
        st.cred_actors.remove(&cred_id);
        if failed {
            // Its messages were only in its memory: hand them to a fresh actor.
            let ids: Vec<i64> = st.work.iter().filter(|(_, w)| w.at == Some(cred_id)).map(|(id, _)| *id).collect();
            for id in ids {
                st.send_to_credential(&me, id).await;
            }
        }
        Ok(())
    }
}

impl AssocState {
    /// Starts queued messages while the window has room, highest priority first.
    async fn pump(&mut self, me: &ActorRef<AssocMsg>) {
        if self.queue.is_empty() {
            return;
        }
        self.refresh_routes_if_stale().await;
        while self.in_flight < self.ctx.config.association_window {
            let Some((_, _, Reverse(id))) = self.queue.pop() else { break };
            let Some(w) = self.work.get_mut(&id) else { continue };
            // Past its validity period before any provider took it: it is not sent at all.
            if w.record.expires_at.is_some_and(|at| at <= now_ms()) {
                metrics::counter!(crate::telemetry::MESSAGES_EXPIRED_TOTAL, "stage" => "queued").increment(1);
                self.finish(id, MessageStatus::Expired, Some("the validity period ended before the message could be sent".into()), None);
                continue;
            }
            let channel = w.record.channel_kind();
            w.route = match w.record.credential_id {
                Some(c) => routing::route_to(c, channel, &self.credentials),
                None => routing::route(w.record.country.as_deref(), channel, &self.credentials, &self.allocations),
            };
            if crate::providers::waweb::is_group_id(&w.record.recipient) {
                // A group id is no phone number: only the WA-Web gateway can send to it.
                let gateway = crate::domain::ProviderKind::WaWebGateway.id();
                w.route.retain(|id| self.credentials.iter().any(|c| c.id == *id && c.provider_id == gateway));
            }
            if w.route.is_empty() {
                let reason = match w.record.credential_id {
                    Some(c) if self.credentials.iter().any(|x| x.id == c) => {
                        format!("credential {c} of association {} does not deliver the {} channel", self.id, channel.as_str())
                    }
                    Some(c) => format!("credential {c} does not exist for association {}", self.id),
                    None => format!("no {} provider credential is configured for association {}", channel.as_str(), self.id),
                };
                self.finish(id, MessageStatus::Failed, Some(reason), None);
                continue;
            }
            self.in_flight += 1;
            let w = self.work.get_mut(&id).expect("present");
            w.record.status = MessageStatus::Dispatching;
            w.record.updated_at = now_ms();
            self.ctx.writer.push(MessageUpdate { message: w.record.clone(), attempt: None });
            self.send_to_credential(me, id).await;
        }
    }

    async fn refresh_routes_if_stale(&mut self) {
        let fresh = Duration::from_millis(self.ctx.config.route_refresh_ms);
        if self.routes_loaded.is_some_and(|t| t.elapsed() < fresh) {
            return;
        }
        match (self.ctx.store.list_credentials(self.id).await, self.ctx.store.list_allocations(self.id).await) {
            (Ok(c), Ok(a)) => {
                // Credentials whose settings changed get them; actors of deleted ones finish
                // what they hold and get no new work.
                for cred in &c {
                    if let Some(slot) = self.cred_actors.get_mut(&cred.id) {
                        if slot.updated_at != cred.updated_at {
                            if let Ok(args) = credential_args(&self.ctx, cred) {
                                let _ = slot.actor.cast(CredMsg::Update(Box::new(args)));
                                slot.updated_at = cred.updated_at;
                            }
                        }
                    }
                }
                self.credentials = c;
                self.allocations = a;
                self.routes_loaded = Some(Instant::now());
            }
            (Err(e), _) | (_, Err(e)) => tracing::warn!(association = self.id, error = %e, "could not reload routes; keeping the old ones"),
        }
    }

    async fn send_to_credential(&mut self, me: &ActorRef<AssocMsg>, id: i64) {
        loop {
            let Some(w) = self.work.get(&id) else { return };
            let Some(&cred_id) = w.route.get(w.pos) else {
                let reason = w.last_error.clone().unwrap_or_else(|| "every credential of the route failed".into());
                let n = w.route.len();
                self.finish(id, MessageStatus::Failed, Some(format!("all {n} credential(s) failed; last error: {reason}")), None);
                return;
            };
            match self.credential_actor(me, cred_id).await {
                Ok(actor) => {
                    let w = self.work.get_mut(&id).expect("present");
                    w.at = Some(cred_id);
                    let job = Job { record: w.record.clone(), attempts_before: w.record.attempts, defers: 0, reply: me.clone() };
                    if actor.cast(CredMsg::Send(Box::new(job))).is_ok() {
                        return;
                    }
                    // The actor is stopping; its supervision event will follow. Try afresh.
                    self.cred_actors.remove(&cred_id);
                }
                Err(reason) => {
                    let w = self.work.get_mut(&id).expect("present");
                    w.last_error = Some(reason);
                    w.pos += 1;
                }
            }
        }
    }

    async fn credential_actor(&mut self, me: &ActorRef<AssocMsg>, cred_id: i64) -> Result<ActorRef<CredMsg>, String> {
        if let Some(slot) = self.cred_actors.get(&cred_id) {
            return Ok(slot.actor.clone());
        }
        let cred = self
            .credentials
            .iter()
            .find(|c| c.id == cred_id)
            .cloned()
            .ok_or_else(|| format!("credential {cred_id} was deleted"))?;
        let args = credential_args(&self.ctx, &cred)?;
        let (actor, _) = Actor::spawn_linked(None, CredentialActor, args, me.get_cell())
            .await
            .map_err(|e| format!("could not start credential {cred_id}: {e}"))?;
        self.cred_by_actor.insert(actor.get_id(), cred_id);
        self.cred_actors.insert(cred_id, CredSlot { actor: actor.clone(), updated_at: cred.updated_at });
        Ok(actor)
    }

    async fn on_report(&mut self, me: &ActorRef<AssocMsg>, mut r: AttemptReport) {
        // The call's slot in its credential's window: given back once what this report
        // writes is durable (dropped at once when it writes nothing).
        let slot = r.call.as_mut().and_then(|c| c.take_slot());
        self.apply_report(me, r).await;
        if let Some(slot) = slot {
            self.ctx.writer.after_commit(slot);
        }
    }

    /// A batched call's reports: each applied as [`Self::on_report`] applies one, the call's
    /// slot (one, shared by the messages of the request) handed to the writer once, behind
    /// every row they wrote.
    async fn on_reports(&mut self, me: &ActorRef<AssocMsg>, reports: Vec<AttemptReport>) {
        let mut slots = Vec::new();
        for mut r in reports {
            if let Some(slot) = r.call.as_mut().and_then(|c| c.take_slot()) {
                slots.push(slot);
            }
            self.apply_report(me, r).await;
        }
        if !slots.is_empty() {
            self.ctx.writer.after_commit(slots);
        }
    }

    async fn apply_report(&mut self, me: &ActorRef<AssocMsg>, r: AttemptReport) {
        let Some(w) = self.work.get_mut(&r.message_id) else { return };
        if w.at != Some(r.credential_id) {
            return; // A late report from a credential the message already left.
        }
        if let Some(a) = &r.attempt {
            w.record.attempts = w.record.attempts.max(a.attempt);
            w.last_error = a.error.clone().or(w.last_error.take());
            // The last provider tried (statistics count failures by provider too).
            w.record.provider = Some(a.provider.clone());
        }
        match r.verdict {
            Verdict::Sent { provider, provider_message_id } => {
                w.record.provider = Some(provider);
                w.record.provider_message_id = Some(provider_message_id);
                w.record.credential_id.get_or_insert(r.credential_id);
                self.finish(r.message_id, MessageStatus::Sent, None, r.attempt);
            }
            Verdict::Retrying => {
                w.record.updated_at = now_ms();
                self.ctx.writer.push(MessageUpdate { message: w.record.clone(), attempt: r.attempt });
            }
            Verdict::Permanent { reason } => self.finish(r.message_id, MessageStatus::Failed, Some(reason), r.attempt),
            Verdict::Cancelled => self.finish(r.message_id, MessageStatus::Cancelled, Some("campaign cancelled".into()), None),
            Verdict::Failover { reason } => {
                w.last_error = Some(reason);
                w.pos += 1;
                w.at = None;
                if let Some(a) = r.attempt {
                    w.record.updated_at = now_ms();
                    self.ctx.writer.push(MessageUpdate { message: w.record.clone(), attempt: Some(a) });
                }
                self.send_to_credential(me, r.message_id).await;
            }
        }
    }

    /// Writes the final status and releases the message's place in memory; a message that
    /// failed for good with fallback channels left goes on to the next one instead.
    fn finish(&mut self, id: i64, status: MessageStatus, error: Option<String>, attempt: Option<AttemptRecord>) {
        if status == MessageStatus::Failed && self.work.get(&id).is_some_and(|w| !w.record.fallback.is_empty()) {
            self.fall_back(id, error.unwrap_or_default(), attempt);
            return;
        }
        let Some(mut w) = self.work.remove(&id) else { return };
        if w.at.is_some() || !w.route.is_empty() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        w.record.status = status;
        w.record.error = error;
        w.record.updated_at = now_ms();
        crate::telemetry::message_finished(status.as_str(), &w.record.channel, w.record.provider.as_deref().or(attempt.as_ref().map(|a| a.provider.as_str())));
        if status == MessageStatus::Sent {
            crate::telemetry::segments_sent(w.record.segments, w.record.provider.as_deref());
        }
        if let Some(p) = w.record.campaign_id.and_then(|c| self.ctx.campaigns.get(c)) {
            p.finish(id, status);
        }
        self.ctx.outcomes.finished(&w.record);
        self.ctx.writer.push(MessageUpdate { message: w.record, attempt });
        self.settle_without_write();
    }

    /// Moves a failed message to its next fallback channel: the failure is recorded as an
    /// attempt (`result: "fallback"`, naming both channels and the reason), the message takes
    /// the step's channel, recipient and payload, and goes back in the queue to be routed on
    /// that channel. Written at once, so a restart resumes on the new channel.
    fn fall_back(&mut self, id: i64, reason: String, attempt: Option<AttemptRecord>) {
        let Some(w) = self.work.get_mut(&id) else { return };
        if w.at.is_some() || !w.route.is_empty() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let step = w.record.fallback.remove(0);
        let now = now_ms();
        if let Some(a) = attempt {
            w.record.updated_at = now;
            self.ctx.writer.push(MessageUpdate { message: w.record.clone(), attempt: Some(a) });
        }
        let from = std::mem::replace(&mut w.record.channel, step.channel.clone());
        w.record.attempts += 1;
        let marker = AttemptRecord {
            message_id: id,
            attempt: w.record.attempts,
            credential_id: 0,
            provider: String::new(),
            result: "fallback".into(),
            provider_message_id: None,
            error: Some(crate::domain::fallback::marker_text(&from, &step.channel, &reason)),
            latency_ms: 0,
            at: now,
        };
        metrics::counter!(crate::telemetry::DISPATCH_FALLBACKS_TOTAL, "from" => crate::telemetry::channel_label(&from), "to" => crate::telemetry::channel_label(&step.channel)).increment(1);
        w.record.recipient = step.recipient;
        w.record.country = step.country;
        if let Some(body) = step.body {
            w.record.body = body;
        }
        w.record.content = step.content;
        w.record.email = step.email;
        w.record.credential_id = None;
        w.record.provider = None;
        w.record.provider_message_id = None;
        w.record.error = None;
        w.record.status = MessageStatus::Dispatching;
        w.record.updated_at = now;
        w.route.clear();
        w.pos = 0;
        w.at = None;
        w.last_error = None;
        self.ctx.writer.push(MessageUpdate { message: w.record.clone(), attempt: Some(marker) });
        self.queue.push(queue_key(&w.record));
    }

    fn settle_without_write(&mut self) {
        self.settled.fetch_add(1, Ordering::Relaxed);
        self.ctx.in_memory.fetch_sub(1, Ordering::Relaxed);
    }
}

fn credential_args(ctx: &Arc<DispatchContext>, cred: &CredentialRecord) -> Result<CredentialArgs, String> {
    let provider = ProviderKind::from_id(cred.provider_id).ok_or_else(|| format!("credential {} has unknown provider", cred.id))?;
    let fields = ctx.directory.credentials_of(cred).map_err(|e| format!("credential {} unreadable: {e}", cred.id))?;
    Ok(CredentialArgs { ctx: ctx.clone(), record: cred.clone(), provider, fields })
}
