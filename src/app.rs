//! The composition root: builds every part from the configuration, binds the HTTP and gRPC
//! listeners (port 0 allowed) and runs until told to stop, then stops in stages. `main` and
//! the integration tests both start the engine through [`App::build`].

use crate::api::http::{router, AppState};
use crate::auth::{AdminKey, Authenticator, MasterKey};
use crate::campaigns::CampaignService;
use crate::auth::ip::ClientIpSource;
use crate::config::Config;
use crate::coord::Coordinator;
use crate::directory::Directory;
use crate::dispatch::Dispatcher;
use crate::domain::IdGenerator;
use crate::ingress::{Ingress, SignedIngress};
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::SharedStore;
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Process secrets, loaded by `main` (from the environment or files) or given by tests.
pub struct Secrets {
    pub master: MasterKey,
    pub admin: Option<AdminKey>,
    /// The first dashboard super operator (username, password).
    pub operator: Option<(String, String)>,
}

pub struct App {
    http_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    grpc: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    store: SharedStore,
    dispatcher: Dispatcher,
    directory: Arc<Directory>,
    campaigns: Arc<CampaignService>,
    webhook: Arc<SignedIngress>,
    links: Arc<crate::links::LinkService>,
    grace: Duration,
    /// The HTTP router's routes (for the OpenAPI drift check).
    routes: Vec<crate::api::http::openapi::RouteEntry>,
    /// With `ids.lease_from_redis`: the node id lease, and the token that ends its renewal
    /// (after the staged stop, so nobody takes the work over while it drains).
    lease: Option<(Arc<crate::coord::lease::NodeLease>, CancellationToken)>,
}

const MASTER_CHECK_KEY: &str = "master_key_check";
const MASTER_CHECK_VALUE: &[u8] = b"jood master key check v1";

