//! `/api/v1/associations`: list (super-admin), create (super-admin), get, update (its
//! `allowedIps` by the super-admin only; `statusCallbackUrl`), rotate keys, and the status
//! callback attempts (`/associations/{id}/callbacks`).

use super::extract::{IdPath, JsonBody, KeyAuth, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::directory::{AssociationPatch, NewAssociation};
use crate::domain::Timestamp;
use crate::store::AssociationRecord;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationView {
    id: i64,
    name: String,
    allowed_domains: Vec<String>,
    /// Addresses and CIDR ranges the association's requests must come from; empty: any.
    allowed_ips: Vec<String>,
    is_active: bool,
    /// Where status callbacks of its messages go (`null`: none).
    status_callback_url: Option<String>,
    /// Default validity period of its messages in seconds (`null`: the engine's default).
    validity_period: Option<u32>,
    /// SMS rules beyond the document (see `sms_settings.rs`).
    #[serde(flatten)]
    sms: super::sms_settings::SmsSettingsView,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<AssociationRecord> for AssociationView {
    fn from(r: AssociationRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            allowed_domains: r.allowed_domains,
            allowed_ips: r.ip_allowlist,
            is_active: r.is_active,
            status_callback_url: r.status_callback_url,
            validity_period: r.validity_period_secs,
            sms: (&r.sms).into(),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

pub async fn list(State(s): State<AppState>, KeyAuth(caller): KeyAuth) -> Result<Envelope<Vec<AssociationView>>, ApiError> {
    caller.require_super_admin()?;
    let all = s.directory.list_associations().await?;
    Ok(Envelope::ok(all.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = associations::CreateBody)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    id: i64,
    name: String,
    #[serde(default)]
    allowed_domains: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = associations::CreatedView)]
#[serde(rename_all = "camelCase")]
pub struct CreatedView {
    association: CreatedAssociationView,
    admin_api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAssociationView {
    id: i64,
    name: String,
    api_key: String,
    secret_key: String,
    allowed_domains: Vec<String>,
    is_active: bool,
    created_at: Timestamp,
}

pub async fn create(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Envelope<CreatedView>, ApiError> {
    caller.require_super_admin()?;
    let created = s
        .directory
        .create_association(NewAssociation { id: body.id, name: body.name, allowed_domains: body.allowed_domains.unwrap_or_default() })
        .await?;
    tracing::info!(association = created.record.id, "association created");
    let r = created.record;
    Ok(Envelope::created(CreatedView {
        association: CreatedAssociationView {
            id: r.id,
            name: r.name,
            api_key: created.api_key,
            secret_key: created.secret_key,
            allowed_domains: r.allowed_domains,
            is_active: r.is_active,
            created_at: Timestamp(r.created_at),
        },
        admin_api_key: created.admin_api_key,
    })
    .message("Store the secretKey and adminApiKey securely - they will not be shown again!"))
}

pub async fn get(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(id): IdPath<i64>,
) -> Result<Envelope<AssociationView>, ApiError> {
    caller.require_association(id)?;
    Ok(Envelope::ok(s.directory.get_association(id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = associations::UpdateBody)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    name: Option<String>,
    allowed_domains: Option<Vec<String>>,
    is_active: Option<bool>,
    /// Beyond the document's update schema ("IP Whitelisting": set by the administrator).
    allowed_ips: Option<Vec<String>>,
    /// Beyond the document: status callbacks; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    status_callback_url: Option<Option<String>>,
    /// Beyond the document: the default validity period of its messages, in seconds; `null`
    /// returns to the engine's default.
    #[serde(default, deserialize_with = "present_u32")]
    validity_period: Option<Option<u32>>,
    /// Beyond the document: `maxSegments`, `smartEncoding`, `quietHours`, `optOutBypassTransactional`.
    #[serde(flatten)]
    sms: super::sms_settings::SmsSettingsBody,
}

fn present_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or set.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn update(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(id): IdPath<i64>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Envelope<AssociationView>, ApiError> {
    caller.require_association(id)?;
    if body.allowed_ips.is_some() && !caller.is_super_admin() {
        // An association must not widen its own allow-list: the document has the
        // administrator configure it.
        return Err(ApiError::Forbidden("Super admin access required to set allowedIps".into()));
    }
    let status_callback_url = match body.status_callback_url {
        Some(Some(url)) => Some(Some(s.callbacks.check_url("statusCallbackUrl", &url).await?)),
        other => other,
    };
    if let Some(Some(v)) = body.validity_period {
        crate::ingress::validity::check(v, s.config.delivery.max_validity_secs).map_err(ApiError::BadRequest)?;
    }
    let patch = AssociationPatch {
        validity_period_secs: body.validity_period,
        name: body.name,
        allowed_domains: body.allowed_domains,
        is_active: body.is_active,
        allowed_ips: body.allowed_ips,
        status_callback_url,
        sms: body.sms.into_patch()?,
    };
    let rec = s.directory.update_association(id, patch).await?;
    Ok(Envelope::ok(rec.into()).message("Association updated successfully"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateBody {
    #[serde(default)]
    rotate_api_key: bool,
    #[serde(default)]
    rotate_secret_key: bool,
    /// Beyond the document: rotate the `adminApiKey` too.
    #[serde(default)]
    rotate_admin_api_key: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedView {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_api_key: Option<String>,
}

pub async fn rotate_keys(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(id): IdPath<i64>,
    JsonBody(body): JsonBody<RotateBody>,
) -> Result<Envelope<RotatedView>, ApiError> {
    caller.require_association(id)?;
    let keys = s.directory.rotate_keys(id, body.rotate_api_key, body.rotate_secret_key, body.rotate_admin_api_key).await?;
    tracing::info!(association = id, api = body.rotate_api_key, secret = body.rotate_secret_key, "keys rotated");
    Ok(Envelope::ok(RotatedView { api_key: keys.api_key, secret_key: keys.secret_key, admin_api_key: keys.admin_api_key })
        .message("Keys rotated successfully"))
}

#[derive(Deserialize)]
pub struct AttemptsQuery {
    status: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = associations::AttemptView)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    event_id: String,
    queue_id: i64,
    url: String,
    attempt: u32,
    at: Timestamp,
    /// `null` when no answer came (timeout, refused connection).
    status_code: Option<u16>,
    latency_ms: u64,
    /// delivered, pending (a retry is scheduled) or failed (given up).
    status: &'static str,
    next_retry_at: Option<Timestamp>,
    error: Option<String>,
}

/// `GET /api/v1/associations/{id}/callbacks?status=failed|pending|delivered&limit=N`: the
/// status callback attempts, newest first.
pub async fn callback_attempts(
    State(s): State<AppState>,
    KeyAuth(caller): KeyAuth,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<AttemptsQuery>,
) -> Result<Envelope<Vec<AttemptView>>, ApiError> {
    caller.require_association(id)?;
    s.directory.get_association(id).await?;
    let attempts = s.callbacks.attempts(id, q.status.as_deref(), q.limit).await?;
    Ok(Envelope::ok(
        attempts
            .into_iter()
            .map(|a| AttemptView {
                event_id: a.event_id,
                queue_id: a.message_id,
                url: a.url,
                attempt: a.attempt,
                at: Timestamp(a.at),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                status: a.outcome.as_str(),
                next_retry_at: a.next_at.map(Timestamp),
                error: a.error,
            })
            .collect(),
    ))
}
