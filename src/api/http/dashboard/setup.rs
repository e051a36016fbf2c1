//! The console's set-up screens on the session: associations (for the selector),
//! credentials and templates (lists and create; provider secrets go in and never come out),
//! and the read-only views of what other parts keep: WhatsApp templates with their Meta
//! status, redirect links with their clicks, customer callback attempts. Each answers with the
//! same views as its key-authenticated route, scoped to the operator's association.

use super::{Dash, Page};
use crate::api::http::extract::{JsonBody, QueryParams};
use crate::api::http::{ApiError, AppState, Envelope};
use crate::directory::{CredentialInput, TemplateInput};
use crate::domain::Timestamp;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeQuery {
    association_id: Option<i64>,
    status: Option<String>,
    category: Option<String>,
    page: Option<usize>,
    limit: Option<usize>,
}

/// The one association a set-up view is for: a bound operator's own, or the one a super
/// operator names.
fn one_association(dash: &Dash, requested: Option<i64>) -> Result<i64, ApiError> {
    dash.operator.scope(requested)?.ok_or_else(|| ApiError::invalid("associationId is required"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationItem {
    id: i64,
    name: String,
    is_active: bool,
}

/// Every association for a super operator; its own for a bound one.
pub async fn associations(State(s): State<AppState>, dash: Dash) -> Result<Envelope<Vec<AssociationItem>>, ApiError> {
    let all = match dash.operator.association_id {
        Some(a) => vec![s.directory.get_association(a).await?],
        None => s.directory.list_associations().await?,
    };
    Ok(Envelope::ok(all.into_iter().map(|a| AssociationItem { id: a.id, name: a.name, is_active: a.is_active }).collect()))
}

pub async fn credentials(
    State(s): State<AppState>,
    dash: Dash,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Envelope<Vec<crate::api::http::credentials::CredentialView>>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    Ok(Envelope::ok(s.directory.list_credentials(a).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialBody {
    association_id: Option<i64>,
    provider_id: i64,
    sender_name: String,
    credentials: Map<String, Value>,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    is_default: Option<bool>,
}

pub async fn add_credential(
    State(s): State<AppState>,
    dash: Dash,
    JsonBody(b): JsonBody<CredentialBody>,
) -> Result<Envelope<crate::api::http::credentials::CredentialView>, ApiError> {
    let a = one_association(&dash, b.association_id)?;
    let input = CredentialInput {
        provider_id: b.provider_id,
        sender_name: b.sender_name,
        credentials: b.credentials,
        api_url: b.api_url.filter(|u| !u.trim().is_empty()),
        is_default: b.is_default.unwrap_or(false),
    };
    let rec = s.directory.add_credential(a, input).await?;
    Ok(Envelope::created(rec.into()).message("Credential created successfully"))
}

pub async fn templates(
    State(s): State<AppState>,
    dash: Dash,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Envelope<Vec<crate::api::http::templates::TemplateView>>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    Ok(Envelope::ok(s.directory.list_templates(a).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateBody {
    association_id: Option<i64>,
    code: String,
    name: Option<String>,
    content: String,
    channel: Option<String>,
}

pub async fn add_template(
    State(s): State<AppState>,
    dash: Dash,
    JsonBody(b): JsonBody<TemplateBody>,
) -> Result<Envelope<crate::api::http::templates::TemplateView>, ApiError> {
    let a = one_association(&dash, b.association_id)?;
    let t = s.directory.create_template(a, TemplateInput { code: b.code, name: b.name, content: b.content, channel: b.channel }).await?;
    Ok(Envelope::created(t.into()).message("Template created successfully"))
}

pub async fn whatsapp_templates(
    State(s): State<AppState>,
    dash: Dash,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Envelope<Vec<crate::api::http::whatsapp::TemplateView>>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    let list = s.whatsapp.list_templates(a, q.status.as_deref(), q.category.as_deref()).await?;
    Ok(Envelope::ok(list.into_iter().map(|t| crate::api::http::whatsapp::TemplateView::of(t, false)).collect()))
}

pub async fn links(
    State(s): State<AppState>,
    dash: Dash,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ScopeQuery>,
) -> Result<Envelope<super::Paged<crate::api::http::links::LinkView>>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    let (page, limit) = Page { page: q.page, limit: q.limit }.resolve()?;
    let (links, total) = s.links.list(a, page, limit).await?;
    let base = crate::api::http::links::base_url(&s, &headers);
    let items = links.into_iter().map(|l| crate::api::http::links::LinkView::new(l, &base)).collect();
    Ok(Envelope::ok(super::Paged { items, total, page, limit }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptItem {
    event_id: String,
    queue_id: i64,
    url: String,
    attempt: u32,
    at: Timestamp,
    status_code: Option<u16>,
    latency_ms: u64,
    status: &'static str,
    next_retry_at: Option<Timestamp>,
    error: Option<String>,
}

pub async fn callback_attempts(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<ScopeQuery>) -> Result<Envelope<Vec<AttemptItem>>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    let attempts = s.callbacks.attempts(a, q.status.as_deref(), q.limit).await?;
    Ok(Envelope::ok(
        attempts
            .into_iter()
            .map(|x| AttemptItem {
                event_id: x.event_id,
                queue_id: x.message_id,
                url: x.url,
                attempt: x.attempt,
                at: Timestamp(x.at),
                status_code: x.status_code,
                latency_ms: x.latency_ms,
                status: x.outcome.as_str(),
                next_retry_at: x.next_at.map(Timestamp),
                error: x.error,
            })
            .collect(),
    ))
}
