//! The root of the actor tree: owns one AssociationActor per association, spawns them on
//! demand, lets them stop when idle, and restarts them when they fail.
//!
//! Restart policy: a failed association actor is replaced at once while fewer than
//! `restart_max` restarts happened in `restart_window_ms`; beyond that each restart waits a
//! capped, growing delay (so a poison message cannot spin the CPU). After a restart the
//! association's unfinished messages are read back from the store and submitted again; the
//! new actor ignores ids it already holds, so nothing is lost or doubled in memory.
//!
//! Idle stop without losing messages: an idle actor *asks* to stop, telling how many
//! submissions it has received. The supervisor, which counts what it forwarded, stops it
//! only if the two match (nothing is still in its mailbox); later submissions spawn a new
//! actor.

use super::association::{AssocMsg, AssociationActor, AssociationArgs};
use super::{DispatchContext, Dispatcher};
use crate::store::MessageRecord;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum SupervisorMsg {
    Submit(MessageRecord),
    /// From an association actor with nothing to do: `received` submissions so far.
    Idle { association_id: i64, received: u64 },
    /// Spawn (again) the actor of an association and recover its messages.
    Restart(i64),
    InjectPanic(i64),
    Restarts(RpcReplyPort<u64>),
    /// Association actors alive now.
    Active(RpcReplyPort<usize>),
}

pub struct DispatchSupervisor;

struct Child {
    actor: ActorRef<AssocMsg>,
    forwarded: u64,
    /// Submissions the actor finished or dropped (it counts them).
    settled: Arc<AtomicU64>,
}

pub struct SupervisorState {
    ctx: Arc<DispatchContext>,
    children: HashMap<i64, Child>,
    by_actor: HashMap<ActorId, i64>,
    /// Restart times within the window.
    recent_restarts: VecDeque<Instant>,
    restarts_total: u64,
    /// Associations whose actor failed and awaits a (delayed) restart; submissions queue here.
    held: HashMap<i64, Vec<MessageRecord>>,
}

