//! HTTP facade (axum): the documented routes, the envelope, and the middleware every route
//! shares (body limit, timeout, panic catcher, metrics, client address), plus the per-IP
//! rate limits of the send routes. Handlers translate and delegate. [`AppState`] is shared
//! with the gRPC facade (`api::grpc`), which calls the same layers.

mod associations;
mod callbacks;
mod campaigns;
mod credentials;
mod dashboard;
pub mod envelope;
pub mod error;
pub mod extract;
mod gateways;
mod idempotency;
mod links;
mod multichannel;
mod notifications;
pub mod openapi;
mod ops;
mod opt_outs;
pub mod protect;
mod providers;
pub mod request_metrics;
pub mod serve;
mod sms_settings;
mod templates;
mod webhook;
mod whatsapp;
mod whatsapp_bulk;

pub use envelope::Envelope;
pub use error::ApiError;
pub(crate) use campaigns::visible as visible_campaign;
pub(crate) use notifications::{timeline, visible_notification, TimelineEntry};

use crate::auth::Authenticator;
use crate::campaigns::CampaignService;
use crate::auth::ip::ClientIpSource;
use crate::config::Config;
use crate::coord::Coordinator;
use crate::directory::Directory;
use crate::dispatch::Dispatcher;
use crate::ingress::SignedIngress;
use crate::store::SharedStore;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use protect::RouteClass;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What handlers share: one `Arc`, because axum clones the state for every request through
/// every layer, and a dozen separate `Arc`s made each clone a dozen contended atomic
/// operations (about 8% of the engine's CPU under load, in `perf`).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub auth: Arc<Authenticator>,
    pub directory: Arc<Directory>,
    pub webhook: Arc<SignedIngress>,
    pub campaigns: Arc<CampaignService>,
    pub sessions: Arc<crate::auth::sessions::Sessions>,
    /// Queue depth for the sampled gauges of `/metrics`.
    pub dispatcher: Dispatcher,
    pub prometheus: PrometheusHandle,
    /// Rate limits, idempotency keys, replay protection (cluster-wide with Redis).
    pub coord: Arc<Coordinator>,
    /// How the client address of a request is found.
    pub client_ip: Arc<ClientIpSource>,
    /// WhatsApp credentials, templates and sends.
    pub whatsapp: Arc<crate::whatsapp::WhatsApp>,
    /// Provider callbacks (delivery reports).
    pub inbound: Arc<crate::inbound::Receivers>,
    pub links: Arc<crate::links::LinkService>,
    /// Customer status callbacks (URL checks, the attempts listing).
    pub callbacks: Arc<crate::callbacks::Callbacks>,
    /// The console overview's sampled history.
    pub console: Arc<crate::api::console::Live>,
    /// The edge layer's per-route request series, registered once each.
    pub request_metrics: request_metrics::RequestMetrics,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/associations", get(associations::list).post(associations::create))
        .route("/associations/{id}", get(associations::get).put(associations::update))
        .route("/associations/{id}/rotate-keys", post(associations::rotate_keys))
        .route("/associations/{id}/callbacks", get(associations::callback_attempts))
        .route("/associations/{id}/credentials", get(credentials::list).post(credentials::add))
        .route(
            "/associations/{id}/credentials/{credential_id}",
            put(credentials::update).delete(credentials::delete),
        )
        .route("/providers", get(providers::list))
        .route("/webhook/notification", protect::limited(&state, RouteClass::Notification, post(webhook::notification)))
        .route(
            "/webhook/bulk",
            protect::limited(&state, RouteClass::Bulk, post(webhook::bulk))
                .layer(DefaultBodyLimit::max(state.config.server.bulk_body_limit_bytes)),
        )
        .route("/notifications/send", protect::limited(&state, RouteClass::Notification, post(multichannel::send)))
        .route("/notifications/bulk", protect::limited(&state, RouteClass::Bulk, post(multichannel::bulk)))
        .route("/channels/capabilities", get(multichannel::capabilities))
        .route("/notifications/{id}", get(notifications::get).delete(campaigns::cancel_notification))
        .route("/campaigns/{id}", get(campaigns::get).delete(campaigns::cancel))
        .route("/templates", get(templates::list).post(templates::create))
        .route("/templates/{code}", get(templates::get).put(templates::update).delete(templates::delete))
        .route("/whatsapp-credentials/{id}", get(whatsapp::get_credentials).post(whatsapp::save_credentials))
        .route("/whatsapp-templates", get(whatsapp::list_templates).post(whatsapp::create_template))
        .route("/whatsapp-templates/sync-all", post(whatsapp::sync_all))
        .route("/whatsapp-templates/{id}", get(whatsapp::get_template).put(whatsapp::update_template).delete(whatsapp::delete_template))
        .route("/whatsapp-templates/{id}/submit", post(whatsapp::submit_template))
        .route("/whatsapp-templates/{id}/sync", post(whatsapp::sync_template))
        .route("/whatsapp-send/template", protect::limited(&state, RouteClass::Notification, post(whatsapp::send_template)))
        .route("/whatsapp-send/text", protect::limited(&state, RouteClass::Notification, post(whatsapp::send_text)))
        .route("/whatsapp-send/media", protect::limited(&state, RouteClass::Notification, post(whatsapp::send_media)))
        .route(
            "/whatsapp-send/bulk",
            protect::limited(&state, RouteClass::Bulk, post(whatsapp_bulk::send_bulk))
                .layer(DefaultBodyLimit::max(state.config.server.bulk_body_limit_bytes)),
        )
        .route("/whatsapp-send/bulk/status/{job_id}", get(whatsapp_bulk::bulk_status))
        .route("/whatsapp-send/bulk/{job_id}", axum::routing::delete(whatsapp_bulk::cancel_bulk))
        .route("/whatsapp-messages", get(whatsapp_bulk::messages))
        .route("/whatsapp-stats", get(whatsapp_bulk::stats))
        .route(
            "/callbacks/{provider}/{credential_id}",
            get(callbacks::verify).post(callbacks::receive).layer(DefaultBodyLimit::max(crate::inbound::BODY_LIMIT_BYTES)),
        )
        .route("/opt-outs", get(opt_outs::list).post(opt_outs::add).delete(opt_outs::remove))
        .route("/sms/segments", post(sms_settings::preview))
        .route("/callbacks/wawebgw/{credential_id}", post(gateways::waweb_event).layer(DefaultBodyLimit::max(crate::inbound::BODY_LIMIT_BYTES)))
        .route("/whatsapp/check-number", post(gateways::check_number))
        .route("/whatsapp/gateway-settings", get(gateways::get_settings).put(gateways::put_settings))
        .route("/redirect-links", get(links::list).post(links::create))
        .route("/redirect-links/{id}", get(links::get).put(links::update).delete(links::delete))
        .route("/openapi.json", get(openapi::serve));

    Router::new()
        .nest("/api/v1", api)
        .nest("/api/v1/dashboard", dashboard::routes(&state))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/r/{code}", get(links::redirect))
        .merge(crate::api::console::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .layer(DefaultBodyLimit::max(state.config.server.body_limit_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(ops::panic_response))
        .with_state(state)
}

/// What every request goes through, in one layer (each `from_fn` layer costs a boxed future
/// and a state clone per request): the client address is resolved, the handler is given
/// `server.request_timeout_ms` (then 503), and requests and latency are counted by route
/// template (never the raw path), method and status.
async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // A `MatchedPath` is an `Arc<str>` inside: cloning it allocates nothing.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = request_metrics::method_label(req.method());
    let started = Instant::now();
    protect::resolve_client_ip(&state, &mut req);
    let limit = Duration::from_millis(state.config.server.request_timeout_ms);
    let resp = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable { reason: "request timed out".into(), retry_after_s: 1 }.into_response(),
    };
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    let series = state.request_metrics.series(route, method, resp.status().as_u16());
    series.requests.increment(1);
    series.seconds.record(started.elapsed().as_secs_f64());
    resp
}
