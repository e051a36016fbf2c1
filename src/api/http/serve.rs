//! The HTTP accept loop, in place of `axum::serve`, so that no client can hold connections
//! for free: a request head must arrive within `server.header_read_timeout_ms` (hyper's
//! timer, which `axum::serve` leaves unset, plus a watchdog for a connection that never
//! starts a request), a connection with nothing in flight is closed after
//! `server.idle_timeout_ms`, and at most `server.max_connections` are open (more are closed
//! as soon as accepted, so the accept queue keeps draining and file descriptors stay
//! bounded). Connections open, refused and closed (by reason) are metrics. On shutdown it
//! stops accepting and lets each connection finish its request in flight.
//! Depends on axum/hyper and telemetry only.

use crate::telemetry::{HTTP_CONNECTIONS_CLOSED_TOTAL, HTTP_CONNECTIONS_OPEN, HTTP_CONNECTIONS_REJECTED_TOTAL};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The bounds every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnLimits {
    pub fn from_config(c: &crate::config::ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms.max(1)),
            max_connections: c.max_connections.max(1),
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then waits for open connections to end.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnLimits, shutdown: CancellationToken) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    // Owned here: if the server task is aborted (shutdown grace over), every connection goes too.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient error: do not spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!(HTTP_CONNECTIONS_REJECTED_TOTAL).increment(1);
            drop(stream);
            continue;
        };
        let (router, stop) = (router.clone(), shutdown.clone());
        conns.spawn(async move {
            let _permit = permit;
            connection(stream, peer, router, limits, stop).await;
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// When a connection last had something to do, and how much it has in flight.
struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last request start or end.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Why the connection should be closed now, if it should.
    fn expired(&self, limits: &ConnLimits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let quiet = Duration::from_millis((self.started.elapsed().as_millis() as u64).saturating_sub(self.last_ms.load(Ordering::Relaxed)));
        if self.requests.load(Ordering::Relaxed) == 0 {
            // Not one whole request head yet.
            (quiet >= limits.header_read_timeout).then_some("header_timeout")
        } else {
            (quiet >= limits.idle_timeout).then_some("idle")
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, router: Router, limits: ConnLimits, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    metrics::gauge!(HTTP_CONNECTIONS_OPEN).increment(1.0);
    let activity = Arc::new(Activity { started: Instant::now(), last_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0), requests: AtomicU64::new(0) });
    let act = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        act.requests.fetch_add(1, Ordering::Relaxed);
        act.in_flight.fetch_add(1, Ordering::Relaxed);
        act.touch();
        let (router, act) = (router.clone(), act.clone());
        async move {
            let resp = router.oneshot(req.map(axum::body::Body::new)).await;
            act.in_flight.fetch_sub(1, Ordering::Relaxed);
            act.touch();
            resp
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let check_every = (limits.header_read_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(check_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing: Option<&'static str> = None;
    let outcome = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            _ = shutdown.cancelled(), if closing.is_none() => {
                closing = Some("shutdown");
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if closing.is_none() => {
                if let Some(why) = activity.expired(&limits) {
                    closing = Some(why);
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    };
    let reason = match (&outcome, closing) {
        (_, Some(why)) => Some(why),
        (Err(e), None) => Some(if is_timeout(e.as_ref()) { "header_timeout" } else { "error" }),
        (Ok(()), None) => None,
    };
    if let Some(reason) = reason.filter(|r| *r != "shutdown") {
        metrics::counter!(HTTP_CONNECTIONS_CLOSED_TOTAL, "reason" => reason).increment(1);
    }
    metrics::gauge!(HTTP_CONNECTIONS_OPEN).decrement(1.0);
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_timeout())
}
