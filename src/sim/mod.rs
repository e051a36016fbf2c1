//! The provider simulator: one loopback HTTP server speaking all seven SMS providers' wire
//! formats on their real paths (`shared/providers/*.md`), so adapters talk to it exactly as to
//! production by pointing their base URL at `http://HOST:PORT`. Latency, 5xx, 429 and hang
//! rates come from [`SimConfig`]; faults can be scripted per provider and/or credential; counts
//! and recent raw requests are exposed for tests and load tests.
//!
//! Control plane (JSON):
//! * `GET|POST /_sim/config`: read, or merge fields into the settings (`?replace=true`: from defaults).
//! * `GET|POST|DELETE /_sim/faults`: list, arm (a [`FaultSpec`] or an array), clear.
//! * `GET /_sim/stats`: received / accepted / hung / rejected-by-reason, total, per provider,
//!   per credential identity.
//! * `GET /_sim/requests?provider=CODE[&limit=N]`: the last raw requests (method, path, query,
//!   headers, parsed body).
//! * `POST /_sim/reset`: clear counters, requests, faults and duplicate ids; reseed the RNG.
//!
//! An SMTP sink listens beside it (`smtp.rs`, [`SimHandle::smtp_addr`]): real SMTP for the
//! email channel, counted under `smtp` in the stats, with 4yz/5yz answers on demand.
//!
//! Accepted Twilio and Infobip sends that name a callback URL get delivery reports back,
//! signed as the provider signs them (`dlr.rs`; `dlr_*` settings); `GET /_sim/stats` counts
//! them under `dlr`.
//!
//! Slack's Web API and incoming webhooks (`slack.rs`, `/_sim/slack/*`) and Twilio's Calls
//! resource with its signed call status callbacks (`voice.rs`, `/_sim/voice/*`) have their
//! own settings and listings.
//!
//! Depends on `domain` (provider codes) and `auth::twilio` (the signature) only; nothing in
//! the engine depends on it.

mod config;
mod graph;
pub use graph::WhatsAppSimConfig;
mod dlr;
mod server;
pub mod sidobe;
pub mod slack;
mod smtp;
mod state;
pub mod voice;
pub mod waweb;
mod wire;

pub use config::{FaultMode, FaultSpec, SimConfig};
pub use state::RecordedRequest;

use crate::domain::ProviderKind;
use anyhow::Context;
use server::Shared;
use state::SimState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Simulator;

impl Simulator {
    /// Binds `addr` (port 0 allowed) and serves until the handle is stopped or dropped.
    pub async fn start(addr: &str, config: SimConfig) -> anyhow::Result<SimHandle> {
        config.validate().map_err(|e| anyhow::anyhow!("invalid simulator settings: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the simulator to {addr}"))?;
        let local = listener.local_addr()?;
        let state = Arc::new(SimState::new(config));
        let shutdown = CancellationToken::new();
        // The SMTP sink listens beside the HTTP server, on the same address and a free port.
        let smtp_listener = tokio::net::TcpListener::bind((local.ip(), 0)).await.context("binding the simulator's SMTP sink")?;
        let smtp_addr = smtp_listener.local_addr()?;
        tokio::spawn(smtp::serve(smtp_listener, state.clone(), shutdown.clone()));
        let dlr = Arc::new(dlr::Dlr::new());
        let app = server::router(Shared { state: state.clone(), shutdown: shutdown.clone(), dlr: dlr.clone() });
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        });
        Ok(SimHandle { addr: local, smtp_addr, state, dlr, shutdown, task: Some(task) })
    }
}

/// A running simulator. Dropping it stops the server (without waiting); [`SimHandle::stop`]
/// waits for it to finish.
pub struct SimHandle {
    addr: SocketAddr,
    /// The SMTP sink (`sim::smtp`).
    smtp_addr: SocketAddr,
    state: Arc<SimState>,
    dlr: Arc<dlr::Dlr>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SMTP sink's address: an `smtp` credential's `host` and `port` (with `tls: "none"`).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// `http://HOST:PORT`: the base URL to give every adapter.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> SimConfig {
        (*self.state.config()).clone()
    }

    pub fn set_config(&self, config: SimConfig) -> anyhow::Result<()> {
        config.validate().map_err(|e| anyhow::anyhow!("invalid simulator settings: {e}"))?;
        self.state.set_config(config);
        Ok(())
    }

    pub fn add_fault(&self, fault: FaultSpec) -> anyhow::Result<()> {
        self.state.add_fault(fault).map_err(|e| anyhow::anyhow!(e))
    }

    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// The same JSON as `GET /_sim/stats`.
    pub fn stats(&self) -> serde_json::Value {
        let mut v = self.state.stats_json();
        v["dlr"] = self.dlr.stats_json();
        v
    }

    pub fn requests(&self, kind: ProviderKind) -> Vec<RecordedRequest> {
        self.state.requests(kind)
    }

    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops accepting, ends hanging requests, and waits (at most 5 s) for connections to close.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(joined) => joined.context("simulator task failed")?.context("simulator server failed")?,
                Err(_) => task.abort(),
            }
        }
        Ok(())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs a simulator on `addr` until Ctrl-C (for `jood sim`).
pub async fn run(addr: &str, config: SimConfig) -> anyhow::Result<()> {
    let handle = Simulator::start(addr, config).await?;
    tracing::info!(addr = %handle.addr(), "provider simulator listening");
    println!("jood provider simulator listening on {} (SMTP sink on {})", handle.base_url(), handle.smtp_addr());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    handle.stop().await
}
