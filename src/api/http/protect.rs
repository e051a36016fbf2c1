//! Request protection shared by routes: the client address of every request (the peer, or
//! the X-Forwarded-For client behind a trusted proxy; see `auth::ip`), and the documented
//! per-IP rate limits of the send routes.
//!
//! Limits are keyed by [`RouteClass`], so limiting another route is one line in the router:
//! `limited(&state, RouteClass::Bulk, post(handler))`; the gRPC sends call [`check_limit`]
//! with the same classes, so one client's HTTP and gRPC sends share one allowance. The
//! counting itself (sliding window, in Redis when configured) lives in `coord`.

use super::{ApiError, AppState};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The client address of a request (`None` when the server was not given peer addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ClientIp>().copied().unwrap_or(ClientIp(None)))
    }
}

/// Resolves the client address once per request, for the rate limits and allow-lists.
pub fn resolve_client_ip(s: &AppState, req: &mut Request) {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = peer.map(|p| s.client_ip.resolve(p, req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok())));
    req.extensions_mut().insert(ClientIp(ip));
}

/// Routes sharing one per-IP limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `POST /api/v1/webhook/notification` (documented: 100 per minute per IP).
    Notification,
    /// `POST /api/v1/webhook/bulk` (documented: 10 per minute per IP).
    Bulk,
    /// `POST /api/v1/dashboard/auth/login`: password guessing is slow and costly (argon2).
    Login,
}

impl RouteClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Notification => "notification",
            RouteClass::Bulk => "bulk",
            RouteClass::Login => "login",
        }
    }

    fn per_minute(self, c: &crate::config::RateLimitConfig) -> u32 {
        match self {
            RouteClass::Notification => c.notification_per_minute,
            RouteClass::Bulk => c.bulk_per_minute,
            RouteClass::Login => c.login_per_minute,
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

/// `route` behind the per-IP limit of `class`.
pub fn limited(state: &AppState, class: RouteClass, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.route_layer(middleware::from_fn_with_state((state.clone(), class), rate_limit))
}

async fn rate_limit(State((s, class)): State<(AppState, RouteClass)>, ClientIp(ip): ClientIp, req: Request, next: Next) -> Response {
    match check_limit(&s, class, ip, "http").await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Counts one request of `class` from `ip` against the per-IP limit; `api` (`http`, `grpc`)
/// labels the rejection metric.
pub async fn check_limit(s: &AppState, class: RouteClass, ip: Option<IpAddr>, api: &'static str) -> Result<(), ApiError> {
    let cfg = &s.config.rate_limit;
    if !cfg.enabled {
        return Ok(());
    }
    let key = format!("{}:{}", class.as_str(), limit_key(ip, cfg.ipv6_prefix_len));
    match s.coord.rate_limit(&key, class.per_minute(cfg), WINDOW).await {
        crate::coord::RateDecision::Allowed => Ok(()),
        crate::coord::RateDecision::Limited { retry_after_ms } => {
            metrics::counter!(crate::telemetry::HTTP_RATE_LIMITED_TOTAL, "route_class" => class.as_str(), "api" => api).increment(1);
            // Whole seconds, rounded up: a client waiting that long is let in.
            Err(ApiError::RateLimited { retry_after_s: retry_after_ms.div_ceil(1000) })
        }
    }
}

/// What one client is counted as: its IPv4 address, or its IPv6 network of `v6_prefix`.
fn limit_key(ip: Option<IpAddr>, v6_prefix: u8) -> String {
    match ip {
        None => "unknown".into(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match ipnet::Ipv6Net::new(v6, v6_prefix.min(128)) {
            Ok(net) => net.trunc().to_string(),
            Err(_) => v6.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(Some(a), 64), limit_key(Some(b), 64));
        assert_ne!(limit_key(Some(a), 64), limit_key(Some(c), 64));
        assert_ne!(limit_key(Some(a), 128), limit_key(Some(b), 128));
        assert_eq!(limit_key(Some("10.1.2.3".parse().unwrap()), 64), "10.1.2.3");
        assert_eq!(limit_key(None, 64), "unknown");
    }
}