impl App {
    pub async fn build(config: Config, secrets: Secrets) -> anyhow::Result<App> {
        config.validate()?;
        let config = Arc::new(config);
        let prometheus = crate::telemetry::prometheus();
        crate::telemetry::configure(&config.metrics);

        // Several engines on one cluster: the node id comes from a Redis lease (`cluster`).
        let lease = if config.ids.lease_from_redis {
            let ttl = Duration::from_millis(config.ids.lease_ttl_ms);
            let lease = crate::coord::lease::NodeLease::acquire(&config.redis.url, &config.redis.key_prefix, ttl, ttl * 2)
                .await
                .context("taking a node id lease in Redis (ids.lease_from_redis)")?;
            tracing::info!(node = lease.node(), "node id {} leased from Redis", lease.node());
            Some(Arc::new(lease))
        } else {
            None
        };
        let node_id = lease.as_ref().map_or(config.ids.node_id, |l| l.node());
        let store: SharedStore = if config.store.backend == "scylla" {
            let sc = &config.store.scylla;
            Arc::new(
                crate::store::scylla::ScyllaStore::connect(sc.options(node_id), sc.auto_migrate)
                    .await
                    .with_context(|| format!("connecting to ScyllaDB at {}", sc.uris.join(",")))?,
            )
        } else {
            Arc::new(
            EmbeddedStore::open(
                &config.store.data_dir,
                EmbeddedOptions {
                    cache_mib: config.store.cache_mib,
                    memtable_mib: config.store.memtable_mib,
                    background_workers: config.store.background_workers,
                    max_batch: config.store.group_commit_max_batch,
                    queue: config.store.group_commit_queue,
                    fsync: !config.store.unsafe_no_fsync,
                    min_free_bytes: config.store.min_free_bytes,
                },
            )
            .with_context(|| format!("opening the store in {}", config.store.data_dir.display()))?,
            )
        };
        check_master_key(&store, &secrets.master).await?;
        if secrets.admin.is_none() {
            tracing::warn!("no super-admin key (JOOD_ADMIN_KEY or auth.admin_key_file): associations cannot be created");
        }

        let shutdown = CancellationToken::new();
        // The recorder keeps every histogram sample until upkeep drains it into the
        // histograms; without this an engine nobody scrapes grows by ~40 bytes a message.
        {
            let (handle, stop) = (prometheus.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => handle.run_upkeep(),
                    }
                }
            });
        }
        // Background tasks started below stop if building fails part-way.
        let stop_on_failure = shutdown.clone().drop_guard();
        let client_ip = Arc::new(ClientIpSource::from_config(&config.server.client_ip, &config.server.trusted_proxies).map_err(anyhow::Error::msg)?);
        let coord = Arc::new(Coordinator::start(&config.redis, &config.idempotency, config.webhook.max_skew_ms, shutdown.child_token()).await?);
        let ids = Arc::new(IdGenerator::new(node_id));
        let auth = Arc::new(Authenticator::new(store.clone(), secrets.admin, secrets.master.clone()));
        let directory = Arc::new(Directory::new(store.clone(), secrets.master, ids.clone()));
        // Before dispatch starts: every status change from here on has its outbox row.
        let callbacks = crate::callbacks::Callbacks::start(&config.callbacks, store.clone(), directory.clone())?;
        let dispatcher = Dispatcher::start(config.dispatch.clone(), config.server.public_url.clone(), store.clone(), directory.clone(), coord.clone()).await?;
        dispatcher.set_gateways(config.gateways.clone());
        if lease.is_some() {
            // Only this node's work from here on (recovery, campaigns, the scheduler).
            dispatcher.ownership().restrict_to(node_id);
        }
        callbacks.start_sender(dispatcher.ownership().clone(), shutdown.child_token())?;
        let schedule_changed = Arc::new(tokio::sync::Notify::new());
        let campaigns = CampaignService::start(
            store.clone(),
            dispatcher.clone(),
            ids.clone(),
            config.campaigns.clone(),
            config.webhook.max_message_chars,
            schedule_changed.clone(),
            (&config.delivery).into(),
        )
        .await?;
        let links = crate::links::LinkService::start(store.clone(), ids.clone(), Default::default(), shutdown.child_token());
        let ingress = Arc::new(Ingress::new(store.clone(), dispatcher.clone(), ids.clone(), config.webhook.max_message_chars, schedule_changed, (&config.delivery).into()));
        let whatsapp = Arc::new(crate::whatsapp::WhatsApp::new(
            store.clone(),
            directory.clone(),
            ingress.clone(),
            dispatcher.clone(),
            ids,
            std::time::Duration::from_millis(config.dispatch.provider_timeout_ms),
        )?);
        let webhook = Arc::new(SignedIngress::new(
            ingress,
            directory.clone(),
            campaigns.clone(),
            coord.clone(),
            config.webhook.reject_replays,
            config.webhook.max_skew_ms,
        ).with_callbacks(callbacks.clone()));
        let sessions = Arc::new(crate::auth::sessions::Sessions::new(store.clone(), config.dashboard.session_ttl_secs));
        if let Some((user, password)) = &secrets.operator {
            sessions.bootstrap(user, password).await.map_err(|e| anyhow::anyhow!("bootstrapping the dashboard operator: {e}"))?;
        }
        // The return path's background work: parked early reports, validity expiry, and Sidobe
        // sends whose status webhook never came (`inbound::sidobe_reconcile`).
        let inbound = Arc::new(
            crate::inbound::Receivers::new(
                store.clone(),
                directory.clone(),
                crate::status::StatusService::new(store.clone()).with_fallback(Arc::new(crate::status::fallback::ReportFallback::new(
                    config.delivery.report_fallback_within_ms,
                    Arc::new(DispatchResubmit(dispatcher.clone())),
                ))),
                config.server.public_url.clone(),
                Arc::new(crate::inbound::early::EarlyReports::new(config.delivery.clone())),
            )
            .with_awaiting(dispatcher.awaiting()),
        );
        // Singletons over shared rows: each runs only on the leader (the owner of partition 0).
        tokio::spawn(inbound.early_reports().run(inbound.clone(), dispatcher.ownership().clone(), shutdown.child_token()));
        tokio::spawn(crate::status::expiry::run(store.clone(), config.delivery.clone(), dispatcher.ownership().clone(), shutdown.child_token()));
        crate::inbound::sidobe_reconcile::spawn(
            inbound.clone(),
            dispatcher.awaiting(),
            dispatcher.http().reqwest().clone(),
            config.gateways.clone(),
            shutdown.child_token(),
        );
        let state = AppState::new(crate::api::http::AppStateInner {
            config: config.clone(),
            store: store.clone(),
            auth,
            directory: directory.clone(),
            webhook: webhook.clone(),
            campaigns: campaigns.clone(),
            sessions,
            dispatcher: dispatcher.clone(),
            prometheus,
            coord,
            client_ip,
            whatsapp,
            callbacks,
            inbound: inbound.clone(),
            links: links.clone(),
            console: crate::api::console::Live::start(store.clone(), directory.clone(), shutdown.child_token()),
            request_metrics: Default::default(),
        });
        // Messages left unfinished by the previous run go back to dispatch.
        dispatcher.recover();
        let lease = lease.map(|l| {
            let done = CancellationToken::new();
            let every = Duration::from_millis(config.ids.lease_renew_ms);
            crate::cluster::spawn(l.clone(), every, dispatcher.clone(), campaigns.clone(), shutdown.clone(), done.clone());
            (l, done)
        });

        let listener = tokio::net::TcpListener::bind(&config.server.http_addr)
            .await
            .with_context(|| format!("binding server.http_addr {}", config.server.http_addr))?;
        let http_addr = listener.local_addr()?;
        let grpc_listener = match config.server.grpc_addr.as_str() {
            "" => None,
            addr => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding server.grpc_addr {addr}"))?),
        };
        let grpc_addr = grpc_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let grpc = grpc_listener.map(|l| crate::api::grpc::spawn(l, state.clone(), shutdown.clone()));
        let app = router(state);
        let routes = crate::api::http::openapi::route_table(&app);
        let limits = crate::api::http::serve::ConnLimits::from_config(&config.server);
        let server = tokio::spawn(crate::api::http::serve::serve(listener, app, limits, shutdown.clone()));
        stop_on_failure.disarm();
        let grpc_note = grpc_addr.map(|a| format!(" (gRPC on {a})")).unwrap_or_else(|| " (gRPC off)".into());
        tracing::info!(addr = %http_addr, data_dir = %config.store.data_dir.display(), "jood ready: listening on http://{http_addr}{grpc_note}");
        Ok(App {
            http_addr,
            grpc_addr,
            shutdown,
            server,
            grpc,
            store,
            dispatcher,
            directory,
            campaigns,
            webhook,
            links,
            grace: Duration::from_millis(config.server.shutdown_grace_ms),
            routes,
            lease,
        })
    }

    /// The store (tests and the demo provision through it).
    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    pub fn campaigns(&self) -> &Arc<CampaignService> {
        &self.campaigns
    }

    /// The signed-webhook ingress, as the HTTP handlers call it (the accept-path benchmark
    /// drives it without HTTP).
    pub fn webhook(&self) -> &Arc<SignedIngress> {
        &self.webhook
    }

    /// Every HTTP route with its methods, as the router has them.
    pub fn routes(&self) -> &[crate::api::http::openapi::RouteEntry] {
        &self.routes
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The gRPC listener's address (`None` when `server.grpc_addr` is empty).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// A token that stops the app when cancelled (signal handlers hold one).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled, then stops in stages: both listeners stop
    /// accepting at once and in-flight requests finish (HTTP and gRPC share one grace period;
    /// gRPC watch streams end at once), stop the actors and write their pending status
    /// changes, then flush the store. A request is acknowledged only once its message is
    /// durable, so whatever was acknowledged survives; messages still unfinished stay in the
    /// store and are dispatched on the next start.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        tracing::info!("shutting down: draining in-flight requests");
        let deadline = tokio::time::Instant::now() + self.grace;
        // No new provider call from now on; the ones in flight finish within the same grace.
        self.dispatcher.begin_drain();
        drain("HTTP", self.server, deadline).await?;
        if let Some(grpc) = self.grpc {
            drain("gRPC", grpc, deadline).await?;
        }
        // Clicks counted up to the last drained request (the flusher itself stopped with the token).
        if let Err(e) = self.links.flush().await {
            tracing::warn!(error = %e, "flushing link clicks at shutdown failed");
        }
        self.dispatcher.drain_calls(deadline).await;
        self.dispatcher.stop().await;
        self.store.close().await?;
        if let Some((lease, done)) = self.lease {
            // Renewed until here: the work left is in the store, free for the next owner.
            done.cancel();
            lease.release().await;
        }
        tracing::info!("store flushed; bye");
        Ok(())
    }
}

