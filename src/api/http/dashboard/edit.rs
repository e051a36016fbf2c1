//! The console's edit and delete of credentials and templates, on the session: the same
//! directory calls (and validation, and messages) as the key-authenticated routes, scoped to
//! the operator's association (a bound operator's own; a super operator names one with
//! `associationId`). Secrets stay write-only: a patch may set new ones, no answer shows them.

use super::Dash;
use crate::api::http::credentials::CredentialView;
use crate::api::http::extract::{IdPath, JsonBody, QueryParams};
use crate::api::http::templates::TemplateView;
use crate::api::http::{ApiError, AppState, Envelope};
use crate::directory::{CredentialPatch, TemplatePatch};
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    association_id: Option<i64>,
}

fn one_association(dash: &Dash, requested: Option<i64>) -> Result<i64, ApiError> {
    dash.operator.scope(requested)?.ok_or_else(|| ApiError::invalid("associationId is required"))
}

/// `apiUrl: null` clears the override; absent leaves it.
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialBody {
    sender_name: Option<String>,
    /// New secrets; fields left out keep their sealed values only when the whole map is absent.
    credentials: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "double_option")]
    api_url: Option<Option<String>>,
    is_default: Option<bool>,
}

pub async fn update_credential(
    State(s): State<AppState>,
    dash: Dash,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<Scope>,
    JsonBody(b): JsonBody<CredentialBody>,
) -> Result<Envelope<CredentialView>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    let patch = CredentialPatch {
        sender_name: b.sender_name,
        credentials: b.credentials.filter(|m| !m.is_empty()),
        api_url: b.api_url.map(|u| u.filter(|u| !u.trim().is_empty())),
        is_default: b.is_default,
    };
    let rec = s.directory.update_credential(a, id, patch).await?;
    Ok(Envelope::ok(rec.into()).message("Credential updated successfully"))
}

pub async fn delete_credential(State(s): State<AppState>, dash: Dash, IdPath(id): IdPath<i64>, QueryParams(q): QueryParams<Scope>) -> Result<Envelope<()>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    s.directory.delete_credential(a, id).await?;
    Ok(Envelope::done("Credential deleted successfully"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateBody {
    name: Option<String>,
    content: Option<String>,
    channel: Option<String>,
}

pub async fn update_template(
    State(s): State<AppState>,
    dash: Dash,
    IdPath(code): IdPath<String>,
    QueryParams(q): QueryParams<Scope>,
    JsonBody(b): JsonBody<TemplateBody>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    let t = s.directory.update_template(a, &code, TemplatePatch { name: b.name, content: b.content, channel: b.channel }).await?;
    Ok(Envelope::ok(t.into()).message("Template updated successfully"))
}

pub async fn delete_template(State(s): State<AppState>, dash: Dash, IdPath(code): IdPath<String>, QueryParams(q): QueryParams<Scope>) -> Result<Envelope<()>, ApiError> {
    let a = one_association(&dash, q.association_id)?;
    s.directory.delete_template(a, &code).await?;
    Ok(Envelope::done("Template deleted successfully"))
}
