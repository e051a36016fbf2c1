//! Login, logout, the current operator, and managing operators (super operators only):
//! create, reset a password, disable or re-enable, delete.

use super::{Dash, COOKIE};
use crate::api::http::extract::{IdPath, JsonBody};
use crate::api::http::{ApiError, AppState, Envelope};
use crate::domain::Timestamp;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    username: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    username: String,
    role: &'static str,
    association_id: Option<i64>,
    csrf_token: String,
    expires_at: Timestamp,
}

fn cookie(s: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.config.dashboard.secure_cookie { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE}={value}; Path=/api/v1/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"))
        .expect("cookie is ASCII")
}

pub async fn login(State(s): State<AppState>, JsonBody(b): JsonBody<LoginBody>) -> Result<Response, ApiError> {
    let new = s.sessions.login(&b.username, &b.password).await.inspect_err(|_| {
        metrics::counter!(crate::telemetry::DASHBOARD_LOGIN_FAILURES_TOTAL).increment(1);
    })?;
    let view = MeView {
        username: new.operator.username.clone(),
        role: new.operator.role(),
        association_id: new.operator.association_id,
        csrf_token: new.record.csrf_token.clone(),
        expires_at: Timestamp(new.record.expires_at),
    };
    let mut resp = Envelope::ok(view).message("Login successful").into_response();
    let max_age = (new.record.expires_at - new.record.created_at) / 1000;
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&s, &new.token, max_age));
    Ok(resp)
}

pub async fn logout(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    // Logging out needs the session and its CSRF token like any other change.
    let dash = Dash::from_request_parts(&mut parts, &s).await?;
    s.sessions.logout(&dash.token).await?;
    // Its overview streams end now, not at their next check.
    s.console.streams.end_session(&dash.token);
    let mut resp = Envelope::done("Logged out successfully").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&s, "", 0));
    Ok(resp)
}

pub async fn me(dash: Dash) -> Envelope<MeView> {
    Envelope::ok(MeView {
        username: dash.operator.username.clone(),
        role: dash.operator.role(),
        association_id: dash.operator.association_id,
        csrf_token: dash.session.csrf_token.clone(),
        expires_at: Timestamp(dash.session.expires_at),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorBody {
    username: String,
    password: String,
    association_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorView {
    username: String,
    role: &'static str,
    association_id: Option<i64>,
    created_at: Timestamp,
}

/// Beyond the document: super operators create operators (bound to an association or not).
pub async fn create_operator(State(s): State<AppState>, dash: Dash, JsonBody(b): JsonBody<OperatorBody>) -> Result<Envelope<OperatorView>, ApiError> {
    require_super(&dash)?;
    if let Some(a) = b.association_id {
        s.directory.get_association(a).await?;
    }
    let rec = s.sessions.put_operator(&b.username, &b.password, b.association_id).await?;
    Ok(Envelope::created(OperatorView {
        role: if rec.association_id.is_none() { "super" } else { "association" },
        username: rec.username,
        association_id: rec.association_id,
        created_at: Timestamp(rec.created_at),
    })
    .message("Operator saved successfully"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorPatch {
    password: Option<String>,
    is_active: Option<bool>,
}

fn require_super(dash: &Dash) -> Result<(), ApiError> {
    if dash.operator.association_id.is_some() {
        return Err(ApiError::Forbidden("Super operator access required".into()));
    }
    Ok(())
}

/// Beyond the document: super operators reset an operator's password and/or disable
/// (`isActive: false`) or re-enable it; either ends every session of that operator.
pub async fn update_operator(
    State(s): State<AppState>,
    dash: Dash,
    IdPath(username): IdPath<String>,
    JsonBody(b): JsonBody<OperatorPatch>,
) -> Result<Envelope<OperatorView>, ApiError> {
    require_super(&dash)?;
    let rec = s.sessions.update_operator(&username, b.password.as_deref(), b.is_active.map(|a| !a)).await?;
    tracing::info!(operator = %rec.username, by = %dash.operator.username, disabled = rec.disabled, "operator updated; its sessions are revoked");
    Ok(Envelope::ok(OperatorView {
        role: if rec.association_id.is_none() { "super" } else { "association" },
        username: rec.username,
        association_id: rec.association_id,
        created_at: Timestamp(rec.created_at),
    })
    .message("Operator updated; its sessions are revoked"))
}

/// Beyond the document: super operators delete an operator; its sessions end.
pub async fn delete_operator(State(s): State<AppState>, dash: Dash, IdPath(username): IdPath<String>) -> Result<Envelope<()>, ApiError> {
    require_super(&dash)?;
    s.sessions.delete_operator(&username).await?;
    tracing::info!(operator = %username, by = %dash.operator.username, "operator deleted; its sessions are revoked");
    Ok(Envelope::done("Operator deleted; its sessions are revoked"))
}