impl Actor for DispatchSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<DispatchContext>;

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, ctx: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            ctx,
            children: HashMap::new(),
            by_actor: HashMap::new(),
            recent_restarts: VecDeque::new(),
            restarts_total: 0,
            held: HashMap::new(),
        })
    }

    async fn handle(&self, me: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Submit(m) => {
                let id = m.association_id;
                if let Some(held) = st.held.get_mut(&id) {
                    held.push(m);
                    return Ok(());
                }
                let child = match st.children.get_mut(&id) {
                    Some(c) => c,
                    None => spawn_child(&me, st, id).await?,
                };
                child.forwarded += 1;
                if child.actor.cast(AssocMsg::Submit(m)).is_err() {
                    // The actor died between its failure and our notice: its messages are in
                    // the store and come back with the restart.
                    tracing::debug!(association = id, "submission to a stopped actor; recovered on restart");
                }
            }
            SupervisorMsg::Idle { association_id, received } => {
                if let Some(c) = st.children.get(&association_id) {
                    if c.forwarded == received {
                        let c = st.children.remove(&association_id).expect("present");
                        st.by_actor.remove(&c.actor.get_id());
                        c.actor.stop(Some("idle".into()));
                        tracing::debug!(association = association_id, "association actor stopped (idle)");
                    }
                }
            }
            SupervisorMsg::Restart(id) => {
                let held = st.held.remove(&id).unwrap_or_default();
                if !st.children.contains_key(&id) {
                    spawn_child(&me, st, id).await?;
                }
                let child = st.children.get_mut(&id).expect("just spawned");
                for m in held {
                    child.forwarded += 1;
                    let _ = child.actor.cast(AssocMsg::Submit(m));
                }
                let dispatcher = Dispatcher { root: me.clone(), ctx: st.ctx.clone(), handle: Default::default() };
                tokio::spawn(async move {
                    if let Err(e) = recover_unfinished(&dispatcher, Some(id), None).await {
                        tracing::error!(association = id, error = %e, "recovery after restart failed");
                    }
                    // Campaign messages live outside the unfinished index: the campaigns'
                    // windows say which ones the failed actor held.
                    let ctx = dispatcher.context().clone();
                    for mid in ctx.campaigns.outstanding_of(id) {
                        if let Ok(Some(m)) = ctx.store.get_message(mid).await {
                            if !m.status.is_terminal() {
                                let _ = dispatcher.submit(m);
                            }
                        }
                    }
                });
            }
            SupervisorMsg::InjectPanic(id) => {
                let child = match st.children.get_mut(&id) {
                    Some(c) => c,
                    None => spawn_child(&me, st, id).await?,
                };
                let _ = child.actor.cast(AssocMsg::Panic);
            }
            SupervisorMsg::Restarts(reply) => {
                let _ = reply.send(st.restarts_total);
            }
            SupervisorMsg::Active(reply) => {
                let _ = reply.send(st.children.len());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(id) = st.by_actor.remove(&cell.get_id()) else { return Ok(()) };
                if let Some(c) = st.children.remove(&id) {
                    // What it held in memory is gone from memory (not from the store): release
                    // its share of the admission bound; recovery submits it again.
                    let lost = c.forwarded.saturating_sub(c.settled.load(Ordering::Relaxed)) as usize;
                    st.ctx.in_memory.fetch_sub(lost.min(st.ctx.in_memory.load(Ordering::Relaxed)), Ordering::Relaxed);
                }
                st.restarts_total += 1;
                metrics::counter!(crate::telemetry::DISPATCH_ACTOR_RESTARTS_TOTAL, "actor" => "association").increment(1);
                let now = Instant::now();
                let window = Duration::from_millis(st.ctx.config.restart_window_ms);
                while st.recent_restarts.front().is_some_and(|t| now.duration_since(*t) > window) {
                    st.recent_restarts.pop_front();
                }
                st.recent_restarts.push_back(now);
                let excess = st.recent_restarts.len().saturating_sub(st.ctx.config.restart_max as usize) as u32;
                let delay = if excess == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(100u64.saturating_mul(1 << excess.min(6))).min(Duration::from_secs(5))
                };
                tracing::error!(association = id, error = %err, restart_in_ms = delay.as_millis() as u64, "association actor failed; restarting");
                st.held.insert(id, Vec::new());
                if delay.is_zero() {
                    let _ = me.cast(SupervisorMsg::Restart(id));
                } else {
                    me.send_after(delay, move || SupervisorMsg::Restart(id));
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = st.by_actor.remove(&cell.get_id()) {
                    st.children.remove(&id);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn spawn_child<'a>(
    me: &ActorRef<SupervisorMsg>,
    st: &'a mut SupervisorState,
    association_id: i64,
) -> Result<&'a mut Child, ActorProcessingErr> {
    let settled = Arc::new(AtomicU64::new(0));
    let args = AssociationArgs { association_id, ctx: st.ctx.clone(), supervisor: me.clone(), settled: settled.clone() };
    let (actor, _) = Actor::spawn_linked(None, AssociationActor, args, me.get_cell()).await?;
    st.by_actor.insert(actor.get_id(), association_id);
    Ok(st.children.entry(association_id).or_insert(Child { actor, forwarded: 0, settled }))
}

/// Submits every unfinished message (of one association, or all) of the partitions this
/// engine owns (or of partition `partition` alone), in id order, pacing itself so memory
/// stays within the dispatch bound. Another node's messages are never touched: that node,
/// or the one that takes its partition over, recovers them.
pub async fn recover_unfinished(d: &Dispatcher, association: Option<i64>, partition: Option<u8>) -> anyhow::Result<usize> {
    let ctx = d.context().clone();
    let own = ctx.ownership.clone();
    let partitions: Vec<Option<u8>> = match partition {
        Some(n) => vec![Some(n)],
        None if own.is_all() => vec![None],
        None => own.nodes().into_iter().map(Some).collect(),
    };
    let mut count = 0;
    for p in partitions {
        let mut after = None;
        loop {
            let ids = match p {
                None => ctx.store.list_unfinished(after, 1000).await?,
                Some(n) => ctx.store.list_unfinished_of(n, after, 1000).await?,
            };
            let Some(last) = ids.last().copied() else { break };
            after = Some(last);
            for id in ids {
                while d.in_memory() >= ctx.config.max_in_memory / 2 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let Some(m) = ctx.store.get_message(id).await? else { continue };
                // Campaign messages are resumed by their campaign's pump, scheduled ones by the
                // scheduler.
                if m.status.is_terminal()
                    || m.status == crate::store::MessageStatus::Scheduled
                    || m.campaign_id.is_some()
                    || association.is_some_and(|a| a != m.association_id)
                {
                    continue;
                }
                if d.submit(m).is_err() {
                    return Ok(count);
                }
                count += 1;
            }
        }
    }
    if association.is_none() && count > 0 {
        tracing::info!(messages = count, "recovered unfinished messages");
    }
    Ok(count)
}
