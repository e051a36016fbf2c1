//! `/api/v1/dashboard`: the documented dashboard routes, authenticated by a session cookie.
//! [`Dash`] resolves the session (401 without a valid one) and, on state-changing methods,
//! checks the CSRF header (403), so a cross-site page cannot act with an operator's cookie.

pub(super) mod allocations;
pub(super) mod auth;
pub(super) mod campaigns;
pub(super) mod detail;
pub(super) mod edit;
pub(super) mod logs;
pub(super) mod messages;
pub(super) mod overview;
pub(super) mod route_test;
pub(super) mod setup;
pub(super) mod stream;

use super::{ApiError, AppState};
use crate::auth::sessions::{csrf_matches, Operator};
use crate::store::SessionRecord;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use axum::Router;

pub const COOKIE: &str = "jood_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn routes(state: &AppState) -> Router<AppState> {
    use crate::api::http::protect::{limited, RouteClass};
    Router::new()
        .route("/auth/login", limited(state, RouteClass::Login, post(auth::login)))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/operators", post(auth::create_operator))
        .route("/operators/{username}", put(auth::update_operator).delete(auth::delete_operator))
        .route("/providers/schemas", get(messages::schemas))
        .route("/send-sms", post(messages::send_sms))
        .route("/schedule-sms", post(messages::schedule_sms))
        .route("/queue", get(messages::queue))
        .route("/queue/{id}", delete(messages::cancel_queued))
        .route(
            "/campaigns",
            get(campaigns::list).post(campaigns::create).layer(axum::extract::DefaultBodyLimit::max(state.config.server.bulk_body_limit_bytes)),
        )
        .route("/campaigns/{id}", delete(campaigns::cancel))
        .route("/allocations", get(allocations::list).post(allocations::create))
        .route("/allocations/{id}", put(allocations::update).delete(allocations::delete))
        .route("/logs", get(logs::logs))
        .route("/stats", get(logs::stats))
        // The console's (beyond the document).
        .route("/overview", get(overview::overview))
        .route("/overview/stream", get(stream::stream))
        .route("/messages/{id}", get(detail::message))
        .route("/stats/daily", get(detail::daily))
        .route("/route-test", get(route_test::route_test))
        .route("/associations", get(setup::associations))
        .route("/credentials", get(setup::credentials).post(setup::add_credential))
        .route("/credentials/{id}", put(edit::update_credential).delete(edit::delete_credential))
        .route("/templates", get(setup::templates).post(setup::add_template))
        .route("/templates/{code}", put(edit::update_template).delete(edit::delete_template))
        .route("/whatsapp-templates", get(setup::whatsapp_templates))
        .route("/links", get(setup::links))
        .route("/callbacks", get(setup::callback_attempts))
}

/// The session cookie's token, if any.
pub fn session_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// An authenticated dashboard request.
pub struct Dash {
    pub operator: Operator,
    pub session: SessionRecord,
    pub token: String,
}

impl FromRequestParts<AppState> for Dash {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_token(parts);
        let (session, operator) = state.sessions.resolve(token.as_deref()).await?;
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state {
            let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !csrf_matches(&session, header) {
                return Err(ApiError::Forbidden("CSRF token missing or invalid: send the session's csrfToken in X-CSRF-Token".into()));
            }
        }
        Ok(Dash { operator, session, token: token.unwrap_or_default() })
    }
}

/// `page` (from 1) and `limit` (1..=100) with the documented defaults.
#[derive(serde::Deserialize)]
pub struct Page {
    pub page: Option<usize>,
    pub limit: Option<usize>,
}

impl Page {
    pub fn resolve(&self) -> Result<(usize, usize), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(20);
        if page == 0 {
            return Err(ApiError::invalid("page must be 1 or more"));
        }
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 100"));
        }
        // The pages skip (page - 1) * limit rows: that must not overflow.
        if (page - 1).checked_mul(limit).is_none() {
            return Err(ApiError::invalid("page is too large"));
        }
        Ok((page, limit))
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: usize,
    pub limit: usize,
}
