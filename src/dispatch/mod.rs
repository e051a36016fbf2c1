//! Dispatch: the supervised actor tree (ractor) that delivers stored messages.
//!
//! ```text
//! DispatchSupervisor (root)
//!   └─ AssociationActor (one per association, spawned on demand, stopped when idle)
//!        routing, priorities, the association's window, failover, status writes
//!        └─ CredentialActor (one per provider credential of that association)
//!             token bucket, in-flight window, retries with backoff, circuit breaker
//!             └─ providers::send (one adapter per provider, over `net`)
//! ```
//!
//! The store is the source of truth: an actor that fails is restarted by its supervisor and
//! its association's unfinished messages are read back from the store, so nothing is lost;
//! a crash can at most repeat provider calls that were in flight. Status changes and attempts
//! go to the store through one ordered, batching [`writer::StatusWriter`].

mod association;
mod batcher;
mod credential;
pub use credential::MAX_CREDENTIAL_RATE;
pub mod drain;
mod gateway_health;
pub mod latency;
pub mod outcomes;
pub mod policy;
pub mod progress;
pub mod routing;
mod settle;
mod supervisor;
mod writer;

use crate::config::DispatchConfig;
use crate::coord::Coordinator;
use crate::directory::Directory;
use crate::store::{MessageRecord, SharedStore};
use ractor::{Actor, ActorRef};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use supervisor::{DispatchSupervisor, SupervisorMsg};
pub use writer::StatusWriter;

/// What every dispatch actor shares.
pub struct DispatchContext {
    pub config: DispatchConfig,
    pub store: SharedStore,
    pub directory: Arc<Directory>,
    pub writer: StatusWriter,
    pub http: crate::net::HttpClient,
    /// Messages submitted and not yet terminal (the admission bound of ingress).
    pub in_memory: AtomicUsize,
    /// Running campaigns' live progress.
    pub campaigns: progress::ProgressRegistry,
    /// Shares per-credential rate limits between engines when Redis is configured.
    pub coord: Arc<Coordinator>,
    /// `server.public_url`: the base of the delivery-report URLs handed to providers.
    pub public_url: String,
    /// Callers waiting for a message's outcome (the synchronous WhatsApp sends).
    pub outcomes: outcomes::Outcomes,
    /// Provider calls in flight, drained at a graceful stop.
    pub calls: Arc<drain::CallTracker>,
    /// Gateway sends whose final status only a webhook brings (Sidobe): followed for reconciliation.
    pub awaiting: Arc<crate::providers::awaiting::Awaiting>,
    /// The partitions (node ids) whose unfinished messages this engine recovers: all of them
    /// for a single engine, its own (and those taken over) with Redis node leases.
    pub ownership: Arc<crate::coord::lease::Ownership>,
    /// `gateways.*` settings the credential actors need (client-status polling, reconciliation delay).
    pub gateways: parking_lot::RwLock<crate::config::GatewaysConfig>,
    /// Gateway credentials whose client cannot send now, with the reason (console, API).
    pub client_health: parking_lot::Mutex<std::collections::HashMap<i64, String>>,
    /// Each credential actor's recent calls (console: per-credential p99 and error rate).
    pub latency: latency::LatencyRegistry,
}

/// The front door of dispatch: cheap to clone, used by ingress and recovery.
#[derive(Clone)]
pub struct Dispatcher {
    root: ActorRef<SupervisorMsg>,
    ctx: Arc<DispatchContext>,
    handle: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// Why dispatch would not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    #[error("dispatch is saturated ({0} messages in memory)")]
    Saturated(usize),
    #[error("dispatch is stopped")]
    Stopped,
}

impl Dispatcher {
    pub async fn start(
        config: DispatchConfig,
        public_url: String,
        store: SharedStore,
        directory: Arc<Directory>,
        coord: Arc<Coordinator>,
    ) -> anyhow::Result<Self> {
        let roots = match config.provider_ca_file.as_os_str().is_empty() {
            true => Vec::new(),
            false => crate::net::load_pem_certificates(&config.provider_ca_file)?,
        };
        let http = crate::providers::http_client_trusting(std::time::Duration::from_millis(config.provider_timeout_ms.min(5_000)), roots)?;
        let writer = StatusWriter::spawn(store.clone(), std::time::Duration::from_millis(config.dispatching_write_delay_ms));
        let ctx = Arc::new(DispatchContext {
            config,
            store,
            directory,
            writer,
            http,
            in_memory: AtomicUsize::new(0),
            campaigns: Default::default(),
            coord,
            public_url,
            outcomes: Default::default(),
            calls: Default::default(),
            awaiting: Default::default(),
            ownership: Arc::new(crate::coord::lease::Ownership::all()),
            gateways: Default::default(),
            client_health: Default::default(),
            latency: Default::default(),
        });
        let (root, handle) = Actor::spawn(None, DispatchSupervisor, ctx.clone()).await?;
        Ok(Self { root, ctx, handle: Arc::new(parking_lot::Mutex::new(Some(handle))) })
    }

    /// The gateway sends followed for reconciliation (see `providers::awaiting`).
    pub fn awaiting(&self) -> Arc<crate::providers::awaiting::Awaiting> {
        self.ctx.awaiting.clone()
    }

    /// The `[gateways]` settings, given once at start (before any credential actor runs).
    pub fn set_gateways(&self, g: crate::config::GatewaysConfig) {
        self.ctx.awaiting.set_max(g.sidobe_reconcile_max);
        *self.ctx.gateways.write() = g;
    }

