//! `/api/v1/associations/:associationId/credentials`: list, add, update, delete. Provider
//! secrets go in and never come out: no response carries the `credentials` object.

use super::extract::{IdPath, JsonBody, KeyAuth};
use super::{ApiError, AppState, Envelope};
use crate::directory::{CredentialInput, CredentialPatch};
use crate::domain::{ProviderKind, Timestamp};
use crate::store::CredentialRecord;
use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    code: &'static str,
    name: &'static str,
    channel: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    id: i64,
    provider_id: i64,
    sender_name: String,
    is_default: bool,
    api_url: Option<String>,
    provider: Option<ProviderRef>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<CredentialRecord> for CredentialView {
    fn from(r: CredentialRecord) -> Self {
        Self {
            id: r.id,
            provider_id: r.provider_id,
            provider: ProviderKind::from_id(r.provider_id).map(|p| ProviderRef {
                code: p.code(),
                name: p.name(),
                channel: p.channels()[0].as_str(),
            }),
            sender_name: r.sender_name,
            is_default: r.is_default,
            api_url: r.api_url,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

pub async fn list(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(association_id): IdPath<i64>,
) -> Result<Envelope<Vec<CredentialView>>, ApiError> {
    caller.require_association(association_id)?;
    let creds = s.directory.list_credentials(association_id).await?;
    Ok(Envelope::ok(creds.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddBody {
    provider_id: i64,
    sender_name: String,
    credentials: Map<String, Value>,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    is_default: Option<bool>,
}

pub async fn add(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(association_id): IdPath<i64>,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Envelope<CredentialView>, ApiError> {
    caller.require_association(association_id)?;
    let input = CredentialInput {
        provider_id: body.provider_id,
        sender_name: body.sender_name,
        credentials: body.credentials,
        api_url: body.api_url,
        is_default: body.is_default.unwrap_or(false),
    };
    let rec = s.directory.add_credential(association_id, input).await?;
    Ok(Envelope::created(rec.into()).message("Credential created successfully"))
}

/// Distinguishes an absent field (keep) from `null` (clear).
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = credentials::UpdateBody)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    sender_name: Option<String>,
    credentials: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "double_option")]
    api_url: Option<Option<String>>,
    is_default: Option<bool>,
}

pub async fn update(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath((association_id, credential_id)): IdPath<(i64, i64)>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Envelope<CredentialView>, ApiError> {
    caller.require_association(association_id)?;
    let patch = CredentialPatch {
        sender_name: body.sender_name,
        credentials: body.credentials,
        api_url: body.api_url,
        is_default: body.is_default,
    };
    let rec = s.directory.update_credential(association_id, credential_id, patch).await?;
    Ok(Envelope::ok(rec.into()).message("Credential updated successfully"))
}

pub async fn delete(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath((association_id, credential_id)): IdPath<(i64, i64)>,
) -> Result<Envelope<()>, ApiError> {
    caller.require_association(association_id)?;
    s.directory.delete_credential(association_id, credential_id).await?;
    Ok(Envelope::done("Credential deleted successfully"))
}
