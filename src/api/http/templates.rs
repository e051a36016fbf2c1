//! `/api/v1/templates`: message templates per association, for the webhook's
//! `templateCode` (implied by the document, designed in its style). API-key auth; an
//! association's keys manage their own templates, the super-admin names `associationId`
//! (in the body on create, in the query otherwise).

use super::extract::{target_association, AnyKeyAuth, IdPath, JsonBody, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::directory::{TemplateInput, TemplatePatch};
use crate::domain::Timestamp;
use crate::store::TemplateRecord;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = templates::TemplateView)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    association_id: i64,
    code: String,
    name: Option<String>,
    content: String,
    channel: String,
    /// The `{{variable}}` names the content uses, in order of first use.
    variables: Vec<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<TemplateRecord> for TemplateView {
    fn from(t: TemplateRecord) -> Self {
        let mut variables: Vec<String> = Vec::new();
        let mut rest = t.content.as_str();
        while let Some(i) = rest.find("{{") {
            let after = &rest[i + 2..];
            let Some(j) = after.find("}}") else { break };
            let name = after[..j].trim().to_string();
            if !name.is_empty() && !variables.contains(&name) {
                variables.push(name);
            }
            rest = &after[j + 2..];
        }
        Self {
            association_id: t.association_id,
            code: t.code,
            name: t.name,
            content: t.content,
            channel: t.channel,
            variables,
            created_at: Timestamp(t.created_at),
            updated_at: Timestamp(t.updated_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    association_id: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = templates::CreateBody)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    association_id: Option<i64>,
    code: String,
    name: Option<String>,
    content: String,
    channel: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let assoc = target_association(caller, b.association_id)?;
    let t = s.directory.create_template(assoc, TemplateInput { code: b.code, name: b.name, content: b.content, channel: b.channel }).await?;
    Ok(Envelope::created(t.into()).message("Template created successfully"))
}

pub async fn list(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    QueryParams(q): QueryParams<Scope>,
) -> Result<Envelope<Vec<TemplateView>>, ApiError> {
    let assoc = target_association(caller, q.association_id)?;
    Ok(Envelope::ok(s.directory.list_templates(assoc).await?.into_iter().map(Into::into).collect()))
}

pub async fn get(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(code): IdPath<String>,
    QueryParams(q): QueryParams<Scope>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let assoc = target_association(caller, q.association_id)?;
    Ok(Envelope::ok(s.directory.get_template(assoc, &code).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = templates::UpdateBody)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    name: Option<String>,
    content: Option<String>,
    channel: Option<String>,
}

pub async fn update(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(code): IdPath<String>,
    QueryParams(q): QueryParams<Scope>,
    JsonBody(b): JsonBody<UpdateBody>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let assoc = target_association(caller, q.association_id)?;
    let t = s.directory.update_template(assoc, &code, TemplatePatch { name: b.name, content: b.content, channel: b.channel }).await?;
    Ok(Envelope::ok(t.into()).message("Template updated successfully"))
}

pub async fn delete(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(code): IdPath<String>,
    QueryParams(q): QueryParams<Scope>,
) -> Result<Envelope<()>, ApiError> {
    let assoc = target_association(caller, q.association_id)?;
    s.directory.delete_template(assoc, &code).await?;
    Ok(Envelope::done("Template deleted successfully"))
}