    /// The client of every provider call (sends, and the side calls of the WhatsApp service,
    /// the gateways' checks and reconciliation), trusting `dispatch.provider_ca_file`.
    pub fn http(&self) -> &crate::net::HttpClient {
        &self.ctx.http
    }

    /// Why a gateway credential's client cannot send now, if it cannot (last poll).
    pub fn client_down(&self, credential_id: i64) -> Option<String> {
        self.ctx.client_health.lock().get(&credential_id).cloned()
    }

    /// A credential's own recent provider calls (its actor's record): count, error rate, p99.
    pub fn credential_calls(&self, credential_id: i64, window_ms: u64) -> latency::CredentialCalls {
        self.ctx.latency.health(credential_id, window_ms)
    }

    /// Whether another message fits in memory now (ingress asks before persisting).
    pub fn admit(&self) -> Result<(), DispatchError> {
        let n = self.ctx.in_memory.load(Ordering::Relaxed);
        if n >= self.ctx.config.max_in_memory {
            Err(DispatchError::Saturated(n))
        } else {
            Ok(())
        }
    }

    /// Hands a durable message to its association's actor.
    pub fn submit(&self, msg: MessageRecord) -> Result<(), DispatchError> {
        self.ctx.in_memory.fetch_add(1, Ordering::Relaxed);
        self.root.cast(SupervisorMsg::Submit(msg)).map_err(|_| {
            self.ctx.in_memory.fetch_sub(1, Ordering::Relaxed);
            DispatchError::Stopped
        })
    }

    pub fn in_memory(&self) -> usize {
        self.ctx.in_memory.load(Ordering::Relaxed)
    }

    /// Re-enqueues every message the store holds as not yet terminal (start-up recovery), of
    /// the partitions this engine owns. Runs in the background, pacing itself by the
    /// in-memory bound.
    pub fn recover(&self) -> tokio::task::JoinHandle<anyhow::Result<usize>> {
        let this = self.clone();
        tokio::spawn(async move { supervisor::recover_unfinished(&this, None, None).await })
    }

    /// The partitions this engine owns (see [`crate::coord::lease`]).
    pub fn ownership(&self) -> &Arc<crate::coord::lease::Ownership> {
        &self.ctx.ownership
    }

    /// Recovers the unfinished messages of partition `node`, just taken over from a node
    /// whose lease expired, as that node's restart would have.
    pub fn recover_partition(&self, node: u8) -> tokio::task::JoinHandle<anyhow::Result<usize>> {
        let this = self.clone();
        tokio::spawn(async move { supervisor::recover_unfinished(&this, None, Some(node)).await })
    }

    /// Test hook: makes the actor of `association_id` panic while handling a message.
    pub fn inject_panic(&self, association_id: i64) {
        let _ = self.root.cast(SupervisorMsg::InjectPanic(association_id));
    }

    /// Actor restarts so far (supervision).
    pub async fn restarts(&self) -> u64 {
        ractor::call!(self.root, SupervisorMsg::Restarts).unwrap_or(0)
    }

    /// Association actors alive now (they stop when idle).
    pub async fn active_associations(&self) -> usize {
        ractor::call!(self.root, SupervisorMsg::Active).unwrap_or(0)
    }

    /// The first stage of a graceful stop: no new provider call starts from now on (queued
    /// messages stay durable and go out after the restart).
    pub fn begin_drain(&self) {
        self.ctx.calls.begin_drain();
    }

    /// Waits, until `deadline`, for the provider calls in flight to end and their outcome to
    /// reach the status writer; returns how many were cut (those may be repeated on start).
    pub async fn drain_calls(&self, deadline: tokio::time::Instant) -> usize {
        self.ctx.calls.begin_drain();
        let in_flight = self.ctx.calls.in_flight();
        let left = self.ctx.calls.wait_idle(deadline).await;
        if left > 0 {
            tracing::warn!(in_flight, cut = left, "grace period over; provider calls still in flight may be repeated after the restart");
        } else if in_flight > 0 {
            tracing::info!(calls = in_flight, "provider calls in flight finished and recorded");
        }
        left
    }

    /// Stops the actor tree, then flushes pending status writes.
    pub async fn stop(&self) {
        self.root.stop(Some("shutdown".into()));
        let handle = self.handle.lock().take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.ctx.writer.flush().await;
    }

    /// Live progress of running campaigns.
    pub fn campaigns(&self) -> &progress::ProgressRegistry {
        &self.ctx.campaigns
    }

    pub fn store(&self) -> &crate::store::SharedStore {
        &self.ctx.store
    }

    /// Queues a status update through the ordered status writer.
    pub fn write_status(&self, update: crate::store::MessageUpdate) {
        self.ctx.writer.push(update);
    }

    /// Waits until every status change queued so far is durable.
    pub async fn flush_status(&self) {
        self.ctx.writer.flush().await;
    }

    /// Registers interest in a message's outcome before it is submitted.
    pub fn watch(&self, id: i64) -> tokio::sync::oneshot::Receiver<MessageRecord> {
        self.ctx.outcomes.watch(id)
    }

    pub fn forget(&self, id: i64) {
        self.ctx.outcomes.forget(id)
    }

    pub fn max_in_memory(&self) -> usize {
        self.ctx.config.max_in_memory
    }

    pub(crate) fn context(&self) -> &Arc<DispatchContext> {
        &self.ctx
    }
}