/// Waits for a server to finish its in-flight requests until `deadline`, then cuts the rest.
async fn drain<E>(name: &str, mut server: tokio::task::JoinHandle<Result<(), E>>, deadline: tokio::time::Instant) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(res) => res?.with_context(|| format!("{name} server failed")),
        Err(_) => {
            tracing::warn!("grace period over; cutting remaining {name} requests");
            server.abort();
            Ok(())
        }
    }
}

/// Refuses a master key other than the one the data directory was created with, rather
/// than failing later on every sealed secret.
async fn check_master_key(store: &SharedStore, master: &MasterKey) -> anyhow::Result<()> {
    match store.get_meta(MASTER_CHECK_KEY).await? {
        Some(sealed) => match master.open(&sealed) {
            Ok(v) if v == MASTER_CHECK_VALUE => Ok(()),
            _ => bail!(
                "the master key does not match the one this data directory was created with; \
                 start with the original JOOD_MASTER_KEY"
            ),
        },
        None => Ok(store.put_meta(MASTER_CHECK_KEY, &master.seal(MASTER_CHECK_VALUE)).await?),
    }
}

/// Report-driven fallback hands messages back to dispatch through this (`status::fallback`).
struct DispatchResubmit(Dispatcher);

impl crate::status::fallback::Resubmit for DispatchResubmit {
    fn resubmit(&self, message: crate::store::MessageRecord) -> bool {
        self.0.submit(message).is_ok()
    }
}
