//! Country routing allocations: list, create, update, delete (documented), validated by
//! the directory (`include` needs `countryCode`, `exclude` needs `excludedCountries`,
//! ISO 3166-1 alpha-2 codes, a credential of the same association).

use super::Dash;
use crate::api::http::extract::{IdPath, JsonBody, QueryParams};
use crate::api::http::{ApiError, AppState, Envelope};
use crate::directory::{AllocationInput, AllocationPatch};
use crate::store::{AllocationRecord, RoutingType};
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationView {
    id: i64,
    association_id: i64,
    credential_id: i64,
    routing_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded_countries: Option<Vec<String>>,
    priority: i32,
}

impl From<AllocationRecord> for AllocationView {
    fn from(a: AllocationRecord) -> Self {
        Self {
            id: a.id,
            association_id: a.association_id,
            credential_id: a.credential_id,
            routing_type: match a.routing_type {
                RoutingType::Include => "include",
                RoutingType::Exclude => "exclude",
            },
            country_code: a.country_code,
            country_name: a.country_name,
            excluded_countries: (a.routing_type == RoutingType::Exclude).then_some(a.excluded_countries),
            priority: a.priority,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    association_id: Option<i64>,
}

pub async fn list(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<ListQuery>) -> Result<Envelope<Vec<AllocationView>>, ApiError> {
    let associations: Vec<i64> = match dash.operator.scope(q.association_id)? {
        Some(a) => vec![a],
        None => s.directory.list_associations().await?.into_iter().map(|a| a.id).collect(),
    };
    let mut out = Vec::new();
    for a in associations {
        out.extend(s.directory.list_allocations(a).await?.into_iter().map(AllocationView::from));
    }
    Ok(Envelope::ok(out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = dashboard_allocations::CreateBody)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    association_id: i64,
    credential_id: i64,
    routing_type: String,
    country_code: Option<String>,
    country_name: Option<String>,
    excluded_countries: Option<Vec<String>>,
    priority: Option<i32>,
}

pub async fn create(State(s): State<AppState>, dash: Dash, JsonBody(b): JsonBody<CreateBody>) -> Result<Envelope<AllocationView>, ApiError> {
    dash.operator.require_association(b.association_id)?;
    let input = AllocationInput {
        credential_id: b.credential_id,
        routing_type: b.routing_type,
        country_code: b.country_code,
        country_name: b.country_name,
        excluded_countries: b.excluded_countries,
        priority: b.priority,
    };
    let a = s.directory.create_allocation(b.association_id, input).await?;
    Ok(Envelope::created(a.into()).message("Allocation created successfully"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = dashboard_allocations::UpdateBody)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    credential_id: Option<i64>,
    routing_type: Option<String>,
    country_code: Option<String>,
    country_name: Option<String>,
    excluded_countries: Option<Vec<String>>,
    priority: Option<i32>,
}

pub async fn update(State(s): State<AppState>, dash: Dash, IdPath(id): IdPath<i64>, JsonBody(b): JsonBody<UpdateBody>) -> Result<Envelope<AllocationView>, ApiError> {
    let current = s.directory.get_allocation(id).await?;
    dash.operator.require_association(current.association_id)?;
    let patch = AllocationPatch {
        credential_id: b.credential_id,
        routing_type: b.routing_type,
        country_code: b.country_code,
        country_name: b.country_name,
        excluded_countries: b.excluded_countries,
        priority: b.priority,
    };
    let a = s.directory.update_allocation(id, patch).await?;
    Ok(Envelope::ok(a.into()).message("Allocation updated successfully"))
}

pub async fn delete(State(s): State<AppState>, dash: Dash, IdPath(id): IdPath<i64>) -> Result<Envelope<()>, ApiError> {
    let current = s.directory.get_allocation(id).await?;
    dash.operator.require_association(current.association_id)?;
    s.directory.delete_allocation(id).await?;
    Ok(Envelope::done("Allocation deleted successfully"))
}
